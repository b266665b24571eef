package robot

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
)

// The wire types follow the published webservice
// (https://robot.hetzner.com/doc/webservice/en.html); only the fields omc
// reads are declared. Every object comes wrapped in a one-key envelope
// ({"server": {...}}), lists as a list of envelopes.

// Server is GET /server/{n}.
type Server struct {
	ServerIP      string `json:"server_ip"`
	ServerIPv6Net string `json:"server_ipv6_net"`
	ServerNumber  int    `json:"server_number"`
	ServerName    string `json:"server_name"`
	Product       string `json:"product"`
	DC            string `json:"dc"`
	Status        string `json:"status"` // "ready" or "in process"
	Cancelled     bool   `json:"cancelled"`
	PaidUntil     string `json:"paid_until"`
}

// Key is an SSH public key stored in Robot (GET /key).
type Key struct {
	Name        string `json:"name"`
	Fingerprint string `json:"fingerprint"` // MD5, colon-separated hex
	Type        string `json:"type"`
	Size        int    `json:"size"`
	Data        string `json:"data"`
}

// Rescue is GET/POST /boot/{n}/rescue.
type Rescue struct {
	ServerIP     string `json:"server_ip"`
	ServerNumber int    `json:"server_number"`
	Active       bool   `json:"active"`
	OS           any    `json:"os"` // a list when inactive, the chosen one when active
	// Password is the rescue system's root password. Robot sets it even
	// when keys are given (the webservice doc's output table: "Rescue
	// System root password"; syself/hrobot-go v0.2.7
	// test/response/boot_rescue_set_with_key.json). omc logs in by key
	// and never shows, logs or stores it.
	Password      *string           `json:"password"`
	AuthorizedKey []json.RawMessage `json:"authorized_key"`
	HostKey       []json.RawMessage `json:"host_key"`
}

// Price is a net/gross pair of decimal strings (EUR).
type Price struct {
	Net   string `json:"net"`
	Gross string `json:"gross"`
}

// LocationPrice is one location's prices of a standard product.
type LocationPrice struct {
	Location   string `json:"location"`
	Price      Price  `json:"price"`
	PriceSetup Price  `json:"price_setup"`
}

// Addon is an orderable addon of a product, e.g. primary_ipv4.
type Addon struct {
	ID     string          `json:"id"`
	Name   string          `json:"name"`
	Prices []LocationPrice `json:"prices"`
}

// AddonPrimaryIPv4 is the addon that gives an ordered server an IPv4
// address: without it Robot delivers an IPv6-only server (the
// webservice doc on POST /order/server/transaction and
// /order/server_market/transaction, since 28 March 2022). omc reaches a
// new server by server_ip over IPv4, so it always orders this addon.
const AddonPrimaryIPv4 = "primary_ipv4"

// Product is a standard product (GET /order/server/product/{id}).
type Product struct {
	ID          string          `json:"id"`
	Name        string          `json:"name"`
	Description []string        `json:"description"`
	Location    []string        `json:"location"`
	Prices      []LocationPrice `json:"prices"`
	Addons      []Addon         `json:"orderable_addons"`
}

// MarketProduct is a server-market offer (GET /order/server_market/product/{id}).
type MarketProduct struct {
	ID         int     `json:"id"`
	Name       string  `json:"name"`
	CPU        string  `json:"cpu"`
	MemorySize int     `json:"memory_size"`
	HDDText    string  `json:"hdd_text"`
	Datacenter string  `json:"datacenter"`
	Price      string  `json:"price"`
	PriceSetup string  `json:"price_setup"`
	Addons     []Addon `json:"orderable_addons"`
}

// Transaction is an order (GET /order/server/transaction/{id} and the
// server_market equivalent). ServerNumber stays nil until the server is
// ready.
type Transaction struct {
	ID            string  `json:"id"`
	Date          string  `json:"date"`
	Status        string  `json:"status"` // "ready", "in process", "cancelled"
	ServerNumber  *int    `json:"server_number"`
	ServerIP      *string `json:"server_ip"`
	AuthorizedKey []struct {
		Key Key `json:"key"`
	} `json:"authorized_key"`
	Product json.RawMessage `json:"product"`
	Addons  []string        `json:"addons"`
}

// Fingerprints are the fingerprints of the keys the order was placed with.
func (t *Transaction) Fingerprints() []string {
	var fps []string
	for _, k := range t.AuthorizedKey {
		fps = append(fps, k.Key.Fingerprint)
	}
	return fps
}

// Cancellation is GET /server/{n}/cancellation.
type Cancellation struct {
	ServerNumber             int     `json:"server_number"`
	EarliestCancellationDate string  `json:"earliest_cancellation_date"`
	Cancelled                bool    `json:"cancelled"`
	CancellationDate         *string `json:"cancellation_date"`
}

// one decodes a one-key envelope into out.
func one(raw json.RawMessage, out any) error {
	var env map[string]json.RawMessage
	if err := json.Unmarshal(raw, &env); err != nil {
		return err
	}
	if len(env) != 1 {
		return fmt.Errorf("expected one object, got %d keys", len(env))
	}
	for _, v := range env {
		return json.Unmarshal(v, out)
	}
	return nil
}

func (c *Client) getOne(ctx context.Context, path string, out any) error {
	return c.send(ctx, http.MethodGet, path, nil, out)
}

func (c *Client) send(ctx context.Context, method, path string, form url.Values, out any) error {
	var raw json.RawMessage
	if err := c.Do(ctx, method, path, form, &raw); err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := one(raw, out); err != nil {
		return fmt.Errorf("robot %s %s: unexpected answer: %v", method, path, err)
	}
	return nil
}

func list[T any](ctx context.Context, c *Client, path string) ([]T, error) {
	var raws []json.RawMessage
	if err := c.Do(ctx, http.MethodGet, path, nil, &raws); err != nil {
		if IsCode(err, "SERVER_NOT_FOUND", "NOT_FOUND", "TRANSACTION_NOT_FOUND", "KEY_NOT_FOUND") {
			return nil, nil // Robot answers 404 for an empty list
		}
		return nil, err
	}
	out := make([]T, 0, len(raws))
	for _, r := range raws {
		var v T
		if err := one(r, &v); err != nil {
			return nil, fmt.Errorf("robot GET %s: unexpected answer: %v", path, err)
		}
		out = append(out, v)
	}
	return out, nil
}

// Servers lists the account's servers.
func (c *Client) Servers(ctx context.Context) ([]Server, error) {
	return list[Server](ctx, c, "/server")
}

// Server reads one server.
func (c *Client) Server(ctx context.Context, n int) (*Server, error) {
	var s Server
	return &s, c.getOne(ctx, "/server/"+strconv.Itoa(n), &s)
}

// SetServerName names a server (POST /server/{n} server_name=).
func (c *Client) SetServerName(ctx context.Context, n int, name string) error {
	return c.send(ctx, http.MethodPost, "/server/"+strconv.Itoa(n), url.Values{"server_name": {name}}, nil)
}

// Keys lists the SSH keys stored in Robot.
func (c *Client) Keys(ctx context.Context) ([]Key, error) { return list[Key](ctx, c, "/key") }

// AddKey stores an SSH public key (POST /key name= data=).
func (c *Client) AddKey(ctx context.Context, name, data string) (*Key, error) {
	var k Key
	return &k, c.send(ctx, http.MethodPost, "/key", url.Values{"name": {name}, "data": {data}}, &k)
}

// DeleteKey removes a stored key.
func (c *Client) DeleteKey(ctx context.Context, fingerprint string) error {
	return c.send(ctx, http.MethodDelete, "/key/"+fingerprint, nil, nil)
}

// Rescue reads the rescue boot configuration.
func (c *Client) Rescue(ctx context.Context, n int) (*Rescue, error) {
	var r Rescue
	return &r, c.getOne(ctx, "/boot/"+strconv.Itoa(n)+"/rescue", &r)
}

// ActivateRescue arms the Linux rescue system for the next boot, with
// root logins by the given stored keys only.
func (c *Client) ActivateRescue(ctx context.Context, n int, fingerprints []string) (*Rescue, error) {
	var r Rescue
	form := url.Values{"os": {"linux"}, "authorized_key[]": fingerprints}
	return &r, c.send(ctx, http.MethodPost, "/boot/"+strconv.Itoa(n)+"/rescue", form, &r)
}

// DeactivateRescue disarms the rescue system.
func (c *Client) DeactivateRescue(ctx context.Context, n int) error {
	return c.send(ctx, http.MethodDelete, "/boot/"+strconv.Itoa(n)+"/rescue", nil, nil)
}

// Reset resets a server: "sw", "hw", "man" (a technician), "power".
func (c *Client) Reset(ctx context.Context, n int, typ string) error {
	return c.send(ctx, http.MethodPost, "/reset/"+strconv.Itoa(n), url.Values{"type": {typ}}, nil)
}

// Product reads a standard product.
func (c *Client) Product(ctx context.Context, id string) (*Product, error) {
	var p Product
	return &p, c.getOne(ctx, "/order/server/product/"+url.PathEscape(id), &p)
}

// MarketProduct reads a server-market offer.
func (c *Client) MarketProduct(ctx context.Context, id int) (*MarketProduct, error) {
	var p MarketProduct
	return &p, c.getOne(ctx, "/order/server_market/product/"+strconv.Itoa(id), &p)
}

// OrderProduct places an order for a standard product in location (it
// costs money), with a primary IPv4.
func (c *Client) OrderProduct(ctx context.Context, productID, location string, fingerprints []string) (*Transaction, error) {
	form := url.Values{"product_id": {productID}, "location": {location}, "authorized_key[]": fingerprints,
		"addon[]": {AddonPrimaryIPv4}}
	var t Transaction
	return &t, c.send(ctx, http.MethodPost, "/order/server/transaction", form, &t)
}

// OrderMarket buys a server-market offer (it costs money), with a
// primary IPv4.
func (c *Client) OrderMarket(ctx context.Context, productID int, fingerprints []string) (*Transaction, error) {
	form := url.Values{"product_id": {strconv.Itoa(productID)}, "authorized_key[]": fingerprints, "addon[]": {AddonPrimaryIPv4}}
	var t Transaction
	return &t, c.send(ctx, http.MethodPost, "/order/server_market/transaction", form, &t)
}

func txnPath(market bool) string {
	if market {
		return "/order/server_market/transaction"
	}
	return "/order/server/transaction"
}

// Transaction reads an order.
func (c *Client) Transaction(ctx context.Context, market bool, id string) (*Transaction, error) {
	var t Transaction
	return &t, c.getOne(ctx, txnPath(market)+"/"+url.PathEscape(id), &t)
}

// Transactions lists the orders of the last 30 days.
func (c *Client) Transactions(ctx context.Context, market bool) ([]Transaction, error) {
	return list[Transaction](ctx, c, txnPath(market))
}

// Cancellation reads a server's cancellation state.
func (c *Client) Cancellation(ctx context.Context, n int) (*Cancellation, error) {
	var x Cancellation
	return &x, c.getOne(ctx, "/server/"+strconv.Itoa(n)+"/cancellation", &x)
}

// Cancel cancels a server at date ("yyyy-mm-dd"). It ends a rental.
func (c *Client) Cancel(ctx context.Context, n int, date string) (*Cancellation, error) {
	var x Cancellation
	return &x, c.send(ctx, http.MethodPost, "/server/"+strconv.Itoa(n)+"/cancellation", url.Values{"cancellation_date": {date}}, &x)
}
