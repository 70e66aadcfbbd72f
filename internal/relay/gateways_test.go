package relay

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// replica is one gateway replica behind the relay: it counts what reaches
// it and can be made to hang.
type replica struct {
	srv                 *httptest.Server
	posts, keys, signed atomic.Int32
	hang                atomic.Bool
	release             chan struct{}
}

func newReplica(t *testing.T, name string) *replica {
	t.Helper()
	r := &replica{release: make(chan struct{})}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		switch req.URL.Path {
		case "/gateway":
			io.Copy(io.Discard, req.Body)
			r.posts.Add(1)
			if r.hang.Load() {
				select {
				case <-req.Context().Done():
				case <-r.release:
				}
				return
			}
			w.Header().Set("Content-Type", responseMediaType)
			io.WriteString(w, name)
		case "/ohttp-keys":
			r.keys.Add(1)
			w.Header().Set("Content-Type", keysMediaType)
			w.Header().Set("Cache-Control", "public, max-age=60")
			io.WriteString(w, "same-keys")
		case signedKeysPath:
			r.signed.Add(1)
			w.Header().Set("Content-Type", signedKeysMediaType)
			w.Header().Set("Cache-Control", "public, max-age=60")
			io.WriteString(w, "same-signed-keys")
		default:
			http.NotFound(w, req)
		}
	}))
	t.Cleanup(func() { close(r.release); r.srv.Close() })
	return r
}

// replicaEnv is a relay in front of several replicas, with a clock the
// test moves and a count of the relay's connection attempts per replica.
type replicaEnv struct {
	relay *httptest.Server
	reps  []*replica
	mu    sync.Mutex
	now   time.Time
	dials sync.Map // host:port → *atomic.Int32
}

func (e *replicaEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *replicaEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

func (e *replicaEnv) dialed(r *replica) int32 {
	n, ok := e.dials.Load(r.srv.Listener.Addr().String())
	if !ok {
		return 0
	}
	return n.(*atomic.Int32).Load()
}

func newReplicaEnv(t *testing.T, n int, mod func(*Config)) *replicaEnv {
	t.Helper()
	e := &replicaEnv{now: time.Unix(1_700_000_000, 0)}
	for i := range n {
		e.reps = append(e.reps, newReplica(t, string(rune('A'+i))))
	}
	client := NewClient(nil)
	tr := client.Transport.(*http.Transport)
	// No pooled connections: every request dials, so dials count tries.
	tr.DisableKeepAlives = true
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, _ := e.dials.LoadOrStore(addr, new(atomic.Int32))
		c.(*atomic.Int32).Add(1)
		return d.DialContext(ctx, network, addr)
	}
	cfg := Config{
		GatewayURL:    e.reps[0].srv.URL + "/gateway",
		Client:        client,
		PerClientRate: rate.Inf,
		Now:           e.clock,
	}
	for _, r := range e.reps[1:] {
		cfg.Replicas = append(cfg.Replicas, r.srv.URL+"/gateway")
	}
	if mod != nil {
		mod(&cfg)
	}
	rl, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.relay = httptest.NewServer(rl)
	t.Cleanup(e.relay.Close)
	return e
}

func (e *replicaEnv) post(t *testing.T) (int, string) {
	t.Helper()
	resp, err := http.Post(e.relay.URL+"/gateway", requestMediaType, strings.NewReader("sealed"))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (e *replicaEnv) get(t *testing.T, path string) (int, string) {
	t.Helper()
	resp, err := http.Get(e.relay.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReplicasRoundRobin: requests are spread evenly over the replicas.
func TestReplicasRoundRobin(t *testing.T) {
	e := newReplicaEnv(t, 3, nil)
	seen := map[string]int{}
	for range 9 {
		st, who := e.post(t)
		if st != http.StatusOK {
			t.Fatalf("status %d", st)
		}
		seen[who]++
	}
	for _, who := range []string{"A", "B", "C"} {
		if seen[who] != 3 {
			t.Errorf("answers per replica %v, want 3 each", seen)
		}
	}
}

// TestReplicaDownSkipped: a replica that cannot be connected to is
// skipped without the client noticing (its request goes to the next),
// is not tried again during the cooldown, and is tried again after it.
func TestReplicaDownSkipped(t *testing.T) {
	e := newReplicaEnv(t, 3, func(c *Config) { c.GatewayCooldown = 10 * time.Second })
	down := e.reps[1]
	down.srv.Close() // connection refused from now on
	for range 12 {
		if st, who := e.post(t); st != http.StatusOK || who == "B" {
			t.Fatalf("status %d from %q: the client noticed the dead replica", st, who)
		}
	}
	if n := e.dialed(down); n != 1 {
		t.Errorf("the dead replica was dialed %d times within its cooldown, want once", n)
	}
	if a, c := e.reps[0].posts.Load(), e.reps[2].posts.Load(); a+c != 12 || a < 5 || c < 5 {
		t.Errorf("the live replicas got %d and %d requests, want 12 spread over both", a, c)
	}
	e.advance(10 * time.Second)
	for range 3 {
		if st, _ := e.post(t); st != http.StatusOK {
			t.Fatalf("status %d after the cooldown", st)
		}
	}
	if n := e.dialed(down); n != 2 {
		t.Errorf("after the cooldown the dead replica was dialed %d times in all, want 2 (one probe, then skipped again)", n)
	}
}

// TestReplicaTimeoutSkipped: a replica that does not answer in time
// costs its request a 504 (it may have acted on it, so it is not resent)
// and is then skipped during the cooldown.
func TestReplicaTimeoutSkipped(t *testing.T) {
	e := newReplicaEnv(t, 2, func(c *Config) { c.UpstreamTimeout = time.Second })
	e.reps[0].hang.Store(true)
	// Round robin starts at the second replica: the first request
	// reaches B, the second A, which hangs.
	if st, who := e.post(t); st != http.StatusOK || who != "B" {
		t.Fatalf("first request: %d from %q", st, who)
	}
	if st, _ := e.post(t); st != http.StatusGatewayTimeout {
		t.Fatalf("the hanging replica's request: %d, want 504", st)
	}
	if n := e.reps[1].posts.Load(); n != 1 {
		t.Errorf("the timed-out request was resent: B got %d requests", n)
	}
	for range 4 {
		if st, who := e.post(t); st != http.StatusOK || who != "B" {
			t.Fatalf("during the cooldown: %d from %q", st, who)
		}
	}
	if n := e.reps[0].posts.Load(); n != 1 {
		t.Errorf("the hanging replica got %d requests during its cooldown, want 1", n)
	}
}

// TestReplicasAllDown: when every replica has failed, requests are still
// tried (none is refused for health alone), and one that comes back is
// used at once.
func TestReplicasAllDown(t *testing.T) {
	e := newReplicaEnv(t, 2, nil)
	e.reps[0].srv.Close()
	e.reps[1].srv.Close()
	if st, _ := e.post(t); st != http.StatusBadGateway {
		t.Fatalf("every replica down: %d, want 502", st)
	}
	before := e.dialed(e.reps[0]) + e.dialed(e.reps[1])
	if st, _ := e.post(t); st != http.StatusBadGateway {
		t.Fatalf("every replica down: %d, want 502", st)
	}
	if after := e.dialed(e.reps[0]) + e.dialed(e.reps[1]); after != before+2 {
		t.Errorf("with every replica down, a request dialed %d of them, want both", after-before)
	}
}

// TestReplicaKeysFromAnyHealthy: key documents, plain and signed, come
// from a healthy replica when one cannot be reached; they are cached as
// with one gateway, and a failed fetch marks the replica down for
// forwarding too.
func TestReplicaKeysFromAnyHealthy(t *testing.T) {
	e := newReplicaEnv(t, 2, nil)
	e.reps[1].srv.Close()
	// Round robin starts at the second replica, the dead one.
	if st, body := e.get(t, "/ohttp-keys"); st != http.StatusOK || body != "same-keys" {
		t.Fatalf("keys: %d %q", st, body)
	}
	if st, body := e.get(t, signedKeysPath); st != http.StatusOK || body != "same-signed-keys" {
		t.Fatalf("signed keys: %d %q", st, body)
	}
	if st, body := e.get(t, "/ohttp-keys"); st != http.StatusOK || body != "same-keys" {
		t.Fatalf("keys again: %d %q", st, body)
	}
	if k, s := e.reps[0].keys.Load(), e.reps[0].signed.Load(); k != 1 || s != 1 {
		t.Errorf("the live replica served %d key and %d signed fetches, want 1 each (cached)", k, s)
	}
	if n := e.dialed(e.reps[1]); n != 1 {
		t.Errorf("the dead replica was dialed %d times, want once (then skipped)", n)
	}
	for range 3 {
		if st, who := e.post(t); st != http.StatusOK || who != "A" {
			t.Fatalf("forwarding after a failed key fetch: %d from %q", st, who)
		}
	}
}

// TestReplicasOneKeysURL: with --keys-url, every replica's documents come
// from that one URL, fetched once, not once per replica.
func TestReplicasOneKeysURL(t *testing.T) {
	keys := newReplica(t, "K")
	e := newReplicaEnv(t, 3, func(c *Config) { c.KeysURL = keys.srv.URL + "/ohttp-keys" })
	if st, body := e.get(t, "/ohttp-keys"); st != http.StatusOK || body != "same-keys" {
		t.Fatalf("keys: %d %q", st, body)
	}
	if keys.keys.Load() != 1 || e.reps[0].keys.Load()+e.reps[1].keys.Load()+e.reps[2].keys.Load() != 0 {
		t.Errorf("keys fetched from the replicas, not --keys-url")
	}
	keys.srv.Close()
	e.advance(DefaultKeysMaxTTL + time.Minute) // past serving the stale one
	if st, _ := e.get(t, "/ohttp-keys"); st != http.StatusBadGateway {
		t.Errorf("--keys-url down: %d, want 502", st)
	}
	if n := e.dialed(keys); n != 2 {
		t.Errorf("--keys-url dialed %d times in all, want 2 (once per fetch, not per replica)", n)
	}
	// Its failure is not the replicas': none is skipped.
	seen := map[string]int{}
	for range 3 {
		_, who := e.post(t)
		seen[who]++
	}
	if len(seen) != 3 {
		t.Errorf("after --keys-url failed, requests went to %v, want every replica", seen)
	}
}
