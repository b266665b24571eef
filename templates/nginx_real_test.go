package templates

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNginxRoutesGreenlightLTIAndBBB runs a real nginx with omc's BBB
// site behind haproxy (plain HTTP with the PROXY protocol, as haproxy
// hands it over), Greenlight's snippet and the LTI framework's, all
// rendered as on a node. Only paths
// are moved into a temporary directory and the upstreams point at
// loopback stand-ins; BBB's own location files (which the bbb packages
// install into /etc/bigbluebutton/nginx) are small stand-ins proxying
// /bigbluebutton to bbb-web and /html5client to html5.
func TestNginxRoutesGreenlightLTIAndBBB(t *testing.T) {
	bin := nginxBinary(t)

	backend := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			// Like a websocket server, upgrade only when both headers ask.
			if r.Header.Get("Upgrade") == "websocket" && strings.EqualFold(r.Header.Get("Connection"), "upgrade") {
				hj, ok := w.(http.Hijacker)
				if !ok {
					http.Error(w, "no hijack", 500)
					return
				}
				c, rw, err := hj.Hijack()
				if err != nil {
					return
				}
				defer c.Close()
				fmt.Fprintf(rw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nX-Backend: %s\r\n\r\n", name)
				rw.Flush()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				line, _ := rw.ReadString('\n') // echo one line over the upgraded stream
				fmt.Fprintf(rw, "%s says %s", name, line)
				rw.Flush()
				return
			}
			w.Header().Set("X-Backend", name)
			fmt.Fprintf(w, "%s %s proto=%s", name, r.URL.Path, r.Header.Get("X-Forwarded-Proto"))
		}))
		t.Cleanup(s.Close)
		return s
	}
	gl, web, html5 := backend("greenlight"), backend("bbb-web"), backend("html5")
	broker, rooms := backend("lti-broker"), backend("lti-rooms")
	port := func(s *httptest.Server) int { return s.Listener.Addr().(*net.TCPAddr).Port }

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
	// A free loopback port for nginx (closed again just before nginx binds it).
	l, err := net.Listen("tcp", "127.0.0.1:0")
	must(err)
	listen := l.Addr().String()
	l.Close()

	glFile := filepath.Join(dir, "omc-greenlight.nginx")
	snippet, err := Render(GreenlightNginx, Greenlight{Port: port(gl)})
	must(err)
	write("omc-greenlight.nginx", string(snippet))
	ltiFile := filepath.Join(dir, "omc-lti.nginx")
	snippet, err = Render(LTINginx, LTI{BrokerPort: port(broker), RoomsPort: port(rooms)})
	must(err)
	write("omc-lti.nginx", string(snippet))
	site, err := Render(NginxBBB, Nginx{Domain: "bbb-1.example.org", Behind: listen, Frontend: glFile, Apps: ltiFile})
	must(err)
	assets := filepath.Join(dir, "assets")
	write("assets/favicon.ico", "bbb-default-asset")
	s := string(site)
	for old, repl := range map[string]string{
		"/etc/bigbluebutton/nginx/*.nginx":        filepath.Join(dir, "bbb") + "/*.nginx",
		"/var/log/nginx/bigbluebutton.access.log": filepath.Join(dir, "access.log"),
		"/var/www/bigbluebutton-default/assets":   assets,
	} {
		if !strings.Contains(s, old) {
			t.Fatalf("rendered site lacks %q: the test's path rewrite is stale", old)
		}
		s = strings.ReplaceAll(s, old, repl)
	}
	write("site.conf", s)
	proxy := `	proxy_http_version 1.1;
	proxy_set_header Host $http_host;
	proxy_set_header X-Forwarded-Proto $real_scheme;
`
	write("bbb/web.nginx", fmt.Sprintf("location /bigbluebutton {\n\tproxy_pass http://127.0.0.1:%d;\n%s}\n", port(web), proxy))
	write("bbb/html5.nginx", fmt.Sprintf("location /html5client {\n\tproxy_pass http://127.0.0.1:%d;\n%s}\n", port(html5), proxy))
	ng := runNginx(t, bin, dir, "site.conf")

	// dial opens a connection to nginx and speaks haproxy's PROXY header
	// first.
	dial := func() (net.Conn, error) {
		c, err := ng.dial(listen)
		if err != nil {
			return nil, err
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if _, err := fmt.Fprintf(c, "PROXY TCP4 198.51.100.7 127.0.0.1 40000 443\r\n"); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	}
	client := &http.Client{Transport: &http.Transport{
		DialContext:       func(context.Context, string, string) (net.Conn, error) { return dial() },
		DisableKeepAlives: true,
	}}

	for _, c := range []struct{ path, backend, body string }{
		{"/", "greenlight", "greenlight / proto=https"},
		{"/rooms/abc-def", "greenlight", "greenlight /rooms/abc-def proto=https"},
		{"/bigbluebutton/api", "bbb-web", "bbb-web /bigbluebutton/api proto=https"},
		{"/bigbluebutton/api/getMeetings?checksum=x", "bbb-web", "bbb-web /bigbluebutton/api/getMeetings proto=https"},
		{"/html5client/join", "html5", "html5 /html5client/join proto=https"},
		{"/favicon.ico", "", "bbb-default-asset"}, // BBB's static assets still come first
		{"/lti", "lti-broker", "lti-broker /lti proto=https"},
		{"/lti/rooms/messages/blti", "lti-broker", "lti-broker /lti/rooms/messages/blti proto=https"},
		{"/apps/rooms/auth/bbbltibroker/callback?code=x", "lti-rooms", "lti-rooms /apps/rooms/auth/bbbltibroker/callback proto=https"},
		{"/apps/other", "greenlight", "greenlight /apps/other proto=https"}, // only the rooms app is LTI's
	} {
		resp, err := client.Get("http://bbb-1.example.org" + c.path)
		if err != nil {
			t.Fatalf("GET %s: %v", c.path, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("X-Backend") != c.backend || string(b) != c.body {
			t.Errorf("GET %s: %d from %q %q, want 200 from %q %q", c.path, resp.StatusCode, resp.Header.Get("X-Backend"), b, c.backend, c.body)
		}
	}

	// /cable upgrades to Greenlight's websocket, /apps/rooms/cable to the
	// rooms app's, and each carries data both ways.
	for path, want := range map[string]string{"/cable": "greenlight", "/apps/rooms/cable": "lti-rooms"} {
		conn, err := dial()
		must(err)
		fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: bbb-1.example.org\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n", path)
		br := bufio.NewReader(conn)
		resp, err := http.ReadResponse(br, nil)
		must(err)
		if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("X-Backend") != want {
			t.Fatalf("GET %s: %d from %q, want 101 from %s", path, resp.StatusCode, resp.Header.Get("X-Backend"), want)
		}
		fmt.Fprintf(conn, "ping\n")
		got, err := br.ReadString('\n')
		conn.Close()
		if err != nil || got != want+" says ping\n" {
			t.Fatalf("over %s: %q, %v; want %s's echo", path, got, err, want)
		}
	}
}
