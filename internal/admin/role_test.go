package admin

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/veil-telemetry/veil/internal/schema"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

const (
	adminToken = "admin-token-for-role-tests-0123"
	readToken  = "read-token-for-role-tests-45678"
)

// roleHarness serves the admin plane with an admin token named ops and a
// read token named viewer, logging to logs.
func roleHarness(t *testing.T, logs *bytes.Buffer, disabled *[]schema.Version) *harness {
	t.Helper()
	tok, err := ParseTokens(strings.NewReader("# roles\nadmin ops " + adminToken + "\nread viewer " + readToken + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, func(c *Config) {
		c.Tokens = tok
		if logs != nil {
			c.Logger = slog.New(slog.NewTextHandler(logs, nil))
		}
		if disabled != nil {
			c.SchemasDisabled = func(v []schema.Version) { *disabled = v }
		}
	})
}

func TestParseTokenRoles(t *testing.T) {
	tok, err := ParseTokens(strings.NewReader("admin ops " + adminToken + "\nread viewer " + readToken + "\nlegacy-bare-token-0123456789\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		tok  string
		want Caller
	}{
		{adminToken, Caller{"ops", RoleAdmin}},
		{readToken, Caller{"viewer", RoleRead}},
		{"legacy-bare-token-0123456789", Caller{"line-3", RoleAdmin}},
	} {
		got, ok := tok.lookup(c.tok)
		if !ok || got != c.want {
			t.Errorf("lookup(%q) = %v, %v; want %v", c.tok, got, ok, c.want)
		}
	}
	if _, ok := tok.lookup("viewer"); ok {
		t.Error("a token's name was accepted as a token")
	}
	for _, bad := range []string{
		"owner ops " + adminToken + "\n",                             // unknown role
		"admin bad/name " + adminToken + "\n",                        // name characters
		"admin ops " + adminToken + "\nread ops " + readToken + "\n", // name twice
		"admin " + adminToken + "\n",                                 // two fields
		"admin ops short\n",                                          // short token
	} {
		if _, err := ParseTokens(strings.NewReader(bad)); err == nil {
			t.Errorf("ParseTokens(%q) accepted", bad)
		} else if strings.Contains(err.Error(), adminToken) {
			t.Errorf("error quotes the token: %v", err)
		}
	}
}

// TestReadTokenRefusedEveryChange walks every gRPC method the admin plane
// serves and every REST rule of api.yaml: a read token may call exactly
// the read methods, an admin token everything.
func TestReadTokenRefusedEveryChange(t *testing.T) {
	h := roleHarness(t, nil, nil)
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	readCtx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+readToken)
	keysBefore := len(h.listKeys(t))
	methods := 0
	for svc, info := range h.srv.grpc.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + svc + "/" + m.Name
			methods++
			// An empty message decodes as any request type.
			err := conn.Invoke(readCtx, full, &emptypb.Empty{}, &emptypb.Empty{})
			denied := status.Code(err) == codes.PermissionDenied
			if readMethods[full] && denied {
				t.Errorf("%s: read token refused a read: %v", full, err)
			}
			if !readMethods[full] && !denied {
				t.Errorf("%s: read token not refused: %v", full, err)
			}
		}
	}
	if methods < 13 {
		t.Fatalf("only %d methods walked", methods)
	}
	// REST: every rule in the grpc-gateway configuration.
	api, err := os.ReadFile("../../proto/veil/v1/api.yaml")
	if err != nil {
		t.Fatal(err)
	}
	rule := regexp.MustCompile(`(?m)^\s+(get|post):\s+(\S+)`)
	param := regexp.MustCompile(`\{[a-z_]+\}`)
	rules := rule.FindAllStringSubmatch(string(api), -1)
	if len(rules) < 14 {
		t.Fatalf("only %d REST rules found", len(rules))
	}
	for _, r := range rules {
		path := param.ReplaceAllString(r[2], "1")
		method := strings.ToUpper(r[1])
		body := any(nil)
		if method == http.MethodPost {
			body = map[string]any{}
		}
		resp := h.do(t, method, path, readToken, body)
		if method == http.MethodGet && resp.status == http.StatusForbidden {
			t.Errorf("GET %s: read token refused: %s", path, resp.body)
		}
		if method != http.MethodGet {
			if resp.status != http.StatusForbidden {
				t.Errorf("%s %s: read token got %d, want 403", method, path, resp.status)
			} else if p := mustProblem(t, resp, http.StatusForbidden); !strings.Contains(p.Detail, "admin role") {
				t.Errorf("403 detail %q does not say what is needed", p.Detail)
			}
		}
	}
	if got := len(h.listKeys(t)); got != keysBefore {
		t.Errorf("keys changed under read tokens: %d -> %d", keysBefore, got)
	}
	// Profiles need the admin role; metrics do not.
	if r := h.do(t, http.MethodGet, "/metrics", readToken, nil); r.status != http.StatusOK {
		t.Errorf("metrics with read token: %d", r.status)
	}
	// The admin token may change state.
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+adminToken)
	if _, err := veilv1.NewKeyServiceClient(conn).RotateKeys(actx, &veilv1.RotateKeysRequest{}); err != nil {
		t.Fatalf("admin rotate: %v", err)
	}
}

func (h *harness) listKeys(t *testing.T) []*veilv1.Key {
	t.Helper()
	resp, err := h.srv.keys.ListKeys(context.Background(), &veilv1.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.GetKeys()
}

func TestAuditLogAndDisable(t *testing.T) {
	var logs bytes.Buffer
	var disabled []schema.Version
	h := roleHarness(t, &logs, &disabled)
	start := time.Now().Add(-time.Minute)

	if r := h.do(t, http.MethodPost, "/v1/schemas", adminToken, map[string]any{"document": exampleSchema(t)}); r.status != http.StatusOK {
		t.Fatalf("register: %d %s", r.status, r.body)
	}
	if r := h.do(t, http.MethodPost, "/v1/schemas/app.launch/versions/1:disable", adminToken, map[string]any{}); r.status != http.StatusOK || !strings.Contains(string(r.body), `"disabled":true`) {
		t.Fatalf("disable: %d %s", r.status, r.body)
	}
	if len(disabled) != 1 || disabled[0] != (schema.Version{Name: "app.launch", Version: 1}) {
		t.Fatalf("ingest told %v", disabled)
	}
	// Disabling twice is no error; what it stored stays queryable.
	if r := h.do(t, http.MethodPost, "/v1/schemas/app.launch/versions/1:disable", adminToken, map[string]any{}); r.status != http.StatusOK {
		t.Fatalf("disable again: %d %s", r.status, r.body)
	}
	if r := h.do(t, http.MethodGet, "/v1/aggregates?schema=app.launch&version=1", readToken, nil); r.status != http.StatusOK {
		t.Errorf("aggregates of a disabled schema: %d %s", r.status, r.body)
	}
	if r := h.do(t, http.MethodPost, "/v1/schemas/app.nope/versions/1:disable", adminToken, map[string]any{}); r.status != http.StatusNotFound {
		t.Errorf("disable unknown: %d %s", r.status, r.body)
	}
	if r := h.do(t, http.MethodPost, "/v1/schemas/app.launch/versions/1:enable", adminToken, map[string]any{}); r.status != http.StatusOK || strings.Contains(string(r.body), `"disabled":true`) {
		t.Fatalf("enable: %d %s", r.status, r.body)
	}
	if len(disabled) != 0 {
		t.Fatalf("ingest still told %v", disabled)
	}
	keys := h.listKeys(t)
	if r := h.do(t, http.MethodPost, "/v1/keys:rotate", adminToken, map[string]any{"kems": []string{"X25519"}}); r.status != http.StatusOK {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	if r := h.do(t, http.MethodPost, "/v1/keys/"+itoa(uint8(keys[0].GetKeyId()))+":retire", adminToken, map[string]any{}); r.status != http.StatusOK {
		t.Fatalf("retire: %d %s", r.status, r.body)
	}
	// Refused calls are not changes.
	h.do(t, http.MethodPost, "/v1/keys:rotate", readToken, map[string]any{})

	recs, err := h.db.ListAudit(context.Background(), start, 100)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.Actor+" "+r.Action+" "+r.Target)
	}
	want := []string{
		"ops schema.register app.launch v1",
		"ops schema.disable app.launch v1",
		"ops schema.disable app.launch v1",
		"ops schema.enable app.launch v1",
		"ops keys.rotate " + keys[0].GetKem(),
		"ops keys.retire key " + itoa(uint8(keys[0].GetKeyId())) + " (" + keys[0].GetKem() + ")",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("audit log:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(logs.String(), "msg=\"admin change\" actor=ops action=schema.disable") {
		t.Errorf("no audit log line:\n%s", logs.String())
	}
	for _, secret := range []string{adminToken, readToken} {
		if strings.Contains(logs.String(), secret) {
			t.Error("a token reached the log")
		}
		for _, r := range recs {
			if strings.Contains(r.Actor+r.Target, secret) {
				t.Error("a token reached the audit log")
			}
		}
	}
}
