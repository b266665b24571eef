package cmd

import (
	"errors"

	"github.com/omc-coop/omc/internal/event"
	"github.com/omc-coop/omc/inventory"
	"github.com/omc-coop/omc/provision"
	"github.com/omc-coop/omc/remote"
)

// errorV1 is the last line of a failing command's -o json output.
type errorV1 struct {
	V        int    `json:"v"`
	Type     string `json:"type"` // "error"
	Message  string `json:"message"`
	ExitCode int    `json:"exit_code"`
	// The first inventory error's place (FILE:LINE:COL), and every one.
	File   string       `json:"file,omitempty"`
	Line   int          `json:"line,omitempty"`
	Col    int          `json:"col,omitempty"`
	Errors []positionV1 `json:"errors,omitempty"`
	// The host (and step) a single-host error names.
	Host string `json:"host,omitempty"`
	Step string `json:"step,omitempty"`
	// Each failed host of a run over many.
	FailedHosts []hostErrorV1 `json:"failed_hosts,omitempty"`
}

type positionV1 struct {
	File    string `json:"file"`
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

type hostErrorV1 struct {
	Host    string `json:"host"`
	Step    string `json:"step,omitempty"`
	Message string `json:"message"`
}

// errorRecord describes err, which ends the run with code, for -o json.
// Its texts are the error's own, masked where the command masked them.
func errorRecord(err error, code int) errorV1 {
	r := errorV1{V: event.Version, Type: "error", Message: err.Error(), ExitCode: code}
	var ie *inventory.Errors
	var one *inventory.Error
	switch {
	case errors.As(err, &ie) && len(ie.List) > 0:
		for _, e := range ie.List {
			r.Errors = append(r.Errors, positionV1{e.File, e.Pos.Line, e.Pos.Col, e.Msg})
		}
		r.File, r.Line, r.Col = ie.List[0].File, ie.List[0].Pos.Line, ie.List[0].Pos.Col
	case errors.As(err, &one):
		r.File, r.Line, r.Col = one.File, one.Pos.Line, one.Pos.Col
	}
	r.Host, r.Step = hostStep(err)
	var ee *exitError
	if errors.As(err, &ee) {
		for _, f := range ee.Failed {
			if f.Err == nil {
				continue
			}
			h := hostErrorV1{Host: f.Host, Message: f.Err.Error()}
			_, h.Step = hostStep(f.Err)
			if ee.redact != nil {
				h.Message = ee.redact(h.Message)
			}
			r.FailedHosts = append(r.FailedHosts, h)
		}
	}
	return r
}

// hostStep is the host and step that err names, where its type says.
func hostStep(err error) (host, step string) {
	var se *provision.StepError
	if errors.As(err, &se) {
		step = se.Step
	}
	var (
		de *remote.DialError
		ae *remote.AuthError
		ke *remote.HostKeyError
		le *remote.LockedError
		lo *remote.LostError
	)
	switch {
	case errors.As(err, &de):
		host = de.Host
	case errors.As(err, &ae):
		host = ae.Host
	case errors.As(err, &ke):
		host = ke.Host
	case errors.As(err, &le):
		host = le.Host
	case errors.As(err, &lo):
		host = lo.Host
	}
	return host, step
}
