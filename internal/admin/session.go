package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// maxSessions bounds the dashboard sessions held at once. Only a valid
// token signs in, so this is a bound on memory, not a defence: past it
// the session closest to its expiry is ended first.
const maxSessions = 1024

// sessionIDBytes is the entropy of a session cookie.
const sessionIDBytes = 32

// sessions is the server-side record of dashboard sign-ins. The cookie is
// a random identifier, never the token nor derived from it; the server
// keeps the SHA-256 of each identifier (so its memory holds no usable
// cookie) with the digest of the token that signed in and the expiry.
// A session therefore ends when it is signed out (Server.logout), when it
// expires (sessionTTL), when its token is no longer accepted, and when
// the process restarts: a copied cookie is worth nothing after any of
// these. Sessions are per process: a dashboard behind several admin
// replicas signs in on each.
type sessions struct {
	mu   sync.Mutex
	byID map[[sha256.Size]byte]sessionEntry
}

type sessionEntry struct {
	token [sha256.Size]byte // digest of the token that signed in
	exp   time.Time
}

// start records a sign-in with the valid token tok and returns the
// cookie value.
func (ss *sessions) start(rand io.Reader, tok string, now time.Time) (string, error) {
	var id [sessionIDBytes]byte
	if _, err := io.ReadFull(rand, id[:]); err != nil {
		return "", fmt.Errorf("admin: session identifier: %w", err)
	}
	v := base64.RawURLEncoding.EncodeToString(id[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.byID == nil {
		ss.byID = map[[sha256.Size]byte]sessionEntry{}
	}
	if len(ss.byID) >= maxSessions {
		ss.evictLocked(now)
	}
	ss.byID[sha256.Sum256([]byte(v))] = sessionEntry{token: sha256.Sum256([]byte(tok)), exp: now.Add(sessionTTL)}
	return v, nil
}

// evictLocked drops expired sessions and, if none had, the one closest to
// its expiry.
func (ss *sessions) evictLocked(now time.Time) {
	var oldest [sha256.Size]byte
	var oldestExp time.Time
	for k, e := range ss.byID {
		if !now.Before(e.exp) {
			delete(ss.byID, k)
			continue
		}
		if oldestExp.IsZero() || e.exp.Before(oldestExp) {
			oldest, oldestExp = k, e.exp
		}
	}
	if len(ss.byID) >= maxSessions {
		delete(ss.byID, oldest)
	}
}

// valid reports whether v is a live session of a token t still accepts.
func (ss *sessions) valid(t *Tokens, v string, now time.Time) bool {
	if t == nil || len(v) > 64 {
		return false
	}
	k := sha256.Sum256([]byte(v))
	ss.mu.Lock()
	e, ok := ss.byID[k]
	if ok && !now.Before(e.exp) {
		delete(ss.byID, k)
		ok = false
	}
	ss.mu.Unlock()
	if !ok {
		return false
	}
	match := 0
	for i := range t.digests {
		match |= subtle.ConstantTimeCompare(e.token[:], t.digests[i][:])
	}
	return match == 1
}

// end forgets the session v, if there is one.
func (ss *sessions) end(v string) {
	k := sha256.Sum256([]byte(v))
	ss.mu.Lock()
	delete(ss.byID, k)
	ss.mu.Unlock()
}

// dashboardAuthorized reports whether r carries a valid bearer token or,
// without an Authorization header, the cookie of a live session.
func (s *Server) dashboardAuthorized(r *http.Request) bool {
	if len(r.Header.Values("Authorization")) > 0 {
		return s.cfg.Tokens.authorized(r)
	}
	c, err := r.Cookie(cookieName)
	return err == nil && s.sessions.valid(s.cfg.Tokens, c.Value, s.cfg.Now())
}
