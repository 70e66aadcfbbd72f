//go:build unix

package sdk

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// checkPrivate refuses path, described by info, unless this process's
// effective user owns it and its mode grants none of the bits in mask:
// 0o022 for the queue directory (no one else may add, replace or remove its
// files), 0o077 for the key file (no one else may read it either). Another
// user who could write in the directory could plant batches, hold its lock,
// or put a symbolic link where the Client writes.
func checkPrivate(path string, info fs.FileInfo, mask fs.FileMode) error {
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return fmt.Errorf("%w: %s is owned by uid %d, not by this process's user (uid %d): use a directory of this user's own, or chown it",
			ErrQueueDirUnsafe, path, st.Uid, os.Geteuid())
	}
	if perm := info.Mode().Perm(); perm&mask != 0 {
		who, fix := "group or others may write it", "go-w"
		if mask&0o044 != 0 {
			who, fix = "group or others may read or write it", "go-rwx"
		}
		return fmt.Errorf("%w: %s has mode %04o, so %s: run chmod %s %s",
			ErrQueueDirUnsafe, path, perm, who, fix, path)
	}
	return nil
}

// sameFile reports whether a and b, from Lstat of a path and Stat of the
// directory opened at it, describe the same file (device and inode).
func sameFile(a, b fs.FileInfo) bool { return os.SameFile(a, b) }
