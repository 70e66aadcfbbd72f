//go:build !unix

package sdk

import "io/fs"

// checkPrivate checks nothing on this platform: Windows grants access by
// ACLs, which the mode bits Go reports do not reflect. A directory under
// the user's profile (os.UserCacheDir) is private to the user by default.
func checkPrivate(string, fs.FileInfo, fs.FileMode) error { return nil }

// sameFile does not compare here: on this platform the directory's
// identity is not checked beyond the symbolic link test on its path.
func sameFile(fs.FileInfo, fs.FileInfo) bool { return true }
