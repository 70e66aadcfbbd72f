// Package auditsdk is `veil audit-sdk`: it fetches a deployed copy of the
// browser SDK (sdk/js) from a URL and says whether its bytes are a
// published build, naming the version and file. It is the check a site's
// users can make that the code served is the code published (compare
// Meta's Code Verify for WhatsApp Web).
//
// The published digests are compiled in (digests.json, a copy of
// sdk/js/DIGESTS.json that the SDK's build writes and a test keeps equal):
// they are never fetched from the place being audited, which could serve
// whatever digests match its own code.
package auditsdk

import (
	"context"
	"crypto/sha512"
	_ "embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"sort"
)

//go:embed digests.json
var digestsJSON []byte

// MaxBytes bounds a fetched file: the SDK's bundles are tens of KiB.
const MaxBytes = 4 << 20

// Match is a published build whose digest equals the fetched file's.
type Match struct {
	Version string `json:"version"`
	File    string `json:"file"`
}

// Report is the outcome of one audit.
type Report struct {
	URL string `json:"url"`
	// Integrity is the fetched file's digest in Subresource Integrity form
	// ("sha384-…"), as a <script integrity> attribute takes it.
	Integrity string  `json:"integrity"`
	Bytes     int     `json:"bytes"`
	Matches   []Match `json:"matches"`
}

// Published returns the compiled-in digests: version → file → SRI.
func Published() (map[string]map[string]string, error) {
	var d map[string]map[string]string
	if err := json.Unmarshal(digestsJSON, &d); err != nil {
		return nil, fmt.Errorf("auditsdk: compiled-in digests: %w", err)
	}
	return d, nil
}

// Integrity returns the SRI form of b's SHA-384 digest.
func Integrity(b []byte) string {
	sum := sha512.Sum384(b)
	return "sha384-" + base64.StdEncoding.EncodeToString(sum[:])
}

// Lookup returns the published builds whose digest is integrity, sorted.
func Lookup(integrity string) ([]Match, error) {
	d, err := Published()
	if err != nil {
		return nil, err
	}
	var out []Match
	for v, files := range d {
		for f, sri := range files {
			if sri == integrity {
				out = append(out, Match{Version: v, File: f})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].Version < out[j].Version || (out[i].Version == out[j].Version && out[i].File < out[j].File)
	})
	return out, nil
}

// ErrTooLarge is returned for a file larger than MaxBytes.
var ErrTooLarge = errors.New("auditsdk: file larger than MaxBytes")

// Audit fetches rawURL with hc and looks its digest up. A non-200 answer,
// a non-http(s) URL or a file over MaxBytes is an error; a file that
// matches nothing is a Report with no Matches.
func Audit(ctx context.Context, hc *http.Client, rawURL string) (*Report, error) {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auditsdk: %q is not an http(s) URL", rawURL)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auditsdk: fetch: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auditsdk: fetch %s: status %d", u.Redacted(), resp.StatusCode)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("auditsdk: fetch: %w", err)
	}
	if len(b) > MaxBytes {
		return nil, ErrTooLarge
	}
	r := &Report{URL: u.Redacted(), Integrity: Integrity(b), Bytes: len(b)}
	if r.Matches, err = Lookup(r.Integrity); err != nil {
		return nil, err
	}
	return r, nil
}

// Write prints r for a person: the digest, then the matching versions or
// a warning that nothing published matches.
func (r *Report) Write(w io.Writer) error {
	var err error
	p := func(format string, a ...any) {
		if err == nil {
			_, err = fmt.Fprintf(w, format, a...)
		}
	}
	p("%s\n  %d bytes, integrity %s\n", r.URL, r.Bytes, r.Integrity)
	if len(r.Matches) == 0 {
		d, _ := Published()
		versions := make([]string, 0, len(d))
		for v := range d {
			versions = append(versions, v)
		}
		slices.Sort(versions)
		p("  NO MATCH: this is not a published build of @veil-telemetry/web (known versions: %v)\n", versions)
		return err
	}
	for _, m := range r.Matches {
		p("  matches @veil-telemetry/web %s, dist/%s\n", m.Version, m.File)
	}
	return err
}
