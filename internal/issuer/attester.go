package issuer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
)

// Attester decides whether a client may be issued tokens and names its
// credential, the unit a quota counts. An identifier it returns must be
// stable for the credential and must not be logged.
type Attester interface {
	Attest(r *http.Request) (credential string, err error)
}

// ErrNotAttested is an Attester's refusal (answered 401).
var ErrNotAttested = errors.New("issuer: client not attested")

// MaxCredentials bounds a credential file.
const MaxCredentials = 1 << 20

// StaticAttester accepts a fixed list of device credentials, sent as
// `Authorization: Bearer <credential>`. It keeps only SHA-256 of each, so
// a memory dump names no credential. For tests and small deployments; a
// real deployment attests with its own device check.
type StaticAttester struct {
	known map[[32]byte]struct{}
}

// LoadStaticAttester reads one credential per line (blank lines and lines
// starting with # are skipped; surrounding spaces trimmed).
func LoadStaticAttester(path string) (*StaticAttester, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return ParseStaticAttester(data)
}

// ParseStaticAttester is LoadStaticAttester on the file's bytes.
func ParseStaticAttester(data []byte) (*StaticAttester, error) {
	a := &StaticAttester{known: map[[32]byte]struct{}{}}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		c := strings.TrimSpace(sc.Text())
		if c == "" || strings.HasPrefix(c, "#") {
			continue
		}
		if len(c) < 16 || strings.ContainsAny(c, " \t,\"") {
			return nil, fmt.Errorf("issuer: credentials line %d: a credential is at least 16 characters without spaces, commas or quotes", line)
		}
		if len(a.known) >= MaxCredentials {
			return nil, fmt.Errorf("issuer: more than %d credentials", MaxCredentials)
		}
		a.known[sha256.Sum256([]byte(c))] = struct{}{}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(a.known) == 0 {
		return nil, errors.New("issuer: the credentials file lists no credential")
	}
	return a, nil
}

// Attest checks the bearer credential; the identifier is its hash.
func (a *StaticAttester) Attest(r *http.Request) (string, error) {
	v := r.Header.Get("Authorization")
	scheme, cred, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || len(cred) > 1024 {
		return "", ErrNotAttested
	}
	h := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	if _, ok := a.known[h]; !ok {
		return "", ErrNotAttested
	}
	return hex.EncodeToString(h[:]), nil
}
