package sdk

import "testing"

// BenchmarkAppendEvent measures Record's encoding of a typical event.
func BenchmarkAppendEvent(b *testing.B) {
	fields := map[string]any{"os": "ios", "app_version": "4.2", "cold_start_ms": 420}
	var buf [512]byte
	b.ReportAllocs()
	for b.Loop() {
		if _, err := appendEvent(buf[:0], "app.launch", 1, fields); err != nil {
			b.Fatal(err)
		}
	}
}
