package send

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/gateway"
)

type staticKeys []gateway.Key

func (k staticKeys) LiveKeys(context.Context) ([]gateway.Key, error) { return k, nil }

// innerAPI stands in for the ingest API: it rejects any event with a
// "note" field, as the identifier detectors would an e-mail address.
var innerAPI = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Events []struct {
			Fields map[string]any `json:"fields"`
		} `json:"events"`
	}
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var out []string
	for i, e := range req.Events {
		if _, ok := e.Fields["note"]; ok {
			out = append(out, fmt.Sprintf(`{"index":%d,"status":"rejected","reason":"identifier_email","field":"note"}`, i))
		} else {
			out = append(out, fmt.Sprintf(`{"index":%d,"status":"accepted"}`, i))
		}
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"results":[%s]}`, strings.Join(out, ","))
})

// sendGateway runs the real gateway in front of innerAPI.
func sendGateway(t *testing.T) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(newGatewayHandler(t))
	t.Cleanup(srv.Close)
	return srv
}

// runSend runs `veil send` with cfg on stdin and returns what it wrote and
// its exit status.
func runSend(t *testing.T, stdin string, cfg Config) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cfg.Stdin, cfg.Stdout, cfg.Stderr = strings.NewReader(stdin), &out, &errb
	err := Run(context.Background(), cfg)
	code = exitCode(t, err)
	if code != 0 {
		t.Logf("veil send: exit %d: %v; stderr %s", code, err, errb.String())
	}
	return out.String(), errb.String(), code
}

func exitCode(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return 0
	}
	ee, ok := errors.AsType[*ExitError](err)
	if !ok {
		t.Fatalf("Run returned %v, not an *ExitError", err)
	}
	return ee.Code
}

// flags returns the Config of `veil send --relay relay` with the flags'
// defaults.
func flags(relay string) Config {
	return Config{Relay: relay, MaxAttempts: DefaultMaxAttempts, Timeout: DefaultTimeout}
}

func TestSendSingleEvent(t *testing.T) {
	srv := sendGateway(t)
	cfg := flags(srv.URL + "/gateway")
	cfg.Schema, cfg.Version, cfg.Fields = "app.launch", 1, `{"os":"ios","cold_start_ms":420}`
	out, stderr, code := runSend(t, "", cfg)
	if code != 0 || out != `{"index":0,"status":"accepted"}`+"\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	if stderr != "" {
		t.Errorf("stderr %q after a clean run, want nothing", stderr)
	}
}

func TestSendJSONLines(t *testing.T) {
	srv := sendGateway(t)
	var in strings.Builder
	for i := range 250 {
		switch i {
		case 7:
			in.WriteString(`{"schema":"app.launch","version":1,"fields":{"note":"x@example.com"}}` + "\n")
		case 9:
			in.WriteString("not json\n\n")
		default:
			fmt.Fprintf(&in, `{"schema":"app.launch","version":1,"fields":{"os":"ios","n":%d}}`+"\n", i)
		}
	}
	out, stderr, code := runSend(t, in.String(), flags(srv.URL+"/gateway"))
	if code != 1 {
		t.Errorf("exit %d, want 1 (one rejected, one invalid)", code)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 250 {
		t.Fatalf("%d result lines, want 250", len(lines))
	}
	for i, l := range lines {
		want := fmt.Sprintf(`{"index":%d,"status":"accepted"}`, i)
		switch i {
		case 7:
			want = `{"index":7,"status":"rejected","reason":"identifier_email","field":"note"}`
		case 9:
			// The tenth event is on line 10; the blank line after it
			// makes every later line number one more than its index + 1.
			want = `{"index":9,"line":10,"status":"dropped","reason":"invalid_event"}`
		}
		if l != want {
			t.Errorf("line %d = %s, want %s", i, l, want)
		}
	}
	wantErr := "send: line 10: not JSON (at byte 2): invalid character 'o' in literal null (expecting 'u')\n" +
		"send: 250 events: 248 accepted, 1 rejected, 1 dropped\n"
	if stderr != wantErr {
		t.Errorf("stderr %q, want %q", stderr, wantErr)
	}
}

func TestSendUndelivered(t *testing.T) {
	srv := sendGateway(t)
	url := srv.URL + "/gateway"
	srv.Close()
	cfg := flags(url)
	cfg.MaxAttempts, cfg.Schema, cfg.Version = 1, "app.launch", 1
	out, stderr, code := runSend(t, "", cfg)
	if code != 1 || out != `{"index":0,"status":"dropped","reason":"retries_exhausted"}`+"\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	// The summary names the cause of the drop.
	if !strings.HasPrefix(stderr, "send: 1 event: 1 dropped; 1 failed attempt (connection refused: 1); last: GET "+strings.TrimSuffix(url, "/gateway")+"/ohttp-keys: ") ||
		!strings.HasSuffix(stderr, "connection refused\n") {
		t.Errorf("stderr %q", stderr)
	}
}

func TestSendUsage(t *testing.T) {
	relay := "https://r.example/"
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"no relay", Config{Schema: "a", Version: 1}},
		{"no version", Config{Relay: relay, Schema: "a"}},
		{"version without schema", Config{Relay: relay, Version: 1}},
		{"fields an array", Config{Relay: relay, Schema: "a", Version: 1, Fields: "[1]"}},
		{"fields not JSON", Config{Relay: relay, Schema: "a", Version: 1, Fields: "{"}},
		{"flags and a file", Config{Relay: relay, Schema: "a", Version: 1, Input: "events.jsonl"}},
		{"relay not a URL", Config{Relay: "not a url", Schema: "a", Version: 1}},
		{"missing file", Config{Relay: relay, Input: "missing-file.jsonl"}},
		{"no timeout", Config{Relay: relay, Schema: "a", Version: 1, Timeout: -1}},
		{"negative max attempts", Config{Relay: relay, Schema: "a", Version: 1, MaxAttempts: -1}},
	} {
		if tc.cfg.Timeout == 0 {
			tc.cfg.Timeout = DefaultTimeout
		}
		if _, _, code := runSend(t, "", tc.cfg); code != 2 {
			t.Errorf("%s: exit %d, want 2", tc.name, code)
		}
	}
}

// TestSendQueueDir leaves batches in --queue-dir when the relay cannot be
// reached, and sends them on the next run with the same directory.
func TestSendQueueDir(t *testing.T) {
	srv := sendGateway(t)
	dir := filepath.Join(t.TempDir(), "queue")
	down := httptest.NewServer(http.NotFoundHandler())
	downURL := down.URL + "/gateway"
	down.Close()

	var in strings.Builder
	for i := range 5 {
		fmt.Fprintf(&in, `{"schema":"app.launch","version":1,"fields":{"os":"ios","n":%d}}`+"\n", i)
	}
	// The events are kept on disk, not lost: reported queued, exit 3.
	cfg := flags(downURL)
	cfg.QueueDir, cfg.MaxAttempts, cfg.Timeout = dir, 0, time.Second
	out, _, code := runSend(t, in.String(), cfg)
	var want strings.Builder
	for i := range 5 {
		fmt.Fprintf(&want, `{"index":%d,"status":"queued"}`+"\n", i)
	}
	if code != 3 || out != want.String() {
		t.Fatalf("unreachable relay: exit %d, output %q, want exit 3 and %q", code, out, want.String())
	}

	files, err := filepath.Glob(filepath.Join(dir, "*.batch"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no batch left in the queue directory: %v %v", files, err)
	}

	cfg = flags(srv.URL + "/gateway")
	cfg.QueueDir, cfg.Schema, cfg.Version, cfg.Fields = dir, "app.launch", 1, `{"os":"ios"}`
	out, stderr, code := runSend(t, "", cfg)
	if code != 0 || out != `{"index":0,"status":"accepted"}`+"\n" {
		t.Errorf("second run: exit %d, output %q", code, out)
	}
	if want := "send: 5 events from an earlier run in --queue-dir: 5 accepted, 0 duplicate, 0 rejected, 0 dropped\n"; stderr != want {
		t.Errorf("second run: stderr %q, want %q", stderr, want)
	}
	if files, _ := filepath.Glob(filepath.Join(dir, "*")); len(files) != 0 {
		t.Errorf("queue directory not empty after delivery: %v", files)
	}
}

// stallReader serves its lines, then blocks, as a slow producer on a pipe
// would, until the test ends.
type stallReader struct {
	r    *bytes.Reader
	done <-chan struct{}
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.r.Len() > 0 {
		return s.r.Read(p)
	}
	<-s.done
	return 0, io.EOF
}

// TestSendTimeoutBeforeEndOfInput checks that a run whose --timeout ends
// while input is still coming does not exit 0: every event it read was
// delivered, but the rest of the input was never sent.
func TestSendTimeoutBeforeEndOfInput(t *testing.T) {
	// A small chunk, so that delivering it within --timeout does not
	// depend on the machine's load.
	defer func(n int) { chunk = n }(chunk)
	chunk = 100
	srv := sendGateway(t)
	var in bytes.Buffer
	for i := range chunk {
		fmt.Fprintf(&in, `{"schema":"app.launch","version":1,"fields":{"os":"ios","n":%d}}`+"\n", i)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	var out, errb bytes.Buffer
	cfg := flags(srv.URL + "/gateway")
	cfg.Timeout = 2 * time.Second
	cfg.Stdin, cfg.Stdout, cfg.Stderr = &stallReader{r: bytes.NewReader(in.Bytes()), done: done}, &out, &errb
	err := Run(context.Background(), cfg)
	if n := strings.Count(out.String(), `"status":"accepted"`); n != chunk {
		t.Fatalf("%d of the first %d events accepted (the test needs them delivered within --timeout); err %v", n, chunk, err)
	}
	if exitCode(t, err) != 1 || !strings.Contains(err.Error(), fmt.Sprintf("stopped reading input after %d events", chunk)) {
		t.Errorf("err = %v, want exit 1 for input left unread", err)
	}
}

// TestSendTimeoutSilentInput: --timeout ends a run whose input blocks
// without a line (a pipe whose writer never writes nor closes).
func TestSendTimeoutSilentInput(t *testing.T) {
	srv := sendGateway(t)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	var out, errb bytes.Buffer
	cfg := flags(srv.URL + "/gateway")
	cfg.Timeout = time.Second
	cfg.Stdin, cfg.Stdout, cfg.Stderr = pr, &out, &errb
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- Run(context.Background(), cfg) }()
	select {
	case err := <-done:
		if exitCode(t, err) != 1 || !strings.Contains(err.Error(), "stopped reading input after 0 events") {
			t.Errorf("err = %v, want exit 1 for input left unread", err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("returned after %v with --timeout 1s", el)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("veil send still blocked on its input 30s after a --timeout of 1s")
	}
}
