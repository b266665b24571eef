package local

import "syscall"

func mountOverlay(target, opts string) error {
	return syscall.Mount("overlay", target, "overlay", 0, opts)
}

// unmount unmounts target; detach makes a busy mount go away when its
// last user does.
func unmount(target string, detach bool) error {
	flags := 0
	if detach {
		flags = syscall.MNT_DETACH
	}
	return syscall.Unmount(target, flags)
}
