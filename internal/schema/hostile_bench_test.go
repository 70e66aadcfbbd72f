package schema

import (
	"strings"
	"testing"
)

// BenchmarkDetectHostile runs Detect itself (no schema bound in front of
// it) on values that made the detectors quadratic before issue 14, and on
// the trigger characters of every detector, at 16 KiB and 256 KiB. Linear
// detectors cost about 16 times more at the larger size.
func BenchmarkDetectHostile(b *testing.B) {
	units := []struct{ name, unit string }{
		{"url", "a://"}, {"jwt", "eyJ."}, {"addr", "a@["},
		{"mix", "a://a@[eyJ.bearer AKIA0a:a:1.1-0x0a-DE89 4111 123-45-+1(1°1'1.123,aB3%25１٣_1"},
	}
	for _, size := range []int{16 << 10, 256 << 10} {
		for _, u := range units {
			v := strings.Repeat(u.unit, size/len(u.unit)+1)[:size]
			b.Run(u.name+"/"+map[int]string{16 << 10: "16KiB", 256 << 10: "256KiB"}[size], func(b *testing.B) {
				b.SetBytes(int64(size))
				for b.Loop() {
					sink, _ = Detect(v)
				}
			})
		}
	}
}
