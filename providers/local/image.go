package local

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// image is how one image name is built with debootstrap.
type image struct {
	Name  string
	Suite string
	// Mirror empty means the Debian mirror the machine's own apt uses,
	// which is the one a machine without internet can still reach.
	Mirror     string
	Components []string
	// Keyring, when set, must exist: debootstrap checks the suite's
	// signature against it.
	Keyring string
	// Distro names the acng backend file the mirror goes into.
	Distro string
}

// images are the names a group's image: may take.
var images = []image{
	{Name: "debian-12", Suite: "bookworm", Components: []string{"main"}, Distro: "debian"},
	{Name: "debian-13", Suite: "trixie", Components: []string{"main"}, Distro: "debian"},
	{Name: "ubuntu-22.04", Suite: "jammy", Mirror: "http://archive.ubuntu.com/ubuntu", Components: []string{"main", "universe"},
		Keyring: "/usr/share/keyrings/ubuntu-archive-keyring.gpg", Distro: "ubuntu"},
}

// DefaultImage is used when a group has no image:.
const DefaultImage = "debian-12"

// Images returns the known image names, sorted.
func Images() []string {
	var ns []string
	for _, im := range images {
		ns = append(ns, im.Name)
	}
	sort.Strings(ns)
	return ns
}

// UnknownImageError is returned for an image: this provider cannot build.
type UnknownImageError struct {
	Name  string
	Known []string
}

func (e *UnknownImageError) Error() string {
	return fmt.Sprintf("local provider: unknown image %q (known: %s)", e.Name, strings.Join(e.Known, ", "))
}

// lookupImage resolves name, filling in the machine's Debian mirror.
func lookupImage(name string) (image, error) {
	if name == "" {
		name = DefaultImage
	}
	for _, im := range images {
		if im.Name == name {
			if im.Mirror == "" {
				im.Mirror = machineDebianMirror()
			}
			return im, nil
		}
	}
	return image{}, &UnknownImageError{Name: name, Known: Images()}
}

// includes are the packages added to minbase: what systemd needs to boot
// as PID 1, sshd for omc, iproute2 to see the link, ca-certificates and
// sudo for the steps. util-linux (flock, mount) is already in minbase.
var includes = []string{"systemd", "systemd-sysv", "dbus", "openssh-server", "iproute2", "ca-certificates", "sudo"}

// ImageError is a failed image build, naming the step.
type ImageError struct {
	Image, Step string
	Err         error
}

func (e *ImageError) Error() string {
	return fmt.Sprintf("local image %s: %s: %v", e.Image, e.Step, e.Err)
}
func (e *ImageError) Unwrap() error { return e.Err }

// imageRoot is where an image's finished rootfs lives.
func (p *Provider) imageRoot(name string) string {
	return filepath.Join(p.dir, "images", name, "rootfs")
}

// ensureImage builds the image once. Builds go to a temporary dir that is
// renamed into place when complete, so a crash never leaves a half image,
// and a file lock keeps two omc runs from building it at the same time.
func (p *Provider) ensureImage(ctx context.Context, im image) (string, error) {
	root := p.imageRoot(im.Name)
	if _, err := os.Stat(filepath.Join(root, "usr/lib/os-release")); err == nil {
		return root, nil
	}
	if im.Keyring != "" {
		if _, err := os.Stat(im.Keyring); err != nil {
			return "", &ImageError{im.Name, "checking keyring", fmt.Errorf("%s is missing: apt-get install %s-keyring", im.Keyring, im.Distro)}
		}
	}
	imagesDir := filepath.Join(p.dir, "images")
	lock, err := lockFile(ctx, filepath.Join(imagesDir, im.Name+".lock"))
	if err != nil {
		return "", &ImageError{im.Name, "locking", err}
	}
	defer lock.unlock()
	if _, err := os.Stat(filepath.Join(root, "usr/lib/os-release")); err == nil {
		return root, nil // built by whoever held the lock
	}
	// Leftovers of builds that crashed; we hold the lock, so none is live.
	old, _ := filepath.Glob(filepath.Join(imagesDir, "."+im.Name+".build-*"))
	for _, o := range old {
		if err := removeTree(o); err != nil {
			return "", &ImageError{im.Name, "removing an old build", err}
		}
	}
	tmp, err := os.MkdirTemp(imagesDir, "."+im.Name+".build-")
	if err != nil {
		return "", &ImageError{im.Name, "making build dir", err}
	}
	defer removeTree(tmp)

	start := time.Now()
	p.logf("building image %s (debootstrap %s from %s); this happens once and takes a few minutes", im.Name, im.Suite, im.Mirror)
	logPath := filepath.Join(imagesDir, im.Name+".build.log")
	args := []string{"--variant=minbase", "--include=" + strings.Join(includes, ","),
		"--components=" + strings.Join(im.Components, ",")}
	if im.Keyring != "" {
		args = append(args, "--keyring="+im.Keyring)
	}
	args = append(args, im.Suite, filepath.Join(tmp, "rootfs"), im.Mirror)
	if err := runLogged(ctx, logPath, "debootstrap", args...); err != nil {
		return "", &ImageError{im.Name, "debootstrap", err}
	}
	if err := finishImage(filepath.Join(tmp, "rootfs"), im); err != nil {
		return "", &ImageError{im.Name, "preparing rootfs", err}
	}
	meta, _ := json.MarshalIndent(map[string]any{
		"name": im.Name, "suite": im.Suite, "mirror": im.Mirror, "built": time.Now().UTC(),
		"build_seconds": int(time.Since(start).Seconds()),
	}, "", "  ")
	os.WriteFile(filepath.Join(tmp, "image.json"), append(meta, '\n'), 0o644)
	final := filepath.Dir(root)
	if err := removeTree(final); err != nil { // an image dir without a rootfs is a leftover
		return "", &ImageError{im.Name, "removing a leftover", err}
	}
	if err := os.Rename(tmp, final); err != nil {
		return "", &ImageError{im.Name, "moving into place", err}
	}
	p.logf("built image %s in %s", im.Name, time.Since(start).Round(time.Second))
	return root, nil
}

// finishImage turns a debootstrap tree into a template every host copies:
// no host keys (omc writes one per host), no machine-id (one per host),
// no downloaded packages, apt sources for the suite and its updates, and
// no resolver (hosts have no route to one).
func finishImage(root string, im image) error {
	keys, _ := filepath.Glob(filepath.Join(root, "etc/ssh/ssh_host_*"))
	for _, k := range keys {
		if err := os.Remove(k); err != nil {
			return err
		}
	}
	debs, _ := filepath.Glob(filepath.Join(root, "var/cache/apt/archives/*.deb"))
	for _, d := range debs {
		os.Remove(d)
	}
	comps := strings.Join(im.Components, " ")
	files := map[string]string{
		"etc/machine-id": "",
		"etc/apt/sources.list": fmt.Sprintf("deb %s %s %s\ndeb %s %s-updates %s\n",
			im.Mirror, im.Suite, comps, im.Mirror, im.Suite, comps),
		"etc/resolv.conf": "# omc local host: no DNS; the host reaches only the machine (apt proxy).\n",
		// Only the key omc writes, so sshd does not log missing ones.
		"etc/ssh/sshd_config.d/omc.conf": "HostKey /etc/ssh/ssh_host_ed25519_key\n",
	}
	for name, content := range files {
		path := filepath.Join(root, name)
		os.Remove(path) // may be a symlink to the machine's file
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// machineDebianMirror is the first Debian archive URI in the machine's apt
// sources (deb822 .sources, then one-line .list files), skipping security
// archives; http://deb.debian.org/debian when there is none.
func machineDebianMirror() string {
	var paths []string
	d822, _ := filepath.Glob("/etc/apt/sources.list.d/*.sources")
	paths = append(paths, d822...)
	paths = append(paths, "/etc/apt/sources.list")
	lists, _ := filepath.Glob("/etc/apt/sources.list.d/*.list")
	paths = append(paths, lists...)
	for _, path := range paths {
		f, err := os.Open(path)
		if err != nil {
			continue
		}
		var m string
		if strings.HasSuffix(path, ".sources") {
			m = mirrorFromDeb822(f)
		} else {
			m = mirrorFromList(f)
		}
		f.Close()
		if m != "" {
			return m
		}
	}
	return "http://deb.debian.org/debian"
}

var debianSuites = map[string]bool{
	"buster": true, "bullseye": true, "bookworm": true, "trixie": true, "forky": true, "duke": true,
	"sid": true, "stable": true, "testing": true, "unstable": true, "oldstable": true,
}

// isDebianSuite accepts bookworm and bookworm-updates, not bookworm-security.
func isDebianSuite(s string) bool {
	base, suffix, _ := strings.Cut(s, "-")
	return debianSuites[base] && suffix != "security"
}

func mirrorFromDeb822(r io.Reader) string {
	fields := map[string]string{}
	var last string
	check := func() string {
		defer clear(fields)
		if strings.EqualFold(fields["enabled"], "no") || !strings.Contains(" "+fields["types"]+" ", " deb ") {
			return ""
		}
		uris := strings.Fields(fields["uris"])
		if len(uris) == 0 {
			return ""
		}
		for _, s := range strings.Fields(fields["suites"]) {
			if isDebianSuite(s) {
				return strings.TrimSuffix(uris[0], "/")
			}
		}
		return ""
	}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "#"):
		case strings.TrimSpace(line) == "":
			if m := check(); m != "" {
				return m
			}
		case line[0] == ' ' || line[0] == '\t':
			fields[last] += " " + strings.TrimSpace(line)
		default:
			k, v, _ := strings.Cut(line, ":")
			last = strings.ToLower(strings.TrimSpace(k))
			fields[last] = strings.TrimSpace(v)
		}
	}
	return check()
}

func mirrorFromList(r io.Reader) string {
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) < 3 || fs[0] != "deb" {
			continue
		}
		fs = fs[1:]
		if strings.HasPrefix(fs[0], "[") { // [ options ]
			i := 0
			for i < len(fs) && !strings.HasSuffix(fs[i], "]") {
				i++
			}
			if i >= len(fs) {
				continue
			}
			fs = fs[i+1:]
		}
		if len(fs) >= 2 && isDebianSuite(fs[1]) {
			return strings.TrimSuffix(fs[0], "/")
		}
	}
	return ""
}
