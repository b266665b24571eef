package provision

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/omc-coop/omc/internal/shell"
)

// Applying a cold host's changes one round trip at a time left omc slower
// than one script per host: under load each round trip waits its turn for
// the host's CPU. So the engine queues changes and sends them together
// (Conn.Batch: the scripts between two writes in one round trip), up to
// the next step whose view a queued change may alter (that step is probed
// again first, see reprobe.go) or a guarded change. Handlers go in the
// last batch. The host stops at the first failure, as before: the rest of
// a batch is not run.

// Op is one item of a Batch: a script, or (Write set) a file written
// atomically.
type Op struct {
	Script string
	Write  *WriteOp
}

// WriteOp replaces Path with Data, atomically (Conn.WriteFile).
type WriteOp struct {
	Path     string
	Data     []byte
	Mode     os.FileMode
	UID, GID int
}

// queued is one step's (or handler's) part of a batch, in run order.
type queued struct {
	step    Step
	c       *Change // nil: the step was in sync
	handler string  // set for a handler: the unit to restart
	ops     []Op
	what    []string // per op, for errors: "making DIR", "preparing", "writing PATH", "" (the script)
}

// queue adds c (nil: step s was in sync) to the batch. It returns false,
// queueing nothing, for a change that must be applied on its own: a
// guarded one, or a write owned by an account the probe did not know
// (made in this run: looked up once what is queued is done).
func (r *run) queue(ctx context.Context, s Step, c *Change) (bool, error) {
	q := queued{step: s, c: c}
	if c == nil {
		r.batch = append(r.batch, q)
		return true, nil
	}
	if c.Commit != "" {
		return false, nil
	}
	var write *WriteOp
	if w := c.Write; w != nil && w.ContentChanged {
		_, data, err := r.content(ctx, w)
		if err != nil {
			return false, err
		}
		uid, uerr := lookupID(w.Owner, r.uids)
		gid, gerr := lookupID(w.Group, r.gids)
		if uerr != nil || gerr != nil {
			return false, nil
		}
		write = &WriteOp{Path: w.Path, Data: data, Mode: w.Mode, UID: uid, GID: gid}
	}
	add := func(what string, op Op) { q.ops, q.what = append(q.ops, op), append(q.what, what) }
	if c.MakeDir != "" && !r.made[c.MakeDir] {
		add("making "+c.MakeDir, Op{Script: "mkdir -p -- " + shell.Quote(c.MakeDir)})
		r.madeDir(c.MakeDir)
	}
	if c.Before != "" {
		add("preparing", Op{Script: c.Before})
	}
	if write != nil {
		add("writing "+write.Path, Op{Write: write})
	}
	if c.Script != "" {
		add("", Op{Script: c.Script})
	}
	if d, ok := s.(*DirStep); ok {
		r.madeDir(d.Path)
	}
	r.batch = append(r.batch, q)
	return true, nil
}

// flush runs the batch and reports each queued step as it came out.
func (r *run) flush(ctx context.Context) error {
	for len(r.batch) > 0 {
		var ops []Op
		for _, q := range r.batch {
			ops = append(ops, q.ops...)
		}
		var res []RunResult
		if len(ops) > 0 {
			var err error
			if res, err = r.conn.Batch(ctx, ops); err != nil {
				return r.failQueued(err)
			}
			if len(res) != len(ops) {
				return r.failQueued(fmt.Errorf("the host answered %d of %d commands", len(res), len(ops)))
			}
		}
		rest, err := r.report(res)
		if err != nil {
			return err
		}
		r.batch = rest
	}
	return nil
}

// report turns a batch's results into events, in order. It returns the
// queued steps that did not run because a script that exited non-zero was
// accepted by its step's Check: they go in the next batch.
func (r *run) report(res []RunResult) ([]queued, error) {
	k := 0
	for i, q := range r.batch {
		rs := res[k : k+len(q.ops)]
		k += len(q.ops)
		if len(rs) > 0 && rs[0].Skipped {
			return r.batch[i:], nil
		}
		var took time.Duration
		var err error
		for j, res := range rs {
			took += res.Took
			r.logOp(q.ops[j], res)
			if err == nil {
				err = q.outcome(j, res)
			}
		}
		e := Event{Type: "step", Step: q.stepID(), Status: "ok", DurationMS: took.Milliseconds()}
		if q.handler != "" {
			e.Type, e.Status = "handler", "changed"
		}
		if err != nil {
			e.Status, e.Error = "failed", err.Error()
			r.emit(e)
			if q.handler != "" {
				return nil, fmt.Errorf("handler restart %s: %w", q.handler, err)
			}
			return nil, fmt.Errorf("step %q: %w", q.step.ID(), err)
		}
		if q.c != nil {
			r.changed++
			e.Status, e.Summary, e.Diff = "changed", q.c.Summary, q.c.Diff
		}
		r.emit(e)
	}
	return nil, nil
}

// outcome is op j's result as an error, as applying it alone would say.
func (q *queued) outcome(j int, res RunResult) error {
	switch {
	case q.handler != "":
		if res.ExitCode != 0 {
			return scriptError("systemctl restart "+q.handler, res)
		}
	case q.what[j] == "" && q.c.Check != nil:
		return q.c.Check(string(res.Stdout), string(res.Stderr), res.ExitCode)
	case res.ExitCode != 0 && q.what[j] == "":
		return scriptError("command failed", res)
	case res.ExitCode != 0 && q.ops[j].Write != nil:
		return fmt.Errorf("%s: %s", q.what[j], res.Stderr)
	case res.ExitCode != 0:
		return scriptError(q.what[j], res)
	}
	return nil
}

func (q *queued) stepID() string {
	if q.handler != "" {
		return "restart " + q.handler
	}
	return q.step.ID()
}

// failQueued reports a batch that did not come back (connection lost,
// ctx done) as the failure of its first step that had something to do.
func (r *run) failQueued(err error) error {
	for _, q := range r.batch {
		if len(q.ops) == 0 {
			r.emit(Event{Type: "step", Step: q.stepID(), Status: "ok"})
			continue
		}
		e := Event{Type: "step", Step: q.stepID(), Status: "failed", Error: err.Error()}
		if q.handler != "" {
			e.Type = "handler"
			r.emit(e)
			return fmt.Errorf("handler restart %s: %w", q.handler, err)
		}
		r.emit(e)
		return fmt.Errorf("step %q: %w", q.step.ID(), err)
	}
	return err
}

// logOp writes an op to the debug log: a script as it is (secrets
// masked), a write by path and size only (its data may be a secret in a
// form the masking cannot see).
func (r *run) logOp(op Op, res RunResult) {
	if op.Write != nil {
		r.o.Log.Debug("wrote", "host", r.host.Name, "path", op.Write.Path, "bytes", len(op.Write.Data), "exit", res.ExitCode,
			"stderr", r.o.Redact(string(res.Stderr)), "ms", res.Took.Milliseconds(), "skipped", res.Skipped)
		return
	}
	r.o.Log.Debug("run", "host", r.host.Name, "script", r.o.Redact(op.Script), "exit", res.ExitCode,
		"stderr", r.o.Redact(string(res.Stderr)), "ms", res.Took.Milliseconds(), "skipped", res.Skipped)
}
