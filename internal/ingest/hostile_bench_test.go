package ingest

import (
	"context"
	"strings"
	"testing"
	"time"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// hostileUnits are values that made the detectors quadratic before they
// were rewritten (issue 14): a URL scheme, a JWT header and an e-mail
// address literal, each repeated, and the trigger characters of every
// detector in turn.
var hostileUnits = map[string]string{
	"url":  "a://",
	"jwt":  "eyJ.",
	"addr": "a@[",
	"mix":  "a://a@[eyJ.bearer AKIA0a:a:1.1-0x0a-DE89 4111 123-45-+1(1°1'1.123,aB3%25１٣_1",
}

// BenchmarkHostileRequest measures the CPU of one ingest request holding
// one event whose value is a hostile unit repeated to 16 KiB or 256 KiB,
// in a declared free-text field (note) and in an undeclared one. The
// figure to read is cpu-µs/req (process CPU, which on a shared machine
// excludes other processes' time). It is the "CPU per request"
// measurement; run it on an older tree to compare:
//
//	go test -run '^$' -bench BenchmarkHostileRequest -benchtime 1x ./internal/ingest
func BenchmarkHostileRequest(b *testing.B) {
	s, err := New(Config{Registry: testRegistry(b), Writer: nopWriter{}})
	if err != nil {
		b.Fatal(err)
	}
	for _, size := range []int{16 << 10, 256 << 10} {
		for _, name := range []string{"url", "jwt", "addr", "mix"} {
			unit := hostileUnits[name]
			v := strings.Repeat(unit, size/len(unit)+1)[:size]
			for _, field := range []string{"note", "extra"} {
				req := &veilv1.SubmitEventsRequest{BatchId: testBatchID,
					Events: []*veilv1.Event{launch(b, map[string]any{"os": "ios", field: v})}}
				b.Run(name+"/"+field+"/"+sizeName(size), func(b *testing.B) {
					cpu0, ok := processCPU()
					for b.Loop() {
						resp, err := s.SubmitEvents(context.Background(), req)
						if err != nil || resp.Results[0].Status != StatusRejected {
							b.Fatalf("%v %v", resp, err)
						}
					}
					if cpu1, ok1 := processCPU(); ok && ok1 {
						b.ReportMetric(float64((cpu1-cpu0)/time.Microsecond)/float64(b.N), "cpu-µs/req")
					}
				})
			}
		}
	}
}

func sizeName(n int) string {
	return map[int]string{16 << 10: "16KiB", 256 << 10: "256KiB"}[n]
}
