package admin

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// seedSchemas stores n schema versions straight into the database (so
// nothing is cached yet) and returns their "name/version" in list order.
func seedSchemas(t *testing.T, h *harness, n int) []string {
	t.Helper()
	var want []string
	for i := range n {
		doc := exampleSchema(t)
		name := fmt.Sprintf("app.s%02d", i/3)
		doc["x-veil"].(map[string]any)["name"] = name
		doc["x-veil"].(map[string]any)["version"] = i%3 + 1
		b, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := h.db.PutSchema(t.Context(), storage.SchemaRecord{Name: name, Version: i%3 + 1, Document: b}); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("%s/%d", name, i%3+1))
	}
	return want
}

// TestListSchemasPages: the pages of a listing larger than a page hold
// every schema version exactly once, in order; the metadata of each is
// compiled once across listings; a bad token or page size is a clear
// InvalidArgument.
func TestListSchemasPages(t *testing.T) {
	h := newHarness(t, nil)
	var compiles atomic.Int64
	h.srv.schemas.meta.compile = func(doc []byte) (*schema.Schema, error) {
		compiles.Add(1)
		return schema.Compile(doc)
	}
	want := seedSchemas(t, h, 11)

	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	schemas := veilv1.NewSchemaServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+testToken)

	walk := func() []string {
		t.Helper()
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > len(want) {
				t.Fatal("the pages do not end")
			}
			resp, err := schemas.ListSchemas(actx, &veilv1.ListSchemasRequest{PageSize: 4, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Schemas) > 4 || (resp.NextPageToken != "" && len(resp.Schemas) != 4) {
				t.Fatalf("page of %d with next token %q", len(resp.Schemas), resp.NextPageToken)
			}
			for _, s := range resp.Schemas {
				if s.Granularity != "hour" || len(s.Dimensions) != 2 {
					t.Fatalf("metadata of %s: %v", s.Name, s)
				}
				got = append(got, fmt.Sprintf("%s/%d", s.Name, s.Version))
			}
			if token = resp.NextPageToken; token == "" {
				return got
			}
		}
	}
	for round := range 2 {
		if got := walk(); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Fatalf("round %d: listed %v, want %v", round, got, want)
		}
		if n := compiles.Load(); n != int64(len(want)) {
			t.Fatalf("round %d: %d compiles for %d schema versions", round, n, len(want))
		}
	}

	// The default page holds all 11.
	resp, err := schemas.ListSchemas(actx, &veilv1.ListSchemasRequest{})
	if err != nil || len(resp.Schemas) != len(want) || resp.NextPageToken != "" {
		t.Fatalf("default page: %d schemas, next %q, %v", len(resp.GetSchemas()), resp.GetNextPageToken(), err)
	}

	for _, req := range []*veilv1.ListSchemasRequest{
		{PageToken: "not a token"},
		{PageToken: pageToken(schemaKey{"app.s00", 1})[:2]},
		{PageToken: pageToken(schemaKey{"", 1})},
		{PageSize: -1},
		{PageSize: maxSchemaPage + 1},
	} {
		_, err := schemas.ListSchemas(actx, req)
		if st := status.Convert(err); st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), "page_") {
			t.Errorf("%v: %v", req, err)
		}
	}

	// REST takes the same parameters as query parameters.
	first := h.do(t, "GET", "/v1/schemas?page_size=10", testToken, nil)
	var page struct {
		Schemas       []json.RawMessage `json:"schemas"`
		NextPageToken string            `json:"next_page_token"`
	}
	if err := json.Unmarshal(first.body, &page); err != nil || first.status != 200 || len(page.Schemas) != 10 || page.NextPageToken == "" {
		t.Fatalf("REST first page: %d %s", first.status, first.body)
	}
	last := h.do(t, "GET", "/v1/schemas?page_size=10&page_token="+url.QueryEscape(page.NextPageToken), testToken, nil)
	page.NextPageToken = ""
	if err := json.Unmarshal(last.body, &page); err != nil || last.status != 200 || len(page.Schemas) != 1 || page.NextPageToken != "" {
		t.Fatalf("REST last page: %d %s", last.status, last.body)
	}
	bad := h.do(t, "GET", "/v1/schemas?page_token=%21", testToken, nil)
	if p := mustProblem(t, bad, 400); !strings.Contains(p.Detail, "page_token") {
		t.Fatalf("REST bad token: %+v", p)
	}
}

func TestPageTokenRoundTrip(t *testing.T) {
	for _, k := range []schemaKey{{"a", 1}, {"app.launch", 1<<31 - 1}, {strings.Repeat("n", schema.MaxNameLength), 300}} {
		got, ok := parsePageToken(pageToken(k))
		if !ok || got != k {
			t.Errorf("%v: %v %v", k, got, ok)
		}
	}
	for _, tok := range []string{"", "AA", pageToken(schemaKey{strings.Repeat("n", schema.MaxNameLength+1), 1}), "AGE"} {
		if k, ok := parsePageToken(tok); ok {
			t.Errorf("%q parsed as %v", tok, k)
		}
	}
}
