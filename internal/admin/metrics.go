package admin

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/grpc-ecosystem/grpc-gateway/v2/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/status"
)

// Metrics are the admin plane's own metrics, registered on an injected
// registry. Every label value comes from a closed set: registered RPC
// names or route patterns, gRPC code names, HTTP status codes the API
// produces.
type Metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	rotated  *prometheus.CounterVec
}

// NewMetrics registers the admin metrics on reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "veil", Subsystem: "admin", Name: "requests_total",
			Help: "Admin API requests by transport, method and result code.",
		}, []string{"transport", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "veil", Subsystem: "admin", Name: "request_duration_seconds",
			Help:    "Admin API request latency by transport and method.",
			Buckets: prometheus.DefBuckets,
		}, []string{"transport", "method"}),
		rotated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "veil", Subsystem: "keys", Name: "rotations_total",
			Help: "Gateway key rotations by KEM and trigger (schedule or api).",
		}, []string{"kem", "trigger"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.duration, m.rotated} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// knownMethods is the closed set of gRPC method labels.
var knownMethods = map[string]bool{
	"/veil.v1.SchemaService/RegisterSchema": true,
	"/veil.v1.SchemaService/ListSchemas":    true,
	"/veil.v1.SchemaService/GetSchema":      true,
	"/veil.v1.KeyService/ListKeys":          true,
	"/veil.v1.KeyService/RotateKeys":        true,
	"/veil.v1.KeyService/RetireKey":         true,
	"/veil.v1.KeyPinService/ListKeyPins":    true,
	"/veil.v1.KeyPinService/AddKeyPin":      true,
	"/veil.v1.KeyPinService/PromoteKeyPin":  true,
	"/veil.v1.QueryService/GetAggregates":   true,
	"/veil.v1.QueryService/GetStats":        true,
}

// grpcMethodLabel is the method label of a gRPC method's full name: the
// name itself when known, else "other".
func grpcMethodLabel(fullMethod string) string {
	if knownMethods[fullMethod] {
		return fullMethod
	}
	return "other"
}

func (m *Metrics) observe(transport, method, code string, start time.Time) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(transport, method, code).Inc()
	m.duration.WithLabelValues(transport, method).Observe(time.Since(start).Seconds())
}

// UnaryInterceptor counts gRPC calls. Unknown methods count as "other".
func (m *Metrics) UnaryInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		start := time.Now()
		resp, err := h(ctx, req)
		method := grpcMethodLabel(info.FullMethod)
		m.observe("grpc", method, status.Code(err).String(), start)
		return resp, err
	}
}

// restMiddleware counts REST calls by route pattern (grpc-gateway sets it
// before middlewares run, so only registered routes appear).
func (m *Metrics) restMiddleware(next runtime.HandlerFunc) runtime.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request, params map[string]string) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next(sw, r, params)
		route := "other"
		if p, ok := runtime.HTTPPattern(r.Context()); ok {
			route = r.Method + " " + p.String()
		}
		m.observe("rest", route, strconv.Itoa(sw.status), start)
	}
}

// statusWriter records the status code written through it.
type statusWriter struct {
	http.ResponseWriter
	status      int
	wroteHeader bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wroteHeader {
		w.status, w.wroteHeader = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// keyRotated counts one rotation.
func (m *Metrics) keyRotated(kem, trigger string) {
	if m == nil {
		return
	}
	m.rotated.WithLabelValues(kem, trigger).Inc()
}
