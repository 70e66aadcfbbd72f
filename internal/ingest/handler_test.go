package ingest

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestHandler: the in-process handler answers the inner API and bounds
// the body it decodes.
func TestHandler(t *testing.T) {
	h, err := Handler(newTestServer(t, &fakeWriter{}, nil, nil), slog.New(slog.DiscardHandler), 512)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, body := post(t, srv.URL, `{"batch_id":"`+testBatchID+`","events":[{"schema":"app.launch","version":1,"fields":{"os":"ios"}}]}`)
	if resp.StatusCode != http.StatusOK || string(body) != `{"results":[{"index":0,"status":"accepted"}]}` {
		t.Errorf("accepted batch: %d %s", resp.StatusCode, body)
	}
	big := `{"batch_id":"` + testBatchID + `","events":[{"schema":"app.launch","version":1,"fields":{"os":"` + strings.Repeat("i", 600) + `"}}]}`
	if resp, body := post(t, srv.URL, big); resp.StatusCode < 400 || resp.StatusCode >= 500 {
		t.Errorf("body over the bound: %d %s", resp.StatusCode, body)
	}
}
