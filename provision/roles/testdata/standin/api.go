// Command bbb-standin-api is a STAND-IN for BigBlueButton's bbb-web API,
// built by omc's E2E tests into a test-only "bigbluebutton" .deb. It is
// not BigBlueButton. It answers the API root, create, getMeetings and end
// on 127.0.0.1:8090, and checks checksums as BBB does: hex SHA of call
// name + query string (without checksum) + securitySalt, with sha1,
// sha256, sha384 or sha512 chosen by the checksum's length. The secret is
// read at start from /etc/bigbluebutton/bbb-web.properties (BBB's override
// file), else from the package's default, where BBB keeps it.
//
// "bbb-standin-api check" is what the stand-in's bbb-conf --restart runs
// first, so that omc's run fails where the real package would quietly
// ignore what omc wrote: every key in bbb-web.properties must be one of
// the line's default bigbluebutton.properties; FreeSWITCH's vars.xml must
// be well-formed XML; the html5 and webrtc-sfu overrides must be YAML
// whose key paths the line's defaults have; and bbb-conf --setip must
// have set the playback host to bbb-web's serverURL host.
package main

import (
	"bufio"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"hash"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"

	"gopkg.in/yaml.v3"
)

var version = "0.0" // set with -ldflags "-X main.version=..."

func secret() string {
	s := ""
	for _, f := range []string{"/usr/share/bbb-web/WEB-INF/classes/bigbluebutton.properties", "/etc/bigbluebutton/bbb-web.properties"} {
		fh, err := os.Open(f)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if v, ok := strings.CutPrefix(sc.Text(), "securitySalt="); ok {
				s = v
			}
		}
		fh.Close()
	}
	return s
}

func reply(w http.ResponseWriter, body string) {
	w.Header().Set("Content-Type", "text/xml")
	fmt.Fprintf(w, "<response>%s</response>", body)
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "check" {
		if errs := check(); len(errs) > 0 {
			for _, e := range errs {
				fmt.Fprintln(os.Stderr, "bbb-conf (stand-in):", e)
			}
			os.Exit(1)
		}
		return
	}
	salt := secret()
	var mu sync.Mutex
	meetings := map[string]bool{}
	check := func(w http.ResponseWriter, r *http.Request, call string) bool {
		q := r.URL.RawQuery
		sum := r.URL.Query().Get("checksum")
		q = strings.TrimPrefix(strings.Replace(q, "&checksum="+sum, "", 1), "checksum="+sum)
		var h hash.Hash
		switch len(sum) {
		case 40:
			h = sha1.New()
		case 64:
			h = sha256.New()
		case 96:
			h = sha512.New384()
		case 128:
			h = sha512.New()
		}
		if h != nil {
			h.Write([]byte(call + q + salt))
		}
		if h == nil || hex.EncodeToString(h.Sum(nil)) != sum {
			reply(w, "<returncode>FAILED</returncode><messageKey>checksumError</messageKey><message>You did not pass the checksum security check</message>")
			return false
		}
		return true
	}
	root := func(w http.ResponseWriter, r *http.Request) {
		reply(w, "<returncode>SUCCESS</returncode><version>2.0</version><apiVersion>2.0</apiVersion><bbbVersion>"+version+"-standin</bbbVersion>")
	}
	http.HandleFunc("/bigbluebutton/api", root)
	http.HandleFunc("/bigbluebutton/api/", func(w http.ResponseWriter, r *http.Request) {
		call := strings.TrimPrefix(r.URL.Path, "/bigbluebutton/api/")
		if call == "" { // the root, with a slash, as omc's pool gate asks it (pool/fake does the same)
			root(w, r)
			return
		}
		if !check(w, r, call) {
			return
		}
		id := r.URL.Query().Get("meetingID")
		mu.Lock()
		defer mu.Unlock()
		switch call {
		case "create":
			meetings[id] = true
			reply(w, "<returncode>SUCCESS</returncode><meetingID>"+id+"</meetingID>")
		case "end":
			delete(meetings, id)
			reply(w, "<returncode>SUCCESS</returncode>")
		case "getMeetings":
			ids := make([]string, 0, len(meetings))
			for m := range meetings {
				ids = append(ids, m)
			}
			sort.Strings(ids)
			var b strings.Builder
			for _, m := range ids {
				b.WriteString("<meeting><meetingID>" + m + "</meetingID><running>true</running></meeting>")
			}
			if len(ids) == 0 {
				reply(w, "<returncode>SUCCESS</returncode><meetings/><messageKey>noMeetings</messageKey>")
				return
			}
			reply(w, "<returncode>SUCCESS</returncode><meetings>"+b.String()+"</meetings>")
		default:
			reply(w, "<returncode>FAILED</returncode><messageKey>unsupportedRequest</messageKey>")
		}
	})
	log.Fatal(http.ListenAndServe("127.0.0.1:8090", nil))
}

// Paths of the real package (the override files are omc's; the defaults
// are the stand-in package's copies of the line's).
const (
	defaultProps  = "/usr/share/bbb-web/WEB-INF/classes/bigbluebutton.properties"
	overrideProps = "/etc/bigbluebutton/bbb-web.properties"
	varsXML       = "/opt/freeswitch/conf/vars.xml"
	recordingYML  = "/usr/local/bigbluebutton/core/scripts/bigbluebutton.yml"
)

func props(path string) (map[string]string, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	m := map[string]string{}
	var order []string
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || l[0] == '#' || l[0] == '!' {
			continue
		}
		k, v, _ := strings.Cut(l, "=")
		k = strings.TrimSpace(k)
		if _, seen := m[k]; !seen {
			order = append(order, k)
		}
		m[k] = strings.TrimSpace(v)
	}
	return m, order, nil
}

func check() []error {
	var errs []error
	known, _, err := props(defaultProps)
	if err != nil {
		return []error{err}
	}
	over, order, err := props(overrideProps)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, k := range order {
		if _, ok := known[k]; !ok {
			errs = append(errs, fmt.Errorf("%s: %q is not a key of this BBB line's bigbluebutton.properties (BBB would ignore it)", overrideProps, k))
		}
	}
	if f, err := os.Open(varsXML); err != nil {
		errs = append(errs, err)
	} else {
		d := xml.NewDecoder(f)
		for {
			if _, err := d.Token(); err == io.EOF {
				break
			} else if err != nil {
				errs = append(errs, fmt.Errorf("%s is not well-formed XML: %v", varsXML, err))
				break
			}
		}
		f.Close()
	}
	for over, def := range map[string]string{"/etc/bigbluebutton/bbb-html5.yml": "/usr/share/bbb-standin/html5-keys.yml",
		"/etc/bigbluebutton/bbb-webrtc-sfu/production.yml": "/usr/share/bbb-standin/sfu-keys.yml"} {
		errs = append(errs, yamlKeys(over, def)...)
	}
	host := ""
	if u, err := url.Parse(over["bigbluebutton.web.serverURL"]); err == nil {
		host = u.Hostname()
	}
	b, _ := os.ReadFile(recordingYML)
	var rec struct {
		PlaybackHost string `yaml:"playback_host"`
	}
	if err := yaml.Unmarshal(b, &rec); err != nil || rec.PlaybackHost == "" || rec.PlaybackHost != host {
		errs = append(errs, fmt.Errorf("bbb-conf --setip was not run with the serverURL's host %q (playback_host is %q)", host, rec.PlaybackHost))
	}
	return errs
}

// yamlKeys: the override must be YAML, and each of its key paths must be
// one the defaults have (lists and scalars are leaves).
func yamlKeys(over, def string) []error {
	b, err := os.ReadFile(over)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return []error{err}
	}
	var o, d map[string]any
	if err := yaml.Unmarshal(b, &o); err != nil {
		return []error{fmt.Errorf("%s is not valid YAML: %v", over, err)}
	}
	db, err := os.ReadFile(def)
	if err != nil {
		return []error{err}
	}
	if err := yaml.Unmarshal(db, &d); err != nil {
		return []error{err}
	}
	var errs []error
	var walk func(path string, o, d map[string]any)
	walk = func(path string, o, d map[string]any) {
		for k, v := range o {
			dv, ok := d[k]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: %s%s is not a setting of this BBB line", over, path, k))
				continue
			}
			om, oIsMap := v.(map[string]any)
			dm, dIsMap := dv.(map[string]any)
			if oIsMap && dIsMap {
				walk(path+k+".", om, dm)
			}
		}
	}
	walk("", o, d)
	return errs
}
