package cmd

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/omc-coop/omc/fleet"
	"github.com/omc-coop/omc/internal/golden"
	"github.com/omc-coop/omc/internal/testenv"
	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/inventory"
)

var pageT0 = time.Date(2026, 11, 5, 9, 30, 0, 0, time.UTC)

// regionsRig is the pool rig with three regions: eu (three nodes, a
// meeting of 12 and one of 2), us (one node of 10 users per node, 8 users
// on it) and ap, whose Scalelite does not answer (a closed port).
func regionsRig(t *testing.T) *poolRig {
	t.Helper()
	r := newPoolRig(t, staticNodes)
	extra := fmt.Sprintf(`  us:
    roles: [bbb]
    domain: "{name}.example.org"
    settings: {bbb_version: "3.0"}
    provider: static
    pool:
      url: %[1]s
      secret: env:OMC_T_LB
      bbb_url: %[2]s/{name}/bigbluebutton/api
      checks: []
      capacity: {users_per_node: 10}
    nodes:
      - {name: us-1, address: 127.0.0.1}
  ap:
    roles: [bbb]
    domain: "{name}.example.org"
    settings: {bbb_version: "3.0"}
    provider: static
    pool:
      url: http://127.0.0.1:1
      secret: env:OMC_T_LB
      bbb_url: %[2]s/{name}/bigbluebutton/api
      checks: []
    nodes:
      - {name: ap-1, address: 127.0.0.1}
`, r.sl.URL, r.bbb.Server.URL)
	src, err := os.ReadFile(r.inv)
	if err != nil {
		t.Fatal(err)
	}
	// The fleet is called coop here: the page's title.
	src = append(bytes.Replace(src, []byte("\nname: t\n"), []byte("\nname: coop\n"), 1), extra...)
	if err := os.WriteFile(r.inv, src, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"bbb-1", "bbb-2", "bbb-3", "us-1"} {
		r.node(n, "3.0.4")
	}
	if errs, code := r.up("bbb-1", "bbb-2", "bbb-3", "us-1"); code != 0 {
		t.Fatalf("up: %d\n%s", code, errs)
	}
	old := time.Now().Add(-time.Hour)
	r.bbb.Node("bbb-1").CreateMeetingAt("maths", 11, 1, old)
	r.bbb.Node("bbb-2").CreateMeetingAt("music", 2, 0, old)
	r.bbb.Node("us-1").CreateMeetingAt("choir", 7, 1, old)
	r.sl.Poll(context.Background())
	return r
}

// statusAt runs omc status with the clock at `at` (extra flags as args).
func (r *poolRig) statusAt(at time.Time, o statusOptions, json bool) (string, string, int) {
	r.t.Helper()
	return r.callWith(json, func(f *factory) { f.Now = func() time.Time { return at } }, func(s *ui.Streams, g *globalOptions) error {
		return runStatus(context.Background(), s, g, &o)
	})
}

// regionsPage writes the page at pageT0 (all of eu healthy), then at
// +10 minutes with bbb-3 down, and returns its path.
func regionsPage(t *testing.T, r *poolRig) string {
	t.Helper()
	page := filepath.Join(r.dir, "www", "index.html")
	os.MkdirAll(filepath.Dir(page), 0o755)
	if _, errs, code := r.statusAt(pageT0, statusOptions{HTML: page}, false); code != ExitUnhealthy || !strings.Contains(errs, "wrote the status page "+page) {
		t.Fatalf("first run: code %d (ap is down: want 5)\n%s", code, errs)
	}
	r.bbb.Node("bbb-3").SetDown(true)
	r.sl.Poll(context.Background())
	r.sl.Poll(context.Background())
	if _, errs, code := r.statusAt(pageT0.Add(10*time.Minute), statusOptions{HTML: page}, false); code != ExitUnhealthy {
		t.Fatalf("second run: code %d\n%s", code, errs)
	}
	return page
}

func TestStatusPageGoldenPublicSafeAndAtomic(t *testing.T) {
	r := regionsRig(t)
	page := regionsPage(t, r)
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	got := string(b)
	r.seen.WriteString(got) // the never-shown check covers the page too
	golden.Assert(t, "status-page.golden.html", b)
	// Public-safe: regions and counts only. No node, address, URL,
	// domain, meeting, problem text, script or external asset.
	for _, bad := range []string{"bbb-1", "bbb-3", "us-1", "ap-1", "127.0.0.1", r.sl.URL, r.bbb.Server.URL, "example.org",
		"maths", "choir", "offline", "Scalelite sees", "3.0.4", "<script", "src=", "href=", "http:", "https:", "@import", "url("} {
		if strings.Contains(got, bad) {
			t.Errorf("the public page contains %q", bad)
		}
	}
	for _, want := range []string{`data-region="eu" data-state="degraded"`, `data-region="us" data-state="up"`, `data-region="ap" data-state="down"`,
		"2 of 3", "13 of 400", "70%", "A server became unhealthy<br><time datetime=\"2026-11-05T09:40:00Z\">",
		"The load balancer stopped answering<br><time datetime=\"2026-11-05T09:30:00Z\">", "Last incident</span> none recorded", `09:40 UTC</time> <span class="ongoing">ongoing</span>`, "Generated <time datetime=\"2026-11-05T09:40:00Z\">"} {
		if !strings.Contains(got, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	fi, _ := os.Stat(page)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("page mode %v, want 0644 (it is published)", fi.Mode())
	}
	if es, _ := os.ReadDir(filepath.Dir(page)); len(es) != 1 {
		t.Errorf("a temporary file was left next to the page: %v", es)
	}

	// bbb-3 recovers: the next page says so; the log keeps both turns and
	// the problem, locally only (0600).
	r.bbb.Node("bbb-3").SetDown(false)
	r.sl.Poll(context.Background())
	r.sl.Poll(context.Background())
	r.statusAt(pageT0.Add(20*time.Minute), statusOptions{HTML: page}, false)
	b, _ = os.ReadFile(page)
	if !strings.Contains(string(b), `A server recovered<br><time datetime="2026-11-05T09:50:00Z">`) || !strings.Contains(string(b), `data-region="eu" data-state="up"`) ||
		strings.Count(string(b), `<span class="ongoing">`) != 1 {
		t.Fatalf("after recovery:\n%s", b)
	}
	l, err := fleet.ReadIncidents(r.load())
	if err != nil {
		t.Fatal(err)
	}
	var eu []string
	for _, in := range l.Incidents {
		if in.Group == "eu" {
			eu = append(eu, fmt.Sprintf("%s %s %v %s", in.At.Format("15:04"), in.Node, in.Healthy, in.Problem))
		}
	}
	if len(eu) != 2 || !strings.HasPrefix(eu[0], "09:40 bbb-3 false ") || eu[1] != "09:50 bbb-3 true " {
		t.Fatalf("eu incidents: %q", eu)
	}
	fi, _ = os.Stat(fleet.IncidentPath(r.load()))
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("incident log mode %v", fi.Mode())
	}
}

// The page says what kind of incident came last, never which node.
func TestStatusPageIncidentText(t *testing.T) {
	for _, c := range []struct {
		in   fleet.Incident
		want string
	}{
		{fleet.Incident{Group: "eu", Healthy: true}, "The load balancer answers again"},
		{fleet.Incident{Group: "eu"}, "The load balancer stopped answering"},
		{fleet.Incident{Group: "eu", Node: "bbb-1", Healthy: true}, "A server recovered"},
		{fleet.Incident{Group: "eu", Node: "bbb-1", Problem: "BBB API: down"}, "A server became unhealthy"},
	} {
		if got := incidentText(c.in); got != c.want {
			t.Errorf("%+v: %q, want %q", c.in, got, c.want)
		}
	}
}

// TestStatusPageInChromium renders the page in a real headless browser
// (Debian's chromium): a screenshot that is a real picture, and a DOM
// with every region and its state. go test ./cmd -run Chromium -update
// also refreshes docs/status-page.png.
func TestStatusPageInChromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		testenv.Missing(t, "needs chromium (apt-get install chromium) to render the status page in a headless browser")
	}
	r := regionsRig(t)
	page := regionsPage(t, r)
	dir := t.TempDir()
	chromium := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
			"--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1200,900"}, args...)
		cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
		cmd.Env = append(os.Environ(), "HOME="+dir)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return stdout.Bytes()
	}

	shot := filepath.Join(dir, "status.png")
	chromium("--screenshot=" + shot)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatalf("no screenshot: %v", err)
	}
	img, err := png.Decode(f)
	f.Close()
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() != 1200 || b.Dy() != 900 {
		t.Fatalf("screenshot is %v, want 1200×900", b)
	}
	colours := map[[3]uint32]bool{}
	var green, red, amber int
	for y := img.Bounds().Min.Y; y < img.Bounds().Max.Y; y += 2 {
		for x := img.Bounds().Min.X; x < img.Bounds().Max.X; x += 2 {
			c := rgb(img, x, y)
			colours[c] = true
			switch {
			case c == [3]uint32{0x1f, 0x8a, 0x4c}: // --up
				green++
			case c == [3]uint32{0xb4, 0x23, 0x18}: // --down
				red++
			case c == [3]uint32{0x9a, 0x64, 0x00}: // --degraded
				amber++
			}
		}
	}
	if len(colours) < 20 || green == 0 || red == 0 || amber == 0 {
		t.Fatalf("the screenshot looks empty: %d colours, state colours up %d degraded %d down %d", len(colours), green, amber, red)
	}
	if golden.Updating() {
		b, _ := os.ReadFile(shot)
		os.MkdirAll(filepath.Join("..", "docs"), 0o755)
		if err := os.WriteFile(filepath.Join("..", "docs", "status-page.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	dom := string(chromium("--dump-dom"))
	re := regexp.MustCompile(`<li class="region" data-region="([a-z]+)" data-state="([a-z]+)">\s*<h2><span class="name">([a-z]+)</span> <span class="state [a-z]+">([A-Za-z]+)</span>`)
	var got []string
	for _, m := range re.FindAllStringSubmatch(dom, -1) {
		got = append(got, m[1]+"="+m[2]+"/"+m[3]+"/"+m[4])
	}
	if strings.Join(got, " ") != "eu=degraded/eu/Degraded us=up/us/Operational ap=down/ap/Down" {
		t.Fatalf("regions in the browser's DOM: %q\n%s", got, dom)
	}
	if !strings.Contains(dom, `id="overall" data-state="degraded">Some regions are affected</p>`) {
		t.Fatalf("no overall state in the DOM:\n%s", dom)
	}
}

func rgb(img image.Image, x, y int) [3]uint32 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint32{r >> 8, g >> 8, b >> 8}
}

func TestStatusWatchAndPageAreDocumented(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| `omc status --watch [--interval 5s]` |", "| `omc status --html FILE` |", "(docs/status-page.png)", "regions and counts only"} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("README lacks %q", want)
		}
	}
	if fi, err := os.Stat(filepath.Join("..", "docs", "status-page.png")); err != nil || fi.Size() > 200<<10 {
		t.Errorf("docs/status-page.png: %v (at most 200 KB)", err)
	}
}

// The page's title and reload interval come from the inventory's
// status_page; without it, the inventory's name and no reload.
func TestStatusPageTitleAndRefresh(t *testing.T) {
	render := func(extra string) string {
		t.Helper()
		src := "apiVersion: omc/v1\nname: coop\n" + extra + "groups:\n  g:\n    provider: static\n    nodes:\n      - {name: a, address: 192.0.2.1}\n"
		inv, err := inventory.LoadReader("omc.yaml", strings.NewReader(src))
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := statusPageTmpl.Execute(&b, buildStatusPage(inv, &fleet.StatusResult{}, nil, pageT0)); err != nil {
			t.Fatal(err)
		}
		return b.String()
	}
	got := render("status_page: {title: \"Coop Video <Nord>\", refresh: 2m}\n")
	for _, want := range []string{"<title>Coop Video &lt;Nord&gt; status</title>", "<h1>Coop Video &lt;Nord&gt; status</h1>", `<meta http-equiv="refresh" content="120">`} {
		if !strings.Contains(got, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	got = render("")
	if !strings.Contains(got, "<title>coop status</title>") || strings.Contains(got, "http-equiv") {
		t.Errorf("default page: title or a reload it should not have")
	}
	for _, bad := range []string{"refresh: 5s", "refresh: soon", "refresh: 1500ms", "title: \" padded\""} {
		src := "apiVersion: omc/v1\nname: coop\nstatus_page: {" + bad + "}\ngroups:\n  g:\n    provider: static\n    nodes:\n      - {name: a, address: 192.0.2.1}\n"
		if _, err := inventory.LoadReader("omc.yaml", strings.NewReader(src)); err == nil || !strings.Contains(err.Error(), "omc.yaml:3:") {
			t.Errorf("%s: accepted or not located: %v", bad, err)
		}
	}
}
