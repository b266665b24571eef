package cmd

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/omc-coop/omc/internal/ui"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/remote"
)

// checkJSONContract fails unless every line of out is one JSON object
// with "v": 1 and a "type", and, when code is a failure, the last line
// is the error line with that exit code. It returns the lines.
func checkJSONContract(t *testing.T, args []string, out string, code int) []map[string]any {
	t.Helper()
	var recs []map[string]any
	for i, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l == "" && out == "" {
			break
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%v: line %d is not a JSON object: %v\n%s", args, i+1, err, out)
		}
		if v, _ := m["v"].(float64); v != 1 {
			t.Errorf("%v: line %d has v %v, want 1: %s", args, i+1, m["v"], l)
		}
		if typ, _ := m["type"].(string); typ == "" {
			t.Errorf("%v: line %d has no type: %s", args, i+1, l)
		}
		recs = append(recs, m)
	}
	if !verdict(code) {
		if len(recs) == 0 {
			t.Fatalf("%v: exit %d with no error line on stdout", args, code)
		}
		last := recs[len(recs)-1]
		if last["type"] != "error" || last["exit_code"] != float64(code) || last["message"] == "" {
			t.Errorf("%v: exit %d, last line %v, want the error line", args, code, last)
		}
	}
	if code == ExitOK && len(recs) == 0 {
		t.Errorf("%v: exit 0 and no output", args)
	}
	return recs
}

// TestJSONContractEveryCommand runs every command of the tree with -o
// json: where it can succeed here (no hosts, no pool) it does, the
// others fail on a missing inventory or argument. Either way stdout is
// JSON lines under one contract, and a failure ends with the error line.
func TestJSONContractEveryCommand(t *testing.T) {
	d := isolate(t)
	valid := filepath.Join(d, "omc.yaml")
	os.WriteFile(valid, []byte("apiVersion: omc/v1\nname: t\ngroups:\n  g:\n    provider: static\n    nodes:\n      - name: a\n        address: 192.0.2.1\n"), 0o644)
	missing := filepath.Join(d, "nope.yaml")
	// Arguments that let a command succeed without hosts or pools.
	succeed := map[string][]string{
		"omc version":          nil,
		"omc schema":           nil,
		"omc settings":         nil,
		"omc exit-codes":       nil,
		"omc help":             {"up"},
		"omc completion":       {"bash"},
		"omc validate":         {"-i", valid},
		"omc known-hosts path": nil,
	}
	seen := 0
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		for _, sub := range c.Commands() {
			walk(sub)
		}
		if !c.Runnable() || c.Hidden {
			return
		}
		path := c.CommandPath()
		words := strings.Fields(path)[1:]
		t.Run(path, func(t *testing.T) {
			if extra, ok := succeed[path]; ok {
				args := append(append(words, extra...), "-o", "json")
				out, errs, code := run(t, "", args...)
				if code != ExitOK {
					t.Fatalf("%v: exit %d\n%s\n%s", args, code, out, errs)
				}
				checkJSONContract(t, args, out, code)
			}
			args := append(words, "-o", "json", "-i", missing)
			out, _, code := run(t, "", args...)
			if code == ExitOK {
				return // needs no inventory: the run above checked it
			}
			checkJSONContract(t, args, out, code)
		})
		seen++
	}
	walk(newRoot(&ui.Streams{In: strings.NewReader(""), Out: os.Stdout, Err: os.Stderr}))
	if seen < 30 {
		t.Fatalf("walked %d commands; the tree has more", seen)
	}
}

func TestJSONErrorLine(t *testing.T) {
	d := isolate(t)
	bad := filepath.Join(d, "bad.yaml")
	os.WriteFile(bad, []byte("apiVersion: omc/v1\nname: t\ngroups:\n  g:\n    provider: static\n    nodes:\n      - name: a\n        addres: 10.0.0.1\n"), 0o644)
	t.Run("inventory error has its place", func(t *testing.T) {
		args := []string{"validate", "-i", bad, "-o", "json"}
		out, _, code := run(t, "", args...)
		recs := checkJSONContract(t, args, out, code)
		last := recs[len(recs)-1]
		if code != ExitInventory || last["file"] != bad || last["line"] != float64(7) || last["col"] != float64(9) {
			t.Fatalf("exit %d, %v", code, last)
		}
		if es, _ := last["errors"].([]any); len(es) != 2 || !strings.Contains(fmt.Sprint(es[1]), `unknown field "addres"`) {
			t.Fatalf("errors %v", last["errors"])
		}
	})
	t.Run("unknown flag before parsing", func(t *testing.T) {
		args := []string{"up", "-o", "json", "--frobnicate"}
		out, _, code := run(t, "", args...)
		checkJSONContract(t, args, out, code)
		if code != ExitUsage {
			t.Fatalf("exit %d", code)
		}
	})
	t.Run("text output has no error line", func(t *testing.T) {
		out, _, code := run(t, "", "validate", "-i", bad)
		if code != ExitInventory || out != "" {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
	})
}

func TestErrorRecordHostsAndSteps(t *testing.T) {
	const secret = "s3cret-token"
	red := func(s string) string { return strings.ReplaceAll(s, secret, "***") }
	err := &exitError{Code: ExitError, Err: errors.New("2 of 3 hosts failed"), redact: red, Failed: []provision.Result{
		{Host: "a"},
		{Host: "b", Err: &provision.StepError{Step: "file:/etc/x", Err: errors.New("writing with " + secret)}},
		{Host: "c", Err: &remote.DialError{Host: "c", Address: "192.0.2.3:22", Op: "connect", Err: errors.New("refused")}},
	}}
	r := errorRecord(err, exitCode(err))
	if r.Type != "error" || r.V != 1 || r.ExitCode != ExitError || len(r.FailedHosts) != 2 {
		t.Fatalf("%+v", r)
	}
	if h := r.FailedHosts[0]; h.Host != "b" || h.Step != "file:/etc/x" || strings.Contains(h.Message, secret) || !strings.Contains(h.Message, "***") {
		t.Fatalf("host b: %+v", h)
	}
	if h := r.FailedHosts[1]; h.Host != "c" || h.Step != "" {
		t.Fatalf("host c: %+v", h)
	}
	one := errorRecord(&remote.LockedError{Host: "bbb-1"}, ExitError)
	if one.Host != "bbb-1" {
		t.Fatalf("single host error: %+v", one)
	}
}

func TestWantsJSON(t *testing.T) {
	for args, want := range map[string]bool{
		"up -o json": true, "up --output=json": true, "up -ojson": true, "up --output json": true,
		"up -o text": false, "up": false, "up -- -o json": false,
	} {
		if got := wantsJSON(strings.Fields(args)); got != want {
			t.Errorf("wantsJSON(%q) = %v", args, got)
		}
	}
}
