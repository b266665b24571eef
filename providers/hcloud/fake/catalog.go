package fake

import (
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

func image(id int64, name, flavor, version string) schema.Image {
	return schema.Image{
		ID: id, Status: "available", Type: "system", Name: &name, Description: name,
		DiskSize: 5, OSFlavor: flavor, OSVersion: &version, Architecture: "x86", Labels: map[string]string{},
	}
}

func findLocation(name string) (schema.Location, bool) {
	for _, l := range locations {
		if l.Name == name {
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
