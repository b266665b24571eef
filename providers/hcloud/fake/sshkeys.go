package fake

import (
	"net/http"

	"golang.org/x/crypto/ssh"

	"github.com/hetznercloud/hcloud-go/v2/hcloud/schema"
)

func renderSSHKey(k *schema.SSHKey) schema.SSHKey {
	out := *k
	out.Labels = copyLabels(k.Labels)
	return out
}

func (f *Fake) listSSHKeys(w http.ResponseWriter, r *http.Request) {
	sel, ok := selectorParam(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	var out []schema.SSHKey
	for _, id := range sortedKeys(f.sshKeys) {
		k := f.sshKeys[id]
		if n := q.Get("name"); n != "" && k.Name != n {
			continue
		}
		if fp := q.Get("fingerprint"); fp != "" && k.Fingerprint != fp {
			continue
		}
		if !sel.matches(k.Labels) {
			continue
		}
		out = append(out, renderSSHKey(k))
	}
	writePage(w, r, "ssh_keys", out)
}

func (f *Fake) getSSHKey(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	k := f.sshKeys[id]
	if !ok || k == nil {
		notFound(w, "SSH key")
		return
	}
	writeJSON(w, http.StatusOK, schema.SSHKeyGetResponse{SSHKey: renderSSHKey(k)})
}

// createSSHKey enforces both uniqueness rules of the API: per name and
// per fingerprint (MD5, as the API shows it).
func (f *Fake) createSSHKey(w http.ResponseWriter, r *http.Request) {
	var req schema.SSHKeyCreateRequest
	if !decode(w, r, &req) {
		return
	}
	if req.Name == "" {
		invalidInput(w, "name", "is required")
		return
	}
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(req.PublicKey))
	if err != nil {
		invalidInput(w, "public_key", "is not a valid SSH public key")
		return
	}
	fp := ssh.FingerprintLegacyMD5(pub)
	for _, k := range f.sshKeys {
		if k.Name == req.Name {
			uniqueness(w, "name", "SSH key with the same name already exists")
			return
		}
		if k.Fingerprint == fp {
			uniqueness(w, "public_key", "SSH key with the same fingerprint already exists")
			return
		}
	}
	labels := labelsOf(req.Labels)
	if msg := checkLabels(labels); msg != "" {
		invalidInput(w, "labels", msg)
		return
	}
	k := &schema.SSHKey{ID: f.id(), Name: req.Name, Fingerprint: fp, PublicKey: req.PublicKey, Labels: labels, Created: f.now()}
	f.sshKeys[k.ID] = k
	writeJSON(w, http.StatusCreated, schema.SSHKeyCreateResponse{SSHKey: renderSSHKey(k)})
}

func (f *Fake) deleteSSHKey(w http.ResponseWriter, r *http.Request) {
	id, ok := pathID(r)
	if !ok || f.sshKeys[id] == nil {
		notFound(w, "SSH key")
		return
	}
	delete(f.sshKeys, id)
	w.WriteHeader(http.StatusNoContent)
}
