package fake

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"
)

func (f *Fake) route(w http.ResponseWriter, r *http.Request, route string, args []string) {
	switch route {
	case "GET /server":
		var out []any
		for _, n := range f.serverNumbers() {
			out = append(out, map[string]any{"server": f.servers[n].json()})
		}
		if len(out) == 0 {
			writeErr(w, 404, "SERVER_NOT_FOUND", "No servers found")
			return
		}
		writeJSON(w, 200, out)
	case "GET /server/{n}":
		if s := f.server(w, args[0]); s != nil {
			writeJSON(w, 200, map[string]any{"server": s.json()})
		}
	case "POST /server/{n}":
		if s := f.server(w, args[0]); s != nil {
			if name := r.PostForm.Get("server_name"); name == "" {
				writeInvalid(w, []string{"server_name"}, nil)
			} else {
				s.Name = name
				writeJSON(w, 200, map[string]any{"server": s.json()})
			}
		}
	case "GET /server/{n}/cancellation":
		if s := f.server(w, args[0]); s != nil {
			writeJSON(w, 200, map[string]any{"cancellation": f.cancellation(s)})
		}
	case "POST /server/{n}/cancellation":
		s := f.server(w, args[0])
		if s == nil {
			return
		}
		date := r.PostForm.Get("cancellation_date")
		if date == "" {
			writeInvalid(w, []string{"cancellation_date"}, nil)
			return
		}
		d, err := time.Parse("2006-01-02", date)
		if date == "now" {
			d, err = f.now(), nil
		}
		if err != nil || d.Before(f.earliest().AddDate(0, 0, -1)) && date != "now" {
			writeInvalid(w, nil, []string{"cancellation_date"})
			return
		}
		if s.Cancelled {
			writeErr(w, 409, "CONFLICT", "The server is already cancelled")
			return
		}
		s.Cancelled, s.CancellationDate = true, date
		writeJSON(w, 201, map[string]any{"cancellation": f.cancellation(s)})

	case "GET /key":
		if len(f.keys) == 0 {
			writeErr(w, 404, "NOT_FOUND", "No keys found")
			return
		}
		var out []any
		for _, k := range f.keys {
			out = append(out, map[string]any{"key": k.json()})
		}
		writeJSON(w, 200, out)
	case "POST /key":
		name, data := r.PostForm.Get("name"), r.PostForm.Get("data")
		var missing []string
		if name == "" {
			missing = append(missing, "name")
		}
		if data == "" {
			missing = append(missing, "data")
		}
		if missing != nil {
			writeInvalid(w, missing, nil)
			return
		}
		pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(data))
		if err != nil {
			writeErr(w, 400, "KEY_INVALID", "The key is not a valid SSH public key")
			return
		}
		fp := Fingerprint(pub)
		if f.key(fp) != nil {
			writeErr(w, 409, "KEY_ALREADY_EXISTS", "The key already exists")
			return
		}
		k := &key{Name: name, Fingerprint: fp, Type: strings.TrimPrefix(strings.ToUpper(pub.Type()), "SSH-"), Size: 256, Data: data, Created: f.now().Format("2006-01-02 15:04:05")}
		f.keys = append(f.keys, k)
		writeJSON(w, 201, map[string]any{"key": k.json()})
	case "DELETE /key/{fp}":
		i := slices.IndexFunc(f.keys, func(k *key) bool { return k.Fingerprint == args[0] })
		if i < 0 {
			writeErr(w, 404, "NOT_FOUND", "Key not found")
			return
		}
		f.keys = slices.Delete(f.keys, i, i+1)
		w.WriteHeader(200)

	case "GET /boot/{n}/rescue":
		if s := f.server(w, args[0]); s != nil {
			writeJSON(w, 200, map[string]any{"rescue": s.rescueJSON()})
		}
	case "POST /boot/{n}/rescue":
		s := f.server(w, args[0])
		if s == nil {
			return
		}
		os := r.PostForm.Get("os")
		if os == "" {
			writeInvalid(w, []string{"os"}, nil)
			return
		}
		if os != "linux" && os != "vkvm" {
			writeInvalid(w, nil, []string{"os"})
			return
		}
		if s.Rescue != nil {
			writeErr(w, 409, "BOOT_ALREADY_ENABLED", "A boot option is already active")
			return
		}
		keys, ok := f.keysOf(w, r.PostForm["authorized_key[]"])
		if !ok {
			return
		}
		// A password comes with keys too (the doc's output table;
		// syself/hrobot-go test/response/boot_rescue_set_with_key.json).
		f.nextPassword++
		s.Rescue = &rescue{keys: keys, password: fmt.Sprintf("fakeRescue%04d", f.nextPassword)}
		writeJSON(w, 200, map[string]any{"rescue": s.rescueJSON()})
	case "DELETE /boot/{n}/rescue":
		if s := f.server(w, args[0]); s != nil {
			s.Rescue = nil
			writeJSON(w, 200, map[string]any{"rescue": s.rescueJSON()})
		}

	case "GET /reset/{n}":
		if s := f.server(w, args[0]); s != nil {
			writeJSON(w, 200, map[string]any{"reset": map[string]any{"server_ip": s.IP, "server_number": s.Number, "type": resetTypes, "operating_status": "running"}})
		}
	case "POST /reset/{n}":
		s := f.server(w, args[0])
		if s == nil {
			return
		}
		typ := r.PostForm.Get("type")
		if typ == "" {
			writeInvalid(w, []string{"type"}, nil)
			return
		}
		if !slices.Contains(resetTypes, typ) {
			writeInvalid(w, nil, []string{"type"})
			return
		}
		s.Resets = append(s.Resets, typ)
		// The armed rescue is used by this boot, and only by this one.
		s.InRescue, s.inRescueKeys = s.Rescue != nil, nil
		if s.Rescue != nil {
			s.inRescueKeys = s.Rescue.keys
		}
		s.Rescue = nil
		writeJSON(w, 200, map[string]any{"reset": map[string]any{"server_ip": s.IP, "server_number": s.Number, "type": typ}})

	case "GET /order/server/product":
		var out []any
		for _, id := range sortedKeys(f.products) {
			out = append(out, map[string]any{"product": f.products[id].json()})
		}
		writeJSON(w, 200, out)
	case "GET /order/server/product/{id}":
		p := f.products[args[0]]
		if p == nil {
			writeErr(w, 404, "PRODUCT_NOT_FOUND", "Product not found")
			return
		}
		writeJSON(w, 200, map[string]any{"product": p.json()})
	case "GET /order/server_market/product":
		var out []any
		for _, id := range sortedKeys(f.market) {
			out = append(out, map[string]any{"product": f.market[id].json()})
		}
		writeJSON(w, 200, out)
	case "GET /order/server_market/product/{id}":
		id, _ := strconv.Atoi(args[0])
		p := f.market[id]
		if p == nil {
			writeErr(w, 404, "PRODUCT_NOT_FOUND", "Product not found")
			return
		}
		writeJSON(w, 200, map[string]any{"product": p.json()})

	case "GET /order/server/transaction", "GET /order/server_market/transaction":
		market := strings.Contains(route, "server_market")
		var out []any
		for _, t := range f.txns {
			if t.Market == market && f.now().Sub(t.Date) < 30*24*time.Hour {
				out = append(out, map[string]any{"transaction": f.txnJSON(t)})
			}
		}
		if len(out) == 0 {
			writeErr(w, 404, "NOT_FOUND", "No transactions found")
			return
		}
		writeJSON(w, 200, out)
	case "GET /order/server/transaction/{id}", "GET /order/server_market/transaction/{id}":
		market := strings.Contains(route, "server_market")
		i := slices.IndexFunc(f.txns, func(t *txn) bool { return t.ID == args[0] && t.Market == market })
		if i < 0 {
			writeErr(w, 404, "TRANSACTION_NOT_FOUND", "Transaction not found")
			return
		}
		writeJSON(w, 200, map[string]any{"transaction": f.txnJSON(f.txns[i])})
	case "POST /order/server/transaction", "POST /order/server_market/transaction":
		f.order(w, r, strings.Contains(route, "server_market"))
	default:
		writeErr(w, 404, "NOT_FOUND", "Not found")
	}
}

var resetTypes = []string{"sw", "hw", "man", "power"}

func (f *Fake) order(w http.ResponseWriter, r *http.Request, market bool) {
	id := r.PostForm.Get("product_id")
	fps := r.PostForm["authorized_key[]"]
	var missing []string
	if id == "" {
		missing = append(missing, "product_id")
	}
	if len(fps) == 0 && r.PostForm.Get("password") == "" {
		missing = append(missing, "authorized_key", "password")
	}
	if missing != nil {
		writeInvalid(w, missing, nil)
		return
	}
	loc := r.PostForm.Get("location")
	if !market && loc == "" {
		// The doc's input table does not mark location optional.
		writeInvalid(w, []string{"location"}, nil)
		return
	}
	addons := r.PostForm["addon[]"]
	for _, a := range addons {
		if a != "primary_ipv4" {
			writeInvalid(w, nil, []string{"addon"})
			return
		}
	}
	if market {
		n, _ := strconv.Atoi(id)
		if f.market[n] == nil {
			writeErr(w, 404, "PRODUCT_NOT_FOUND", "Product not found")
			return
		}
	} else {
		p := f.products[id]
		if p == nil {
			writeErr(w, 404, "PRODUCT_NOT_FOUND", "Product not found")
			return
		}
		if !slices.Contains(p.Locations, loc) {
			writeInvalid(w, nil, []string{"location"})
			return
		}
	}
	keys, ok := f.keysOf(w, fps)
	if !ok {
		return
	}
	now := f.now()
	f.nextTxn++
	t := &txn{ID: fmt.Sprintf("B%s-%d-%d", now.Format("20060102"), 300000+f.nextTxn, 200000+f.nextTxn), Date: now, Market: market,
		Product: id, Location: loc, Keys: keys, Addons: addons, Status: "in process", ready: now.Add(f.OrderDelay)}
	f.txns = append(f.txns, t)
	writeJSON(w, 201, map[string]any{"transaction": f.txnJSON(t)})
}

func (f *Fake) keysOf(w http.ResponseWriter, fps []string) ([]*key, bool) {
	var keys []*key
	for _, fp := range fps {
		k := f.key(fp)
		if k == nil {
			writeInvalid(w, nil, []string{"authorized_key"})
			return nil, false
		}
		keys = append(keys, k)
	}
	return keys, true
}

func (f *Fake) key(fp string) *key {
	for _, k := range f.keys {
		if k.Fingerprint == fp {
			return k
		}
	}
	return nil
}

func (f *Fake) server(w http.ResponseWriter, arg string) *server {
	n, err := strconv.Atoi(arg)
	s := f.servers[n]
	if err != nil || s == nil {
		writeErr(w, 404, "SERVER_NOT_FOUND", "Server not found")
		return nil
	}
	return s
}

func (f *Fake) serverNumbers() []int {
	var ns []int
	for n := range f.servers {
		ns = append(ns, n)
	}
	slices.Sort(ns)
	return ns
}

func sortedKeys[K int | string, V any](m map[K]V) []K {
	var ks []K
	for k := range m {
		ks = append(ks, k)
	}
	slices.Sort(ks)
	return ks
}

// earliest is the earliest cancellation date: the end of the month after
// the current one.
func (f *Fake) earliest() time.Time {
	n := f.now()
	return time.Date(n.Year(), n.Month()+2, 0, 0, 0, 0, 0, time.UTC)
}

func (f *Fake) cancellation(s *server) map[string]any {
	var date any
	if s.Cancelled {
		date = s.CancellationDate
	}
	return map[string]any{"server_ip": s.IP, "server_number": s.Number, "server_name": s.Name,
		"earliest_cancellation_date": f.earliest().Format("2006-01-02"), "cancelled": s.Cancelled,
		"cancellation_date": date, "cancellation_reason": []string{"Upgrade to a new server", "Other"}}
}

func (s *server) json() map[string]any {
	return map[string]any{"server_ip": s.IP, "server_ipv6_net": s.IPv6, "server_number": s.Number, "server_name": s.Name,
		"product": s.Product, "dc": s.DC, "traffic": "unlimited", "status": s.Status, "cancelled": s.Cancelled,
		"paid_until": s.PaidUntil, "ip": []string{s.IP}, "subnet": []any{},
		"reset": true, "rescue": true, "vnc": true, "windows": false, "plesk": false, "cpanel": false, "wol": true, "hot_swap": false, "linked_storagebox": nil}
}

func (s *server) rescueJSON() map[string]any {
	// The doc's and syself/hrobot-go's fields: lists of choices while
	// inactive, the chosen values while active.
	m := map[string]any{"server_ip": s.IP, "server_ipv6_net": s.IPv6, "server_number": s.Number, "arch": []int{64},
		"active": s.Rescue != nil, "password": nil, "authorized_key": []any{}, "host_key": []any{}}
	if s.Rescue == nil {
		m["os"] = []string{"linux", "vkvm"}
		return m
	}
	m["os"], m["arch"] = "linux", 64
	if s.Rescue.password != "" {
		m["password"] = s.Rescue.password
	}
	var ks []any
	for _, k := range s.Rescue.keys {
		ks = append(ks, map[string]any{"key": map[string]any{"name": k.Name, "fingerprint": k.Fingerprint, "type": k.Type, "size": k.Size}})
	}
	if ks != nil {
		m["authorized_key"] = ks
	}
	return m
}

func (k *key) json() map[string]any {
	return map[string]any{"name": k.Name, "fingerprint": k.Fingerprint, "type": k.Type, "size": k.Size, "data": k.Data, "created_at": k.Created}
}

func (p *product) json() map[string]any {
	var prices []any
	for _, l := range p.Locations {
		prices = append(prices, map[string]any{"location": l,
			"price":       map[string]string{"net": p.Price, "gross": gross(p.Price)},
			"price_setup": map[string]string{"net": p.Setup, "gross": gross(p.Setup)}})
	}
	return map[string]any{"id": p.ID, "name": p.Name, "description": []string{p.Name}, "traffic": "unlimited",
		"dist": []string{"Rescue system", "Ubuntu 22.04 LTS base"}, "lang": []string{"en"}, "location": p.Locations, "prices": prices,
		"orderable_addons": []any{ipv4Addon(p.Locations)}}
}

func (p *marketProduct) json() map[string]any {
	return map[string]any{"id": p.ID, "name": p.Name, "description": []string{p.CPU, p.HDD}, "traffic": "unlimited",
		"dist": []string{"Rescue system"}, "cpu": p.CPU, "cpu_benchmark": 9000, "memory_size": p.Memory, "hdd_size": 512, "hdd_text": p.HDD,
		"hdd_count": 2, "datacenter": p.DC, "network_speed": "1 Gbit/s", "price": p.Price, "price_setup": p.Setup,
		"price_vat": gross(p.Price), "price_setup_vat": gross(p.Setup), "fixed_price": false, "next_reduce": 3600, "next_reduce_date": "2030-01-01 00:00:00",
		"orderable_addons": []any{ipv4Addon([]string{strings.SplitN(p.DC, "-", 2)[0]})}}
}

// ipv4PriceNet is the fake's price of the primary_ipv4 addon, as in the
// doc's example (net EUR per month).
const ipv4PriceNet = "1.7000"

func ipv4Addon(locations []string) map[string]any {
	var prices []any
	for _, l := range locations {
		prices = append(prices, map[string]any{"location": l,
			"price":       map[string]string{"net": ipv4PriceNet, "gross": gross(ipv4PriceNet)},
			"price_setup": map[string]string{"net": "0.0000", "gross": "0.0000"}})
	}
	return map[string]any{"id": "primary_ipv4", "name": "Primary IPv4", "min": 0, "max": 1, "prices": prices}
}

func gross(net string) string {
	f, err := strconv.ParseFloat(net, 64)
	if err != nil {
		return net
	}
	return strconv.FormatFloat(f*1.19, 'f', 4, 64)
}

func (f *Fake) txnJSON(t *txn) map[string]any {
	var keys []any
	for _, k := range t.Keys {
		keys = append(keys, map[string]any{"key": map[string]any{"name": k.Name, "fingerprint": k.Fingerprint, "type": k.Type, "size": k.Size}})
	}
	var num, ip any
	if s := f.servers[t.Server]; s != nil {
		num, ip = t.Server, s.IP
	}
	var prod any
	if t.Market {
		n, _ := strconv.Atoi(t.Product)
		if p := f.market[n]; p != nil {
			prod = p.json()
		}
	} else if p := f.products[t.Product]; p != nil {
		prod = map[string]any{"id": p.ID, "name": p.Name, "description": []string{p.Name}, "traffic": "unlimited", "dist": "Rescue system", "lang": "en", "location": t.Location}
	}
	addons := append([]string{}, t.Addons...)
	if keys == nil {
		keys = []any{}
	}
	return map[string]any{"id": t.ID, "date": t.Date.Format(time.RFC3339), "status": t.Status, "server_number": num, "server_ip": ip,
		"authorized_key": keys, "host_key": []any{}, "comment": nil, "product": prod, "addons": addons}
}
