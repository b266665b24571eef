package fleet

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"gopkg.in/yaml.v3"

	"github.com/omc-coop/omc/inventory"
)

// setCount rewrites groups.GROUP.count in the inventory file at path:
// only that number changes, in place, and the file must still load with
// the new count, or it is left as it was.
func setCount(path, group string, n int) error {
	if path == "-" || path == "<stdin>" {
		return errors.New("the inventory was read from stdin")
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil || len(doc.Content) == 0 {
		return fmt.Errorf("cannot parse %s again", path)
	}
	val := mapValue(mapValue(mapValue(doc.Content[0], "groups"), group), "count")
	if val == nil || val.Kind != yaml.ScalarNode || val.Style != 0 {
		return errors.New("count is not a plain number written in the group itself (an anchor or merge key?)")
	}
	lines := bytes.SplitAfter(src, []byte("\n"))
	if val.Line < 1 || val.Line > len(lines) {
		return errors.New("count not found")
	}
	l := lines[val.Line-1]
	col := val.Column - 1
	if col < 0 || col+len(val.Value) > len(l) || string(l[col:col+len(val.Value)]) != val.Value {
		return errors.New("count not found where the parser saw it")
	}
	nl := append(append(append([]byte{}, l[:col]...), strconv.Itoa(n)...), l[col+len(val.Value):]...)
	lines[val.Line-1] = nl
	out := bytes.Join(lines, nil)
	inv, err := inventory.LoadReader(path, bytes.NewReader(out))
	if err != nil || inv.Group(group) == nil || inv.Group(group).Count != n {
		return fmt.Errorf("the rewritten file does not load: %v", err)
	}
	info, err := os.Stat(path)
	if err != nil {
		return err
	}
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".omc-tmp")
	if err := os.WriteFile(tmp, out, info.Mode().Perm()); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}
