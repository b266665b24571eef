package fake

import (
	"net/http"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

// renderPlacementGroup derives the member list from the servers.
func (f *Fake) renderPlacementGroup(pg *schema.PlacementGroup) schema.PlacementGroup {
	out := *pg
	out.Labels = copyLabels(pg.Labels)
	out.Servers = []int64{}
	for _, id := range sortedKeys(f.servers) {
		if f.servers[id].pg == pg.ID {
			out.Servers = append(out.Servers, id)
		}
	}
	return out
}

func (f *Fake) listPlacementGroups(w http.ResponseWriter, r *http.Request) {
	sel, ok := selectorParam(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var out []schema.PlacementGroup
	for _, id := range sortedKeys(f.placements) {
		pg := f.placements[id]
		if n := q.Get("name"); n != "" && pg.Name != n {
			continue
		}
		if t := q.Get("type"); t != "" && pg.Type != t {
			continue
		}
		if !sel.matches(pg.Labels) {
			continue
		}
		out = append(out, f.renderPlacementGroup(pg))
	}
	writePage(w, r, "placement_groups", out)
}

func (f *Fake) getPlacementGroup(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	pg := f.placements[id]
	if !ok || pg == nil {
		notFound(w, "placement group")
		return
	}
	writeJSON(w, http.StatusOK, schema.PlacementGroupGetResponse{PlacementGroup: f.renderPlacementGroup(pg)})
}

func (f *Fake) createPlacementGroup(w http.ResponseWriter, r *http.Request) {
	var req schema.PlacementGroupCreateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Name == "" {
		invalidInput(w, "name", "is required")
		return
	}
	if req.Type != "spread" {
		invalidInput(w, "type", "must be spread")
		return
	}
	for _, pg := range f.placements {
		if pg.Name == req.Name {
			uniqueness(w, "name", "placement group name is already used")
			return
		}
	}
	labels := labelsOf(req.Labels)
	if msg := checkLabels(labels); msg != "" {
		invalidInput(w, "labels", msg)
		return
	}
	pg := &schema.PlacementGroup{ID: f.id(), Name: req.Name, Type: req.Type, Labels: labels, Created: f.now()}
	f.placements[pg.ID] = pg
	writeJSON(w, http.StatusCreated, schema.PlacementGroupCreateResponse{PlacementGroup: f.renderPlacementGroup(pg)})
}

func (f *Fake) deletePlacementGroup(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	pg := f.placements[id]
	if !ok || pg == nil {
		notFound(w, "placement group")
		return
	}
	if len(f.renderPlacementGroup(pg).Servers) > 0 {
		apiError(w, http.StatusUnprocessableEntity, "resource_in_use", "placement group still has servers")
		return
	}
	delete(f.placements, id)
	w.WriteHeader(http.StatusNoContent)
}
