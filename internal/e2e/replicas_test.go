package e2e

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
	"github.com/veil-telemetry/veil/sdk"
)

// replicaSet is N veil serve processes on one PostgreSQL database, sharing
// the master key and the admin tokens, behind one veil relay given every
// replica's gateway.
type replicaSet struct {
	serves  []*e2etest.Process
	admins  []string // admin base URLs
	relayAt string
	relay   *e2etest.Process
	token   string
}

const replicaToken = "replica-admin-token-0123456789"

func startReplicas(t *testing.T, n int) *replicaSet {
	t.Helper()
	e2etest.NeedPostgres(t)
	dir := t.TempDir()
	key := make([]byte, 32)
	rand.Read(key)
	keyFile, tokFile := filepath.Join(dir, "master.key"), filepath.Join(dir, "tokens")
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(tokFile, []byte("admin ops "+replicaToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	dbURL := storagetest.URL(t)
	rs := &replicaSet{token: replicaToken}
	rel := e2etest.FreeAddr(t)
	relayArgs := []string{"relay", "--listen", rel}
	var publics []string
	for i := range n {
		pub, adm := e2etest.FreeAddr(t), e2etest.FreeAddr(t)
		p := start(t, fmt.Sprintf("serve%d", i), nil, "serve", "--data-dir", filepath.Join(dir, fmt.Sprint(i)),
			"--listen", pub, "--admin-listen", adm, "--database-url", dbURL,
			"--master-key-file", keyFile, "--admin-token-file", tokFile,
			// Shared, as a volume would be: whichever replica mixes needs
			// every replica's staging keys.
			"--stage-key-dir", filepath.Join(dir, "stage-keys"), "--mix-interval", "2s")
		rs.serves = append(rs.serves, p)
		rs.admins = append(rs.admins, "http://"+adm)
		publics = append(publics, "http://"+pub)
		relayArgs = append(relayArgs, "--gateway", "http://"+pub+"/gateway")
	}
	for i, pub := range publics {
		e2etest.WaitOK(t, client, pub+"/readyz", rs.serves[i], 3*time.Minute)
	}
	rs.relayAt = "http://" + rel
	rs.relay = start(t, "relay", nil, append(relayArgs, fastRelay...)...)
	e2etest.WaitOK(t, client, rs.relayAt+"/ohttp-keys", rs.relay, 30*time.Second)
	return rs
}

// leaders returns the replicas whose log says they lead the chores now.
func (rs *replicaSet) leaders() []int {
	var out []int
	for i, p := range rs.serves {
		o := p.Output()
		if strings.LastIndex(o, "chores: leading") > strings.LastIndex(o, "chores: no longer leading") && !p.Exited() {
			out = append(out, i)
		}
	}
	return out
}

// TestReplicas: three replicas behind one relay under SDK load. Keys rotate
// mid-run and the chore leader is SIGKILLed mid-run; every event is
// answered accepted or (a retry of a batch the killed replica committed)
// duplicate, none is lost or refused for good, each is stored once, and
// the chores ran on one replica at a time, handed over after the kill.
func TestReplicas(t *testing.T) {
	const n = 3000
	rs := startReplicas(t, 3)
	e2etest.RegisterSchema(t, client, rs.admins[0], rs.token, mustRead(t, "testdata/app.launch.json"))

	// One leader, whoever won.
	var leader int
	e2etest.Eventually(t, 30*time.Second, "one chore leader", func() bool {
		l := rs.leaders()
		if len(l) > 1 {
			t.Fatalf("replicas %v lead the chores at once", l)
		}
		if len(l) == 1 {
			leader = l[0]
			return true
		}
		return false
	})
	other := (leader + 1) % 3

	pinOut := call(t, "GET", rs.admins[other]+"/v1/key-pins", rs.token, "", nil)
	var pins struct {
		Pins []struct {
			Pin   string `json:"pin"`
			State string `json:"state"`
		} `json:"pins"`
	}
	if err := json.Unmarshal(pinOut.Body, &pins); err != nil || len(pins.Pins) == 0 {
		t.Fatalf("key pins: %v %s", err, pinOut.Body)
	}
	var tally resultTally
	c, err := sdk.New(sdk.Config{
		RelayURL:       rs.relayAt + "/gateway",
		KeyPin:         pins.Pins[0].Pin,
		MaxQueueEvents: n,
		MaxBatchEvents: 25,
		FlushInterval:  50 * time.Millisecond,
		OnResult:       tally.add,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for i := range n {
		if err := c.Record(ctx, "app.launch", 1, map[string]any{"os": []string{"ios", "android"}[i%2], "cold_start_ms": i % 1000}); err != nil {
			t.Fatal(err)
		}
		switch i {
		case n / 3:
			// Keys rotate mid-run, through a replica that does not lead.
			if r := call(t, "POST", rs.admins[other]+"/v1/keys:rotate", rs.token, "application/json", []byte(`{}`)); r.Status != 200 {
				t.Fatalf("rotate: %d %s", r.Status, r.Body)
			}
		case 2*n/3 + 50:
			// The chore leader dies mid-run, between flushes, with
			// batches in flight.
			rs.serves[leader].Kill()
		}
		if i%100 == 99 {
			if err := c.Flush(ctx); err != nil {
				t.Fatalf("flush at %d: %v", i, err)
			}
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	acc, dup := tally.get(sdk.StatusAccepted), tally.get(sdk.StatusDuplicate)
	if acc+dup != n {
		t.Fatalf("results: %d accepted + %d duplicate of %d; all: %v", acc, dup, n, tally.n)
	}
	t.Logf("%d accepted, %d duplicate (retries of batches the killed replica committed)", acc, dup)

	// Stored exactly once, read through a survivor.
	q := url.Values{"schema": {"app.launch"}, "version": {"1"}, "group_by": {"os"}}
	e2etest.Eventually(t, 2*time.Minute, "every event stored once", func() bool {
		r := call(t, "GET", rs.admins[other]+"/v1/aggregates?"+q.Encode(), rs.token, "", nil)
		var a aggregates
		if r.Status != 200 || json.Unmarshal(r.Body, &a) != nil {
			t.Fatalf("aggregates: %d %s", r.Status, r.Body)
		}
		got := a.total()
		if got > n {
			t.Fatalf("%d events stored of %d sent: some twice", got, n)
		}
		return got == n
	})

	// The chores moved to one survivor.
	e2etest.Eventually(t, time.Minute, "a survivor to take over the chores", func() bool {
		l := rs.leaders()
		if len(l) > 1 {
			t.Fatalf("replicas %v lead the chores at once", l)
		}
		return len(l) == 1 && l[0] != leader
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
