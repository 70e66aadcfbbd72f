package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"

	"github.com/veil-telemetry/veil/internal/issuer"
	"github.com/veil-telemetry/veil/internal/server"
	"github.com/veil-telemetry/veil/internal/tlsconfig"
)

// issuerFlags are veil issuer's settings.
type issuerFlags struct {
	listen, credentials, keyDir, tlsCert, tlsKey string
	quota                                        int
	window, epoch                                time.Duration
}

func newIssuerCmd() *cobra.Command {
	var f issuerFlags
	cmd := &cobra.Command{
		Use:   "issuer --credentials FILE",
		Short: "Run a reference Privacy Pass issuer (RFC 9578, token type 2)",
		Long: `Run a Privacy Pass issuer for veil's anti-abuse tokens (RFC 9578,
publicly verifiable tokens, blind RSA). It serves the issuer directory at
/.well-known/private-token-issuer-directory and issuance at POST
/token-request, signing with one 2048-bit key per --epoch.

Clients attest with "Authorization: Bearer <credential>", a line of the
--credentials file; each credential gets at most --quota tokens per
--window (answered 429 past it). A real deployment runs issuance in the
app's backend, which attests its own devices; this one is for tests and
small deployments.

With --key-dir, each epoch's key is kept there (token-key-<epoch>.pem,
mode 0600) with its public key (token-key-<epoch>.spki), which veil serve
reads with --token-issuer-key.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), nil))
			return runIssuer(cmd.Context(), f, logger, nil)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.listen, "listen", "127.0.0.1:8090", "address to serve on")
	fl.StringVar(&f.credentials, "credentials", "", "file of device credentials, one per line (required)")
	fl.StringVar(&f.keyDir, "key-dir", "", "directory keeping each epoch's key and public key (empty: keys in memory only)")
	fl.IntVar(&f.quota, "quota", issuer.DefaultQuota, "tokens per credential per window (T)")
	fl.DurationVar(&f.window, "window", issuer.DefaultWindow, "quota window; use veil serve's --token-window")
	fl.DurationVar(&f.epoch, "epoch", issuer.DefaultEpoch, "how long one key signs")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate (PEM)")
	fl.StringVar(&f.tlsKey, "tls-key", "", "TLS private key (PEM)")
	return cmd
}

// runIssuer serves until ctx is done. ready, if not nil, is told the bound
// address.
func runIssuer(ctx context.Context, f issuerFlags, logger *slog.Logger, ready func(net.Addr)) error {
	if f.credentials == "" {
		return &exitError{code: 2, err: errors.New("issuer: --credentials is required")}
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return &exitError{code: 2, err: errors.New("issuer: --tls-cert and --tls-key go together")}
	}
	att, err := issuer.LoadStaticAttester(f.credentials)
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	reg := prometheus.NewRegistry()
	is, err := issuer.New(issuer.Config{Attester: att, Quota: f.quota, Window: f.window, Epoch: f.epoch,
		KeyDir: f.keyDir, Logger: logger, Registerer: reg})
	if err != nil {
		return &exitError{code: 2, err: err}
	}
	if f.keyDir != "" {
		if err := os.MkdirAll(f.keyDir, 0o700); err != nil {
			return fmt.Errorf("issuer: %w", err)
		}
	}
	if _, err := is.CurrentKey(); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	srv := server.Config{Logger: logger}
	if f.tlsCert != "" {
		if srv.TLS, err = tlsconfig.LoadServer(f.tlsCert, f.tlsKey, time.Now(), logger); err != nil {
			return &exitError{code: 2, err: fmt.Errorf("issuer: %w", err)}
		}
	}
	ln, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	logger.Info("issuer listening", "addr", ln.Addr().String(), "tls", srv.TLS != nil)
	if ready != nil {
		ready(ln.Addr())
	}
	rctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go is.RunRotation(rctx)
	mux := http.NewServeMux()
	mux.Handle("/", is.Handler())
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	if err := server.Run(ctx, srv, server.Listener{Name: "issuer", Listener: ln, Handler: mux}); err != nil {
		return fmt.Errorf("issuer: %w", err)
	}
	return nil
}
