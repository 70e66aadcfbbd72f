package schema

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestDetectLines(t *testing.T) {
	in := strings.Join([]string{
		`"write to jane.doe@example.com"`,
		`"cold_start"`,
		``,
		`4111111111111111`,
		`3232235853`,
		`42`,
		`  "jane%40example.com"  `,
		`true`,
		`{"a":1}`,
		`"unterminated`,
		`"a" "b"`,
		`"ip-192-168-1-77.ec2.internal"`,
	}, "\n")
	want := strings.Join([]string{
		`{"index":0,"identifier":"email"}`,
		`{"index":1,"identifier":null}`,
		`{"index":2,"identifier":"credit_card"}`,
		`{"index":3,"identifier":"ipv4"}`,
		`{"index":4,"identifier":null}`,
		`{"index":5,"identifier":"email"}`,
		`{"index":6,"identifier":null,"error":"not a JSON string or number"}`,
		`{"index":7,"identifier":null,"error":"not a JSON string or number"}`,
		`{"index":8,"identifier":null,"error":"not a JSON string or number"}`,
		`{"index":9,"identifier":null,"error":"not a JSON string or number"}`,
		`{"index":10,"identifier":"ipv4"}`,
	}, "\n") + "\n"
	var out bytes.Buffer
	invalid, err := DetectLines(strings.NewReader(in), &out)
	if err != nil || invalid != 4 {
		t.Fatalf("invalid %d, err %v", invalid, err)
	}
	if out.String() != want {
		t.Errorf("output:\n%s\nwant:\n%s", out.String(), want)
	}
	if strings.Contains(out.String(), "jane") {
		t.Error("the output repeats a value")
	}
}

func TestDetectLinesEveryKind(t *testing.T) {
	// Each kind's first positive case, as a line.
	var in strings.Builder
	var kinds []string
	seen := map[string]bool{}
	for _, c := range detectPositive {
		if !seen[c.kind] {
			seen[c.kind] = true
			kinds = append(kinds, c.kind)
			b, err := json.Marshal(c.value)
			if err != nil {
				t.Fatal(err)
			}
			in.Write(append(b, '\n'))
		}
	}
	var out bytes.Buffer
	if _, err := DetectLines(strings.NewReader(in.String()), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != len(kinds) {
		t.Fatalf("%d lines for %d values", len(lines), len(kinds))
	}
	for i, k := range kinds {
		if !strings.Contains(lines[i], `"identifier":"`+k+`"`) {
			t.Errorf("line %d = %s, want %s", i, lines[i], k)
		}
	}
}

func TestDetectLinesTooLong(t *testing.T) {
	in := `"` + strings.Repeat("a", MaxDetectLine) + `"`
	_, err := DetectLines(strings.NewReader(in), &bytes.Buffer{})
	if !errors.Is(err, ErrDetectLineTooLong) {
		t.Errorf("err %v", err)
	}
}
