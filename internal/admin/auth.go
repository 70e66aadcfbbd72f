package admin

import (
	"bufio"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/veil-telemetry/veil/internal/problem/grpcproblem"
	"github.com/veil-telemetry/veil/internal/secretfile"
)

// MaxTokens bounds a token file; MinTokenLen refuses guessable tokens.
const (
	MaxTokens   = 64
	MinTokenLen = 16
	maxTokenLen = 512
)

// Tokens is the set of admin bearer tokens. The zero value accepts nothing.
// Tokens are kept as SHA-256 digests so every comparison is over equal
// lengths and runs in constant time.
type Tokens struct {
	digests [][sha256.Size]byte
}

// ParseTokens reads one token per line; blank lines and lines starting
// with '#' are skipped.
func ParseTokens(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	sc := bufio.NewScanner(io.LimitReader(r, MaxTokens*(maxTokenLen+2)+4096))
	line := 0
	for sc.Scan() {
		line++
		tok := strings.TrimSpace(sc.Text())
		if tok == "" || strings.HasPrefix(tok, "#") {
			continue
		}
		if len(tok) < MinTokenLen || len(tok) > maxTokenLen {
			return nil, fmt.Errorf("token on line %d: length must be %d to %d characters", line, MinTokenLen, maxTokenLen)
		}
		if strings.ContainsAny(tok, " \t") {
			return nil, fmt.Errorf("token on line %d contains whitespace", line)
		}
		if len(t.digests) == MaxTokens {
			return nil, fmt.Errorf("more than %d tokens", MaxTokens)
		}
		t.digests = append(t.digests, sha256.Sum256([]byte(tok)))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.digests) == 0 {
		return nil, errors.New("no token")
	}
	return t, nil
}

// LoadTokens reads a token file (see ParseTokens).
func LoadTokens(path string) (*Tokens, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	t, err := ParseTokens(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// EnsureTokenFile returns the tokens in path, creating the file first with
// one random token (mode 0600) when it does not exist. created reports
// whether it did. The token's value is never returned or logged. An
// existing file that group or others may access is refused: veil made it
// 0600, so a wider mode means someone changed it.
func EnsureTokenFile(path string, rnd io.Reader) (t *Tokens, created bool, err error) {
	rnd = cmp.Or(rnd, rand.Reader)
	if _, err := os.Stat(path); err == nil {
		return loadPrivateTokens(path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	var raw [32]byte
	if _, err := io.ReadFull(rnd, raw[:]); err != nil {
		return nil, false, err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	// Of two processes starting on one data directory, the loser reads
	// the winner's file.
	err = secretfile.Create(path, []byte(tok+"\n"))
	if errors.Is(err, os.ErrExist) {
		return loadPrivateTokens(path)
	}
	if err != nil {
		return nil, false, err
	}
	t, err = LoadTokens(path)
	return t, true, err
}

func loadPrivateTokens(path string) (*Tokens, bool, error) {
	if err := CheckTokenFileMode(path); err != nil {
		return nil, false, err
	}
	t, err := LoadTokens(path)
	return t, false, err
}

// CheckTokenFileMode returns an error when group or others may read,
// write or execute the token file at path.
func CheckTokenFileMode(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if m := fi.Mode().Perm(); m&0o077 != 0 {
		return fmt.Errorf("%s: mode %04o lets other users read the admin tokens; chmod 600 it", path, m)
	}
	return nil
}

// Valid reports whether tok is one of the tokens, in time independent of
// which token matched or how much of it did.
func (t *Tokens) Valid(tok string) bool {
	if t == nil || tok == "" {
		return false
	}
	d := sha256.Sum256([]byte(tok))
	ok := 0
	for i := range t.digests {
		ok |= subtle.ConstantTimeCompare(d[:], t.digests[i][:])
	}
	return ok == 1
}

// bearer extracts the token of an "Authorization: Bearer X" value
// (RFC 6750 §2.1; the scheme is case-insensitive).
func bearer(h string) string {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(tok)
}

var errUnauthenticated = Errorf(KindUnauthenticated, "a valid bearer token is required")

// grpcUnauthenticated is errUnauthenticated as a gRPC status: the auth
// interceptors may run outside errorInterceptor (streams do).
var grpcUnauthenticated = grpcproblem.Error(errorDomain, errUnauthenticated)

// UnaryAuth is the gRPC interceptor that requires a valid bearer token in
// the authorization metadata.
func (t *Tokens) UnaryAuth() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if !t.validMD(ctx) {
			return nil, grpcUnauthenticated
		}
		return h(ctx, req)
	}
}

// StreamAuth is UnaryAuth for streams (no stream method exists today; this
// keeps a future one from being unauthenticated by omission).
func (t *Tokens) StreamAuth() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if !t.validMD(ss.Context()) {
			return grpcUnauthenticated
		}
		return h(srv, ss)
	}
}

func (t *Tokens) validMD(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("authorization")
	return len(v) == 1 && t.Valid(bearer(v[0]))
}

// cookieName is the dashboard session cookie (HttpOnly, SameSite=Strict,
// Secure under TLS), accepted for dashboard pages only.
const cookieName = "veil_admin"

// sessionTTL is how long a dashboard sign-in lasts.
const sessionTTL = 12 * time.Hour

// sessionLabel separates session MACs from any other use of a digest.
const sessionLabel = "veil-dashboard-session\x00"

// sessionMAC is HMAC-SHA256 keyed with a token's digest over the expiry.
func sessionMAC(digest *[sha256.Size]byte, exp int64) []byte {
	m := hmac.New(sha256.New, digest[:])
	m.Write([]byte(sessionLabel))
	m.Write([]byte(strconv.FormatInt(exp, 10)))
	return m.Sum(nil)
}

// session returns the cookie value for a sign-in with the valid token tok,
// good until exp: "<unix expiry>.<base64url MAC>". It is not the token
// and does not reveal it, so a leaked cookie cannot call the API, and it
// stops working at exp whatever the browser does with Max-Age. Removing
// the token from the file (and restarting) ends its sessions.
func (t *Tokens) session(tok string, exp time.Time) string {
	d := sha256.Sum256([]byte(tok))
	e := exp.Unix()
	return strconv.FormatInt(e, 10) + "." + base64.RawURLEncoding.EncodeToString(sessionMAC(&d, e))
}

// validSession reports whether v is an unexpired session of one of the
// tokens, comparing against every token in constant time.
func (t *Tokens) validSession(v string, now time.Time) bool {
	if t == nil || len(v) > 64 {
		return false
	}
	es, ms, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	exp, err := strconv.ParseInt(es, 10, 64)
	if err != nil || now.Unix() >= exp || exp > now.Add(sessionTTL).Unix() {
		return false
	}
	mac, err := base64.RawURLEncoding.DecodeString(ms)
	if err != nil || len(mac) != sha256.Size {
		return false
	}
	match := 0
	for i := range t.digests {
		match |= subtle.ConstantTimeCompare(mac, sessionMAC(&t.digests[i], exp))
	}
	return match == 1
}

// authorized reports whether r carries a valid bearer token.
func (t *Tokens) authorized(r *http.Request) bool {
	h := r.Header.Values("Authorization")
	return len(h) == 1 && t.Valid(bearer(h[0]))
}

// dashboardAuthorized reports whether r carries a valid bearer token or,
// without an Authorization header, a valid session cookie.
func (t *Tokens) dashboardAuthorized(r *http.Request, now time.Time) bool {
	if len(r.Header.Values("Authorization")) > 0 {
		return t.authorized(r)
	}
	c, err := r.Cookie(cookieName)
	return err == nil && t.validSession(c.Value, now)
}

// Require wraps h so that requests without a valid bearer token get a 401
// problem.
func (t *Tokens) Require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.authorized(r) {
			writeProblem(w, errUnauthenticated)
			return
		}
		h.ServeHTTP(w, r)
	})
}
