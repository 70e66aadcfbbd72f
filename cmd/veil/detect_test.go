package main

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestDetectCommand(t *testing.T) {
	in := `"mail jane@example.com"` + "\n" + `"cold_start"` + "\n" + `3232235853` + "\n"
	want := `{"index":0,"identifier":"email"}` + "\n" + `{"index":1,"identifier":null}` + "\n" + `{"index":2,"identifier":"ipv4"}` + "\n"
	for _, args := range [][]string{{"detect"}, {"detect", "-"}, {"detect", writeFile(t, "v.jsonl", in)}} {
		out, _, code := runVeil(t, in, args...)
		if code != 0 || out != want {
			t.Errorf("%v: code %d, output %q", args, code, out)
		}
	}
	out, _, code := runVeil(t, "[1]\n", "detect")
	if code != 1 || !strings.Contains(out, `"error"`) {
		t.Errorf("not a value: code %d, output %q", code, out)
	}
	if _, _, code := runVeil(t, "", "detect", filepath.Join(t.TempDir(), "nope")); code != 2 {
		t.Errorf("missing file: code %d", code)
	}
	if _, _, code := runVeil(t, "", "detect", "a", "b"); code != 2 {
		t.Errorf("two arguments: code %d", code)
	}
}
