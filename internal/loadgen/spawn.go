package loadgen

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/veil-telemetry/veil/ohttp"
)

// Process is a veil process started by the load tool. Its output goes to
// a log file beside its data, shown when it fails to start.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	exited  chan struct{}
	waitErr error
}

// StartProcess runs exe with args, output to logPath.
func StartProcess(name, exe string, args []string, logPath string) (*Process, error) {
	logf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, args...)
	cmd.Stdout = logf
	cmd.Stderr = logf
	// Its own process group, so a terminal's Ctrl-C reaches only the load
	// tool, which then stops its processes in order.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("loadgen: start %s: %w", name, err)
	}
	p := &Process{Name: name, LogPath: logPath, cmd: cmd, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		logf.Close()
		close(p.exited)
	}()
	return p, nil
}

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// Usage reads the process's CPU time and peak RSS from /proc.
func (p *Process) Usage() (Usage, error) { return ReadUsage("/proc", p.PID(), false) }

// Stop sends SIGTERM, waits up to grace for the process to drain and
// exit, then kills it. Only this process is signalled, by its PID.
func (p *Process) Stop(grace time.Duration) error {
	select {
	case <-p.exited:
		return p.waitErr
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-p.exited:
		return p.waitErr
	case <-t.C:
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("loadgen: %s did not stop within %v; killed", p.Name, grace)
	}
}

// tail returns the last lines of the log, for error messages.
func (p *Process) tail() string {
	b, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return strings.Join(lines[max(0, len(lines)-15):], "\n")
}

// WaitReady polls url until it answers 200, the process exits, or the
// timeout passes.
func (p *Process) WaitReady(ctx context.Context, client *http.Client, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			return fmt.Errorf("loadgen: %s exited before it was ready:\n%s", p.Name, p.tail())
		case <-ctx.Done():
			return fmt.Errorf("loadgen: %s not ready after %v:\n%s", p.Name, timeout, p.tail())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Serve is a `veil serve` started with a fresh data directory, loopback
// listeners on free ports, and its own admin token.
type Serve struct {
	*Process
	PublicURL string
	AdminURL  string
	Token     string
	// PGData is the managed PostgreSQL's cluster directory.
	PGData string
}

// ServeOptions configures StartServe.
type ServeOptions struct {
	// Exe is the veil binary.
	Exe string
	// Dir is a fresh directory for the data directory and logs. Keep it
	// short: PostgreSQL's socket path must fit in 107 bytes.
	Dir string
	// NoopInner starts it with --bench-noop-inner: the gateway answers
	// every decapsulated request without ingest.
	NoopInner bool
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
}

// StartServe starts `veil serve` and waits for /readyz.
func StartServe(ctx context.Context, o ServeOptions) (*Serve, error) {
	pub, err := FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	adm, err := FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	var tok [24]byte
	rand.Read(tok[:])
	token := hex.EncodeToString(tok[:])
	tokenFile := filepath.Join(o.Dir, "admin-token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		return nil, err
	}
	dataDir := filepath.Join(o.Dir, "data")
	args := []string{"serve",
		"--data-dir", dataDir,
		"--listen", pub,
		"--admin-listen", adm,
		"--admin-token-file", tokenFile,
		// One log line per request at info; the benchmark measures the
		// service, not its log volume.
		"--log-level", "warn",
	}
	if o.NoopInner {
		args = append(args, "--bench-noop-inner")
	}
	args = append(args, o.ExtraArgs...)
	p, err := StartProcess("veil serve", o.Exe, args, filepath.Join(o.Dir, "serve.log"))
	if err != nil {
		return nil, err
	}
	s := &Serve{Process: p, PublicURL: "http://" + pub, AdminURL: "http://" + adm, Token: token,
		PGData: filepath.Join(dataDir, "postgres")}
	if err := p.WaitReady(ctx, http.DefaultClient, s.PublicURL+"/readyz", 3*time.Minute); err != nil {
		p.Stop(30 * time.Second)
		return nil, err
	}
	return s, nil
}

// Relay is a `veil relay` in front of one gateway.
type Relay struct {
	*Process
	URL string
}

// StartRelay starts `veil relay` forwarding to gatewayURL (its POST
// resource) with the per-client rate limit lifted — every benchmark
// request comes from 127.0.0.1 — and waits until it serves the keys.
func StartRelay(ctx context.Context, exe, dir, gatewayURL string) (*Relay, error) {
	addr, err := FreeLoopbackAddr()
	if err != nil {
		return nil, err
	}
	args := []string{"relay", "--listen", addr, "--gateway", gatewayURL,
		"--rate", "1e9", "--burst", "1000000000"}
	p, err := StartProcess("veil relay", exe, args, filepath.Join(dir, "relay.log"))
	if err != nil {
		return nil, err
	}
	r := &Relay{Process: p, URL: "http://" + addr}
	if err := p.WaitReady(ctx, http.DefaultClient, r.URL+"/ohttp-keys", 30*time.Second); err != nil {
		p.Stop(10 * time.Second)
		return nil, err
	}
	return r, nil
}

// FetchKeys GETs an application/ohttp-keys document.
func FetchKeys(ctx context.Context, client *http.Client, url string) ([]*ohttp.KeyConfig, error) {
	if err := CheckLoopback(url); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: fetch keys: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("loadgen: fetch keys: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("loadgen: fetch keys: %s", resp.Status)
	}
	return ohttp.ParseKeyConfigs(b)
}

// RegisterSchema registers doc over the admin REST API (POST /v1/schemas
// with a bearer token). An identical document already registered is fine.
func RegisterSchema(ctx context.Context, client *http.Client, adminURL, token string, doc []byte) error {
	if err := CheckLoopback(adminURL); err != nil {
		return err
	}
	if !json.Valid(doc) {
		return errors.New("loadgen: schema document is not JSON")
	}
	body := append(append([]byte(`{"document":`), doc...), '}')
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(adminURL, "/")+"/v1/schemas", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("loadgen: register schema: %w", err)
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("loadgen: register schema: %s: %s", resp.Status, bytes.TrimSpace(msg))
	}
	return nil
}
