package templates

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/internal/testenv"
)

// TestNginxRoutesScalelite runs a real nginx with the scalelite node's
// site as rendered, over TLS with a throwaway certificate; only paths move
// into a temporary directory. Scalelite's API is a stand-in that hands a
// recording's files over as Scalelite's playback controller does (an
// X-Accel-Redirect to /static-resource/...), so the test shows that a
// recording reaches the browser only through the API, and that the player
// and the old links resolve.
func TestNginxRoutesScalelite(t *testing.T) {
	bin := nginxBinary(t)
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		must(os.MkdirAll(filepath.Dir(p), 0o755))
		must(os.WriteFile(p, []byte(body), 0o644))
		return p
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", "scalelite-api")
		if rest, ok := strings.CutPrefix(r.URL.Path, "/presentation/"); ok {
			w.Header().Set("X-Accel-Redirect", "/static-resource/presentation/"+rest)
			return
		}
		fmt.Fprintf(w, "api %s proto=%s host=%s", r.URL.Path, r.Header.Get("X-Forwarded-Proto"), r.Host)
	}))
	t.Cleanup(api.Close)
	certFile, keyFile := selfSigned(t, dir, "scalelite.example.org")
	vb := filepath.Join(dir, "var-bigbluebutton")
	write("var-bigbluebutton/published/presentation/rec-1/slides.svg", "slide one")
	write("var-bigbluebutton/playback/presentation/2.3/index.html", "the player")
	write("var-bigbluebutton/playback/presentation/2.3/static/app.js", "player code")

	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	listen := l.Addr().String()
	l.Close()
	site, err := Render(ScaleliteNginx, ScaleliteSite{Domain: "scalelite.example.org", Cert: certFile, Key: keyFile,
		Aliases: []string{"school-a.scalelite.example.org"}, Port: api.Listener.Addr().(*net.TCPAddr).Port})
	must(err)
	s := string(site)
	for old, repl := range map[string]string{
		"listen 443 ssl http2;":               "listen " + listen + " ssl http2;",
		"listen [::]:443 ssl http2;":          "",
		"/var/log/nginx/scalelite.access.log": filepath.Join(dir, "access.log"),
		"/var/bigbluebutton":                  vb,
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("rendered site lacks %q: the test's rewrite is stale", old)
		}
		s = strings.ReplaceAll(s, old, repl)
	}
	write("site.conf", s)
	ng := runNginx(t, bin, dir, "site.conf")

	client := &http.Client{
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, ServerName: "scalelite.example.org"}, // a throwaway certificate
			DialContext:       func(context.Context, string, string) (net.Conn, error) { return ng.dial(listen) },
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	for _, c := range []struct{ path, code, body, location string }{
		// A tenant's sub-domain reaches the API with its own host: Scalelite
		// takes the tenant from the host's first label.
		{"https://school-a.scalelite.example.org/bigbluebutton/api/create", "200", "api /bigbluebutton/api/create proto=https host=school-a.scalelite.example.org", ""},
		{"/bigbluebutton/api/getMeetings?checksum=x", "200", "api /bigbluebutton/api/getMeetings proto=https host=scalelite.example.org", ""},
		{"/scalelite/api/getServers", "200", "api /scalelite/api/getServers proto=https host=scalelite.example.org", ""},
		{"/presentation/rec-1/slides.svg", "200", "slide one", ""},        // through the API's X-Accel-Redirect
		{"/static-resource/presentation/rec-1/slides.svg", "404", "", ""}, // never directly
		{"/playback/presentation/2.3/rec-1", "200", "the player", ""},     // the player for any recording
		{"/playback/presentation/2.3/static/app.js", "200", "player code", ""},
		{"/playback/presentation/2.0/playback.html?meetingId=rec-1", "301", "", "/playback/presentation/2.3/rec-1?meetingId=rec-1"},
		{"/playback/video/rec-1/", "307", "", "/video/rec-1/"},
	} {
		u := c.path
		if !strings.HasPrefix(u, "https://") {
			u = "https://scalelite.example.org" + u
		}
		resp, err := client.Get(u)
		if err != nil {
			t.Fatalf("GET %s: %v", c.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got := fmt.Sprint(resp.StatusCode)
		loc, _ := resp.Location()
		switch {
		case got != c.code:
			t.Errorf("GET %s: %s, want %s (%q)", c.path, got, c.code, b)
		case c.body != "" && string(b) != c.body:
			t.Errorf("GET %s: %q, want %q", c.path, b, c.body)
		case c.location != "" && (loc == nil || loc.RequestURI() != c.location):
			t.Errorf("GET %s: to %v, want %s", c.path, loc, c.location)
		}
	}
}

// nginxBinary finds nginx or reports it missing.
func nginxBinary(t *testing.T) string {
	if bin, err := exec.LookPath("nginx"); err == nil {
		return bin
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	testenv.Missing(t, "nginx not installed (apt-get install nginx-light): the routing tests need a real nginx")
	return ""
}

// nginxRun is a running nginx, stopped when the test ends.
type nginxRun struct {
	dir     string
	stderr  strings.Builder
	exited  chan struct{}
	waitErr error
}

// runNginx starts nginx with an http block that includes site from dir.
func runNginx(t *testing.T, bin, dir, site string) *nginxRun {
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n" // workers can then read the 0700 temporary directory
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(`%serror_log %s/error.log;
events { worker_connections 64; }
http {
	access_log off;
	client_body_temp_path %[2]s/body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	include %[2]s/%s;
}
`, user, dir, site)), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &nginxRun{dir: dir, exited: make(chan struct{})}
	cmd := exec.CommandContext(ctx, bin, "-p", dir, "-c", conf, "-g", "daemon off; master_process on; pid "+filepath.Join(dir, "nginx.pid")+";")
	cmd.Stderr = &n.stderr
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	go func() { n.waitErr = cmd.Wait(); close(n.exited) }()
	t.Cleanup(func() { cancel(); <-n.exited })
	return n
}

// dial connects to nginx at addr, waiting (boundedly) for it to listen;
// if nginx exits instead, the error says why, in nginx's words.
func (n *nginxRun) dial(addr string) (net.Conn, error) {
	for i := 0; ; i++ {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			return c, nil
		}
		if i == 100 {
			return nil, fmt.Errorf("nginx does not listen on %s: %s", addr, n.stderr.String())
		}
		select {
		case <-n.exited:
			b, _ := os.ReadFile(filepath.Join(n.dir, "error.log"))
			return nil, fmt.Errorf("nginx exited (%v): %s%s", n.waitErr, n.stderr.String(), b)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// selfSigned writes a throwaway certificate and key for name into dir.
func selfSigned(t *testing.T, dir, name string) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
