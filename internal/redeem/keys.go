package redeem

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/privacypass"
)

// LoadKeyFiles reads issuer public keys: each path is a file holding an
// encoded RSASSA-PSS SPKI (what veil issuer writes as token-key-*.spki)
// or a directory whose *.spki files are read. Keys come back oldest first
// by file name; only the newest MaxKeys are kept.
func LoadKeyFiles(paths []string) ([]*privacypass.PublicKey, error) {
	var files []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, p)
			continue
		}
		m, err := filepath.Glob(filepath.Join(p, "*.spki"))
		if err != nil {
			return nil, err
		}
		slices.Sort(m)
		files = append(files, m...)
	}
	var keys []*privacypass.PublicKey
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		k, err := privacypass.NewPublicKey(data)
		if err != nil {
			return nil, fmt.Errorf("redeem: %s: %w", filepath.Base(f), err)
		}
		if !slices.ContainsFunc(keys, func(o *privacypass.PublicKey) bool { return o.ID == k.ID }) {
			keys = append(keys, k)
		}
	}
	if len(keys) > MaxKeys {
		keys = keys[len(keys)-MaxKeys:]
	}
	return keys, nil
}

// FetchDirectory gets the issuer's keys from its directory (RFC 9578 §4)
// at base + /.well-known/private-token-issuer-directory, newest (largest
// not-before) last. A directory with more than MaxKeys type 2 keys is
// refused.
func FetchDirectory(ctx context.Context, client *http.Client, base string) ([]*privacypass.PublicKey, error) {
	u := strings.TrimRight(base, "/") + privacypass.WellKnownIssuerDirectory
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", privacypass.MediaTypeIssuerDirectory)
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("redeem: issuer directory: status %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, privacypass.MaxDirectorySize+1))
	if err != nil {
		return nil, err
	}
	d, err := privacypass.ParseDirectory(body)
	if err != nil {
		return nil, err
	}
	entries := slices.Clone(d.TokenKeys)
	slices.SortStableFunc(entries, func(a, b privacypass.DirectoryKey) int { return int(a.NotBefore - b.NotBefore) })
	sorted := privacypass.Directory{IssuerRequestURI: d.IssuerRequestURI, TokenKeys: entries}
	keys, err := sorted.PublicKeys()
	if err != nil {
		return nil, err
	}
	if len(keys) > MaxKeys {
		return nil, errors.New("redeem: the issuer directory lists more than two keys")
	}
	return keys, nil
}

// RunDirectoryRefresh fetches the issuer's keys every interval until ctx
// ends, keeping the last good set when a fetch fails.
func (r *Redeemer) RunDirectoryRefresh(ctx context.Context, client *http.Client, base string, every time.Duration, log *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		fctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		keys, err := FetchDirectory(fctx, client, base)
		cancel()
		if err == nil {
			err = r.SetKeys(keys)
		}
		if err != nil && ctx.Err() == nil {
			log.Warn("redeem: issuer directory fetch failed; keeping the previous keys", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
