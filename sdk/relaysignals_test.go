package sdk_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/sdk"
)

// Tests of what the relay controls — outer statuses and headers — and of
// what the gateway's answers may change in later requests: neither may make
// the Client store an event twice or mark its requests.

// storedCopies counts, per event index, the copies a gateway that
// deduplicates by batch_id has stored, given every request it stored.
func storedCopies(reqs []*gwRequest) map[int]int {
	copies := map[int]int{}
	ids := map[string]bool{}
	for _, r := range reqs {
		if ids[r.BatchID] {
			continue
		}
		ids[r.BatchID] = true
		for _, e := range r.Events {
			copies[int(e.Fields["i"].(float64))]++
		}
	}
	return copies
}

// TestOuter413NeverSplits: a relay that forwards every batch (the gateway
// stores it) and answers 413 itself must not make the Client resend the
// events under new batch ids. Before, each of 16 events was stored five
// times (the batch, its halves, quarters, eighths and single events).
func TestOuter413NeverSplits(t *testing.T) {
	g := newFakeGateway(t)
	g.setScript(func(r *gwRequest) gwAnswer {
		g.mu.Lock()
		g.stored[r.BatchID] = true
		g.mu.Unlock()
		return gwAnswer{OuterStatus: http.StatusRequestEntityTooLarge}
	})
	var errs []error
	c, col := newClient(t, g, sdk.Config{MaxBatchEvents: 16, OnError: func(err error) { errs = append(errs, err) }})
	record(t, c, 16)
	flush(t, c)

	reqs := g.seen()
	if len(reqs) == 0 {
		t.Fatal("no request")
	}
	for _, r := range reqs {
		if r.BatchID != reqs[0].BatchID {
			t.Errorf("request under a new batch_id after an outer 413: sizes %v", sizes(reqs))
			break
		}
	}
	copies := storedCopies(reqs)
	for i := range 16 {
		if copies[i] != 1 {
			t.Errorf("event %d stored %d times, want 1", i, copies[i])
		}
	}
	rs := col.all()
	if len(rs) != 16 {
		t.Fatalf("%d results, want 16", len(rs))
	}
	for _, r := range rs {
		if r.Status != sdk.StatusDropped || r.Reason != sdk.ReasonRelayTooLarge {
			t.Errorf("result %+v, want dropped %s", r, sdk.ReasonRelayTooLarge)
		}
	}
	if len(errs) != 1 {
		t.Fatalf("%d errors reported, want 1", len(errs))
	}
	if de, ok := errors.AsType[*sdk.DeliveryError](errs[0]); !ok || de.Status != http.StatusRequestEntityTooLarge || de.RetryIn != 0 {
		t.Errorf("OnError got %v, want a DeliveryError with status 413 and no retry", errs[0])
	}
}

// TestDateCorrectionBounded: a gateway's Date problem moves the Date of
// that batch's retry by at most the replay window, in whole seconds, and
// nothing of it reaches the next batch. Before, a gateway's +31,337 s was
// kept and marked every later request of the Client.
func TestDateCorrectionBounded(t *testing.T) {
	// The client's clock is off the second, so that a Date that kept it
	// would show.
	start := clockStart.Add(400 * time.Millisecond)
	for _, tc := range []struct {
		name   string
		skew   time.Duration // the gateway's Date minus the client's clock
		offset time.Duration // the retry's Date minus the first's
	}{
		{"far ahead", 31337 * time.Second, sdk.MaxClockCorrection},
		{"far behind", -31337 * time.Second, -sdk.MaxClockCorrection},
		{"within the cap", 90*time.Second + 700*time.Millisecond, 91 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t)
			clk := sdk.NewFakeClock(start)
			g.setScript(func(r *gwRequest) gwAnswer {
				if r.N == 0 {
					return problem(400, "https://veil.example/problems#date",
						bhttp.Field{Name: "date", Value: clk.Now().Add(tc.skew).Format(http.TimeFormat)})
				}
				return gwAnswer{}
			})
			cfg := sdk.Config{}
			sdk.SetClock(&cfg, clk)
			c, col := newClient(t, g, cfg)
			record(t, c, 1)
			flush(t, c)
			record(t, c, 1)
			flush(t, c)
			reqs := g.seen()
			if len(reqs) != 3 {
				t.Fatalf("%d requests, want 3", len(reqs))
			}
			own := start.Truncate(time.Second)
			// The correction is rounded to whole seconds, the Date truncated.
			wantRetry := own.Add(tc.offset)
			if !reqs[0].Date.Equal(own) || !reqs[1].Date.Equal(wantRetry) || !reqs[2].Date.Equal(own) {
				t.Errorf("Dates %v, %v, %v; want %v, then %v for the retry, then %v for the next batch",
					reqs[0].Date, reqs[1].Date, reqs[2].Date, own, wantRetry, own)
			}
			if n := col.count(sdk.StatusAccepted); n != 2 {
				t.Errorf("accepted = %d, want 2", n)
			}
		})
	}
	if sdk.MaxClockCorrection != gateway.DefaultReplayWindow {
		t.Errorf("the SDK's clock correction cap %v is not the gateway's replay window %v", sdk.MaxClockCorrection, gateway.DefaultReplayWindow)
	}
}

// TestRetryAfterCapped: a Retry-After longer than MaxRetryWait — which the
// relay can send on its own — waits MaxRetryWait at most. Before, it was
// honoured up to a day, holding every batch behind it.
func TestRetryAfterCapped(t *testing.T) {
	const maxWait = time.Minute
	for _, tc := range []struct {
		name   string
		answer gwAnswer
	}{
		{"outer 503", gwAnswer{OuterStatus: 503, OuterHeader: http.Header{"Retry-After": {"86400"}}}},
		{"outer 429 date", gwAnswer{OuterStatus: 429, OuterHeader: http.Header{"Retry-After": {clockStart.Add(20 * time.Hour).Format(http.TimeFormat)}}}},
		{"inner 503", problem(503, "about:blank", bhttp.Field{Name: "retry-after", Value: "86400"})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGateway(t)
			g.setScript(func(r *gwRequest) gwAnswer {
				if r.N == 0 {
					return tc.answer
				}
				return gwAnswer{}
			})
			clk := sdk.NewFakeClock(clockStart)
			cfg := sdk.Config{FlushInterval: time.Hour, MaxRetryWait: maxWait}
			sdk.SetClock(&cfg, clk)
			c, col := newClient(t, g, cfg)
			record(t, c, 1)
			done := make(chan error, 1)
			go func() { done <- c.Flush(context.Background()) }()
			d := waitArmed(t, clk, func(d time.Duration) bool { return d != time.Hour })
			if d > maxWait || d <= maxWait-time.Second {
				t.Errorf("wait %v after a Retry-After of a day, want in (%v, %v]", d, maxWait-time.Second, maxWait)
			}
			clk.Advance(d)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
			if n := col.count(sdk.StatusAccepted); n != 1 {
				t.Errorf("accepted = %d, want 1", n)
			}
		})
	}
}
