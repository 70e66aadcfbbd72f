package release

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/schema"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// readmeReportConfig is the configuration `veil serve` runs the README's
// tour with.
var readmeReportConfig = ReportConfig{
	K: 10, KeyRotation: 30 * 24 * time.Hour, KeyGrace: 7 * 24 * time.Hour,
	KEMs: []string{"X25519", "X-Wing"},
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (go test -run Report -update rewrites it):\n%s", name, got)
	}
}

// TestPrivacyReportGolden pins the wording of the report for the README's
// example schema, in all three formats.
func TestPrivacyReportGolden(t *testing.T) {
	r, err := BuildReport(readmeReportConfig, []*schema.Schema{readmeSchema(t, "")})
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "privacy-report.md", []byte(r.Markdown()))
	golden(t, "privacy-report.html", []byte(r.HTML()))
	j, err := r.JSON()
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "privacy-report.json", j)
	var back Report
	if err := json.Unmarshal(j, &back); err != nil || len(back.Schemas) != 1 {
		t.Fatalf("JSON does not round-trip: %v", err)
	}
	md := r.Markdown()
	for _, want := range []string{"differentially private, ε = 1 per bucket", "δ = 1e-06", "never minimum or maximum",
		"Client IP addresses", "Rejected values", "stay exact", "X-Wing"} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q", want)
		}
	}
}

// TestPrivacyReportExact: an exact-mode schema is labelled subtractable.
func TestPrivacyReportExact(t *testing.T) {
	r, err := BuildReport(readmeReportConfig, []*schema.Schema{readmeSchema(t, `, "release": {"mode": "exact"}`)})
	if err != nil {
		t.Fatal(err)
	}
	if md := r.Markdown(); !strings.Contains(md, "exact — subtractable") || strings.Contains(md, "Noise of a count") {
		t.Errorf("exact mode:\n%s", md)
	}
	// Schema strings are escaped in HTML.
	if h := r.HTML(); strings.Contains(h, "^[0-9]+\\.[0-9]+$") && !strings.Contains(h, "<td>pattern ^[0-9]+\\.[0-9]+$</td>") {
		t.Errorf("html:\n%s", h)
	}
}

func TestLint(t *testing.T) {
	fs := Lint(readmeSchema(t, ""), false)
	if len(fs) != 1 || fs[0].Property != "cold_start_ms" || fs[0].Rule != RuleReleaseNoise || !fs[0].Warning || !strings.Contains(fs[0].Message, "x-veil-clamp") {
		t.Fatalf("%v", fs)
	}
	if fs := Lint(readmeSchema(t, `, "release": {"mode": "exact"}`), false); fs != nil {
		t.Errorf("exact mode: %v", fs)
	}
	clamped, err := schema.Compile([]byte(strings.Replace(string(readmeSchema(t, "").Document),
		`"x-veil-role": "measure"`, `"x-veil-role": "measure", "x-veil-clamp": [0, 5000]`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if fs := Lint(clamped, true); fs != nil {
		t.Errorf("clamped: %v", fs)
	}
	if fs := Lint(clamped, false); len(fs) != 1 || !strings.Contains(fs[0].Message, "once the server keeps histograms") {
		t.Errorf("clamped without histograms: %v", fs)
	}
}
