package bench

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/internal/ingest"
	"github.com/veil-telemetry/veil/internal/loadgen"
	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/server"
	"github.com/veil-telemetry/veil/internal/storage"
)

// NoopInner is the inner handler of veil serve --bench-noop-inner, for the
// gateway and relay modes: it answers every decapsulated request with an
// empty result list and ingests nothing, so a run measures OHTTP alone.
var NoopInner http.Handler = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = io.WriteString(w, `{"results":[]}`)
})

// startIngest runs the inner ingest API in this process — the handler
// veil serve puts behind the gateway, with its metrics — on a loopback
// listener, over a temporary managed PostgreSQL (or --database-url).
func (s *setup) startIngest(ctx context.Context, o Options) error {
	logger := slog.New(slog.DiscardHandler)
	dir, err := os.MkdirTemp("", "vb")
	if err != nil {
		return err
	}
	s.cleanup = append(s.cleanup, func() { os.RemoveAll(dir) })
	db, err := storage.Open(ctx, storage.Config{URL: o.DatabaseURL, DataDir: dir, MasterKeyFile: filepath.Join(dir, "master.key")}, logger)
	if err != nil {
		return err
	}
	s.cleanup = append(s.cleanup, db.Close)
	if o.DatabaseURL == "" {
		if pid, err := loadgen.PostmasterPID(filepath.Join(dir, "postgres")); err == nil {
			s.procs = append(s.procs, tracked{"postgres (all backends)", pid,
				func() (loadgen.Usage, error) { return loadgen.ReadTreeUsage("/proc", pid) }})
		}
	}
	sc, err := schema.Compile([]byte(loadgen.SchemaDocument))
	if err != nil {
		return err
	}
	if _, err := db.PutSchema(ctx, storage.SchemaRecord{Name: sc.Name, Version: sc.Version, Document: sc.Document, CreatedAt: time.Now()}); err != nil {
		return err
	}
	writer, err := storage.NewWriter(db, storage.WriterConfig{Logger: logger})
	if err != nil {
		return err
	}
	s.cleanup = append(s.cleanup, func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		_ = writer.Close(cctx)
	})
	registry, err := schema.NewRegistry(schema.RegistryConfig{Store: ingest.SchemaStore{DB: db}})
	if err != nil {
		return err
	}
	metrics, err := ingest.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return err
	}
	srv, err := ingest.New(ingest.Config{Registry: registry, Writer: writer, Logger: logger, Metrics: metrics})
	if err != nil {
		return err
	}
	h, err := ingest.Handler(srv, logger, gateway.DefaultMaxInnerBytes)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	runCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = server.Run(runCtx, server.Config{UnencryptedHTTP2: true}, server.Listener{Name: "ingest", Listener: ln, Handler: h})
	}()
	s.cleanup = append(s.cleanup, func() { stop(); <-done })
	s.workload = &loadgen.JSON{URL: "http://" + ln.Addr().String() + "/v1/events", Events: o.Events}
	s.notes = append(s.notes, "ingest runs inside veil bench: its CPU and memory are in the self row")
	return nil
}
