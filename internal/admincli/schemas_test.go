package admincli

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/storage"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// TestListSchemasFollowsPages: with more schema versions than a page,
// schemas list prints each of them exactly once, in the table and as
// JSON.
func TestListSchemasFollowsPages(t *testing.T) {
	s := newServer(t, false)
	n := listPageSize + 5
	for i := range n {
		name := fmt.Sprintf("app.p%03d", i)
		doc := fmt.Sprintf(`{"$schema":"https://json-schema.org/draft/2020-12/schema",`+
			`"x-veil":{"name":%q,"version":1,"granularity":"day"},"type":"object","additionalProperties":false,`+
			`"properties":{"os":{"enum":["android","ios"],"x-veil-role":"dimension"}}}`, name)
		if _, err := s.db.PutSchema(t.Context(), storage.SchemaRecord{Name: name, Version: 1, Document: []byte(doc)}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	c := s.client(t, false)
	if err := c.ListSchemas(ctx); err != nil {
		t.Fatal(err)
	}
	out := lines(c.take())
	if len(out) != n+1 {
		t.Fatalf("%d lines, want a header and %d rows", len(out), n)
	}
	for i, row := range out[1:] {
		if want := fmt.Sprintf("app.p%03d", i); len(row) < 3 || row[0] != want || row[1] != "1" || row[2] != "day" {
			t.Fatalf("row %d: %q, want %s 1 day", i, row, want)
		}
	}

	j := s.client(t, true)
	if err := j.ListSchemas(ctx); err != nil {
		t.Fatal(err)
	}
	var resp veilv1.ListSchemasResponse
	oneDocument(t, j.take(), &resp)
	if len(resp.Schemas) != n || resp.NextPageToken != "" {
		t.Fatalf("JSON: %d schemas, next %q; want %d and none", len(resp.Schemas), resp.NextPageToken, n)
	}
	seen := map[string]bool{}
	for _, sc := range resp.Schemas {
		if seen[sc.Name] {
			t.Fatalf("%s listed twice", sc.Name)
		}
		seen[sc.Name] = true
	}
}
