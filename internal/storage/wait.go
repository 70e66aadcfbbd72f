package storage

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Defaults of WaitPolicy's zero fields.
const (
	DefaultStartWait      = time.Minute
	defaultWaitFirst      = 250 * time.Millisecond
	defaultWaitMaxPause   = 5 * time.Second
	defaultWaitPerAttempt = 3 * time.Second
)

// WaitPolicy bounds WaitForServer. Max is the wait; its other zero fields
// pause 250 ms after the first failed attempt, doubling to at most 5 s.
type WaitPolicy struct {
	// Max bounds the whole wait (veil serve's default: DefaultStartWait);
	// zero makes one attempt.
	Max time.Duration
	// First is the pause after the first failed attempt (default 250 ms);
	// each later pause doubles, up to MaxPause (default 5 s).
	First, MaxPause time.Duration
	// PerAttempt bounds one connection attempt (default 3 s, or the URL's
	// connect_timeout).
	PerAttempt time.Duration
}

// ErrServerNotReady reports that the database did not accept a
// connection within WaitPolicy.Max.
var ErrServerNotReady = errors.New("the database did not accept connections")

// WaitForServer connects to url until the server accepts a connection,
// pausing between attempts with exponential backoff, each pause logged,
// for at most p.Max. It is for a service that starts beside its database
// (compose, a Kubernetes pod whose database is still starting): a refused
// or reset connection, an unresolved host name, a timeout or a server
// still starting up (SQLSTATE 57P03) or full (53300) is waited out. An
// answer that waiting cannot change — a refused password, a missing
// database, a certificate that does not verify, a malformed URL — is
// returned at once. The error after p.Max wraps ErrServerNotReady and says
// what to check. Nothing is left open.
func WaitForServer(ctx context.Context, url string, p WaitPolicy, logger *slog.Logger) error {
	logger = cmp.Or(logger, slog.New(slog.DiscardHandler))
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return fmt.Errorf("storage: database URL: %w", err)
	}
	pause := cmp.Or(p.First, defaultWaitFirst)
	maxPause := cmp.Or(p.MaxPause, defaultWaitMaxPause)
	cfg.ConnectTimeout = cmp.Or(cfg.ConnectTimeout, p.PerAttempt, defaultWaitPerAttempt)
	where := serverName(cfg)
	start := time.Now()
	for attempt := 1; ; attempt++ {
		conn, err := pgx.ConnectConfig(ctx, cfg)
		if err == nil {
			conn.Close(context.WithoutCancel(ctx))
			if attempt > 1 {
				logger.Info("database accepts connections", "server", where, "attempts", attempt)
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !transient(err) {
			return fmt.Errorf("storage: connect to the database at %s: %w", where, err)
		}
		left := p.Max - time.Since(start)
		if left <= 0 {
			return fmt.Errorf("storage: %w at %s within %v (%d attempts; last: %v): check that PostgreSQL is running and reachable at that host and port",
				ErrServerNotReady, where, p.Max, attempt, err)
		}
		d := min(pause, left)
		logger.Warn("database not accepting connections yet; waiting", "server", where,
			"attempt", attempt, "retry_in", d.String(), "error", err.Error())
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		pause = min(2*pause, maxPause)
	}
}

// serverName is "host:port" of cfg, or the socket directory: never the
// user or password.
func serverName(cfg *pgx.ConnConfig) string {
	return net.JoinHostPort(cfg.Host, strconv.Itoa(int(cfg.Port)))
}

// transient reports whether waiting may cure err: anything but an answer
// from the server other than "starting up" or "too many connections",
// and a certificate that does not verify.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case "57P03", // cannot_connect_now: starting up, shutting down, recovering
			"53300": // too_many_connections
			return true
		}
		return false
	}
	var (
		verify  *tls.CertificateVerificationError
		unknown x509.UnknownAuthorityError
		host    x509.HostnameError
		invalid x509.CertificateInvalidError
	)
	if errors.As(err, &verify) || errors.As(err, &unknown) || errors.As(err, &host) || errors.As(err, &invalid) {
		return false
	}
	return true
}
