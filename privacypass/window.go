package privacypass

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"time"
)

// WindowContext is the redemption_context of the window starting at
// start: HMAC-SHA256(key, "veil-privacypass-window" || uint64 Unix seconds).
// Every client sees the same context in a window, so a challenge links
// nothing but the window, and tokens cannot be hoarded across windows
// (RFC 9577 §2.1.1 lets the origin choose the context).
func WindowContext(key []byte, start time.Time) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("veil-privacypass-window"))
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(start.Unix()))
	m.Write(b[:])
	return m.Sum(nil)
}

// WindowStart truncates t to its window of length d (d > 0), in UTC.
func WindowStart(t time.Time, d time.Duration) time.Time {
	return t.UTC().Truncate(d)
}
