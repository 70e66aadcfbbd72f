package main

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
	"github.com/veil-telemetry/veil/ohttp"
)

type staticKeys []gateway.Key

func (k staticKeys) LiveKeys(context.Context) ([]gateway.Key, error) { return k, nil }

// sendGateway runs the real gateway in front of a stand-in ingest API that
// rejects any event with a "note" field, as the identifier detectors would
// an e-mail address.
func sendGateway(t *testing.T) *httptest.Server {
	t.Helper()
	k, err := ohttp.GenerateKey(nil, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		t.Fatal(err)
	}
	inner := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
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
	g, err := gateway.New(gateway.Config{Keys: staticKeys{{Private: k, State: gateway.StateCurrent}}, Inner: inner})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	return srv
}

func runSendCmd(t *testing.T, stdin string, args ...string) (stdout string, code int) {
	t.Helper()
	stdout, _, code = runSendCmdStderr(t, stdin, args...)
	return stdout, code
}

func runSendCmdStderr(t *testing.T, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	var ee *exitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.code
	default:
		code = 2
	}
	if code != 0 {
		t.Logf("veil %s: exit %d: %v; stderr %s", strings.Join(args, " "), code, err, errb.String())
	}
	return out.String(), errb.String(), code
}

func TestSendSingleEvent(t *testing.T) {
	srv := sendGateway(t)
	out, code := runSendCmd(t, "", "send", "--relay", srv.URL+"/gateway",
		"--schema", "app.launch", "--version", "1", "--fields", `{"os":"ios","cold_start_ms":420}`)
	if code != 0 || out != `{"index":0,"status":"accepted"}`+"\n" {
		t.Errorf("exit %d, output %q", code, out)
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
	out, code := runSendCmd(t, in.String(), "send", "--relay", srv.URL+"/gateway")
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
			want = `{"index":9,"status":"dropped","reason":"invalid_event"}`
		}
		if l != want {
			t.Errorf("line %d = %s, want %s", i, l, want)
		}
	}
}

func TestSendUndelivered(t *testing.T) {
	srv := sendGateway(t)
	url := srv.URL + "/gateway"
	srv.Close()
	out, code := runSendCmd(t, "", "send", "--relay", url, "--max-attempts", "1",
		"--schema", "app.launch", "--version", "1")
	if code != 1 || out != `{"index":0,"status":"dropped","reason":"retries_exhausted"}`+"\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
}

func TestSendUsage(t *testing.T) {
	for _, args := range [][]string{
		{"send", "--schema", "a", "--version", "1"},
		{"send", "--relay", "https://r.example/", "--schema", "a"},
		{"send", "--relay", "https://r.example/", "--version", "1"},
		{"send", "--relay", "https://r.example/", "--schema", "a", "--version", "1", "--fields", "[1]"},
		{"send", "--relay", "https://r.example/", "--schema", "a", "--version", "1", "--fields", "{"},
		{"send", "--relay", "https://r.example/", "--schema", "a", "--version", "1", "events.jsonl"},
		{"send", "--relay", "not a url", "--schema", "a", "--version", "1"},
		{"send", "--relay", "https://r.example/", "missing-file.jsonl"},
	} {
		if _, code := runSendCmd(t, "", args...); code != 2 {
			t.Errorf("veil %s: exit %d, want 2", strings.Join(args, " "), code)
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
	out, code := runSendCmd(t, in.String(), "send", "--relay", downURL, "--queue-dir", dir,
		"--max-attempts", "0", "--timeout", "1s")
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

	out, stderr, code := runSendCmdStderr(t, "", "send", "--relay", srv.URL+"/gateway", "--queue-dir", dir,
		"--schema", "app.launch", "--schema-version", "1", "--fields", `{"os":"ios"}`)
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

// stallReader serves its lines, then stalls before one more line, as a
// slow producer on a pipe would.
type stallReader struct {
	r       *bytes.Reader
	stall   time.Duration
	tail    string
	stalled bool
}

func (s *stallReader) Read(p []byte) (int, error) {
	if s.r.Len() > 0 {
		return s.r.Read(p)
	}
	if !s.stalled {
		s.stalled = true
		time.Sleep(s.stall)
		return copy(p, s.tail), nil
	}
	return 0, io.EOF
}

// TestSendTimeoutBeforeEndOfInput checks that a run whose --timeout ends
// while input is still coming does not exit 0: every event it read was
// delivered, but the rest of the input was never sent.
func TestSendTimeoutBeforeEndOfInput(t *testing.T) {
	srv := sendGateway(t)
	var in bytes.Buffer
	for i := range sendChunk {
		fmt.Fprintf(&in, `{"schema":"app.launch","version":1,"fields":{"os":"ios","n":%d}}`+"\n", i)
	}
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs([]string{"send", "--relay", srv.URL + "/gateway", "--timeout", "2s"})
	cmd.SetIn(&stallReader{r: bytes.NewReader(in.Bytes()), stall: 2500 * time.Millisecond,
		tail: `{"schema":"app.launch","version":1,"fields":{"os":"ios"}}` + "\n"})
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	err := cmd.ExecuteContext(context.Background())
	if n := strings.Count(out.String(), `"status":"accepted"`); n != sendChunk {
		t.Fatalf("%d of the first %d events accepted (the test needs them delivered within --timeout); err %v", n, sendChunk, err)
	}
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "stopped reading input after 5000 events") {
		t.Errorf("err = %v, want exit 1 for input left unread", err)
	}
}

// TestSendTimeoutSilentInput: --timeout ends a run whose input blocks
// without a line (a pipe whose writer never writes nor closes).
func TestSendTimeoutSilentInput(t *testing.T) {
	srv := sendGateway(t)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	cmd := newRootCmd()
	var out, errb bytes.Buffer
	cmd.SetArgs([]string{"send", "--relay", srv.URL + "/gateway", "--timeout", "1s"})
	cmd.SetIn(pr)
	cmd.SetOut(&out)
	cmd.SetErr(&errb)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- cmd.ExecuteContext(context.Background()) }()
	select {
	case err := <-done:
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(err.Error(), "stopped reading input after 0 events") {
			t.Errorf("err = %v, want exit 1 for input left unread", err)
		}
		if el := time.Since(start); el > 10*time.Second {
			t.Errorf("returned after %v with --timeout 1s", el)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("veil send still blocked on its input 30s after a --timeout of 1s")
	}
}
