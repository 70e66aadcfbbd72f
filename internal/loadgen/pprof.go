package loadgen

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// maxProfileBytes bounds a downloaded profile.
const maxProfileBytes = 64 << 20

// FetchCPUProfile asks a veil serve started with --admin-pprof for a CPU
// profile over the next span (GET /debug/pprof/profile?seconds=N on its
// admin listener, with the bearer token) and writes it to path, for `go
// tool pprof`. It returns once the profile is written, after span.
func FetchCPUProfile(ctx context.Context, adminURL, token string, span time.Duration, path string) error {
	if err := CheckLoopback(adminURL); err != nil {
		return err
	}
	secs := max(int(span/time.Second), 1)
	ctx, cancel := context.WithTimeout(ctx, time.Duration(secs)*time.Second+30*time.Second)
	defer cancel()
	u := strings.TrimSuffix(adminURL, "/") + "/debug/pprof/profile?seconds=" + strconv.Itoa(secs)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("loadgen: CPU profile: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("loadgen: CPU profile: %s: %s", resp.Status, strings.TrimSpace(string(msg)))
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	n, err := io.Copy(f, io.LimitReader(resp.Body, maxProfileBytes+1))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil && n > maxProfileBytes {
		err = fmt.Errorf("loadgen: CPU profile larger than %d bytes", maxProfileBytes)
	}
	return err
}
