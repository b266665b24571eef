package remote

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/user"
	"regexp"
	"strconv"
	"strings"

	"github.com/kevinburke/ssh_config"
)

// SSHConfig is an OpenSSH client configuration file (~/.ssh/config), read
// so that omc reaches hosts the way ssh does: Host aliases, HostName,
// User, Port, IdentityFile and ProxyJump (any number of hops). Match
// supports Host and all only; Match exec and other criteria are reported
// as errors of the file. Include paths that are not absolute are taken
// from the user's home as the OS knows it, not $HOME.
type SSHConfig struct {
	Path string
	c    *ssh_config.Config
}

// LoadSSHConfig reads path. A missing file, or path "", is an empty
// configuration.
func LoadSSHConfig(path string) (*SSHConfig, error) {
	s := &SSHConfig{Path: path}
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, err
	}
	c, err := ssh_config.DecodeBytes(data)
	if err != nil {
		return nil, fmt.Errorf("%s", parseErr.ReplaceAllString(err.Error(), path+":$1:$2: "))
	}
	s.c = c
	return s, nil
}

// parseErr is how the parser places its errors: "(LINE, COL): ".
var parseErr = regexp.MustCompile(`^\((\d+), (\d+)\): (?:ssh_config: )?`)

// maxHops bounds a ProxyJump chain, so that a host that names itself
// (Host * with a ProxyJump, say) is an error, not an endless dial.
const maxHops = 8

// Apply fills in what cfg leaves unset from the file's entry for
// cfg.Address, which ssh would take as a Host alias: the address
// (HostName), Port (when 0), User (when ""), the keys (IdentityFile, when
// neither KeyFile nor IdentityFiles is set) and the jump hosts (ProxyJump,
// when Bastion is nil). Each jump host is filled in likewise from its own
// entry; ssh also honours the first hop's own ProxyJump, and so does
// Apply. Set values are the caller's (the inventory's) and win.
func (s *SSHConfig) Apply(cfg Config) (Config, error) {
	return s.apply(cfg, 0)
}

func (s *SSHConfig) apply(cfg Config, depth int) (Config, error) {
	if depth > maxHops {
		return cfg, fmt.Errorf("%s: ProxyJump: more than %d jump hosts before %s (does a host's ProxyJump lead back to it?)", s.Path, maxHops, cfg.Address)
	}
	alias := cfg.Address
	get := func(key string) string {
		if s.c == nil {
			return ""
		}
		v, _ := s.c.Get(alias, key)
		return strings.TrimSpace(v)
	}
	bad := func(key, v, why string) error {
		return fmt.Errorf("%s: Host %s: %s %q %s", s.Path, alias, key, v, why)
	}
	if h := get("HostName"); h != "" {
		cfg.Address = strings.NewReplacer("%h", alias, "%%", "%").Replace(h)
	}
	if v := get("Port"); v != "" && cfg.Port == 0 {
		p, err := strconv.Atoi(v)
		if err != nil || p < 1 || p > 65535 {
			return cfg, bad("Port", v, "is not a port (1..65535)")
		}
		cfg.Port = p
	}
	if v := get("User"); v != "" && cfg.User == "" {
		cfg.User = v
	}
	if cfg.KeyFile == "" && len(cfg.IdentityFiles) == 0 && s.c != nil {
		files, _ := s.c.GetAll(alias, "IdentityFile")
		for _, f := range files {
			if f = strings.TrimSpace(f); strings.EqualFold(f, "none") {
				continue
			}
			cfg.IdentityFiles = append(cfg.IdentityFiles, expandTokens(f, alias, cfg))
		}
	}
	if cfg.Bastion == nil {
		jump := get("ProxyJump")
		if jump == "" && get("ProxyCommand") != "" && !strings.EqualFold(get("ProxyCommand"), "none") {
			return cfg, fmt.Errorf("%s: Host %s: ProxyCommand is not supported by omc; use ProxyJump, or ssh.bastion in the inventory", s.Path, alias)
		}
		if jump != "" && !strings.EqualFold(jump, "none") {
			hops := strings.Split(jump, ",")
			var prev *Config
			for i, h := range hops {
				hop, err := parseJump(strings.TrimSpace(h))
				if err != nil {
					return cfg, bad("ProxyJump", jump, err.Error())
				}
				hop.KnownHosts, hop.RefuseNew, hop.OnNewKey, hop.Timeout = cfg.KnownHosts, cfg.RefuseNew, cfg.OnNewKey, cfg.Timeout
				// ssh -J a,b reaches b through a; only a's own
				// ProxyJump counts.
				hop.Bastion = prev
				hop, err = s.apply(hop, depth+len(hops)-i)
				if err != nil {
					return cfg, err
				}
				prev = &hop
			}
			cfg.Bastion = prev
		}
	} else {
		b, err := s.apply(*cfg.Bastion, depth+1)
		if err != nil {
			return cfg, err
		}
		cfg.Bastion = &b
	}
	return cfg, nil
}

// parseJump reads one ProxyJump hop: [user@]host[:port], or
// ssh://[user@]host[:port].
func parseJump(s string) (Config, error) {
	if s == "" {
		return Config{}, errors.New("has an empty hop")
	}
	c := Config{Name: "jump host " + s}
	if strings.HasPrefix(s, "ssh://") {
		u, err := url.Parse(s)
		if err != nil || u.Hostname() == "" {
			return c, fmt.Errorf("has a bad hop %q", s)
		}
		c.Address, c.User = u.Hostname(), u.User.Username()
		if p := u.Port(); p != "" {
			c.Port, _ = strconv.Atoi(p)
		}
		return c, nil
	}
	if u, rest, ok := strings.Cut(s, "@"); ok {
		c.User, s = u, rest
	}
	c.Address = s
	if h, p, err := net.SplitHostPort(s); err == nil {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return c, fmt.Errorf("has a bad port in %q", s)
		}
		c.Address, c.Port = h, n
	}
	if c.Address == "" {
		return c, fmt.Errorf("has a hop without a host: %q", s)
	}
	return c, nil
}

// expandTokens expands what IdentityFile may hold: ~, %d (home), %h
// (host), %r (remote user), %u (local user) and %%.
func expandTokens(p, alias string, cfg Config) string {
	home, _ := os.UserHomeDir()
	local := ""
	if u, err := user.Current(); err == nil {
		local = u.Username
	}
	p = expandHome(p)
	return strings.NewReplacer("%d", home, "%h", cfg.Address, "%r", cfg.User, "%u", local, "%%", "%").Replace(p)
}
