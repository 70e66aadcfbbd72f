package admin

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/ohttp"
)

// TestLiveKeysWalkTheSchedule: what the gateway reads from the admin
// plane follows the key's life — a rotated-out key is handed over with its
// schedule while it decrypts (active, then draining) and not at all once
// retired; the API lists it in its state now, and retire goes straight to
// retired from draining.
func TestLiveKeysWalkTheSchedule(t *testing.T) {
	now := time.Now()
	h := newHarness(t, func(c *Config) {
		c.KEMs = []string{"x25519"}
		c.KeyGrace = time.Hour
		c.Now = func() time.Time { return now }
	})
	ctx := context.Background()
	before, err := h.srv.LiveKeys(ctx)
	if err != nil || len(before) != 1 || before[0].State != keystate.Current {
		t.Fatalf("first keys: %+v, %v", before, err)
	}
	if r := h.do(t, "POST", "/v1/keys:rotate", testToken, `{}`); r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	old := before[0].Private.Config.KeyID
	find := func(keys []gateway.Key) *gateway.Key {
		for i := range keys {
			if keys[i].Private.Config.KeyID == old {
				return &keys[i]
			}
		}
		return nil
	}
	listed := func() string {
		r := h.do(t, "GET", "/v1/keys", testToken, nil)
		var out struct {
			Keys []struct {
				KeyID uint8  `json:"key_id"`
				State string `json:"state"`
			}
		}
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		for _, k := range out.Keys {
			if k.KeyID == old {
				return k.State
			}
		}
		return ""
	}
	keys, err := h.srv.LiveKeys(ctx)
	k := find(keys)
	if err != nil || len(keys) != 2 || k == nil || k.State != keystate.Active || k.DrainAfter.IsZero() ||
		k.RetireAfter.Sub(k.DrainAfter) != keystate.Drain {
		t.Fatalf("after rotation: %d keys, old %+v, %v", len(keys), k, err)
	}
	if s := listed(); s != "active" {
		t.Errorf("listed as %q after rotation", s)
	}

	// Past its grace: handed over still (it decrypts), listed as draining.
	now = k.DrainAfter.Add(time.Second)
	keys, _ = h.srv.LiveKeys(ctx)
	if d := find(keys); d == nil || (keystate.Life{State: d.State, DrainAfter: d.DrainAfter, RetireAfter: d.RetireAfter}).At(now) != keystate.Draining {
		t.Errorf("draining key not handed over: %+v", d)
	}
	if s := listed(); s != "draining" {
		t.Errorf("listed as %q past its grace", s)
	}
	// Past its drain: no longer handed over, listed as retired.
	now = k.RetireAfter
	keys, _ = h.srv.LiveKeys(ctx)
	if find(keys) != nil || len(keys) != 1 {
		t.Errorf("retired key handed over: %d keys", len(keys))
	}
	if s := listed(); s != "retired" {
		t.Errorf("listed as %q past its drain", s)
	}
	mustProblem(t, h.do(t, "POST", "/v1/keys/"+itoa(old)+":retire", testToken, `{}`), http.StatusNotFound)

	// Retire from draining: refused at once, its secret wiped.
	now = k.DrainAfter.Add(time.Second)
	if r := h.do(t, "POST", "/v1/keys/"+itoa(old)+":retire", testToken, `{}`); r.status != 200 || !strings.Contains(string(r.body), `"retired"`) {
		t.Fatalf("retire a draining key: %d %s", r.status, r.body)
	}
	keys, _ = h.srv.LiveKeys(ctx)
	if find(keys) != nil {
		t.Error("a retired key is still handed to the gateway")
	}
	recs, _ := h.db.ListKeys(ctx)
	for _, r := range recs {
		if r.ID == old && (r.State != keystate.Retired || r.Secret != nil) {
			t.Errorf("stored: %s, secret kept %v", r.State, r.Secret != nil)
		}
	}
}

func TestUnknownKEMRefused(t *testing.T) {
	_, err := New(Config{DB: newHarness(t, nil).db, Tokens: mustTokens(t), KEMs: []string{"rsa"}})
	if !errors.Is(err, ohttp.ErrUnsupported) || !strings.Contains(err.Error(), "rsa") {
		t.Errorf("unknown KEM: %v", err)
	}
}

func mustTokens(t *testing.T) *Tokens {
	t.Helper()
	tok, err := ParseTokens(strings.NewReader(testToken + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestReadinessIsCached: /readyz is unauthenticated on the public
// listener; a flood of probes must not become a flood of key ring reads.
func TestReadinessIsCached(t *testing.T) {
	calls := 0
	var fail error
	now := time.Unix(1_700_000_000, 0)
	ready := cacheReady(func(context.Context) error { calls++; return fail }, time.Second, func() time.Time { return now })
	h := ReadyHandler(ready)
	probe := func() int {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec.Code
	}
	for range 100 {
		if code := probe(); code != 200 {
			t.Fatalf("status %d", code)
		}
	}
	if calls != 1 {
		t.Fatalf("100 probes ran the check %d times", calls)
	}
	fail = errors.New("writer not connected")
	now = now.Add(time.Second)
	if code := probe(); code != 503 || calls != 2 {
		t.Fatalf("after ttl: %d, %d calls", code, calls)
	}
	if code := probe(); code != 503 || calls != 2 {
		t.Fatalf("cached failure: %d, %d calls", code, calls)
	}
}

// TestRotationWait: replicas sharing a key ring compute the same due time;
// the loop must add the jitter it is given, so they do not all wake (and
// rotate) at the same instant.
func TestRotationWait(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		next   time.Duration
		jitter time.Duration
		want   time.Duration
	}{
		{10 * time.Minute, 0, 10 * time.Minute},
		{10 * time.Minute, 3 * time.Minute, 13 * time.Minute},
		{-time.Minute, 2 * time.Minute, time.Second + 2*time.Minute}, // overdue
		{0, 0, time.Second},
		{3 * time.Hour, 4 * time.Minute, time.Hour},
		{59 * time.Minute, 4 * time.Minute, time.Hour},
	} {
		if got := rotationWait(now.Add(tc.next), now, tc.jitter); got != tc.want {
			t.Errorf("next in %v, jitter %v: wait %v, want %v", tc.next, tc.jitter, got, tc.want)
		}
	}
	if rotationJitter < time.Minute {
		t.Errorf("jitter %v is too small to spread replicas", rotationJitter)
	}
}

// TestRotationLoop: the loop sleeps until the next rotation is due plus
// jitter, retries a failure after about a minute with it logged, and stops
// with its context.
func TestRotationLoop(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	now := time.Unix(1_700_000_000, 0)
	type answer struct {
		next time.Time
		err  error
	}
	answers := []answer{
		{now.Add(10 * time.Minute), nil},
		{time.Time{}, errors.New("database unavailable")},
		{now.Add(3 * time.Hour), nil},
	}
	var waits []time.Duration
	fire := make(chan time.Time, 1)
	var logs bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		rotationLoop(ctx, func(context.Context) (time.Time, error) {
			if len(answers) == 0 {
				cancel()
				return time.Time{}, context.Canceled
			}
			a := answers[0]
			answers = answers[1:]
			return a.next, a.err
		}, func() time.Time { return now },
			func(n time.Duration) time.Duration { return n / 2 },
			func(d time.Duration) <-chan time.Time { waits = append(waits, d); fire <- now; return fire },
			slog.New(slog.NewTextHandler(&logs, nil)))
	}()
	<-done
	want := []time.Duration{10*time.Minute + rotationJitter/2, rotationRetry + rotationJitter/10, time.Hour}
	if len(waits) != len(want) {
		t.Fatalf("waits %v, want %v", waits, want)
	}
	for i := range want {
		if waits[i] != want[i] {
			t.Errorf("wait %d: %v, want %v", i, waits[i], want[i])
		}
	}
	if n := strings.Count(logs.String(), "scheduled key rotation failed"); n != 1 {
		t.Errorf("%d failures logged, want 1:\n%s", n, logs.String())
	}
}

// TestServeTokensFileMode: the generated token file must stay private; an
// operator's token file readable by others is warned about by path only.
func TestServeTokensFileMode(t *testing.T) {
	dir := t.TempDir()
	var logs strings.Builder
	logger := slog.New(slog.NewJSONHandler(&logs, nil))
	if _, err := ServeTokens("", dir, logger); err != nil {
		t.Fatal(err)
	}
	gen := filepath.Join(dir, "admin-token")
	os.Chmod(gen, 0o640)
	if _, err := ServeTokens("", dir, logger); err == nil {
		t.Error("generated token file with mode 0640 accepted")
	}

	const tok = "operator-token-0123456789abcdef"
	file := filepath.Join(dir, "tokens")
	os.WriteFile(file, []byte(tok+"\n"), 0o644)
	os.Chmod(file, 0o644)
	logs.Reset()
	if _, err := ServeTokens(file, dir, logger); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "accessible to other users") || !strings.Contains(logs.String(), file) {
		t.Errorf("no warning: %s", logs.String())
	}
	if strings.Contains(logs.String(), tok) {
		t.Error("the log holds the token")
	}
}
