package ui

import (
	"bytes"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/event"
)

// The one JSON writer keeps the contract: a value without v and type is
// refused and nothing is written; a redacting view masks its lines and
// shares the stream.
func TestJSONLinesContract(t *testing.T) {
	var b bytes.Buffer
	j := NewJSONLines(&b)
	if err := j.Write(map[string]string{"version": "dev"}); err == nil || !strings.Contains(err.Error(), `"v" and "type"`) {
		t.Fatalf("no v/type accepted: %v", err)
	}
	if err := j.Write(struct {
		V    int    `json:"v"`
		Type string `json:"type"`
	}{1, ""}); err == nil {
		t.Fatal("empty type accepted")
	}
	if b.Len() != 0 {
		t.Fatalf("refused values were written: %q", b.String())
	}
	j.Event(event.Event{V: event.Version, Type: "host", Host: "a", Status: "ok"})
	red := j.Redacting(func(s string) string { return strings.ReplaceAll(s, "hunter2", "***") })
	if err := red.Write(map[string]any{"v": 1, "type": "x", "secret": "hunter2"}); err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"type":"host","host":"a","status":"ok"}` + "\n" + `{"secret":"***","type":"x","v":1}` + "\n"
	if b.String() != want {
		t.Fatalf("got %q\nwant %q", b.String(), want)
	}
}
