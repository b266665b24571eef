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
	if len(ids) == 0 {
		// Listing every action of the project was removed on 2025-01-30
		// (hcloud-go cf2d426, hcloud/action.go: "It is required to set
		// [ActionListOpts.ID]"); the API answers deprecated_api_endpoint.
		deprecated(w, "https://docs.hetzner.cloud/changelog#2025-01-30-listing-arbitrary-actions-in-the-actions-list-endpoint-is-removed")
		return
	}
	statuses := q["status"]
	var out []schema.Action
	for _, id := range sortedKeys(f.actions) {
		if !slices.Contains(ids, id) {
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

// lockedBy returns a running action on resource (typ, id), if any.
func (f *Fake) lockedBy(typ string, id int64) *action {
	for _, aid := range sortedKeys(f.actions) {
		ac := f.actions[aid]
		if ac.a.Status != "running" {
			continue
		}
		for _, res := range ac.a.Resources {
			if res.Type == typ && res.ID == id {
				return ac
			}
		}
	}
	return nil
}

// refuseLocked answers 423 locked when an action is still running on
// the resource, as the API does for a call that would start another
// (hcloud-go hcloud/error.go: "Item is locked (Another action is
// running)"). The refusal counts as one poll of the blocking action, so
// a lock ends after at most ActionPolls refused calls even when nobody
// waits for the action: here, refused calls are how time passes.
func (f *Fake) refuseLocked(w http.ResponseWriter, typ string, id int64) bool {
	ac := f.lockedBy(typ, id)
	if ac == nil {
		return false
	}
	f.read(ac)
	apiError(w, http.StatusLocked, "locked", "%s %d is locked: action %d (%s) is still running", typ, id, ac.a.ID, ac.a.Command)
	return true
}
