//go:build !unix

package privacypass

import "testing"

func reportCPU(b *testing.B, f func()) {
	for b.Loop() {
		f()
	}
}
