// Command bbb-standin-api is a STAND-IN for BigBlueButton's bbb-web API,
// built by omc's E2E tests into a test-only "bigbluebutton" .deb. It is
// not BigBlueButton. It answers the API root, create, getMeetings and end
// on 127.0.0.1:8090, and checks checksums as BBB does: hex SHA of call
// name + query string (without checksum) + securitySalt, with sha1,
// sha256, sha384 or sha512 chosen by the checksum's length. The secret is
// read at start from /etc/bigbluebutton/bbb-web.properties (BBB's override
// file), else from the package's default, where BBB keeps it.
package main

import (
	"bufio"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"log"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
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
	http.HandleFunc("/bigbluebutton/api", func(w http.ResponseWriter, r *http.Request) {
		reply(w, "<returncode>SUCCESS</returncode><version>2.0</version><apiVersion>2.0</apiVersion><bbbVersion>"+version+"-standin</bbbVersion>")
	})
	http.HandleFunc("/bigbluebutton/api/", func(w http.ResponseWriter, r *http.Request) {
		call := strings.TrimPrefix(r.URL.Path, "/bigbluebutton/api/")
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
