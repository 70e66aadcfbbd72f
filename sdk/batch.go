package sdk

import (
	"crypto/rand"
	"encoding/base64"
	"slices"
	"time"
)

const (
	// batchOverhead is what a batch costs on top of its events: the JSON
	// envelope with its batch_id, and the Binary HTTP framing with the
	// request line and headers. Counting it keeps a full batch inside
	// Config.MaxBatchBytes, and so inside its padding bucket.
	batchOverhead = 256
	// minBatchBytes is the smallest Config.MaxBatchBytes accepted.
	minBatchBytes = 1 << 10
)

// batch is a group of events sent in one request. Its id is the ingest
// API's idempotency key: random, fresh for every batch (never reused, so
// it links nothing but the retries of this batch), and kept by all of them.
type batch struct {
	id      string
	created time.Time
	events  []event
	// auth is the Authorization value of the Privacy Pass token this
	// batch spends, kept for all its attempts so that a retry costs no
	// second token (memory only: after a restart the batch takes a new
	// one).
	auth string
}

// newBatchID returns 128 random bits, base64url without padding.
func newBatchID() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// eventsSize is the encoded size of events inside a batch's array.
func eventsSize(evs []event) int {
	n := 0
	for _, e := range evs {
		n += len(e.data) + 1
	}
	return n
}

// appendContent appends the ingest request body:
// {"batch_id":"…","events":[…]}.
func appendContent(dst []byte, id string, evs []event) []byte {
	dst = append(dst, `{"batch_id":`...)
	dst = appendJSONString(dst, id)
	dst = append(dst, `,"events":[`...)
	for i, e := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, e.data...)
	}
	return append(dst, "]}"...)
}

// paddedSize returns the size bucket a Binary HTTP message of n bytes is
// padded to: 1, 4, 16 or 64 KiB, then the next multiple of 64 KiB. Padding
// to coarse buckets means the relay, which sees sizes, learns little about
// how many events a batch holds or what they contain (RFC 9458 §6.1 and
// RFC 9292 §3.8).
func paddedSize(n int) int {
	for _, b := range [...]int{1 << 10, 4 << 10, 16 << 10, 64 << 10} {
		if n <= b {
			return b
		}
	}
	const step = 64 << 10
	return (n + step - 1) / step * step
}

// pad extends a known-length Binary HTTP message with zero bytes to its
// bucket; RFC 9292 §3.8 lets any message end in zero padding.
func pad(msg []byte) []byte {
	n, old := paddedSize(len(msg)), len(msg)
	msg = slices.Grow(msg, n-old)[:n]
	clear(msg[old:])
	return msg
}
