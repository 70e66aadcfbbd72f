//go:build unix

package secretfile

import "syscall"

const oNoFollow = syscall.O_NOFOLLOW
