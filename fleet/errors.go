package fleet

import "fmt"

// InventoryError is an inventory the roles cannot build steps from (a
// bad setting, a secret they need unset), found before anything was
// contacted: the command line's exit code 3, as for an invalid file.
type InventoryError struct{ Err error }

func (e *InventoryError) Error() string { return e.Err.Error() }
func (e *InventoryError) Unwrap() error { return e.Err }

// UsageError is a bad command line: a target that names no pool, a node
// that is not a bbb node. The command line's exit code 4.
type UsageError struct{ Err error }

func (e *UsageError) Error() string { return e.Err.Error() }
func (e *UsageError) Unwrap() error { return e.Err }

func usageErrorf(format string, a ...any) error {
	return &UsageError{Err: fmt.Errorf(format, a...)}
}
