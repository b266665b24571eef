package fleet

// InventoryError is an inventory the roles cannot build steps from (a
// bad setting, a secret they need unset), found before anything was
// contacted: the command line's exit code 3, as for an invalid file.
type InventoryError struct{ Err error }

func (e *InventoryError) Error() string { return e.Err.Error() }
func (e *InventoryError) Unwrap() error { return e.Err }
