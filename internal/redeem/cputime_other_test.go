//go:build !unix

package redeem

import "testing"

func reportCPU(b *testing.B, f func()) {
	for b.Loop() {
		f()
	}
}
