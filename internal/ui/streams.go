// Package ui holds omc's output: the streams commands write to, the colour
// decision, and the renderers of engine events (live progress on a
// terminal, plain lines when piped or in CI, JSON lines with -o json).
//
// Data goes to Out (stdout), progress and logs to Err (stderr). Colour is
// decided per stream, once, here.
package ui

import (
	"io"
	"os"

	"golang.org/x/term"
)

// Streams are a command's input and outputs.
type Streams struct {
	In       io.Reader
	Out, Err io.Writer
	// OutTTY/ErrTTY: the stream is a terminal. Live progress needs ErrTTY
	// and not CI.
	OutTTY, ErrTTY bool
	// OutColor/ErrColor: colour may be used on that stream.
	OutColor, ErrColor bool
	// CI is set when CI=true: plain lines only, never prompts.
	CI bool
	// Debug mirrors each run's debug log (secrets masked) to Err
	// (--debug, OMC_DEBUG=1).
	Debug bool
}

// System returns the process's streams with terminal and colour detected
// from the file descriptors and the environment.
func System() *Streams {
	s := &Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	s.OutTTY = isTTY(os.Stdout)
	s.ErrTTY = isTTY(os.Stderr)
	s.CI = os.Getenv("CI") != "" && os.Getenv("CI") != "false" && os.Getenv("CI") != "0"
	s.OutColor = ColorEnabled(s.OutTTY, os.Getenv)
	s.ErrColor = ColorEnabled(s.ErrTTY, os.Getenv)
	return s
}

// Live reports whether live, redrawn progress is possible on Err.
func (s *Streams) Live() bool { return s.ErrTTY && !s.CI }

// Interactive reports whether omc may ask questions on In.
func (s *Streams) Interactive() bool {
	f, ok := s.In.(*os.File)
	return ok && isTTY(f) && s.ErrTTY && !s.CI
}

// ColorEnabled decides colour for a stream: NO_COLOR (any non-empty value,
// per no-color.org) and CLICOLOR=0 and TERM=dumb turn it off;
// CLICOLOR_FORCE (non-empty, not "0") turns it on even when piped.
func ColorEnabled(tty bool, getenv func(string) string) bool {
	if getenv("NO_COLOR") != "" {
		return false
	}
	if f := getenv("CLICOLOR_FORCE"); f != "" && f != "0" {
		return true
	}
	if getenv("CLICOLOR") == "0" || getenv("TERM") == "dumb" {
		return false
	}
	return tty
}

func isTTY(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }
