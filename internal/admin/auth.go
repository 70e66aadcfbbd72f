package admin

import (
	"bufio"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/veil-telemetry/veil/internal/problem"
	"io"
	"net/http"
	"os"
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

var errUnauthenticated = problem.Errorf(problem.Unauthenticated, "a valid bearer token is required")

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

// sessionTTL is how long a dashboard sign-in lasts at most (see sessions).
const sessionTTL = 12 * time.Hour

// authorized reports whether r carries a valid bearer token.
func (t *Tokens) authorized(r *http.Request) bool {
	h := r.Header.Values("Authorization")
	return len(h) == 1 && t.Valid(bearer(h[0]))
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
