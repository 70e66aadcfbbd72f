package relay_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"

	"golang.org/x/time/rate"

	"github.com/veil-telemetry/veil/internal/relay"
)

// BenchmarkRelay measures the relay's cost per forwarded request over
// loopback TCP: a client posts an 8 KiB encapsulated request (the size of
// a 50-event batch) to the relay, which forwards it to a gateway stub that
// answers 2 KiB. The direct sub-benchmark posts the same request to the
// stub without the relay, in the same run; relay-ns/op minus direct-ns/op
// is what the hop adds (wall time per request at the given parallelism,
// so CPU on both ends is included). cpu-ns/op is the whole test process's
// CPU time (user and system, from getrusage) per request: on a shared
// machine it is steadier than wall time, and relay minus direct is the
// CPU the hop costs.
func BenchmarkRelay(b *testing.B) {
	answer := make([]byte, 2048)
	rand.Read(answer)
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "message/ohttp-res")
		w.Write(answer)
	}))
	defer gw.Close()
	rl, err := relay.New(relay.Config{
		GatewayURL:    gw.URL + "/gateway",
		PerClientRate: rate.Inf,
		Logger:        slog.New(slog.DiscardHandler),
	})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(rl)
	defer srv.Close()
	body := make([]byte, 8192)
	rand.Read(body)
	run := func(b *testing.B, url string) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
		var failed atomic.Int64
		b.SetBytes(int64(len(body)))
		before, cpuOK := processCPU()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				resp, err := client.Post(url, "message/ohttp-req", bytes.NewReader(body))
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
		b.StopTimer()
		if after, ok := processCPU(); ok && cpuOK {
			b.ReportMetric(float64(after-before)/float64(b.N), "cpu-ns/op")
		}
		if n := failed.Load(); n > 0 {
			b.Fatalf("%d requests failed", n)
		}
	}
	b.Run("direct", func(b *testing.B) { run(b, gw.URL+"/gateway") })
	b.Run("relay", func(b *testing.B) { run(b, srv.URL+"/gateway") })
}
