package fake

import (
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// A short, fixed catalogue: enough for omc's examples and tests. The
// real project has more, and its ids differ.
var (
	locations = []schema.Location{
		{ID: 1, Name: "fsn1", Description: "Falkenstein DC Park 1", Country: "DE", City: "Falkenstein", NetworkZone: "eu-central"},
		{ID: 2, Name: "nbg1", Description: "Nuremberg DC Park 1", Country: "DE", City: "Nuremberg", NetworkZone: "eu-central"},
		{ID: 3, Name: "hel1", Description: "Helsinki DC Park 1", Country: "FI", City: "Helsinki", NetworkZone: "eu-central"},
		{ID: 4, Name: "ash", Description: "Ashburn, VA", Country: "US", City: "Ashburn, VA", NetworkZone: "us-east"},
		{ID: 5, Name: "hil", Description: "Hillsboro, OR", Country: "US", City: "Hillsboro, OR", NetworkZone: "us-west"},
		{ID: 6, Name: "sin", Description: "Singapore", Country: "SG", City: "Singapore", NetworkZone: "ap-southeast"},
	}
	serverTypes = []schema.ServerType{
		{ID: 22, Name: "cx22", Description: "CX22", Cores: 2, Memory: 4, Disk: 40, StorageType: "local", CPUType: "shared", Architecture: "x86"},
		{ID: 23, Name: "cx32", Description: "CX32", Cores: 4, Memory: 8, Disk: 80, StorageType: "local", CPUType: "shared", Architecture: "x86"},
		{ID: 24, Name: "cpx31", Description: "CPX31", Cores: 4, Memory: 8, Disk: 160, StorageType: "local", CPUType: "shared", Architecture: "x86"},
		{ID: 96, Name: "ccx23", Description: "CCX23", Cores: 4, Memory: 16, Disk: 160, StorageType: "local", CPUType: "dedicated", Architecture: "x86"},
		{ID: 97, Name: "ccx33", Description: "CCX33", Cores: 8, Memory: 32, Disk: 240, StorageType: "local", CPUType: "dedicated", Architecture: "x86"},
		{ID: 98, Name: "ccx43", Description: "CCX43", Cores: 16, Memory: 64, Disk: 360, StorageType: "local", CPUType: "dedicated", Architecture: "x86"},
		{ID: 45, Name: "cax11", Description: "CAX11", Cores: 2, Memory: 4, Disk: 40, StorageType: "local", CPUType: "shared", Architecture: "arm"},
	}
	images = []schema.Image{
		image(67794396, "ubuntu-22.04", "ubuntu", "22.04"),
		image(161547269, "ubuntu-24.04", "ubuntu", "24.04"),
		image(114690387, "debian-12", "debian", "12"),
	}
)

// imagesCreated is when the catalogue's images appeared, a fixed date.
var imagesCreated = time.Date(2024, 4, 25, 0, 0, 0, 0, time.UTC)

func image(id int64, name, flavor, version string) schema.Image {
	return schema.Image{
		ID: id, Status: "available", Type: "system", Name: &name, Description: name, Created: &imagesCreated,
		DiskSize: 5, OSFlavor: flavor, OSVersion: &version, Architecture: "x86", Labels: map[string]string{},
	}
}

// findLocation resolves a location given by name or, as hcloud-go sends
// it when it knows the id (hcloud/server.go), by id in decimal.
func findLocation(idOrName string) (schema.Location, bool) {
	id, _ := strconv.ParseInt(idOrName, 10, 64)
	for _, l := range locations {
		if l.Name == idOrName || (id > 0 && l.ID == id) {
			return l, true
		}
	}
	return schema.Location{}, false
}

func findServerType(x schema.IDOrName) (schema.ServerType, bool) {
	for _, t := range serverTypes {
		if t.ID == x.ID || (x.Name != "" && t.Name == x.Name) {
			return t, true
		}
	}
	return schema.ServerType{}, false
}

func findImage(x schema.IDOrName) (schema.Image, bool) {
	for _, im := range images {
		if im.ID == x.ID || (x.Name != "" && *im.Name == x.Name) {
			return im, true
		}
	}
	return schema.Image{}, false
}

// renderServerType fills what the catalogue leaves implicit: every type
// is offered, not deprecated, in every location (the real catalogue
// varies by location; hcloud-go v2.38.0 moved availability here from the
// datacenters).
func renderServerType(t schema.ServerType) schema.ServerType {
	t.Category = map[string]string{"shared": "cost_optimized", "dedicated": "general_purpose"}[t.CPUType]
	t.Prices = []schema.PricingServerTypePrice{}
	t.Locations = []schema.ServerTypeLocation{}
	for _, l := range locations {
		t.Locations = append(t.Locations, schema.ServerTypeLocation{ID: l.ID, Name: l.Name, Available: true, Recommended: true})
	}
	return t
}

// The catalogue endpoints list with the API's name filter and paging
// and get by id, which is how hcloud-go (and so the hcloud CLI) resolves
// "ID or name" arguments.

func (f *Fake) listLocations(w http.ResponseWriter, r *http.Request) {
	var out []schema.Location
	for _, l := range locations {
		if n := r.URL.Query().Get("name"); n == "" || n == l.Name {
			out = append(out, l)
		}
	}
	writePage(w, r, "locations", out)
}

func (f *Fake) getLocation(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r)
	for _, l := range locations {
		if l.ID == id {
			writeJSON(w, http.StatusOK, schema.LocationGetResponse{Location: l})
			return
		}
	}
	notFound(w, "location")
}

func (f *Fake) listServerTypes(w http.ResponseWriter, r *http.Request) {
	var out []schema.ServerType
	for _, t := range serverTypes {
		if n := r.URL.Query().Get("name"); n == "" || n == t.Name {
			out = append(out, renderServerType(t))
		}
	}
	writePage(w, r, "server_types", out)
}

func (f *Fake) getServerType(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r)
	for _, t := range serverTypes {
		if t.ID == id {
			writeJSON(w, http.StatusOK, schema.ServerTypeGetResponse{ServerType: renderServerType(t)})
			return
		}
	}
	notFound(w, "server type")
}

func (f *Fake) listImages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var out []schema.Image
	for _, im := range images {
		if n := q.Get("name"); n != "" && n != *im.Name {
			continue
		}
		if a := q["architecture"]; len(a) > 0 && !slices.Contains(a, im.Architecture) {
			continue
		}
		if t := q["type"]; len(t) > 0 && !slices.Contains(t, im.Type) {
			continue
		}
		out = append(out, im)
	}
	writePage(w, r, "images", out)
}

func (f *Fake) getImage(w http.ResponseWriter, r *http.Request) {
	id, _ := pathID(r)
	for _, im := range images {
		if im.ID == id {
			writeJSON(w, http.StatusOK, schema.ImageGetResponse{Image: im})
			return
		}
	}
	notFound(w, "image")
}

// datacentersGone answers GET /datacenters as the API does since
// 2026-10-01 (hcloud-go v2.44.0 CHANGELOG: "will return HTTP 410 Gone").
func (f *Fake) datacentersGone(w http.ResponseWriter, _ *http.Request) {
	deprecated(w, "https://docs.hetzner.cloud/changelog#2026-06-02-datacenters-deprecated")
}
