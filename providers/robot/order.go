package robot

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/omc-coop/omc/inventory"
)

// price describes what order o costs, from Robot's catalogue.
func price(ctx context.Context, c *Client, o *inventory.RobotOrder) (string, error) {
	if o.Product != "" {
		pr, err := c.Product(ctx, o.Product)
		if err != nil {
			return "", fmt.Errorf("looking up product %s: %w", o.Product, err)
		}
		if len(pr.Prices) == 0 {
			return "", fmt.Errorf("product %s has no price in Robot's catalogue", o.Product)
		}
		lp := pr.Prices[0]
		if o.Location != "" {
			i := slices.IndexFunc(pr.Prices, func(p LocationPrice) bool { return strings.EqualFold(p.Location, o.Location) })
			if i < 0 {
				var locs []string
				for _, p := range pr.Prices {
					locs = append(locs, p.Location)
				}
				return "", fmt.Errorf("product %s is not sold in %s (locations: %s)", o.Product, o.Location, strings.Join(locs, ", "))
			}
			lp = pr.Prices[i]
		}
		return fmt.Sprintf("product %s (%s) in %s: %s/month, setup %s%s (net, EUR)", pr.ID, pr.Name, lp.Location,
			money(lp.Price.Net), money(lp.PriceSetup.Net), ipv4Price(pr.Addons, lp.Location)), nil
	}
	mp, err := c.MarketProduct(ctx, o.Market)
	if err != nil {
		return "", fmt.Errorf("looking up server-market offer %d: %w", o.Market, err)
	}
	return fmt.Sprintf("server-market offer %d (%s, %s, %d GB RAM, %s) in %s: %s/month, setup %s%s (net, EUR)",
		mp.ID, mp.Name, mp.CPU, mp.MemorySize, mp.HDDText, mp.Datacenter, money(mp.Price), money(mp.PriceSetup),
		ipv4Price(mp.Addons, strings.SplitN(mp.Datacenter, "-", 2)[0])), nil
}

// ipv4Price is what the primary IPv4 omc orders along adds, in location
// (a product's, or the datacenter's, e.g. FSN1 of FSN1-DC4).
func ipv4Price(addons []Addon, location string) string {
	for _, a := range addons {
		if a.ID != AddonPrimaryIPv4 {
			continue
		}
		for _, p := range a.Prices {
			if strings.EqualFold(p.Location, location) {
				return fmt.Sprintf(", plus primary IPv4 %s/month", money(p.Price.Net))
			}
		}
		if len(a.Prices) > 0 {
			return fmt.Sprintf(", plus primary IPv4 %s/month", money(a.Prices[0].Price.Net))
		}
	}
	return ""
}

func money(s string) string {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return s
	}
	return fmt.Sprintf("€%.2f", f)
}

// recover settles an order whose placement was interrupted (its key is
// recorded, its transaction id is not): the transaction carrying the
// order's key is adopted; when none exists the order was never placed and
// the record is dropped.
func (p *Provider) recoverOrder(ctx context.Context, c *Client, node string, o *OrderState) (found bool, err error) {
	txns, err := c.Transactions(ctx, o.Market)
	if err != nil {
		return false, fmt.Errorf("node %s: looking for the order placed with key %s: %w", node, o.KeyFingerprint, err)
	}
	for _, t := range txns {
		if slices.Contains(t.Fingerprints(), o.KeyFingerprint) {
			o.Transaction, o.Status = t.ID, t.Status
			p.logf("%s: found order %s (placed with key %s) whose answer was lost", node, t.ID, o.KeyFingerprint)
			return true, nil
		}
	}
	p.logf("%s: the interrupted order with key %s was never placed", node, o.KeyFingerprint)
	return false, nil
}

// placeOrder orders for node n, recording the order's key before and the
// transaction right after. The state lock is held by the caller.
func (p *Provider) placeOrder(ctx context.Context, c *Client, inv *inventory.Inventory, g *inventory.Group, n *inventory.Node, o *inventory.RobotOrder, shown string, st *State, save func() error) error {
	// A fresh key per order: an old one may belong to a cancelled order.
	p.removeKey("order", inv.Name, n.Name)
	k, err := p.key("order", inv.Name, n.Name)
	if err != nil {
		return err
	}
	keyName := fmt.Sprintf("omc-%s-%s-%s", inv.Name, n.Name, time.Now().UTC().Format("20060102T150405"))
	fp, _, err := storedKey(ctx, c, keyName, k.Public)
	if err != nil {
		return fmt.Errorf("node %s: storing the order's SSH key in Robot: %w", n.Name, c.mask(err))
	}
	rec := &OrderState{Market: o.Product == "", Product: o.Product, KeyName: keyName, KeyFingerprint: fp, Price: shown}
	if rec.Market {
		rec.Product = strconv.Itoa(o.Market)
	}
	st.Nodes[n.Name] = &NodeState{Group: g.Name, Order: rec}
	if err := save(); err != nil {
		return err
	}
	p.logf("%s: ordering %s", n.Name, shown)
	var t *Transaction
	if rec.Market {
		t, err = c.OrderMarket(ctx, o.Market, []string{fp})
	} else {
		t, err = c.OrderProduct(ctx, o.Product, o.Location, []string{fp})
	}
	if err != nil {
		var api *Error
		if errors.As(err, &api) || errors.Is(err, ErrUnauthorized) {
			// Robot refused: nothing was ordered.
			delete(st.Nodes, n.Name)
			if serr := save(); serr != nil {
				return errors.Join(c.mask(err), serr)
			}
			_ = c.DeleteKey(ctx, fp)
			return fmt.Errorf("node %s: Robot refused the order (nothing was ordered): %w", n.Name, c.mask(err))
		}
		return fmt.Errorf("node %s: the order's outcome is unknown (%v); it is recorded with key %s, and the next omc up looks for it and never orders twice", n.Name, c.mask(err), fp)
	}
	rec.Transaction, rec.Status, rec.PlacedAt = t.ID, t.Status, time.Now().UTC()
	if t.ServerNumber != nil {
		st.Nodes[n.Name].ServerNumber = *t.ServerNumber
	}
	if t.ServerIP != nil {
		st.Nodes[n.Name].ServerIP = *t.ServerIP
	}
	if err := save(); err != nil {
		return fmt.Errorf("node %s: order %s was placed but could not be recorded (%v): write it into %s by hand", n.Name, t.ID, err, p.statePath(inv.Name))
	}
	p.logf("%s: placed order %s (%s)", n.Name, t.ID, t.Status)
	return nil
}

// waitOrder polls node's transaction until it is ready, at most
// OrderTimeout, and records the server it delivered through update.
func (p *Provider) waitOrder(ctx context.Context, c *Client, node string, ns *NodeState, update func(func()) error) error {
	o := ns.Order
	deadline := time.Now().Add(p.opts.OrderTimeout)
	for {
		t, err := c.Transaction(ctx, o.Market, o.Transaction)
		if err != nil {
			return fmt.Errorf("node %s: reading order %s: %w", node, o.Transaction, c.mask(err))
		}
		if t.Status == "ready" && t.ServerNumber != nil && t.ServerIP != nil {
			if err := update(func() { o.Status, ns.ServerNumber, ns.ServerIP = t.Status, *t.ServerNumber, *t.ServerIP }); err != nil {
				return err
			}
			p.logf("%s: order %s is ready: server %d at %s", node, o.Transaction, *t.ServerNumber, *t.ServerIP)
			return nil
		}
		if t.Status != o.Status {
			if err := update(func() { o.Status = t.Status }); err != nil {
				return err
			}
		}
		if t.Status == "cancelled" {
			return fmt.Errorf("node %s: order %s was cancelled by Hetzner; the next omc up --allow-order orders again", node, o.Transaction)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("node %s: order %s is still %q after %s; it stays recorded: run omc up again later (no second order is placed)", node, o.Transaction, t.Status, p.opts.OrderTimeout)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %s: stopped waiting for order %s (it stays recorded): %w", node, o.Transaction, ctx.Err())
		case <-time.After(p.opts.PollInterval):
		}
	}
}
