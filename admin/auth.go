package admin

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
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
// whether it did. The token's value is never returned or logged.
func EnsureTokenFile(path string, rnd io.Reader) (t *Tokens, created bool, err error) {
	if rnd == nil {
		rnd = rand.Reader
	}
	if _, err := os.Stat(path); err == nil {
		t, err := LoadTokens(path)
		return t, false, err
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, false, err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, false, err
	}
	var raw [32]byte
	if _, err := io.ReadFull(rnd, raw[:]); err != nil {
		return nil, false, err
	}
	tok := base64.RawURLEncoding.EncodeToString(raw[:])
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, false, err
	}
	if _, err := io.WriteString(f, tok+"\n"); err != nil {
		f.Close()
		return nil, false, err
	}
	if err := f.Close(); err != nil {
		return nil, false, err
	}
	t, err = LoadTokens(path)
	return t, true, err
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

// UnaryAuth is the gRPC interceptor that requires a valid bearer token in
// the authorization metadata.
func (t *Tokens) UnaryAuth() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if !t.validMD(ctx) {
			return nil, errUnauthenticated
		}
		return h(ctx, req)
	}
}

// StreamAuth is UnaryAuth for streams (no stream method exists today; this
// keeps a future one from being unauthenticated by omission).
func (t *Tokens) StreamAuth() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if !t.validMD(ss.Context()) {
			return errUnauthenticated
		}
		return h(srv, ss)
	}
}

func (t *Tokens) validMD(ctx context.Context) bool {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("authorization")
	return len(v) == 1 && t.Valid(bearer(v[0]))
}

// cookieName is the dashboard session cookie; its value is the token
// itself (HttpOnly, SameSite=Strict), accepted for dashboard pages only.
const cookieName = "veil_admin"

// authorized reports whether r carries a valid bearer token, or, when
// allowCookie, a valid dashboard cookie.
func (t *Tokens) authorized(r *http.Request, allowCookie bool) bool {
	if h := r.Header.Values("Authorization"); len(h) == 1 {
		return t.Valid(bearer(h[0]))
	}
	if allowCookie {
		if c, err := r.Cookie(cookieName); err == nil {
			tok, err := base64.RawURLEncoding.DecodeString(c.Value)
			return err == nil && t.Valid(string(tok))
		}
	}
	return false
}

// Require wraps h so that requests without a valid bearer token get a 401
// problem.
func (t *Tokens) Require(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !t.authorized(r, false) {
			writeProblem(w, errUnauthenticated, "")
			return
		}
		h.ServeHTTP(w, r)
	})
}
