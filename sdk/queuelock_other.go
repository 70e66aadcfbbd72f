//go:build !unix

package sdk

import "os"

// lockQueueDir does not lock on this platform: one Client per queue
// directory is up to the application.
func lockQueueDir(*os.Root, string) (*os.File, error) { return nil, nil }
