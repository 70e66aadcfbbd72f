// Package testlog captures what code under test logs, for tests that
// check a log line was written, or that no value leaked into one.
package testlog

import (
	"bytes"
	"sync"
)

// Buffer is a log destination that goroutines may write concurrently
// while a test reads it. The zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns everything written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
