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
// lengths and runs in constant time; callers[i] is who digests[i] is.
type Tokens struct {
	digests [][sha256.Size]byte
	callers []Caller
}

// ParseTokens reads one token per line; blank lines and lines starting
// with '#' are skipped. A line is either "ROLE NAME TOKEN" — ROLE is read
// or admin (see Role), NAME (letters, digits, '.', '_', '-', at most 64)
// is what the audit log records — or a bare TOKEN, which is an admin
// token named "line-N" (token files written before roles existed).
func ParseTokens(r io.Reader) (*Tokens, error) {
	t := &Tokens{}
	sc := bufio.NewScanner(io.LimitReader(r, MaxTokens*(maxTokenLen+2+maxTokenNameLen+8)+4096))
	line := 0
	names := map[string]bool{}
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		c := Caller{Role: RoleAdmin, Name: fmt.Sprintf("line-%d", line)}
		var tok string
		switch f := strings.Fields(text); len(f) {
		case 1:
			tok = f[0]
		case 3:
			role, err := ParseRole(f[0])
			if err != nil {
				return nil, fmt.Errorf("token on line %d: %w", line, err)
			}
			if !tokenNameRE.MatchString(f[1]) {
				return nil, fmt.Errorf("token on line %d: name %q must be 1 to %d letters, digits, '.', '_' or '-'", line, f[1], maxTokenNameLen)
			}
			c, tok = Caller{Role: role, Name: f[1]}, f[2]
		default:
			return nil, fmt.Errorf("token on line %d: want \"ROLE NAME TOKEN\" (ROLE read or admin) or a bare token; the token itself contains no whitespace", line)
		}
		if len(tok) < MinTokenLen || len(tok) > maxTokenLen {
			return nil, fmt.Errorf("token on line %d: length must be %d to %d characters", line, MinTokenLen, maxTokenLen)
		}
		if names[c.Name] {
			return nil, fmt.Errorf("token on line %d: name %q is used twice; the audit log needs one name per token", line, c.Name)
		}
		names[c.Name] = true
		if len(t.digests) == MaxTokens {
			return nil, fmt.Errorf("more than %d tokens", MaxTokens)
		}
		t.digests = append(t.digests, sha256.Sum256([]byte(tok)))
		t.callers = append(t.callers, c)
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
	_, ok := t.lookup(tok)
	return ok
}

// lookup returns who tok belongs to, comparing against every token so the
// time taken does not depend on which one matched.
func (t *Tokens) lookup(tok string) (Caller, bool) {
	if t == nil || tok == "" {
		return Caller{}, false
	}
	return t.lookupDigest(sha256.Sum256([]byte(tok)))
}

func (t *Tokens) lookupDigest(d [sha256.Size]byte) (Caller, bool) {
	if t == nil {
		return Caller{}, false
	}
	found := -1
	for i := range t.digests {
		if subtle.ConstantTimeCompare(d[:], t.digests[i][:]) == 1 {
			found = i
		}
	}
	if found < 0 {
		return Caller{}, false
	}
	return t.callers[found], true
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
// The caller's role must allow the method (methodRole); the caller rides in
// the context for the audit log.
func (t *Tokens) UnaryAuth() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		c, ok := t.callerMD(ctx)
		if !ok {
			return nil, grpcUnauthenticated
		}
		if !c.Role.allows(methodRole(info.FullMethod)) {
			return nil, grpcproblem.Error(errorDomain, errReadOnly)
		}
		return h(withCaller(ctx, c), req)
	}
}

// StreamAuth is UnaryAuth for streams (no stream method exists today; this
// keeps a future one from being unauthenticated by omission).
func (t *Tokens) StreamAuth() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		c, ok := t.callerMD(ss.Context())
		if !ok {
			return grpcUnauthenticated
		}
		if !c.Role.allows(methodRole(info.FullMethod)) {
			return grpcproblem.Error(errorDomain, errReadOnly)
		}
		return h(srv, ss)
	}
}

func (t *Tokens) callerMD(ctx context.Context) (Caller, bool) {
	md, _ := metadata.FromIncomingContext(ctx)
	v := md.Get("authorization")
	if len(v) != 1 {
		return Caller{}, false
	}
	return t.lookup(bearer(v[0]))
}

// cookieName is the dashboard session cookie (HttpOnly, SameSite=Strict,
// Secure under TLS), accepted for dashboard pages only.
const cookieName = "veil_admin"

// sessionTTL is how long a dashboard sign-in lasts at most (see sessions).
const sessionTTL = 12 * time.Hour

// authorized reports whether r carries a valid bearer token.
func (t *Tokens) authorized(r *http.Request) bool {
	_, ok := t.caller(r)
	return ok
}

// caller returns who r's bearer token belongs to.
func (t *Tokens) caller(r *http.Request) (Caller, bool) {
	h := r.Header.Values("Authorization")
	if len(h) != 1 {
		return Caller{}, false
	}
	return t.lookup(bearer(h[0]))
}

// Require wraps h so that requests without a valid bearer token get a 401
// problem and callers whose role is below need a 403. The caller rides in
// the request's context for the audit log.
func (t *Tokens) Require(need Role, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, ok := t.caller(r)
		if !ok {
			writeProblem(w, errUnauthenticated)
			return
		}
		if !c.Role.allows(need) {
			writeProblem(w, errReadOnly)
			return
		}
		h.ServeHTTP(w, r.WithContext(withCaller(r.Context(), c)))
	})
}

// RequireREST is Require for the REST API under /v1/: GET reads need a
// read token, every other method (they all change state, see api.yaml)
// an admin token.
func (t *Tokens) RequireREST(h http.Handler) http.Handler {
	read, write := t.Require(RoleRead, h), t.Require(RoleAdmin, h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			read.ServeHTTP(w, r)
			return
		}
		write.ServeHTTP(w, r)
	})
}
