//go:build !linux

package local

import "errors"

// Local hosts need Linux; Check says so before any of this is reached.
// These stubs only let omc build for other systems.

var errNotLinux = errors.New("local hosts need Linux")

func mountOverlay(target, opts string) error { return errNotLinux }

func unmount(target string, detach bool) error { return errNotLinux }
