// Package bodyreadtest drives slow-body attacks against a local server in
// tests: many HTTP/1 connections and many HTTP/2 (h2c, prior knowledge)
// streams over one connection, each trickling its body a byte per tick,
// while a legitimate client's requests are measured.
package bodyreadtest

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Attack describes the slow senders. Every sender declares a body of
// DeclaredBytes and sends one byte per Every; when the server cuts it off
// or answers, it starts again ten ticks later, until the attack stops.
type Attack struct {
	// URL is the POST resource; it must be on a loopback address.
	URL         string
	ContentType string
	// HTTP1 is the number of HTTP/1.1 connections.
	HTTP1 int
	// H2CStreams is the number of HTTP/2 streams, over one h2c connection.
	H2CStreams int
	// Every paces each sender (default 100 ms).
	Every time.Duration
	// MaxTime ends the attack at the latest (default 10 s).
	MaxTime time.Duration
	// DeclaredBytes is each body's Content-Length (default 64 KiB).
	DeclaredBytes int
	// Sources are the local IPs the HTTP/1 senders dial from, round-robin
	// (default the system's choice); the h2c connection uses the first.
	Sources []string
}

// Running is a started attack.
type Running struct {
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	restart atomic.Int64
	bytes   atomic.Int64
}

// Start starts every sender and returns once each has sent its headers
// and tried its first body byte, so the server holds them all at once
// (those it admits). It fails t if
// that does not happen within the attack's MaxTime.
func (a Attack) Start(t testing.TB) *Running {
	t.Helper()
	if a.Every <= 0 {
		a.Every = 100 * time.Millisecond
	}
	if a.MaxTime <= 0 {
		a.MaxTime = 10 * time.Second
	}
	if a.DeclaredBytes <= 0 {
		a.DeclaredBytes = 64 << 10
	}
	u, err := url.Parse(a.URL)
	if err != nil {
		t.Fatal(err)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		t.Fatalf("attack URL %q is not on a loopback address", a.URL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), a.MaxTime)
	run := &Running{cancel: cancel}
	t.Cleanup(run.Stop)
	var ready sync.WaitGroup
	ready.Add(a.HTTP1 + a.H2CStreams)
	for i := range a.HTTP1 {
		var src string
		if len(a.Sources) > 0 {
			src = a.Sources[i%len(a.Sources)]
		}
		run.wg.Go(func() { run.http1(ctx, a, u, src, ready.Done) })
	}
	if a.H2CStreams > 0 {
		var src string
		if len(a.Sources) > 0 {
			src = a.Sources[0]
		}
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		tr := &http.Transport{Protocols: &p, DialContext: dialer(src).DialContext}
		t.Cleanup(tr.CloseIdleConnections)
		client := &http.Client{Transport: tr}
		for range a.H2CStreams {
			run.wg.Go(func() { run.h2c(ctx, a, client, ready.Done) })
		}
	}
	allReady := make(chan struct{})
	go func() { ready.Wait(); close(allReady) }()
	select {
	case <-allReady:
	case <-ctx.Done():
		t.Fatalf("the slow senders were not all sending within %v", a.MaxTime)
	}
	return run
}

// Stop ends the attack and waits for every sender.
func (r *Running) Stop() {
	r.cancel()
	r.wg.Wait()
}

// Restarts reports how often a sender had to start a new body because the
// server cut off or answered the previous one.
func (r *Running) Restarts() int64 { return r.restart.Load() }

// Bytes reports the body bytes trickled.
func (r *Running) Bytes() int64 { return r.bytes.Load() }

// restartTicks is how many ticks a sender waits before starting a new
// body once the server cut off or answered the last: a slow sender, not a
// flood of short requests.
const restartTicks = 10

func (r *Running) backOff(ctx context.Context, tick *time.Ticker) {
	for range restartTicks {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return
		}
	}
}

func dialer(src string) *net.Dialer {
	d := &net.Dialer{}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	return d
}

func (r *Running) http1(ctx context.Context, a Attack, u *url.URL, src string, ready func()) {
	tick := time.NewTicker(a.Every)
	defer tick.Stop()
	d := dialer(src)
	first := true
	for ctx.Err() == nil {
		conn, err := d.DialContext(ctx, "tcp", u.Host)
		if err == nil {
			stop := context.AfterFunc(ctx, func() { conn.Close() })
			_, err = fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n",
				u.RequestURI(), u.Host, a.ContentType, a.DeclaredBytes)
			// Whatever the server answers ends this body.
			answered := make(chan struct{})
			go func() { io.Copy(io.Discard, conn); close(answered) }()
			for sent := 0; err == nil && sent < a.DeclaredBytes; sent++ {
				_, err = conn.Write([]byte{'x'})
				if first {
					first = false
					ready()
				}
				if err != nil {
					break
				}
				r.bytes.Add(1)
				select {
				case <-tick.C:
				case <-answered:
					err = io.EOF
				case <-ctx.Done():
					err = ctx.Err()
				}
			}
			stop()
			conn.Close()
			<-answered
		}
		if ctx.Err() != nil {
			break
		}
		r.restart.Add(1)
		r.backOff(ctx, tick)
	}
	if first {
		ready() // never sent: Start's MaxTime reports it
	}
}

func (r *Running) h2c(ctx context.Context, a Attack, client *http.Client, ready func()) {
	tick := time.NewTicker(a.Every)
	defer tick.Stop()
	first := true
	for ctx.Err() == nil {
		pr, pw := io.Pipe()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, a.URL, pr)
		if err != nil {
			panic(err)
		}
		req.ContentLength = int64(a.DeclaredBytes)
		req.Header.Set("Content-Type", a.ContentType)
		answered := make(chan struct{})
		go func() {
			defer close(answered)
			resp, err := client.Do(req)
			pr.CloseWithError(io.EOF)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		}()
		for sent := 0; sent < a.DeclaredBytes; sent++ {
			_, err := pw.Write([]byte{'x'})
			if first {
				first = false
				ready()
			}
			if err != nil {
				break
			}
			r.bytes.Add(1)
			select {
			case <-tick.C:
				continue
			case <-answered:
			case <-ctx.Done():
			}
			break
		}
		pw.Close()
		<-answered
		if ctx.Err() != nil {
			break
		}
		r.restart.Add(1)
		r.backOff(ctx, tick)
	}
	if first {
		ready()
	}
}

// Result is what the legitimate client saw.
type Result struct {
	Total, OK int
	// Statuses counts every answer by status (0: a transport error).
	Statuses map[int]int
	P50, P99 time.Duration
}

// SuccessRate is OK/Total.
func (r Result) SuccessRate() float64 {
	if r.Total == 0 {
		return 0
	}
	return float64(r.OK) / float64(r.Total)
}

func (r Result) String() string {
	return fmt.Sprintf("%d/%d succeeded (%.1f%%), p50 %v, p99 %v, statuses %v",
		r.OK, r.Total, 100*r.SuccessRate(), r.P50.Round(time.Millisecond), r.P99.Round(time.Millisecond), r.Statuses)
}

// Measure runs do n times in sequence and times each; do returns the
// status it got and whether the request succeeded.
func Measure(n int, do func(i int) (status int, ok bool)) Result {
	res := Result{Total: n, Statuses: make(map[int]int)}
	lat := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		status, ok := do(i)
		lat = append(lat, time.Since(start))
		res.Statuses[status]++
		if ok {
			res.OK++
		}
	}
	slices.Sort(lat)
	if n > 0 {
		res.P50 = lat[n/2]
		res.P99 = lat[min(n-1, (n*99+99)/100-1)]
	}
	return res
}
