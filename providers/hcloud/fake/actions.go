package fake

import (
	"net/http"
	"slices"
	"strconv"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// action is an asynchronous operation. It starts "running" and finishes
// after ActionPolls reads (hcloud-go's waiter polls GET /actions?id=…),
// with "error" when a Fault scripted it so. done applies the state
// change that completes the operation (a server becomes "running", …).
type action struct {
	a    schema.Action
	left int
	fail *schema.ActionError
	done func(ok bool)
}

// newAction starts an action on the given resources ("server", id, …).
func (f *Fake) newAction(command string, done func(ok bool), res ...schema.ActionResourceReference) *action {
	ac := &action{
		a: schema.Action{
			ID:        f.id(),
			Status:    "running",
			Command:   command,
			Started:   f.now(),
			Resources: res,
		},
		left: f.ActionPolls,
		fail: f.actionErr,
		done: done,
	}
	if ac.a.Resources == nil {
		ac.a.Resources = []schema.ActionResourceReference{}
	}
	f.actionErr = nil
	f.actions[ac.a.ID] = ac
	if ac.left <= 0 {
		f.finish(ac)
	}
	return ac
}

func ref(typ string, id int64) schema.ActionResourceReference {
	return schema.ActionResourceReference{Type: typ, ID: id}
}

func (f *Fake) finish(ac *action) {
	now := f.now()
	ac.a.Finished = &now
	ac.a.Progress = 100
	ac.a.Status = "success"
	if ac.fail != nil {
		ac.a.Status = "error"
		ac.a.Error = ac.fail
	}
	if ac.done != nil {
		ac.done(ac.fail == nil)
	}
}

// read is one poll of an action: it may finish it.
func (f *Fake) read(ac *action) schema.Action {
	if ac.a.Status == "running" {
		ac.left--
		if ac.left <= 0 {
			f.finish(ac)
		} else {
			ac.a.Progress = min(90, ac.a.Progress+100/(f.ActionPolls+1))
		}
	}
	return ac.a
}

func (f *Fake) listActions(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ids []int64
	for _, s := range q["id"] {
		id, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			invalidInput(w, "id", "must be an integer")
			return
		}
		ids = append(ids, id)
	}
	statuses := q["status"]
	var out []schema.Action
	for _, id := range sortedKeys(f.actions) {
		if len(ids) > 0 && !slices.Contains(ids, id) {
			continue
		}
		a := f.read(f.actions[id])
		if len(statuses) > 0 && !slices.Contains(statuses, a.Status) {
			continue
		}
		out = append(out, a)
	}
	writePage(w, r, "actions", out)
}

func (f *Fake) getAction(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	ac := f.actions[id]
	if !ok || ac == nil {
		notFound(w, "action")
		return
	}
	writeJSON(w, http.StatusOK, schema.ActionGetResponse{Action: f.read(ac)})
}

// actionList is the body of calls that answer with several actions.
func actionList(acs ...*action) []schema.Action {
	out := []schema.Action{}
	for _, ac := range acs {
		out = append(out, ac.a)
	}
	return out
}

func sortedKeys[V any](m map[int64]V) []int64 {
	keys := make([]int64, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
