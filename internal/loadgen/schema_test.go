package loadgen

import (
	"math/rand/v2"
	"testing"

	"github.com/veil-telemetry/veil/internal/schema"
)

func TestSchemaDocumentCompiles(t *testing.T) {
	s, err := schema.Compile([]byte(SchemaDocument))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != SchemaName || s.Version != SchemaVersion || len(s.Dimensions)+len(s.Measures) != 6 {
		t.Fatalf("schema %s v%d with %d dims, %d measures", s.Name, s.Version, len(s.Dimensions), len(s.Measures))
	}
	rng := rand.New(rand.NewPCG(3, 4))
	b := AppendBatch(nil, rng, 20)
	var req struct {
		BatchID string `json:"batch_id"`
		Events  []struct {
			Fields map[string]any `json:"fields"`
		} `json:"events"`
	}
	if err := jsonUnmarshalNumbers(b, &req); err != nil {
		t.Fatalf("batch is not JSON: %v\n%s", err, b)
	}
	if len(req.BatchID) != 22 || len(req.Events) != 20 {
		t.Fatalf("batch_id %q, %d events", req.BatchID, len(req.Events))
	}
	for i, e := range req.Events {
		if rej := s.Check(e.Fields); rej != nil {
			t.Errorf("event %d rejected: %+v", i, rej)
		}
	}
}
