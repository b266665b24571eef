package remote

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/omc-coop/omc/internal/atomicfile"
)

// KnownHosts is omc's own known-hosts file, in OpenSSH format. It is
// separate from ~/.ssh/known_hosts so that omc never changes the user's
// file and a fleet's keys can be forgotten as a whole.
//
// Every change takes an exclusive flock on Path+".lock", rereads the file,
// and replaces it by rename, so concurrent goroutines and processes never
// lose each other's entries.
type KnownHosts struct {
	Path string // empty means DefaultKnownHostsPath()
}

// DefaultKnownHostsPath is $XDG_STATE_HOME/omc/known_hosts, or
// ~/.local/state/omc/known_hosts.
func DefaultKnownHostsPath() string {
	if d := os.Getenv("XDG_STATE_HOME"); filepath.IsAbs(d) {
		return filepath.Join(d, "omc", "known_hosts")
	}
	home, err := os.UserHomeDir()
	if err != nil {
		home = "/"
	}
	return filepath.Join(home, ".local", "state", "omc", "known_hosts")
}

func (k *KnownHosts) path() string {
	if k == nil || k.Path == "" {
		return DefaultKnownHostsPath()
	}
	return k.Path
}

// Add records keys as the host keys of host:port, replacing what was
// recorded for it. It is for providers that learn a new machine's keys
// through a trusted channel (the cloud API) before the first connection.
func (k *KnownHosts) Add(host string, port int, keys ...ssh.PublicKey) error {
	if len(keys) == 0 {
		return nil
	}
	return k.update(func(lines []string) ([]string, bool, error) {
		lines, _ = dropHost(lines, knownhosts.Normalize(hostPort(host, port)))
		for _, key := range keys {
			lines = append(lines, knownhosts.Line([]string{knownhosts.Normalize(hostPort(host, port))}, key))
		}
		return lines, true, nil
	})
}

// Forget removes every key recorded for host:port, so that the next
// connection records the key the server presents then. It is how a user
// accepts a rebuilt server, and how a provider must treat an address it
// hands to a new machine: a recycled address never inherits trust.
// Forgetting a host that has no key recorded is not an error; ForgetKnown
// is the strict form.
func (k *KnownHosts) Forget(host string, port int) error {
	_, err := k.forget(host, port)
	return err
}

// ErrNotKnown says no key was recorded for the host.
var ErrNotKnown = errors.New("no host key recorded")

// ForgetKnown is Forget for a user's request: a host with no key recorded
// (a typo, the wrong port) is ErrNotKnown, not a silent success.
func (k *KnownHosts) ForgetKnown(host string, port int) error {
	dropped, err := k.forget(host, port)
	if err == nil && !dropped {
		return fmt.Errorf("%s: %w in %s", hostPort(host, port), ErrNotKnown, k.path())
	}
	return err
}

func (k *KnownHosts) forget(host string, port int) (dropped bool, err error) {
	err = k.update(func(lines []string) ([]string, bool, error) {
		lines, dropped = dropHost(lines, knownhosts.Normalize(hostPort(host, port)))
		return lines, dropped, nil
	})
	return dropped, err
}

// record stores key for address on first contact, and says whether it
// did. Under the lock it looks again: another process may have recorded
// the host meanwhile, and then that key must match.
func (k *KnownHosts) record(address string, key ssh.PublicKey) (added bool, err error) {
	err = k.update(func(lines []string) ([]string, bool, error) {
		cb, err := k.callback()
		if err != nil {
			return nil, false, err
		}
		switch err := cb(address, fakeAddr(address), key); {
		case err == nil:
			return nil, false, nil // recorded meanwhile, same key
		case isUnknown(err):
			added = true
			return append(lines, knownhosts.Line([]string{knownhosts.Normalize(address)}, key)), true, nil
		default:
			return nil, false, err
		}
	})
	return added, err
}

// callback checks keys against the file as it is now.
func (k *KnownHosts) callback() (ssh.HostKeyCallback, error) {
	p := k.path()
	if _, err := os.Stat(p); errors.Is(err, os.ErrNotExist) {
		p = os.DevNull
	}
	cb, err := knownhosts.New(p)
	if err != nil {
		return nil, fmt.Errorf("known-hosts file: %w", err)
	}
	return cb, nil
}

// known returns the keys recorded for address (host:port), as a
// KeyError's Want list.
func (k *KnownHosts) known(address string) ([]knownhosts.KnownKey, error) {
	cb, err := k.callback()
	if err != nil {
		return nil, err
	}
	var ke *knownhosts.KeyError
	if err := cb(address, fakeAddr(address), probeKey()); errors.As(err, &ke) {
		return ke.Want, nil
	}
	return nil, nil
}

// knownHostsMu serializes changes within this process; the flock
// serializes processes.
var knownHostsMu sync.Mutex

// update rewrites the file with edit's result under the lock, when edit
// says it changed something.
func (k *KnownHosts) update(edit func(lines []string) ([]string, bool, error)) error {
	p := k.path()
	knownHostsMu.Lock()
	defer knownHostsMu.Unlock()
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("known-hosts file: %w", err)
	}
	unlock, err := lockFile(p + ".lock")
	if err != nil {
		return err
	}
	defer unlock()

	data, err := os.ReadFile(p)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("known-hosts file: %w", err)
	}
	var lines []string
	if s := strings.TrimRight(string(data), "\n"); s != "" {
		lines = strings.Split(s, "\n")
	}
	out, changed, err := edit(lines)
	if err != nil || !changed {
		return err
	}
	var buf bytes.Buffer
	for _, l := range out {
		buf.WriteString(l)
		buf.WriteByte('\n')
	}
	if bytes.Equal(buf.Bytes(), data) {
		return nil
	}
	return writeAtomic(p, buf.Bytes(), 0o600)
}

// lockFile takes an exclusive flock on path, waiting up to 10 s.
func lockFile(path string) (unlock func(), err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("known-hosts lock: %w", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("known-hosts lock %s: %w", path, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func writeAtomic(path string, data []byte, mode os.FileMode) error {
	if err := atomicfile.Write(path, data, mode); err != nil {
		return fmt.Errorf("known-hosts file: %w", err)
	}
	return nil
}

// dropHost removes the pattern for host (normalized, as knownhosts.Normalize
// gives it) from every line, and lines left with no host. Hashed entries
// (|1|salt|hash) are matched too.
func dropHost(lines []string, host string) ([]string, bool) {
	var out []string
	dropped := false
	for _, l := range lines {
		t := strings.TrimSpace(l)
		if t == "" || t[0] == '#' {
			out = append(out, l)
			continue
		}
		fields := strings.Fields(t)
		i := 0
		if strings.HasPrefix(fields[0], "@") {
			i = 1
		}
		if len(fields) <= i {
			out = append(out, l)
			continue
		}
		var keep []string
		for _, pat := range strings.Split(fields[i], ",") {
			if patternIs(pat, host) {
				dropped = true
				continue
			}
			keep = append(keep, pat)
		}
		switch {
		case len(keep) == 0:
		case len(keep) == len(strings.Split(fields[i], ",")):
			out = append(out, l)
		default:
			fields[i] = strings.Join(keep, ",")
			out = append(out, strings.Join(fields, " "))
		}
	}
	return out, dropped
}

// patternIs reports whether a known_hosts host pattern names exactly host.
func patternIs(pat, host string) bool {
	if strings.HasPrefix(pat, "|1|") {
		parts := strings.Split(pat[3:], "|")
		if len(parts) != 2 {
			return false
		}
		salt, err1 := base64.StdEncoding.DecodeString(parts[0])
		hash, err2 := base64.StdEncoding.DecodeString(parts[1])
		if err1 != nil || err2 != nil {
			return false
		}
		m := hmac.New(sha1.New, salt)
		m.Write([]byte(host))
		return hmac.Equal(m.Sum(nil), hash)
	}
	if strings.HasPrefix(pat, "[") {
		if h, p, err := net.SplitHostPort(pat); err == nil {
			pat = knownhosts.Normalize(net.JoinHostPort(h, p))
		}
	}
	return pat == host
}

func isUnknown(err error) bool {
	var ke *knownhosts.KeyError
	return errors.As(err, &ke) && len(ke.Want) == 0
}

// fakeAddr gives knownhosts a remote address; it prefers the hostname we
// pass, so this is only there to satisfy its signature.
func fakeAddr(address string) net.Addr {
	host, port, _ := net.SplitHostPort(address)
	p, _ := strconv.Atoi(port)
	return &net.TCPAddr{IP: net.ParseIP(host), Port: p}
}

// probeKey is a key no server has; checking it lists the recorded keys.
var probeKey = sync.OnceValue(func() ssh.PublicKey {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	k, err := ssh.NewPublicKey(pub)
	if err != nil {
		panic(err)
	}
	return k
})
