package fake

import (
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
)

// selector is a parsed label_selector: every term must hold (comma = AND).
type selector []term

type term struct {
	op     string // "=", "!=", "exists", "!exists", "in", "notin"
	key    string
	values []string
}

// parseSelector reads the API's label selector syntax: k=v, k==v, k!=v,
// k, !k, k in (a,b), k notin (a,b), joined by commas.
func parseSelector(s string) (selector, error) {
	var sel selector
	for _, part := range splitTerms(s) {
		part = strings.TrimSpace(part)
		if part == "" {
			return nil, fmt.Errorf("empty term in %q", s)
		}
		var t term
		switch {
		case strings.HasPrefix(part, "!"):
			t = term{op: "!exists", key: strings.TrimSpace(part[1:])}
		case strings.Contains(part, "!="):
			k, v, _ := strings.Cut(part, "!=")
			t = term{op: "!=", key: strings.TrimSpace(k), values: []string{strings.TrimSpace(v)}}
		case strings.Contains(part, "=="):
			k, v, _ := strings.Cut(part, "==")
			t = term{op: "=", key: strings.TrimSpace(k), values: []string{strings.TrimSpace(v)}}
		case strings.Contains(part, "="):
			k, v, _ := strings.Cut(part, "=")
			t = term{op: "=", key: strings.TrimSpace(k), values: []string{strings.TrimSpace(v)}}
		case strings.HasSuffix(part, ")") && strings.Contains(part, " notin "):
			k, v, _ := strings.Cut(part, " notin ")
			t = term{op: "notin", key: strings.TrimSpace(k), values: setValues(v)}
		case strings.HasSuffix(part, ")") && strings.Contains(part, " in "):
			k, v, _ := strings.Cut(part, " in ")
			t = term{op: "in", key: strings.TrimSpace(k), values: setValues(v)}
		default:
			t = term{op: "exists", key: part}
		}
		if t.key == "" || strings.ContainsAny(t.key, " ()!=") {
			return nil, fmt.Errorf("bad term %q", part)
		}
		sel = append(sel, t)
	}
	return sel, nil
}

// splitTerms splits on commas outside parentheses.
func splitTerms(s string) []string {
	var parts []string
	depth, start := 0, 0
	for i, c := range s {
		switch c {
		case '(':
			depth++
		case ')':
			depth--
		case ',':
			if depth == 0 {
				parts = append(parts, s[start:i])
				start = i + 1
			}
		}
	}
	return append(parts, s[start:])
}

func setValues(s string) []string {
	s = strings.TrimSpace(s)
	s = strings.TrimSuffix(strings.TrimPrefix(s, "("), ")")
	var vs []string
	for _, v := range strings.Split(s, ",") {
		vs = append(vs, strings.TrimSpace(v))
	}
	return vs
}

func (sel selector) matches(labels map[string]string) bool {
	for _, t := range sel {
		v, ok := labels[t.key]
		switch t.op {
		case "exists":
			if !ok {
				return false
			}
		case "!exists":
			if ok {
				return false
			}
		case "=":
			if !ok || v != t.values[0] {
				return false
			}
		case "!=":
			if ok && v == t.values[0] {
				return false
			}
		case "in":
			if !ok || !contains(t.values, v) {
				return false
			}
		case "notin":
			if ok && contains(t.values, v) {
				return false
			}
		}
	}
	return true
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if x == y {
			return true
		}
	}
	return false
}

// selectorParam reads ?label_selector=, answering invalid_input itself.
func selectorParam(w http.ResponseWriter, r *http.Request) (selector, bool) {
	s := r.URL.Query().Get("label_selector")
	if s == "" {
		return nil, true
	}
	sel, err := parseSelector(s)
	if err != nil {
		invalidInput(w, "label_selector", err.Error())
		return nil, false
	}
	return sel, true
}

// pagination is meta.pagination as the API sends it: absent neighbours
// are null.
type pagination struct {
	Page         int  `json:"page"`
	PerPage      int  `json:"per_page"`
	PreviousPage *int `json:"previous_page"`
	NextPage     *int `json:"next_page"`
	LastPage     *int `json:"last_page"`
	TotalEntries *int `json:"total_entries"`
}

// writePage answers a list call with one page of items under key, using
// ?page= (default 1) and ?per_page= (default 25, at most 50).
func writePage[T any](w http.ResponseWriter, r *http.Request, key string, items []T) {
	q := r.URL.Query()
	page, per := 1, 25
	if s := q.Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			invalidInput(w, "page", "must be a positive integer")
			return
		}
		page = n
	}
	if s := q.Get("per_page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			invalidInput(w, "per_page", "must be a positive integer")
			return
		}
		per = min(n, 50)
	}
	total := len(items)
	last := max(1, (total+per-1)/per)
	lo := min((page-1)*per, total)
	hi := min(lo+per, total)
	p := pagination{Page: page, PerPage: per, LastPage: &last, TotalEntries: &total}
	if page > 1 {
		prev := page - 1
		p.PreviousPage = &prev
	}
	if page < last {
		next := page + 1
		p.NextPage = &next
	}
	if items == nil {
		items = []T{}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		key:    items[lo:hi],
		"meta": map[string]any{"pagination": p},
	})
}

var (
	labelNameRE   = regexp.MustCompile(`^[a-zA-Z0-9]([a-zA-Z0-9_.-]{0,61}[a-zA-Z0-9])?$`)
	labelPrefixRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$`)
)

// checkLabels applies the API's label syntax: keys are [prefix/]name,
// values are empty or name-like, both at most 63 characters. It returns
// "" when the labels are valid.
func checkLabels(labels map[string]string) string {
	for k, v := range labels {
		name := k
		if prefix, n, ok := strings.Cut(k, "/"); ok {
			if !labelPrefixRE.MatchString(prefix) || strings.HasPrefix(k, "hetzner.cloud/") {
				return fmt.Sprintf("label key %q has a bad prefix", k)
			}
			name = n
		}
		if !labelNameRE.MatchString(name) {
			return fmt.Sprintf("label key %q is not valid", k)
		}
		if v != "" && !labelNameRE.MatchString(v) {
			return fmt.Sprintf("label value %q of %q is not valid", v, k)
		}
	}
	return ""
}

func copyLabels(l map[string]string) map[string]string {
	out := make(map[string]string, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}
