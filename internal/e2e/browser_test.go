package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
)

// needBrowser returns node and Chromium for the browser SDK's tests, with
// sdk/js's npm packages installed (npm ci); see e2etest.Missing when one
// is absent.
func needBrowser(t *testing.T) (node, chromium string) {
	t.Helper()
	chromium = e2etest.Chromium(t)
	node, err := exec.LookPath("node")
	if err != nil {
		e2etest.Missing(t, "the browser SDK tests need node")
	}
	if _, err := os.Stat("../../sdk/js/node_modules/playwright-core"); err != nil {
		e2etest.Missing(t, "the browser SDK tests need sdk/js/node_modules (npm ci)")
	}
	return node, chromium
}

// browserScenario is one line of sdk/js/test/browser/run.mjs's output.
type browserScenario struct {
	Scenario string           `json:"scenario"`
	OK       bool             `json:"ok"`
	Error    string           `json:"error"`
	Sent     map[string]int64 `json:"sent"`
	Ms       int64            `json:"ms"`
}

// TestBrowserSDK runs the browser SDK (sdk/js/dist) in Debian's Chromium
// against real `veil serve` and `veil relay` processes: pages on another
// loopback origin than the relay send with X25519 and with X-Wing; pages
// hidden (navigated away, closed) with a batch pending still deliver it;
// a relay that refuses and then loses answers loses and duplicates
// nothing; an MV3 extension sends from its service worker. Every event
// each scenario sent must then be counted, exactly once, in the
// aggregates.
func TestBrowserSDK(t *testing.T) {
	node, chromium := needBrowser(t)
	s := startStackWith(t, stackOptions{relayArgs: fastRelay})
	s.registerSchema(t, "testdata/web.test.json")
	pin := s.keyPin(t)

	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()
	dir, err := filepath.Abs("../../sdk/js")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, node, filepath.Join("test", "browser", "run.mjs"))
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "VEIL_RELAY="+s.relayAt, "VEIL_PIN="+pin, "CHROMIUM="+chromium)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	if stderr.Len() > 0 {
		t.Logf("run.mjs stderr:\n%s", stderr.String())
	}

	want := map[string]int64{}
	scenarios := 0
	sc := bufio.NewScanner(&stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var r browserScenario
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Errorf("run.mjs output %q: %v", sc.Text(), err)
			continue
		}
		scenarios++
		t.Logf("%s", sc.Text())
		if !r.OK {
			t.Errorf("scenario %q failed: %s", r.Scenario, r.Error)
			continue
		}
		for k, n := range r.Sent {
			want[k] += n
		}
	}
	if runErr != nil {
		t.Errorf("run.mjs: %v", runErr)
	}
	if scenarios < 9 {
		t.Fatalf("run.mjs reported %d scenarios, want 9", scenarios)
	}

	// Page-hide sends arrive on their own time: wait for the counts, then
	// require them exact (nothing lost, nothing twice, nothing else).
	deadline := time.Now().Add(60 * time.Second)
	var got map[string]int64
	for {
		got = s.aggregates(t, "web.test", 1, "case").countsBy("case")
		if equalCounts(got, want) || time.Now().After(deadline) {
			break
		}
		select {
		case <-time.After(500 * time.Millisecond):
		case <-ctx.Done():
			t.Fatal(ctx.Err())
		}
	}
	if !equalCounts(got, want) {
		t.Errorf("aggregates by case %v, want %v", got, want)
		t.Logf("relay log, answers other than 200 and 204:\n%s", unusual(s.relay.Output()))
		t.Logf("serve log, other than committed batches and 200s:\n%s", unusual(s.serve.Output()))
	}
}

func equalCounts(a, b map[string]int64) bool {
	for k, v := range a {
		if strings.TrimSpace(k) != "" && b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// unusual returns the log lines of s that are not a 200 or 204 answer or
// a committed batch: where a lost delivery shows.
func unusual(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l == "" || strings.Contains(l, `"status":200`) || strings.Contains(l, `"status":204`) || strings.Contains(l, `"result":"committed"`) {
			continue
		}
		out = append(out, l)
	}
	return strings.Join(out, "\n")
}
