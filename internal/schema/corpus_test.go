package schema

import (
	"bufio"
	"encoding/json"
	"os"
	"testing"
)

type corpusEntry struct {
	Value       string `json:"value"`
	Identifying bool   `json:"identifying"`
	Kind        string `json:"kind"`
}

func loadCorpus(t testing.TB, path string) []corpusEntry {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []corpusEntry
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var e corpusEntry
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out = append(out, e)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestDetectCorpus measures the detectors on the development corpus and
// holds them to the quality bar: recall ≥ 99 % on identifying values,
// false positives ≤ 1 % on benign ones.
func TestDetectCorpus(t *testing.T) {
	entries := loadCorpus(t, "testdata/identifiers-dev.jsonl")
	var pos, tp, neg, fp int
	for _, e := range entries {
		kind, ok := Detect(e.Value)
		if e.Identifying {
			pos++
			if ok {
				tp++
			} else {
				t.Logf("missed %s: %q", e.Kind, e.Value)
			}
		} else {
			neg++
			if ok {
				fp++
				t.Logf("false positive %s as %s: %q", e.Kind, kind, e.Value)
			}
		}
	}
	recall := float64(tp) / float64(pos)
	fpr := float64(fp) / float64(neg)
	t.Logf("recall %.4f (%d/%d), false positives %.4f (%d/%d)", recall, tp, pos, fpr, fp, neg)
	if recall < 0.99 {
		t.Errorf("recall %.4f below 0.99", recall)
	}
	if fpr > 0.01 {
		t.Errorf("false-positive rate %.4f above 0.01", fpr)
	}
}
