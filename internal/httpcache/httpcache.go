// Package httpcache serves a document that shared caches may keep: a
// strong validator (ETag), a bounded max-age, and 304 Not Modified for a
// conditional request that already holds it (RFC 9110 §13, RFC 9111).
// The gateway publishes its key configurations this way, and the relay
// republishes them.
//
// It uses the standard library only, so the relay, which must never link
// key material, may import it.
package httpcache

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ETag is a strong entity tag for body: a quoted hash of its bytes, so two
// servers holding the same bytes name them alike.
func ETag(body []byte) string {
	sum := sha256.Sum256(body)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}

// NoneMatch reports whether an If-None-Match header value matches etag by
// the weak comparison (RFC 9110 §13.1.2): "*", or etag in the list, with
// or without its W/ prefix.
func NoneMatch(header, etag string) bool {
	if header == "" {
		return false
	}
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimSpace(t)
		if t == "*" || strings.TrimPrefix(t, "W/") == etag {
			return true
		}
	}
	return false
}

// Public is the Cache-Control of a document any cache may keep for maxAge
// (whole seconds; a negative one is 0).
func Public(maxAge time.Duration) string {
	return "public, max-age=" + MaxAgeSeconds(maxAge)
}

// MaxAgeSeconds formats a remaining lifetime for max-age: whole seconds,
// at least 0.
func MaxAgeSeconds(d time.Duration) string {
	return strconv.FormatInt(int64(max(d, 0)/time.Second), 10)
}

// Serve answers r with body as a document of the given media type, etag
// and Cache-Control (Public for most), and returns the status it wrote:
// 304 with no body when r's If-None-Match holds etag, else 200 (with no
// body for HEAD).
func Serve(w http.ResponseWriter, r *http.Request, body []byte, mediaType, etag, cacheControl string) int {
	h := w.Header()
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", etag)
	if NoneMatch(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	h.Set("Content-Type", mediaType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(body)
	}
	return http.StatusOK
}
