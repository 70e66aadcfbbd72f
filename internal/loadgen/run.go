package loadgen

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	randv2 "math/rand/v2"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Bounds on a run, whatever the caller asks.
const (
	MaxConcurrency = 4096
	MaxDuration    = 30 * time.Minute
	// maxAnswerBytes bounds one answer read into memory.
	maxAnswerBytes = 8 << 20
)

// Config configures Run. Workload, Concurrency and at least one of
// Requests and Duration are required.
type Config struct {
	Workload Workload
	// Client sends the requests (nil: NewClient(Concurrency)).
	Client *http.Client
	// Concurrency is the number of workers, each with one request in
	// flight.
	Concurrency int
	// Requests bounds the number of requests sent (0: no count bound).
	Requests int64
	// Duration bounds the time during which requests start (0: no time
	// bound); requests in flight at the end are awaited.
	Duration time.Duration
	// Rate is the target request rate per second, open loop (0: as fast
	// as the workers go).
	Rate float64
	// Timeout bounds one request (0: 10 s).
	Timeout time.Duration
	// Progress, if set, is called after every request with the number
	// finished so far. It must be cheap and safe for concurrent use.
	Progress func(done int64)
}

// Stats is the outcome of a run.
type Stats struct {
	// Elapsed is from the first request's start to the last one's end.
	Elapsed time.Duration
	// OK and Failed count finished requests.
	OK, Failed int64
	// Events counts the events in successful requests.
	Events int64
	// Latency is the histogram of successful requests' exchange times
	// (send to fully read answer), excluding client-side preparation.
	Latency Histogram
	// Errors counts failed requests by kind.
	Errors map[string]int64
}

// RequestsPerSecond is the rate of successful requests.
func (s *Stats) RequestsPerSecond() float64 { return perSecond(s.OK, s.Elapsed) }

// EventsPerSecond is the rate of events in successful requests.
func (s *Stats) EventsPerSecond() float64 { return perSecond(s.Events, s.Elapsed) }

func perSecond(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

// ErrorKinds returns the error kinds, most frequent first.
func (s *Stats) ErrorKinds() []string {
	kinds := make([]string, 0, len(s.Errors))
	for k := range s.Errors {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		if s.Errors[kinds[i]] != s.Errors[kinds[j]] {
			return s.Errors[kinds[i]] > s.Errors[kinds[j]]
		}
		return kinds[i] < kinds[j]
	})
	return kinds
}

// NewClient returns an HTTP/1.1 client keeping one idle connection per
// worker, without compression or proxies (a proxy would take the load off
// the loopback).
func NewClient(concurrency int) *http.Client {
	return &http.Client{
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        concurrency,
			MaxIdleConnsPerHost: concurrency,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// Run sends the workload's requests until Requests have been sent or
// Duration has passed, whichever comes first, or ctx ends, and returns
// what it measured. It refuses a target that is not a loopback address.
func Run(ctx context.Context, cfg Config) (*Stats, error) {
	if cfg.Workload == nil {
		return nil, errors.New("loadgen: Config.Workload is required")
	}
	if err := CheckLoopback(cfg.Workload.Target()); err != nil {
		return nil, err
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > MaxConcurrency {
		return nil, fmt.Errorf("loadgen: concurrency %d: must be 1 to %d", cfg.Concurrency, MaxConcurrency)
	}
	if cfg.Requests < 0 || cfg.Duration < 0 || cfg.Rate < 0 || cfg.Timeout < 0 {
		return nil, errors.New("loadgen: negative bound")
	}
	if cfg.Requests == 0 && cfg.Duration == 0 {
		return nil, errors.New("loadgen: a run needs a request count or a duration")
	}
	if cfg.Duration == 0 || cfg.Duration > MaxDuration {
		cfg.Duration = MaxDuration
	}
	cfg.Timeout = cmp.Or(cfg.Timeout, 10*time.Second)
	client := cfg.Client
	if client == nil {
		client = NewClient(cfg.Concurrency)
	}

	var (
		claimed atomic.Int64
		done    atomic.Int64
		fatal   error
		fatalMu sync.Once
		wg      sync.WaitGroup
		mu      sync.Mutex
		total   = &Stats{Errors: map[string]int64{}}
		lastEnd time.Time
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	deadline := start.Add(cfg.Duration)
	pacer := NewPacer(cfg.Rate)
	seed := uint64(start.UnixNano())

	for w := range cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := randv2.New(randv2.NewPCG(seed, uint64(w)))
			st := &Stats{Errors: map[string]int64{}}
			var end time.Time
			for ctx.Err() == nil {
				if cfg.Requests > 0 && claimed.Add(1) > cfg.Requests {
					break
				}
				if !time.Now().Before(deadline) {
					break
				}
				p, err := cfg.Workload.Prepare(rng)
				if errors.Is(err, ErrExhausted) {
					break
				}
				if err != nil {
					fatalMu.Do(func() { fatal = err })
					cancel()
					break
				}
				if pacer.Wait(ctx) != nil || !time.Now().Before(deadline) {
					break
				}
				t0 := time.Now()
				a, err := exchange(ctx, client, p, cfg.Timeout)
				end = time.Now()
				if err == nil {
					err = p.Check(a)
				}
				if err != nil {
					if ctx.Err() != nil {
						break // interrupted, not failed
					}
					st.Failed++
					st.Errors[kindOf(err)]++
				} else {
					st.OK++
					st.Events += int64(p.Events)
					st.Latency.Record(end.Sub(t0))
				}
				n := done.Add(1)
				if cfg.Progress != nil {
					cfg.Progress(n)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			total.OK += st.OK
			total.Failed += st.Failed
			total.Events += st.Events
			total.Latency.Merge(&st.Latency)
			for k, v := range st.Errors {
				total.Errors[k] += v
			}
			if end.After(lastEnd) {
				lastEnd = end
			}
		}()
	}
	wg.Wait()
	if fatal != nil {
		return nil, fmt.Errorf("loadgen: preparing a request: %w", fatal)
	}
	if lastEnd.IsZero() {
		lastEnd = time.Now()
	}
	total.Elapsed = lastEnd.Sub(start)
	return total, nil
}

// exchange sends one prepared request and reads the whole answer.
func exchange(ctx context.Context, c *http.Client, p *Prepared, timeout time.Duration) (*Answer, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.URL, bytes.NewReader(p.Body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", p.ContentType)
	resp, err := c.Do(req)
	if err != nil {
		return nil, classify(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if err != nil {
		return nil, classify(err)
	}
	return &Answer{Status: resp.StatusCode, Header: resp.Header, Body: body}, nil
}

// classify turns a transport failure into a timeout or transport kind.
func classify(err error) error {
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
		return &KindError{Kind: "timeout"}
	}
	return &KindError{Kind: "transport"}
}

func kindOf(err error) string {
	var ke *KindError
	if errors.As(err, &ke) {
		return ke.Kind
	}
	return "other"
}
