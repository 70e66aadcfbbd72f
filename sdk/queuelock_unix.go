//go:build unix

package sdk

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockQueueDir takes an exclusive advisory lock (flock) on the directory of
// root itself, so that a second Client — in this process or another —
// cannot share the queue: two senders of the same files would each deliver
// them, and each delete them under the other. The lock lasts until the
// returned file is closed, or the process ends, however it ends.
func lockQueueDir(root *os.Root, dir string) (*os.File, error) {
	f, err := root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	for {
		err = syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			break
		}
	}
	if err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrQueueDirInUse, dir)
		}
		return nil, fmt.Errorf("veil: queue directory lock: %w", err)
	}
	return f, nil
}
