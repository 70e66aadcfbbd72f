package sdk

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/ohttp"
)

const (
	// maxResponseBytes bounds an encapsulated response: one short result
	// per event, so even a large batch needs far less.
	maxResponseBytes = 4 << 20
	// minGzipBytes is the smallest content worth trying to compress.
	minGzipBytes = 256
)

// sender holds the sending goroutine's reusable buffers.
type sender struct {
	// content is the request body of batch contentFor, kept for all its
	// attempts: plain, or gz's output when gzipped. The sender works on
	// one batch at a time, so the buffers are reused from batch to batch.
	contentFor *batch
	content    []byte
	gzipped    bool
	plain      []byte
	gz         *gzip.Writer
	gzBuf      bytes.Buffer

	reqBuf  []byte
	resp    bytes.Buffer // the last response body
	results resultBufs
}

// sendLoop delivers queued units in order, one at a time, until ctx ends.
func (c *Client) sendLoop(ctx context.Context) {
	defer c.wg.Done()
	var s sender
	for {
		c.mu.Lock()
		var u *unit
		if len(c.units) > 0 {
			u = c.units[0]
		}
		c.mu.Unlock()
		if u == nil {
			select {
			case <-c.sendWake:
				continue
			case <-ctx.Done():
				return
			}
		}
		if !c.sendUnit(ctx, &s, u) {
			return
		}
		c.mu.Lock()
		c.units = c.units[1:]
		c.notifyLocked()
		c.mu.Unlock()
	}
}

// sendUnit delivers every batch of u. It returns false if ctx ended first;
// u then keeps what is left.
func (c *Client) sendUnit(ctx context.Context, s *sender, u *unit) bool {
	if u.file != nil && u.batches == nil {
		bs, err := c.q.load(u.file)
		if err != nil {
			c.skipFile(u, err)
			return true
		}
		n := 0
		for _, b := range bs {
			n += len(b.events)
		}
		if n == len(u.seqs) {
			// A file this Client cut: give its events their Seq back.
			i := 0
			for _, b := range bs {
				for j := range b.events {
					b.events[j].seq = u.seqs[i]
					i++
				}
			}
		}
		c.mu.Lock()
		u.batches = bs
		u.n = n
		u.seqs = nil
		c.mu.Unlock()
	}
	for len(u.batches) > 0 {
		b := u.batches[0]
		results, halves, ok := c.deliver(ctx, s, b)
		if !ok {
			return false
		}
		rest := u.batches[1:]
		if halves != nil {
			rest = append(halves, rest...)
		}
		if u.file != nil {
			if err := c.q.rewrite(u.file, rest); err != nil {
				c.cfg.Logger.Error("veil: cannot update queue file", "err", err)
				if halves != nil {
					c.unfile(u)
				}
			}
		}
		c.mu.Lock()
		u.batches = rest
		u.n -= len(results)
		if u.file == nil && halves == nil {
			// b's events are answered or given up; split, they live on
			// in the halves.
			c.memEvents -= len(b.events)
			c.memBytes -= int64(eventsSize(b.events))
		}
		c.mu.Unlock()
		c.report(results...)
	}
	return true
}

// skipFile takes u, a queue file that could not be loaded, out of this
// Client's queue (it would block it forever) and reports its events, when
// this Client cut it and so knows their Seq. A file that could not be read
// stays on disk for the next Client, since the cause may pass (too many
// open files, a permission fixed later): its events are reported queued. A
// file that was read but is not a queue file can never be sent: it is
// removed and its events are reported dropped with ReasonCorrupt. A file
// from an earlier process is only logged, since its events are unknown.
func (c *Client) skipFile(u *unit, err error) {
	status, reason := StatusQueued, ""
	if errors.Is(err, errQueueFileCorrupt) {
		status, reason = StatusDropped, ReasonCorrupt
		c.cfg.Logger.Error("veil: removing corrupt queue file", "err", err, "bytes", u.file.size, "events", len(u.seqs))
		if rerr := c.q.rewrite(u.file, nil); rerr != nil {
			c.cfg.Logger.Error("veil: cannot remove corrupt queue file", "err", rerr)
		}
	} else {
		c.cfg.Logger.Error("veil: cannot read queue file, leaving it for the next Client", "err", err, "bytes", u.file.size, "events", len(u.seqs))
	}
	rs := make([]Result, 0, len(u.seqs))
	for _, seq := range u.seqs {
		rs = append(rs, Result{Seq: seq, Status: status, Reason: reason})
	}
	c.mu.Lock()
	u.n, u.seqs = 0, nil
	c.mu.Unlock()
	c.report(rs...)
}

// unfile turns u into a memory-only unit after its file could not be
// rewritten with the halves of a split batch. Left as it is, the file would
// still hold the unsplit batch, and a later Client would split it again
// under fresh batch_ids, storing the halves sent meanwhile a second time;
// without the file the halves are delivered from memory (or reported
// dropped at Close). If even removing it fails, that risk remains and is
// logged.
func (c *Client) unfile(u *unit) {
	if err := c.q.rewrite(u.file, nil); err != nil {
		c.cfg.Logger.Error("veil: cannot remove queue file of a split batch; a restart may store part of it twice", "err", err)
		return
	}
	n, size := 0, 0
	for _, b := range u.batches {
		n += len(b.events)
		size += eventsSize(b.events)
	}
	c.mu.Lock()
	u.file = nil
	c.memEvents += n
	c.memBytes += int64(size)
	c.mu.Unlock()
}

// outcome classifies one attempt.
type outcome int

const (
	outDone        outcome = iota // results are final
	outSplit                      // too large: split the batch
	outDrop                       // give up on the batch with reason
	outRetry                      // try again after a backoff
	outRefreshKeys                // refetch keys, retry at once (once)
	outDate                       // correct the batch's Date by offset, retry at once (once)
	outToken                      // 401: fetch tokens for the gateway's challenge, retry at once (once)
)

type attempt struct {
	kind    outcome
	results []Result
	reason  string
	offset  time.Duration
	header  string         // outToken: the WWW-Authenticate challenge
	sent    bool           // a request reached the network
	err     *DeliveryError // nil for outDone
}

// deliver sends b until it is answered, split or given up. It returns the
// final results, or the two halves of b, or ok=false when ctx ended. Each
// failed attempt is reported to Config.OnError once what follows it is
// decided.
func (c *Client) deliver(ctx context.Context, s *sender, b *batch) (results []Result, halves []*batch, ok bool) {
	keysRefreshed, dateCorrected, tokensRefetched := false, false, false
	failures, requests := 0, 0
	// A Date correction applies to this batch's retries only: kept for
	// later batches, a value the gateway chose would mark every request of
	// this Client.
	var clockOffset time.Duration
	for n := 1; ; n++ {
		if c.cfg.MaxAttempts > 0 && n > c.cfg.MaxAttempts {
			c.cfg.Logger.Warn("veil: giving up on batch", "events", len(b.events), "attempts", n-1)
			return appendResults(nil, b.events, StatusDropped, ReasonRetriesExhausted), nil, true
		}
		if c.cfg.clock.Now().Sub(b.created) > c.cfg.MaxAge {
			c.cfg.Logger.Warn("veil: batch expired", "events", len(b.events))
			return appendResults(nil, b.events, StatusDropped, ReasonExpired), nil, true
		}
		a := c.attempt(ctx, s, b, clockOffset)
		if a.sent {
			if requests > 0 {
				c.stats.retries.Add(1)
			}
			requests++
		}
		// An answer is final even when ctx ended while it arrived: the
		// gateway has decided, and dropping its results would report
		// stored events as closed.
		if a.kind == outDone {
			return a.results, nil, true
		}
		if ctx.Err() != nil {
			return nil, nil, false
		}
		a.err.Attempt = n
		switch a.kind {
		case outSplit:
			c.failed(a.err, 0)
			if len(b.events) == 1 {
				return appendResults(nil, b.events, StatusDropped, ReasonTooLarge), nil, true
			}
			half := len(b.events) / 2
			c.cfg.Logger.Info("veil: batch too large, splitting", "events", len(b.events))
			return nil, []*batch{
				{id: newBatchID(), created: b.created, events: b.events[:half:half]},
				{id: newBatchID(), created: b.created, events: b.events[half:]},
			}, true
		case outDrop:
			c.failed(a.err, 0)
			c.cfg.Logger.Warn("veil: batch refused", "events", len(b.events), "reason", a.reason, "err", a.err)
			return appendResults(nil, b.events, StatusDropped, a.reason), nil, true
		case outDate:
			c.failed(a.err, 0)
			if !dateCorrected {
				dateCorrected = true
				clockOffset = a.offset
				c.cfg.Logger.Info("veil: correcting the batch's Date from the gateway's", "offset", a.offset)
				continue
			}
			return appendResults(nil, b.events, StatusDropped, ReasonClockSkew), nil, true
		case outToken:
			// A 401 answers a missing, spent or stale token: fetch tokens
			// for the challenge it names (a new window or key) and retry
			// once with a new token; a second 401 gives the batch up.
			if tokensRefetched {
				c.failed(a.err, 0)
				return appendResults(nil, b.events, StatusDropped, ReasonRefused), nil, true
			}
			tokensRefetched = true
			b.auth = ""
			if err := c.cfg.tokens.refetch(ctx, a.header); err == nil {
				c.failed(a.err, 0)
				c.cfg.Logger.Info("veil: gateway asked for a token, refetched tokens for its challenge")
				continue
			} else if de, ok := errors.AsType[*DeliveryError](err); ok {
				a.err = de
				a.err.Attempt = n
			}
		case outRefreshKeys:
			c.keys.invalidate()
			if !keysRefreshed {
				keysRefreshed = true
				c.failed(a.err, 0)
				c.cfg.Logger.Info("veil: gateway refused key, refetching", "err", a.err)
				continue
			}
		}
		if c.cfg.MaxAttempts > 0 && n >= c.cfg.MaxAttempts {
			c.failed(a.err, 0)
			c.cfg.Logger.Warn("veil: giving up on batch", "events", len(b.events), "attempts", n, "err", a.err)
			return appendResults(nil, b.events, StatusDropped, ReasonRetriesExhausted), nil, true
		}
		wait := backoff(failures, a.err.retryAfter, c.cfg.MaxRetryWait)
		failures++
		c.failed(a.err, wait)
		c.cfg.Logger.Warn("veil: delivery failed, backing off", "err", a.err, "wait", wait, "attempt", n)
		timer, release := c.cfg.clock.Timer(wait)
		select {
		case <-timer:
			release()
		case <-ctx.Done():
			release()
			return nil, nil, false
		}
	}
}

// failed reports a failed attempt to Config.OnError.
func (c *Client) failed(err *DeliveryError, retryIn time.Duration) {
	err.RetryIn = retryIn
	if c.cfg.OnError != nil {
		c.cfg.OnError(err)
	}
}

// attempt makes one request for b, dated by the Client's clock plus
// clockOffset. Unless its kind is outDone, it carries a *DeliveryError.
func (c *Client) attempt(ctx context.Context, s *sender, b *batch, clockOffset time.Duration) attempt {
	cfg, suite, err := c.key(ctx)
	if err != nil {
		de, ok := errors.AsType[*DeliveryError](err)
		if !ok { // fetchKeys gives only *DeliveryError
			de = &DeliveryError{Op: OpFetchKeys, URL: c.cfg.keysURL.String(), Err: err}
		}
		return attempt{kind: outRetry, err: de}
	}
	relay := c.cfg.relayURL.String()
	fail := func(kind outcome, err error) attempt {
		return attempt{kind: kind, reason: ReasonRefused, err: &DeliveryError{Op: OpSend, URL: relay, Err: err}}
	}
	if c.cfg.tokens != nil && b.auth == "" {
		auth, err := c.cfg.tokens.take(ctx, c.cfg.clock.Now())
		if err != nil {
			de, ok := errors.AsType[*DeliveryError](err)
			if !ok {
				de = &DeliveryError{Op: OpFetchTokens, URL: relay, Err: err}
			}
			return attempt{kind: outRetry, err: de}
		}
		b.auth = auth
	}
	if s.contentFor != b {
		c.encodeContent(s, b)
	}
	msg, err := c.encodeRequest(s, clockOffset, b.auth)
	if err != nil {
		// Only a bug can get here; retrying would not fix it.
		return fail(outDrop, err)
	}
	enc, cctx, err := ohttp.EncapsulateRequest(nil, cfg, suite, msg)
	if err != nil {
		return fail(outRefreshKeys, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, relay, bytes.NewReader(enc))
	if err != nil {
		return fail(outDrop, err)
	}
	req.Header.Set("Content-Type", ohttp.RequestMediaType)
	req.Header.Set("User-Agent", "")
	c.stats.requests.Add(1)
	resp, err := c.cfg.HTTPClient.Do(req)
	if err != nil {
		return attempt{kind: outRetry, sent: true, err: transportError(OpSend, relay, err)}
	}
	s.resp.Reset()
	_, err = s.resp.ReadFrom(io.LimitReader(resp.Body, maxResponseBytes+1))
	resp.Body.Close()
	body := s.resp.Bytes()
	if err != nil {
		return attempt{kind: outRetry, sent: true, err: transportError(OpSend, relay, err)}
	}
	now := c.cfg.clock.Now()
	if resp.StatusCode != http.StatusOK {
		de := &DeliveryError{Op: OpSend, URL: relay, Status: resp.StatusCode,
			retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), now)}
		a := attempt{kind: outRetry, sent: true, err: de}
		switch code := resp.StatusCode; {
		case code == http.StatusRequestEntityTooLarge:
			// Only the gateway's own 413, inside the encapsulated
			// answer, may split a batch: this one comes from the relay
			// (or the gateway before decrypting), which could have
			// forwarded the batch all the same, and the halves' new
			// batch_ids would then store its events again.
			de.Err = errOuterTooLarge
			a.kind, a.reason = outDrop, ReasonRelayTooLarge
		case code == http.StatusTooManyRequests || code >= 500:
		case code >= 400:
			// An unencapsulated client error: most likely a key the
			// gateway no longer has (RFC 9458 §5.3 key problem), so
			// refetch the keys.
			switch {
			case problemType(resp.Header.Get("Content-Type"), body) == ohttp.ProblemTypeKey:
				de.Err = errors.New("key problem")
			case code != http.StatusRequestTimeout:
				de.class = ErrRelayRefused
			}
			a.kind = outRefreshKeys
		}
		return a
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != ohttp.ResponseMediaType || len(body) > maxResponseBytes {
		a := fail(outRetry, fmt.Errorf("unexpected response: content type %q, %d bytes", resp.Header.Get("Content-Type"), len(body)))
		a.sent = true
		return a
	}
	inner, err := cctx.DecapsulateResponse(body)
	if err == nil {
		var ir *bhttp.Response
		if ir, err = bhttp.UnmarshalResponse(inner); err == nil {
			return c.classifyInner(s, ir, b, relay, now)
		}
	}
	a := fail(outRetry, err)
	a.sent = true
	return a
}

// errOuterTooLarge is the cause of an outer 413.
var errOuterTooLarge = errors.New("the relay refused the encrypted request as too large; the batch is dropped, not split (lower Config.MaxBatchBytes below the relay's limit)")

// errAnsweredByGateway marks a DeliveryError whose Status is the gateway's,
// from inside the encapsulated answer.
var errAnsweredByGateway = errors.New("answered by the gateway")

// classifyInner maps the gateway's decapsulated answer to an outcome.
func (c *Client) classifyInner(s *sender, r *bhttp.Response, b *batch, relay string, now time.Time) attempt {
	de := &DeliveryError{Op: OpSend, URL: relay, Status: r.StatusCode, Err: errAnsweredByGateway}
	a := attempt{kind: outRetry, sent: true, err: de}
	ctype := fieldValue(r.Header, "content-type")
	switch code := r.StatusCode; {
	case code == http.StatusOK:
		results, err := s.results.parse(r.Content, b.events)
		if err != nil {
			// The batch may have been stored; resending it with the
			// same batch_id is safe and yields "duplicate".
			de.Err = err
			return a
		}
		return attempt{kind: outDone, sent: true, results: results}
	case code == http.StatusRequestEntityTooLarge:
		a.kind = outSplit
	case code == http.StatusUnauthorized && c.cfg.tokens != nil && fieldValue(r.Header, "www-authenticate") != "":
		a.kind, a.header = outToken, fieldValue(r.Header, "www-authenticate")
		de.Err = errors.New("gateway asked for a Privacy Pass token")
	case code == http.StatusTooManyRequests || code >= 500:
		de.retryAfter = parseRetryAfter(fieldValue(r.Header, "retry-after"), now)
	case code == http.StatusBadRequest && strings.HasSuffix(problemType(ctype, r.Content), "#date"):
		de.Err = errors.New("gateway refused the request's Date")
		t, err := http.ParseTime(fieldValue(r.Header, "date"))
		if err != nil {
			de.Err = errors.New("gateway refused the request's Date and sent none")
			a.kind, a.reason = outDrop, ReasonClockSkew
			return a
		}
		a.kind, a.offset = outDate, clockCorrection(t, now)
	case code >= 400:
		a.kind, a.reason = outDrop, ReasonRefused
		if p := problemType(ctype, r.Content); p != "" {
			de.Err = fmt.Errorf("%w, problem %s", errAnsweredByGateway, p)
		}
	}
	return a
}

// encodeContent sets s.content to b's request body, gzipped when that is
// smaller.
func (c *Client) encodeContent(s *sender, b *batch) {
	s.plain = appendContent(s.plain[:0], b.id, b.events)
	s.contentFor, s.content, s.gzipped = b, s.plain, false
	if c.cfg.DisableCompression || len(s.plain) < minGzipBytes {
		return
	}
	s.gzBuf.Reset()
	if s.gz == nil {
		s.gz, _ = gzip.NewWriterLevel(&s.gzBuf, gzip.BestSpeed)
	} else {
		s.gz.Reset(&s.gzBuf)
	}
	s.gz.Write(s.plain)
	s.gz.Close()
	if s.gzBuf.Len() < len(s.plain) {
		s.content, s.gzipped = s.gzBuf.Bytes(), true
	}
}

// encodeRequest returns the padded Binary HTTP request for one attempt of
// the batch whose content s holds. The buffer is reused by the next call.
func (c *Client) encodeRequest(s *sender, clockOffset time.Duration, auth string) ([]byte, error) {
	date := requestDate(c.cfg.clock.Now(), clockOffset)
	hdr := [4]bhttp.Field{
		{Name: "content-type", Value: "application/json"},
		{Name: "date", Value: date},
		{Name: "content-encoding", Value: "gzip"},
	}
	req := bhttp.Request{
		Method:    http.MethodPost,
		Scheme:    "https",
		Authority: "veil",
		Path:      "/v1/events",
		Header:    hdr[:2],
		Content:   s.content,
	}
	if s.gzipped {
		req.Header = hdr[:3]
	}
	if auth != "" {
		// RFC 9577 §2.2, inside the encapsulation only.
		req.Header = append(req.Header, bhttp.Field{Name: "authorization", Value: auth})
	}
	msg, err := req.AppendMarshal(s.reqBuf[:0])
	if err != nil {
		return nil, err
	}
	msg = pad(msg)
	s.reqBuf = msg
	return msg, nil
}

// requestDate is the inner Date of a request made at now: whole seconds
// (the HTTP date format has no finer unit), moved by a correction learnt
// from the gateway for this batch.
func requestDate(now time.Time, clockOffset time.Duration) string {
	return now.Add(clockOffset).Truncate(time.Second).UTC().Format(http.TimeFormat)
}

// maxClockCorrection bounds the correction a Date problem may make to the
// Client's clock. It is the gateway's default replay window
// (internal/gateway.DefaultReplayWindow, RFC 9458 §6.5; a test keeps them
// equal): a correction bounded by it, applied only to the retries of the
// batch that asked for it, cannot turn the Date into a mark that tells one
// Client's requests from another's, while a clock up to twice the window off
// still gets through.
const maxClockCorrection = 5 * time.Minute

// clockCorrection returns the correction to the inner Date for a gateway
// clock that reads gatewayNow when ours reads now: the difference, in whole
// seconds, capped at maxClockCorrection either way.
func clockCorrection(gatewayNow, now time.Time) time.Duration {
	d := gatewayNow.Sub(now).Round(time.Second)
	return min(max(d, -maxClockCorrection), maxClockCorrection)
}

func fieldValue(fs []bhttp.Field, name string) string {
	for _, f := range fs {
		if strings.EqualFold(f.Name, name) {
			return f.Value
		}
	}
	return ""
}

// problemType returns the "type" of an RFC 9457 problem document, or "".
func problemType(contentType string, body []byte) string {
	if mt, _, _ := mime.ParseMediaType(contentType); mt != "application/problem+json" {
		return ""
	}
	var p struct {
		Type string `json:"type"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	return p.Type
}
