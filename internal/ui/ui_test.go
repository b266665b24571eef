package ui

import (
	"bytes"
	"strings"
	"testing"

	"github.com/omc-coop/omc/internal/event"
)

func TestColorEnabled(t *testing.T) {
	tests := []struct {
		tty  bool
		env  map[string]string
		want bool
	}{
		{true, nil, true},
		{false, nil, false},
		{true, map[string]string{"NO_COLOR": "1"}, false},
		{true, map[string]string{"NO_COLOR": "yes"}, false}, // any non-empty value, per no-color.org
		{true, map[string]string{"CLICOLOR": "0"}, false},
		{true, map[string]string{"TERM": "dumb"}, false},
		{false, map[string]string{"CLICOLOR_FORCE": "1"}, true},
		{false, map[string]string{"CLICOLOR_FORCE": "0"}, false},
		{false, map[string]string{"CLICOLOR_FORCE": "1", "NO_COLOR": "1"}, false},
	}
	for _, tt := range tests {
		if got := ColorEnabled(tt.tty, func(k string) string { return tt.env[k] }); got != tt.want {
			t.Errorf("tty=%v env=%v: got %v", tt.tty, tt.env, got)
		}
	}
}

func TestNoEscapeCodesWithoutColor(t *testing.T) {
	var b bytes.Buffer
	st := NewStyles(&b, false)
	l := NewLines(&b, st)
	l.Event(event.Event{Type: "step", Host: "h", Step: "file /x", Status: "changed", Summary: "create"})
	l.Event(event.Event{Type: "host", Host: "h", Status: "failed", Error: "boom"})
	l.Event(event.Event{Type: "step", Host: "h", Step: "file /y", Status: "ok"}) // in sync: not printed
	if strings.Contains(b.String(), "\x1b[") {
		t.Fatalf("escape codes without colour: %q", b.String())
	}
	if want := "h: file /x: changed (create)\nh: failed: boom\n"; b.String() != want {
		t.Fatalf("got %q, want %q", b.String(), want)
	}
	b.Reset()
	NewLines(&b, NewStyles(&b, true)).Event(event.Event{Type: "host", Host: "h", Status: "failed", Error: "boom"})
	if !strings.Contains(b.String(), "\x1b[") {
		t.Fatalf("no colour when enabled: %q", b.String())
	}
}
