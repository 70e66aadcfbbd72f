package admin

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"github.com/veil-telemetry/veil/internal/problem"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/veil-telemetry/veil/internal/problem/grpcproblem"
	"github.com/veil-telemetry/veil/internal/release"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/ohttp"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// Defaults of Config.
const (
	DefaultK          = 10
	MinK              = 2
	DefaultKeyRotate  = 30 * 24 * time.Hour
	DefaultKeyGrace   = 7 * 24 * time.Hour
	defaultQuerySpan  = 24 * time.Hour
	maxQuerySpan      = 366 * 24 * time.Hour
	maxRequestBody    = 1 << 20
	readyCheckTimeout = 2 * time.Second
)

// DefaultDocsURL is Config.DocsURL when it is empty: the documentation of
// the main branch.
const DefaultDocsURL = "https://github.com/veil-telemetry/veil/blob/main/docs/"

// DefaultKEMs are the KEMs that get a key when Config.KEMs is nil:
// X25519, and X-Wing for post-quantum clients.
func DefaultKEMs() []string { return []string{ohttp.KEMX25519.Name(), ohttp.KEMXWing.Name()} }

// Config configures the admin plane.
type Config struct {
	// DB is the database (required).
	DB *storage.DB
	// Tokens are the accepted bearer tokens (required).
	Tokens *Tokens
	// K is the k-anonymity threshold of aggregate queries (0: DefaultK);
	// below MinK is refused.
	K int
	// KeyGrace is how long a replaced current key stays active
	// (0: DefaultKeyGrace).
	KeyGrace time.Duration
	// KeyRotate is the scheduled rotation period (0: DefaultKeyRotate).
	KeyRotate time.Duration
	// KEMs are the KEMs that get a key on first start (nil: X25519 and
	// X-Wing).
	KEMs []string
	// SchemaRegistered is called after a schema version was stored, so
	// the ingest registry can drop a cached miss. May be nil.
	SchemaRegistered func(name string, version int)
	// SchemasDisabled is called with every disabled schema version after
	// one was disabled or enabled here, and on each RunDisabledPoll, so
	// the ingest registry refuses their events. May be nil.
	SchemasDisabled func(disabled []schema.Version)
	// KeysChanged is called after a rotation or retirement was stored
	// (the API's or the schedule's), so that the gateway serving in this
	// process rereads its key ring at once instead of at its next
	// periodic refresh. Other replicas see the change at their own next
	// refresh (gateway.DefaultKeyRefresh). May be nil.
	KeysChanged func(ctx context.Context)
	// MixInterval is the mixer's interval (0: storage.DefaultMixInterval):
	// a bucket's final release waits two of them after it closes, by
	// which time the mixer has folded everything acknowledged in it.
	MixInterval time.Duration
	// ReleaseUnverified includes the unverified stream (untokened
	// batches of schemas whose Privacy Pass tokens are optional) in
	// releases and exact answers; it is left out by default.
	ReleaseUnverified bool
	// MixK is the mixer's fewest requests in one mix (0:
	// storage.DefaultMixK), stated in the privacy report.
	MixK int
	// Relays describes the relays the gateway accepts encapsulated
	// requests from (--relay-allow networks, a client-certificate CA),
	// for the privacy report; nil: any.
	Relays []string
	// Ready reports readiness for /readyz (nil: always ready).
	Ready func(ctx context.Context) error
	// Registerer and Gatherer are the metrics registry (nil: a private
	// registry).
	Registerer prometheus.Registerer
	Gatherer   prometheus.Gatherer
	// DocsURL is where the dashboard links veil's documentation (the
	// docs/ folder, ending in "/"; "": DefaultDocsURL), e.g. each reason
	// code to its meaning in reason-codes.md.
	DocsURL string
	// SecureCookie marks the dashboard cookie Secure (set with TLS).
	SecureCookie bool
	// Pprof serves the Go runtime profiles (net/http/pprof) under
	// /debug/pprof/, behind the token like everything else. /cmdline is
	// left out: a command line may hold a database URL with a password.
	Pprof  bool
	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
}

// Server is the admin plane. Handler serves all of it on one listener.
type Server struct {
	cfg     Config
	log     *slog.Logger
	metrics *Metrics
	grpc    *grpc.Server
	rest    *runtime.ServeMux
	kems    []ohttp.KEMID

	schemas *schemaService
	keys    *keyService
	query   *queryService
	keyPins *keyPinService

	sessions sessions // dashboard sign-ins

	releases *release.Releaser // dp-mode aggregates
	stopPool func()            // stops the noise pool's filler (Close)
}

// New validates cfg and builds the admin plane.
func New(cfg Config) (*Server, error) {
	if cfg.DB == nil {
		return nil, errors.New("admin: Config.DB is required")
	}
	if cfg.Tokens == nil || len(cfg.Tokens.digests) == 0 {
		return nil, errors.New("admin: Config.Tokens is required")
	}
	cfg.K = cmp.Or(cfg.K, DefaultK)
	if cfg.K < MinK {
		return nil, errors.New("admin: k-anonymity threshold must be at least 2")
	}
	cfg.DocsURL = cmp.Or(cfg.DocsURL, DefaultDocsURL)
	cfg.KeyGrace = cmp.Or(cfg.KeyGrace, DefaultKeyGrace)
	cfg.KeyRotate = cmp.Or(cfg.KeyRotate, DefaultKeyRotate)
	if cfg.KeyGrace < 0 || cfg.KeyRotate < time.Minute {
		return nil, errors.New("admin: key grace must be >= 0 and the rotation period at least a minute")
	}
	if cfg.KEMs == nil {
		cfg.KEMs = DefaultKEMs()
	}
	kems := make([]ohttp.KEMID, 0, len(cfg.KEMs))
	for _, name := range cfg.KEMs {
		k, err := ohttp.ParseKEM(name)
		if err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
		kems = append(kems, k)
	}
	if cfg.Registerer == nil || cfg.Gatherer == nil {
		reg := prometheus.NewRegistry()
		cfg.Registerer, cfg.Gatherer = reg, reg
	}
	cfg.Logger = cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler))
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	cfg.Rand = cmp.Or(cfg.Rand, rand.Reader)
	m, err := NewMetrics(cfg.Registerer)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: cfg.Logger, metrics: m, kems: kems}
	s.schemas = &schemaService{s: s}
	s.keys = &keyService{s: s}
	s.query = &queryService{s: s}
	s.keyPins = &keyPinService{s: s}
	if err := s.newReleaser(); err != nil {
		return nil, err
	}

	s.grpc = grpc.NewServer(
		grpc.ChainUnaryInterceptor(m.UnaryInterceptor(), s.errorInterceptor, cfg.Tokens.UnaryAuth()),
		grpc.ChainStreamInterceptor(cfg.Tokens.StreamAuth()),
		grpc.MaxRecvMsgSize(maxGRPCMessage),
		grpc.MaxConcurrentStreams(maxStreamsPerConn),
	)
	veilv1.RegisterSchemaServiceServer(s.grpc, s.schemas)
	veilv1.RegisterKeyServiceServer(s.grpc, s.keys)
	veilv1.RegisterQueryServiceServer(s.grpc, s.query)
	veilv1.RegisterKeyPinServiceServer(s.grpc, s.keyPins)

	opts := append(MuxOptions(cfg.Logger), runtime.WithMiddlewares(m.restMiddleware, restInput))
	s.rest = runtime.NewServeMux(opts...)
	ctx := context.Background()
	for _, reg := range []func() error{
		func() error { return veilv1.RegisterSchemaServiceHandlerServer(ctx, s.rest, s.schemas) },
		func() error { return veilv1.RegisterKeyServiceHandlerServer(ctx, s.rest, s.keys) },
		func() error { return veilv1.RegisterQueryServiceHandlerServer(ctx, s.rest, s.query) },
		func() error { return veilv1.RegisterKeyPinServiceHandlerServer(ctx, s.rest, s.keyPins) },
	} {
		if err := reg(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// errorInterceptor is the gRPC side of the one error mapping: whatever a
// handler returns leaves as the status of its kind (grpcproblem.Status), so
// an error that is not a *problem.Error (a raw database error) goes out as a bare
// Internal, never with its text, and a panic in a handler fails that call
// instead of the process (grpc-go does not recover them). An error's
// RetryAfter also becomes the retry-after header metadata.
func (s *Server) errorInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer func() {
		if p := recover(); p != nil {
			// The panic value may hold request data: not logged.
			s.log.ErrorContext(ctx, "handler panicked", "method", info.FullMethod)
			resp, err = nil, grpcproblem.Error(errorDomain, &problem.Error{Kind: problem.Internal})
		}
	}()
	resp, err = h(ctx, req)
	if err == nil {
		return resp, nil
	}
	e := asError(err)
	if e.Kind == problem.Internal {
		s.log.ErrorContext(ctx, "request failed", "method", info.FullMethod, "error", e.Error())
	}
	grpcproblem.SetRetryHeader(ctx, e)
	return nil, grpcproblem.Error(errorDomain, e)
}

// GRPCServer is the admin gRPC server, for GracefulStop at shutdown.
func (s *Server) GRPCServer() *grpc.Server { return s.grpc }

// Handler serves the whole admin plane: gRPC (HTTP/2 with content-type
// application/grpc), REST under /v1/, /metrics, /openapi.json, the
// dashboard, /healthz and /readyz, and /debug/pprof/ when Config.Pprof is
// set. Everything but health requires a token.
// The http.Server must speak HTTP/2 (TLS, or UnencryptedHTTP2 for h2c) for
// gRPC clients to reach it, with HTTP2Config as its HTTP/2 settings.
func (s *Server) Handler() http.Handler {
	tok := s.cfg.Tokens
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeText(w, http.StatusOK, "ok\n")
	})
	mux.Handle("GET /readyz", ReadyHandler(s.cfg.Ready))
	mux.Handle("GET /metrics", tok.Require(RoleRead, promhttp.HandlerFor(s.cfg.Gatherer, promhttp.HandlerOpts{})))
	mux.Handle("GET /openapi.json", tok.Require(RoleRead, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(veilv1.OpenAPI)
	})))
	mux.Handle("GET /v1/privacy-report", tok.Require(RoleRead, http.HandlerFunc(s.servePrivacyReport)))
	mux.Handle("/v1/", tok.RequireREST(limitBody(s.rest, maxRequestBody)))
	if s.cfg.Pprof {
		// Registered here explicitly: importing net/http/pprof also adds
		// them to http.DefaultServeMux, which nothing in veil serves.
		// Index answers 404 for /debug/pprof/cmdline, which has no
		// handler of its own here.
		mux.Handle("GET /debug/pprof/", tok.Require(RoleAdmin, http.HandlerFunc(pprof.Index)))
		mux.Handle("GET /debug/pprof/profile", tok.Require(RoleAdmin, http.HandlerFunc(pprof.Profile)))
		mux.Handle("GET /debug/pprof/trace", tok.Require(RoleAdmin, http.HandlerFunc(pprof.Trace)))
		mux.Handle("GET /debug/pprof/symbol", tok.Require(RoleAdmin, http.HandlerFunc(pprof.Symbol)))
		mux.Handle("POST /debug/pprof/symbol", tok.Require(RoleAdmin, http.HandlerFunc(pprof.Symbol)))
	}
	mux.HandleFunc("GET /{$}", s.signedIn(s.dashboard))
	mux.HandleFunc("GET /schemas/{name}/{version}", s.signedIn(s.schemaPage))
	mux.HandleFunc("GET /ingest", s.signedIn(s.ingestPage))
	mux.HandleFunc("GET /keys", s.signedIn(s.keysPage))
	mux.HandleFunc("GET /privacy-report", s.signedIn(s.privacyReportPage))
	mux.HandleFunc("POST /login", s.login)
	mux.HandleFunc("POST /logout", s.logout)
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, problem.Errorf(problem.NotFound, "no such endpoint"))
	})
	// CSRF: a browser's cross-origin POST (Sec-Fetch-Site, else Origin
	// against Host) is refused before any handler runs. The login form
	// would otherwise sign a victim in with an attacker's token, and
	// logout would be a forced sign-out; the API needs a bearer header a
	// form cannot send, but gets the same check. Clients that send
	// neither header (curl, SDKs, veil itself) are not browsers and pass.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeProblem(w, problem.Errorf(problem.Forbidden, "cross-origin request refused"))
	}))
	web := csrf.Handler(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isGRPC(r) {
			// The token is checked here, before gRPC reads and decodes
			// the message, so an unauthenticated caller cannot make the
			// server hold one; the interceptors check it again.
			if !tok.authorized(r) {
				start := time.Now()
				refuseGRPC(w)
				// Counted as the metrics interceptor would have.
				s.metrics.observe("grpc", grpcMethodLabel(r.URL.Path), codes.Unauthenticated.String(), start)
				return
			}
			s.grpc.ServeHTTP(w, r)
			return
		}
		web.ServeHTTP(w, r)
	})
}

// ReadyHandler answers 200 when ready reports nil (or is nil), else 503
// naming the unmet condition; ready's errors must carry no secrets.
func ReadyHandler(ready func(ctx context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), readyCheckTimeout)
			defer cancel()
			if err := ready(ctx); err != nil {
				w.Header().Set("Retry-After", "1")
				writeText(w, http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
				return
			}
		}
		writeText(w, http.StatusOK, "ready\n")
	})
}

func writeText(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}
