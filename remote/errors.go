package remote

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DialError means the host could not be reached: the TCP connection was
// refused, timed out or had no route, or the SSH handshake broke off.
type DialError struct {
	Host    string        // node name
	Address string        // host:port dialed
	Via     string        // bastion name when dialed through one
	Op      string        // "connect" or "handshake"
	Timeout time.Duration // set when the attempt timed out
	Err     error
}

func (e *DialError) Error() string {
	var b strings.Builder
	b.WriteString(e.Host)
	b.WriteString(": ")
	if e.Op == "handshake" {
		b.WriteString("SSH handshake with ")
	} else {
		b.WriteString("connect to ")
	}
	b.WriteString(e.Address)
	if e.Via != "" {
		b.WriteString(" via ")
		b.WriteString(e.Via)
	}
	b.WriteString(": ")
	switch {
	case e.Timeout > 0:
		fmt.Fprintf(&b, "timed out after %s", e.Timeout)
	case errors.Is(e.Err, syscall.ECONNREFUSED):
		b.WriteString("connection refused (is sshd running and listening on that port?)")
	case errors.Is(e.Err, syscall.EHOSTUNREACH), errors.Is(e.Err, syscall.ENETUNREACH):
		b.WriteString("no route to host")
	default:
		b.WriteString(cleanErr(e.Err))
	}
	return b.String()
}

func (e *DialError) Unwrap() error { return e.Err }

// AuthError means the server refused every authentication method tried.
type AuthError struct {
	Host    string   // node name
	Address string   // host:port
	User    string   // remote user
	Methods []string // what was tried, e.g. "publickey ssh-ed25519 SHA256:… from /root/.ssh/id_ed25519"
	Reason  string   // why nothing (more) could be tried, if known
	Err     error
}

func (e *AuthError) Error() string {
	msg := fmt.Sprintf("%s: authentication as %s at %s failed", e.Host, e.User, e.Address)
	if len(e.Methods) > 0 {
		msg += "; tried " + strings.Join(e.Methods, ", ")
	} else {
		msg += "; no key to try"
	}
	if e.Reason != "" {
		msg += "; " + e.Reason
	}
	return msg
}

func (e *AuthError) Unwrap() error { return e.Err }

// HostKeyError means the server's host key is not the one omc expects.
type HostKeyError struct {
	Name    string // node name
	Host    string // address as dialed
	Port    int
	Got     string // SHA256 fingerprint of the key the server presented
	Type    string // its type, e.g. ssh-ed25519
	Path    string // known-hosts file holding the expected key (empty when pinned)
	Line    int    // line of the expected key in Path
	Pinned  bool   // the expected keys were pinned in Config.HostKeys
	Revoked bool   // the key is marked @revoked in Path
	// NoCommonType: the server offers no key of the recorded type(s) at all.
	NoCommonType bool
	// Unknown: first contact while Config.RefuseNew is set; nothing recorded.
	Unknown bool
}

func (e *HostKeyError) Error() string {
	where := hostPort(e.Host, e.Port)
	name := e.Name
	if name == "" {
		name = where
	}
	switch {
	case e.Unknown:
		return fmt.Sprintf("%s: unknown host key %s %s of %s, and new keys are not accepted (--accept-new=false); "+
			"check the fingerprint out of band, then pin it with host_key: on the node, or run once without --accept-new=false to record it in %s",
			name, e.Type, e.Got, where, e.Path)
	case e.Revoked:
		return fmt.Sprintf("%s: host key %s %s of %s is marked @revoked in %s:%d; refusing to connect",
			name, e.Type, e.Got, where, e.Path, e.Line)
	case e.Pinned:
		return fmt.Sprintf("%s: host key %s %s of %s does not match the pinned host key(s); "+
			"this may mean someone is intercepting the connection, or the server was rebuilt and the pinned key is out of date",
			name, e.Type, e.Got, where)
	}
	got := fmt.Sprintf("now presents %s %s", e.Type, e.Got)
	if e.NoCommonType {
		got = "no longer offers a host key of the type recorded"
	}
	return fmt.Sprintf("%s: HOST KEY CHANGED: %s %s, which does not match the key recorded in %s:%d. "+
		"This may mean someone is intercepting the connection (an attack), or the server was rebuilt. "+
		"If you know it was rebuilt, accept the new key deliberately with: omc known-hosts forget %s",
		name, where, got, e.Path, e.Line, forgetArg(e.Host, e.Port))
}

// LockedError means another omc run holds the host's lock.
type LockedError struct {
	Host   string // node name
	Holder string // what the holder wrote: who, since when, what
}

func (e *LockedError) Error() string {
	h := e.Holder
	if h == "" {
		h = "(holder not written yet)"
	}
	return fmt.Sprintf("%s: another omc run is changing this host: %s; wait for it to finish (its lock goes away when its SSH connection closes)", e.Host, h)
}

// LostError means the host stopped answering on an established
// connection: no reply to SSH keepalives for Silent. The network or the
// host went away without closing the connection.
type LostError struct {
	Host    string // node name
	Address string // host:port
	Silent  time.Duration
}

func (e *LostError) Error() string {
	return fmt.Sprintf("%s: the connection to %s stopped answering (no reply to SSH keepalives for %s): the host or the network to it is down", e.Host, e.Address, e.Silent)
}

func hostPort(host string, port int) string { return net.JoinHostPort(host, strconv.Itoa(port)) }

// forgetArg is the argument `omc known-hosts forget` takes for host:port.
func forgetArg(host string, port int) string {
	if port == 22 {
		return host
	}
	return hostPort(host, port)
}

// cleanErr shortens x/crypto's and net's wrapping for people.
func cleanErr(err error) string {
	if err == nil {
		return "unknown error"
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return "timed out"
	}
	s := err.Error()
	s = strings.TrimPrefix(s, "ssh: handshake failed: ")
	if s == "EOF" {
		return "the server closed the connection (EOF); is it an SSH server, or did it refuse us (MaxStartups, AllowUsers, firewall)?"
	}
	return s
}
