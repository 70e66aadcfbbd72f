package schema

import (
	"encoding/json"
	"testing"
)

func TestFloat64Exact(t *testing.T) {
	for _, tc := range []struct {
		n     string
		exact bool
	}{
		{"0", true}, {"600000", true}, {"1.5", true}, {"1e3", true}, {"9007199254740992", true},
		{"9007199254740993", false}, {"9999999999999999999", false}, {"0.1", false},
		{"1e999", false}, {"1e-999999999", false}, {"1e400", false},
	} {
		if _, got := Float64Exact(json.Number(tc.n)); got != tc.exact {
			t.Errorf("%s: exact %v, want %v", tc.n, got, tc.exact)
		}
	}
}
