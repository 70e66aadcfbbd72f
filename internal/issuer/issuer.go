package issuer

import (
	"cmp"
	"context"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/veil-telemetry/veil/privacypass"
)

// Defaults of the zero Config fields.
const (
	DefaultEpoch       = 24 * time.Hour
	DefaultWindow      = 24 * time.Hour
	DefaultQuota       = 100
	DefaultRequestPath = "/token-request"
	// rotateAhead is how long before an epoch begins its key is made.
	rotateAhead = 10 * time.Minute
)

// Config configures an Issuer. Attester is required.
type Config struct {
	Attester Attester
	// Epoch is how long one key signs (0: DefaultEpoch). Epochs start at
	// multiples of it since the Unix epoch, UTC.
	Epoch time.Duration
	// Window is the quota window (0: DefaultWindow), aligned like Epoch;
	// it should equal veil serve's --token-window.
	Window time.Duration
	// Quota is T, the tokens one credential may get per window (0:
	// DefaultQuota).
	Quota int
	// RequestPath is the issuer-request-uri (0: DefaultRequestPath).
	RequestPath string
	// KeyDir, if set, keeps each epoch's key (private PEM, 0600, and the
	// public SPKI for veil serve), so a restart keeps one key per epoch.
	// Empty: keys live in memory and a restart starts a new one.
	KeyDir string
	// NewKey makes a key (nil: privacypass.GenerateIssuerKey).
	NewKey func() (*privacypass.IssuerKey, error)
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// Logger (nil: discard): counts and results only, never a credential.
	Logger *slog.Logger
	// Registerer, if set, gets the issuer's metrics.
	Registerer prometheus.Registerer
}

// Issuer serves issuance. It is safe for concurrent use.
type Issuer struct {
	cfg  Config
	log  *slog.Logger
	keys *keyRing

	mu    sync.Mutex
	used  map[string]int // tokens issued per credential in window
	winAt int64          // the window used counts

	issued   prometheus.Counter
	requests *prometheus.CounterVec
}

// New checks cfg and returns an Issuer.
func New(cfg Config) (*Issuer, error) {
	if cfg.Attester == nil {
		return nil, errors.New("issuer: Config.Attester is required")
	}
	if cfg.Epoch < 0 || cfg.Window < 0 || cfg.Quota < 0 {
		return nil, errors.New("issuer: negative epoch, window or quota")
	}
	cfg.Epoch = cmp.Or(cfg.Epoch, DefaultEpoch)
	cfg.Window = cmp.Or(cfg.Window, DefaultWindow)
	cfg.Quota = cmp.Or(cfg.Quota, DefaultQuota)
	cfg.RequestPath = cmp.Or(cfg.RequestPath, DefaultRequestPath)
	if cfg.Epoch < time.Minute || cfg.Window < time.Second {
		return nil, errors.New("issuer: epoch below a minute or window below a second")
	}
	if cfg.Quota > 1<<20 {
		return nil, errors.New("issuer: quota above 2^20")
	}
	if cfg.NewKey == nil {
		cfg.NewKey = privacypass.GenerateIssuerKey
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	is := &Issuer{
		cfg:  cfg,
		log:  cmp.Or(cfg.Logger, slog.New(slog.DiscardHandler)),
		keys: &keyRing{epoch: cfg.Epoch, dir: cfg.KeyDir, gen: cfg.NewKey, keys: map[int64]*privacypass.IssuerKey{}},
		used: map[string]int{},
		issued: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "veil_issuer_tokens_issued_total", Help: "Tokens signed."}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "veil_issuer_requests_total", Help: "Issuance requests by result."}, []string{"result"}),
	}
	for _, r := range []string{"issued", "not_attested", "quota", "malformed", "wrong_key", "failed"} {
		is.requests.WithLabelValues(r)
	}
	if cfg.Registerer != nil {
		for _, c := range []prometheus.Collector{is.issued, is.requests} {
			if err := cfg.Registerer.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return is, nil
}

// CurrentKey returns the current epoch's key, making it if needed.
func (is *Issuer) CurrentKey() (*privacypass.IssuerKey, error) {
	return is.keys.get(is.keys.epochStart(is.cfg.Now()))
}

// RunRotation makes each epoch's key ahead of its start (key generation
// takes a while) until ctx ends.
func (is *Issuer) RunRotation(ctx context.Context) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		now := is.cfg.Now()
		for _, at := range []time.Time{now, now.Add(rotateAhead)} {
			if _, err := is.keys.get(is.keys.epochStart(at)); err != nil {
				is.log.Error("issuer: key generation failed", "error", err.Error())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Directory is the issuer directory now: the current key and, for one
// more epoch, the previous one (if this process had it).
func (is *Issuer) Directory() (*privacypass.Directory, error) {
	start := is.keys.epochStart(is.cfg.Now())
	cur, err := is.keys.get(start)
	if err != nil {
		return nil, err
	}
	d := &privacypass.Directory{IssuerRequestURI: is.cfg.RequestPath,
		TokenKeys: []privacypass.DirectoryKey{privacypass.DirectoryKeyFor(cur.Public, start.Unix())}}
	prev := start.Add(-is.cfg.Epoch)
	if is.keys.has(prev) {
		if k, err := is.keys.get(prev); err == nil {
			d.TokenKeys = append(d.TokenKeys, privacypass.DirectoryKeyFor(k.Public, prev.Unix()))
		}
	}
	return d, nil
}

// Handler serves the directory and issuance.
func (is *Issuer) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+privacypass.WellKnownIssuerDirectory, is.serveDirectory)
	mux.HandleFunc("POST "+is.cfg.RequestPath, is.serveIssue)
	return mux
}

func (is *Issuer) serveDirectory(w http.ResponseWriter, r *http.Request) {
	d, err := is.Directory()
	if err != nil {
		http.Error(w, "key unavailable", http.StatusServiceUnavailable)
		return
	}
	body, err := d.Marshal()
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", privacypass.MediaTypeIssuerDirectory)
	// Until the next epoch, at most an hour: clients and the gateway
	// refetch within that after a rotation.
	next := is.keys.epochStart(is.cfg.Now()).Add(is.cfg.Epoch)
	w.Header().Set("Cache-Control", "max-age="+strconv.Itoa(int(min(time.Until(next), time.Hour)/time.Second)))
	w.Write(body)
}

func (is *Issuer) serveIssue(w http.ResponseWriter, r *http.Request) {
	result := "failed"
	defer func() { is.requests.WithLabelValues(result).Inc() }()
	cred, err := is.cfg.Attester.Attest(r)
	if err != nil {
		result = "not_attested"
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, "not attested", http.StatusUnauthorized)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != privacypass.MediaTypeTokenRequest {
		result = "malformed"
		http.Error(w, "content type must be "+privacypass.MediaTypeTokenRequest, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, privacypass.MaxBatch*privacypass.TokenRequestSize))
	if err != nil {
		result = "malformed"
		http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		return
	}
	reqs, err := privacypass.ParseTokenRequests(body)
	if err != nil {
		result = "malformed"
		http.Error(w, "malformed token request", http.StatusBadRequest)
		return
	}
	key, err := is.CurrentKey()
	if err != nil {
		http.Error(w, "key unavailable", http.StatusServiceUnavailable)
		return
	}
	for _, q := range reqs {
		if q.TruncatedTokenKeyID != key.Public.TruncatedID() {
			// RFC 9578 §6.2: a request for a key the issuer does not
			// sign with is answered 400.
			result = "wrong_key"
			http.Error(w, "unknown token key", http.StatusBadRequest)
			return
		}
	}
	n, retry := is.take(cred, len(reqs))
	if n == 0 {
		result = "quota"
		w.Header().Set("Retry-After", strconv.Itoa(int(retry/time.Second)+1))
		http.Error(w, "issuance quota exhausted for this window", http.StatusTooManyRequests)
		return
	}
	out := make([]byte, 0, n*privacypass.TokenResponseSize)
	for _, q := range reqs[:n] {
		resp, err := key.Sign(q)
		if err != nil {
			result = "malformed"
			http.Error(w, "token request refused", http.StatusBadRequest)
			return
		}
		out = append(out, resp.BlindSig[:]...)
	}
	is.issued.Add(float64(n))
	result = "issued"
	w.Header().Set("Content-Type", privacypass.MediaTypeTokenResponse)
	w.Header().Set("Cache-Control", "no-store")
	w.Write(out)
}

// take grants up to want tokens of cred's quota in the current window and
// returns how many, and (when none) how long until the next window.
func (is *Issuer) take(cred string, want int) (int, time.Duration) {
	now := is.cfg.Now().UTC()
	start := now.Truncate(is.cfg.Window)
	is.mu.Lock()
	defer is.mu.Unlock()
	if start.Unix() != is.winAt {
		// A new window: every credential's count starts again.
		clear(is.used)
		is.winAt = start.Unix()
	}
	n := min(want, is.cfg.Quota-is.used[cred])
	if n <= 0 {
		return 0, start.Add(is.cfg.Window).Sub(now)
	}
	is.used[cred] += n
	return n, 0
}
