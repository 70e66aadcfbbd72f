package admin

import (
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRegisterBareSchema posts a schema file as it is written, with no
// {"document": …} around it, and gets the same answer as the wrapped form.
func TestRegisterBareSchema(t *testing.T) {
	h := newHarness(t, nil)
	raw, err := os.ReadFile("testdata/app.launch.json")
	if err != nil {
		t.Fatal(err)
	}
	r := h.do(t, "POST", "/v1/schemas", testToken, string(raw))
	if r.status != 200 || !strings.Contains(string(r.body), `"created":true`) || !strings.Contains(string(r.body), `"name":"app.launch"`) {
		t.Fatalf("bare document: %d %s", r.status, r.body)
	}
	// The wrapped form of the same document is the no-op re-registration.
	r = h.do(t, "POST", "/v1/schemas", testToken, map[string]any{"document": exampleSchema(t)})
	if r.status != 200 || !strings.Contains(string(r.body), `"created":false`) {
		t.Fatalf("wrapped document: %d %s", r.status, r.body)
	}

	// A bare document that lints badly gets its findings, not a decoding
	// error about "$schema".
	bad := exampleSchema(t)
	bad["properties"].(map[string]any)["email"] = map[string]any{"type": "string", "x-veil-role": "dimension"}
	p := mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, bad), http.StatusBadRequest)
	if len(p.Findings) == 0 || strings.Contains(p.Detail, "proto") {
		t.Errorf("bare bad document: %+v", p)
	}

	// Both forms at once: the problem says which two forms exist.
	mixed := exampleSchema(t)
	mixed["document"] = exampleSchema(t)
	p = mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, mixed), http.StatusBadRequest)
	if !strings.Contains(p.Detail, `{"document": …}`) {
		t.Errorf("mixed forms: %+v", p)
	}

	// Not an object: the decoder's error, still a 400 problem.
	mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, "[1,2]"), http.StatusBadRequest)
	mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, "{"), http.StatusBadRequest)

	// The body limit still answers 413 when the body is read here.
	big := `{"pad":"` + strings.Repeat("x", maxRequestBody) + `"}`
	mustProblem(t, h.do(t, "POST", "/v1/schemas", testToken, big), http.StatusRequestEntityTooLarge)
}

// TestTimeParamsNameTheFormat: a from/to that is not RFC 3339 is refused
// with a message naming RFC 3339, not Go's reference layout.
func TestTimeParamsNameTheFormat(t *testing.T) {
	h := newHarness(t, nil)
	seed(t, h)
	for _, q := range []string{
		"/v1/aggregates?schema=app.launch&version=1&from=yesterday",
		"/v1/aggregates?schema=app.launch&version=1&to=2025-01-31",
		"/v1/stats?from=-24h",
		"/v1/stats?to=2025-01-31T09:00:00",
	} {
		p := mustProblem(t, h.do(t, "GET", q, testToken, nil), http.StatusBadRequest)
		if !strings.Contains(p.Detail, "RFC 3339") || strings.Contains(p.Detail, "2006") {
			t.Errorf("%s: %q", q, p.Detail)
		}
		name := "from"
		if strings.Contains(q, "to=") {
			name = "to"
		}
		if !strings.HasPrefix(p.Detail, name+" ") {
			t.Errorf("%s: %q does not name %s", q, p.Detail, name)
		}
	}
	// Valid times, with fractional seconds or a zone offset, pass the
	// check: this one reaches the span check behind it.
	p := mustProblem(t, h.do(t, "GET", "/v1/stats?from=2000-01-01T00:00:00.5Z&to=2999-01-01T00:00:00%2B01:00", testToken, nil), http.StatusBadRequest)
	if !strings.Contains(p.Detail, "366 days") {
		t.Errorf("span: %q", p.Detail)
	}
	now := time.Now()
	q := url.Values{
		"from": {now.Add(-2 * time.Hour).Format(time.RFC3339Nano)},
		"to":   {now.Add(time.Hour).In(time.FixedZone("", 3600)).Format(time.RFC3339)},
	}
	r := h.do(t, "GET", "/v1/stats?"+q.Encode(), testToken, nil)
	if r.status != 200 {
		t.Fatalf("valid range: %d %s", r.status, r.body)
	}
	var st struct {
		Accepted json.Number `json:"accepted"`
	}
	if err := json.Unmarshal(r.body, &st); err != nil || st.Accepted != "15" {
		t.Fatalf("stats: %s (%v)", r.body, err)
	}
}
