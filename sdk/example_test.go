package sdk_test

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/veil-telemetry/veil/internal/keystate"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/sdk"
)

func Example() {
	// In production RelayURL points at a relay run by a third party, in
	// front of `veil serve`. Here an in-process gateway stands in for both.
	srv := startDemoGateway()
	defer srv.Close()

	c, err := sdk.New(sdk.Config{
		RelayURL: srv.URL + "/gateway",
		OnResult: func(r sdk.Result) {
			if r.Status == sdk.StatusRejected {
				fmt.Printf("event %d: %s (%s in field %q)\n", r.Seq, r.Status, r.Reason, r.Field)
				return
			}
			fmt.Printf("event %d: %s\n", r.Seq, r.Status)
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	c.Record(ctx, "app.launch", 1, map[string]any{"os": "ios", "cold_start_ms": 420})
	c.Record(ctx, "app.launch", 1, map[string]any{"os": "android", "note": "me@example.com"})

	// Close sends what is queued and waits for the answers.
	if err := c.Close(ctx); err != nil {
		log.Fatal(err)
	}
	st := c.Stats()
	fmt.Printf("accepted %d, rejected %d, requests %d\n", st.Accepted, st.Rejected, st.Requests)
	// Output:
	// event 1: accepted
	// event 2: rejected (identifier_email in field "note")
	// accepted 1, rejected 1, requests 1
}

type demoKeys []gateway.Key

func (k demoKeys) LiveKeys(context.Context) ([]gateway.Key, error) { return k, nil }

// startDemoGateway runs the real gateway over a stand-in for the ingest
// API that rejects any "note" field, as veil's identifier detectors would
// an e-mail address.
func startDemoGateway() *httptest.Server {
	k, err := ohttp.GenerateKey(nil, 1, ohttp.KEMX25519, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		log.Fatal(err)
	}
	ingest := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Events []struct {
				Fields map[string]any `json:"fields"`
			} `json:"events"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		var results []string
		for i, e := range req.Events {
			if _, ok := e.Fields["note"]; ok {
				results = append(results, fmt.Sprintf(`{"index":%d,"status":"rejected","reason":"identifier_email","field":"note"}`, i))
			} else {
				results = append(results, fmt.Sprintf(`{"index":%d,"status":"accepted"}`, i))
			}
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"results":[%s]}`, strings.Join(results, ","))
	})
	g, err := gateway.New(gateway.Config{Keys: demoKeys{{Private: k, State: keystate.Current}}, Inner: ingest})
	if err != nil {
		log.Fatal(err)
	}
	return httptest.NewServer(g)
}
