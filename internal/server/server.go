// Package server runs veil's HTTP listeners — veil serve's public and admin
// listeners and veil relay's — one way: TLS when configured, fixed
// timeouts, no error log that could name a peer, and on shutdown a drain
// of in-flight requests bounded by one timeout.
package server

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// Defaults of Config. Requests are small; the slowest answer is an admin
// aggregate query.
const (
	DefaultReadHeaderTimeout = 5 * time.Second
	DefaultReadTimeout       = 30 * time.Second
	DefaultWriteTimeout      = 60 * time.Second
	DefaultIdleTimeout       = 120 * time.Second
	DefaultMaxHeaderBytes    = 32 << 10
	DefaultShutdownTimeout   = 30 * time.Second
)

// Config configures the listeners' servers. Every zero field selects the
// default named beside it.
type Config struct {
	// TLS, if set, serves every listener over TLS (HTTP/1.1 and HTTP/2).
	TLS *tls.Config
	// UnencryptedHTTP2 also serves HTTP/2 with prior knowledge (h2c)
	// when TLS is nil, for gRPC clients of the admin listener.
	UnencryptedHTTP2 bool
	// ReadHeaderTimeout bounds a request's headers (slow-loris clients;
	// default 5 s).
	ReadHeaderTimeout time.Duration
	// ReadTimeout bounds a whole request (default 30 s).
	ReadTimeout time.Duration
	// WriteTimeout bounds an answer (default 60 s).
	WriteTimeout time.Duration
	// IdleTimeout closes idle keep-alive connections (default 120 s).
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds request headers (default 32 KiB).
	MaxHeaderBytes int
	// ShutdownTimeout bounds the drain: in-flight requests, then
	// AfterDrain (default 30 s).
	ShutdownTimeout time.Duration
	// AfterDrain, if set, runs once the listeners have stopped, with the
	// shutdown timeout's context: flush what the requests left, stop
	// background work.
	AfterDrain func(ctx context.Context)
	// Logger receives start and shutdown lines (nil discards).
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	c.ReadHeaderTimeout = cmp.Or(c.ReadHeaderTimeout, DefaultReadHeaderTimeout)
	c.ReadTimeout = cmp.Or(c.ReadTimeout, DefaultReadTimeout)
	c.WriteTimeout = cmp.Or(c.WriteTimeout, DefaultWriteTimeout)
	c.IdleTimeout = cmp.Or(c.IdleTimeout, DefaultIdleTimeout)
	c.MaxHeaderBytes = cmp.Or(c.MaxHeaderBytes, DefaultMaxHeaderBytes)
	c.ShutdownTimeout = cmp.Or(c.ShutdownTimeout, DefaultShutdownTimeout)
	c.Logger = cmp.Or(c.Logger, slog.New(slog.DiscardHandler))
}

// Listener is one listener and what it serves.
type Listener struct {
	// Name names it in errors and logs ("public", "admin", "relay").
	Name     string
	Listener net.Listener
	Handler  http.Handler
	// HTTP2, if set, is the listener's HTTP/2 configuration (the admin
	// listener bounds its streams per connection); nil keeps net/http's.
	HTTP2 *http.HTTP2Config
	// TLS, if set, replaces Config.TLS for this listener (the public
	// listener asks relays for client certificates, the admin listener
	// does not).
	TLS *tls.Config
}

// New returns the http.Server Run uses for h. baseCtx is every request's
// parent context: its values, never its cancellation.
func New(baseCtx context.Context, h http.Handler, cfg Config) *http.Server {
	cfg.setDefaults()
	var protos http.Protocols
	protos.SetHTTP1(true)
	if cfg.TLS != nil {
		protos.SetHTTP2(true)
	} else if cfg.UnencryptedHTTP2 {
		protos.SetUnencryptedHTTP2(true)
	}
	base := context.WithoutCancel(baseCtx)
	return &http.Server{
		Handler: h,
		// A copy per server: net/http adds its HTTP/2 settings to the
		// config it is given, and listeners sharing one start at once.
		TLSConfig:         cfg.TLS.Clone(),
		Protocols:         &protos,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    cfg.MaxHeaderBytes,
		// net/http's own error lines name the peer's address (TLS
		// handshake errors): drop them, addresses are never logged.
		ErrorLog:    slog.NewLogLogger(slog.DiscardHandler, slog.LevelError),
		BaseContext: func(net.Listener) context.Context { return base },
	}
}

// Run serves every listener until ctx ends or one of them fails, then
// drains: it stops accepting, waits for in-flight requests up to
// ShutdownTimeout (closing what is left after it), and runs AfterDrain. It
// returns the failure of a listener, nil after a shutdown by ctx. The
// listeners are closed when it returns.
func Run(ctx context.Context, cfg Config, listeners ...Listener) error {
	cfg.setDefaults()
	servers := make([]*http.Server, len(listeners))
	errc := make(chan error, len(listeners))
	var serving sync.WaitGroup
	for i, l := range listeners {
		lc := cfg
		if l.TLS != nil {
			lc.TLS = l.TLS
		}
		srv := New(ctx, l.Handler, lc)
		srv.HTTP2 = l.HTTP2
		servers[i] = srv
		serving.Go(func() {
			var err error
			if lc.TLS != nil {
				err = srv.ServeTLS(l.Listener, "", "")
			} else {
				err = srv.Serve(l.Listener)
			}
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s listener: %w", l.Name, err)
			}
		})
	}
	var runErr error
	select {
	case <-ctx.Done():
		cfg.Logger.Info("shutting down: draining in-flight requests")
	case runErr = <-errc:
	}
	drain, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	var stopping sync.WaitGroup
	for i, srv := range servers {
		stopping.Go(func() {
			if err := srv.Shutdown(drain); err != nil {
				cfg.Logger.Error("listener did not drain in time", "listener", listeners[i].Name, "error", err.Error())
				srv.Close()
			}
		})
	}
	stopping.Wait()
	serving.Wait()
	if cfg.AfterDrain != nil {
		cfg.AfterDrain(drain)
	}
	return runErr
}

// Scheme is "https" with TLS, else "http", for log lines.
func Scheme(tlsConf *tls.Config) string {
	if tlsConf != nil {
		return "https"
	}
	return "http"
}
