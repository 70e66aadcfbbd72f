package sdk

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/veil-telemetry/veil/privacypass"
)

// TokenConfig turns on Privacy Pass tokens (RFC 9576–9578): every batch
// redeems one single-use token, so the gateway bounds each attested
// device's batches per window while learning only that some attested
// client spent one. Issuance is blind: the issuer cannot link a token to
// the batch that spends it.
type TokenConfig struct {
	// IssuerURL is the issuer's token-request URL (its directory's
	// issuer-request-uri). Empty: the one the gateway publishes with its
	// challenge.
	IssuerURL string
	// Attest adds the client's attestation to an issuance request, for
	// example its device credential as Authorization: Bearer. Required.
	// It sees only the issuance request, which carries blinded messages.
	Attest func(*http.Request) error
	// PerWindow is how many tokens are fetched at once, in one request,
	// when none are left for the current window (default
	// DefaultTokensPerWindow). The issuer grants at most its quota.
	PerWindow int
}

// DefaultTokensPerWindow is TokenConfig.PerWindow's default.
const DefaultTokensPerWindow = 100

// OpFetchTokens is a DeliveryError's Op for the challenge or issuance
// requests of Privacy Pass tokens.
const OpFetchTokens = "fetch tokens"

// tokenChallengePath is where the gateway publishes its challenge, fetched
// through the relay's origin like the keys.
const tokenChallengePath = "/private-token-challenge"

// maxChallengeDoc bounds the challenge document.
const maxChallengeDoc = 16 << 10

// tokenStore keeps the tokens of the current challenge. Tokens are kept
// per challenge: a new window's challenge makes the old ones useless.
type tokenStore struct {
	cfg        TokenConfig
	client     *http.Client
	challengeU string

	mu        sync.Mutex
	challenge []byte // the challenge the tokens answer
	key       *privacypass.PublicKey
	issuer    string
	windowEnd time.Time
	tokens    []*privacypass.Token
}

func newTokenStore(cfg TokenConfig, client *http.Client, relay *url.URL) (*tokenStore, error) {
	if cfg.Attest == nil {
		return nil, errors.New("veil: Config.Tokens.Attest is required")
	}
	if cfg.PerWindow < 0 || cfg.PerWindow > privacypass.MaxBatch {
		return nil, fmt.Errorf("veil: Config.Tokens.PerWindow must be from 1 to %d", privacypass.MaxBatch)
	}
	if cfg.PerWindow == 0 {
		cfg.PerWindow = DefaultTokensPerWindow
	}
	u := url.URL{Scheme: relay.Scheme, Host: relay.Host, Path: tokenChallengePath}
	return &tokenStore{cfg: cfg, client: client, challengeU: u.String()}, nil
}

// take returns the Authorization value of an unspent token for the current
// window, fetching the window's challenge and tokens when none is left.
func (s *tokenStore) take(ctx context.Context, now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.tokens) > 0 && !now.Before(s.windowEnd) {
		// The window may have turned. A cache on the way (the relay's)
		// may still serve the old challenge for a few minutes: keep the
		// tokens while it does, and look again a minute later, rather
		// than fetching tokens for the same challenge again.
		doc, err := s.fetchChallenge(ctx)
		if err != nil {
			return "", err
		}
		if bytes.Equal(doc.challenge, s.challenge) {
			s.windowEnd = now.Add(time.Minute)
		} else {
			s.tokens = nil
		}
	}
	if len(s.tokens) == 0 {
		if err := s.refreshLocked(ctx, nil, nil); err != nil {
			return "", err
		}
	}
	tok := s.tokens[0]
	s.tokens = s.tokens[1:]
	return privacypass.FormatAuthorization(tok.Marshal()), nil
}

// refetch answers a 401: it fetches tokens for the challenge the gateway
// sent (a new window, or a new key) in place of the ones kept.
func (s *tokenStore) refetch(ctx context.Context, header string) error {
	c, err := privacypass.ParseChallenge(header)
	if err != nil {
		return err
	}
	key, err := privacypass.NewPublicKey(c.TokenKey)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.refreshLocked(ctx, c.TokenChallenge, key)
}

// refreshLocked replaces the kept tokens with PerWindow new ones for
// challenge and key (nil: the gateway's published ones).
func (s *tokenStore) refreshLocked(ctx context.Context, challenge []byte, key *privacypass.PublicKey) error {
	if challenge == nil || s.issuer == "" {
		doc, err := s.fetchChallenge(ctx)
		if err != nil {
			return err
		}
		if challenge == nil {
			challenge, key = doc.challenge, doc.key
		}
		s.windowEnd = doc.windowEnd
		s.issuer = doc.issuer
	}
	issuer := s.issuer
	if s.cfg.IssuerURL != "" {
		issuer = s.cfg.IssuerURL
	}
	if issuer == "" {
		return &DeliveryError{Op: OpFetchTokens, URL: s.challengeU, Err: errors.New("no issuer: set Config.Tokens.IssuerURL")}
	}
	toks, err := s.issue(ctx, issuer, challenge, key)
	if err != nil {
		return err
	}
	s.challenge, s.key, s.tokens = challenge, key, toks
	return nil
}

type challengeInfo struct {
	challenge []byte
	key       *privacypass.PublicKey
	issuer    string
	windowEnd time.Time
}

// fetchChallenge reads the gateway's challenge document. More than two
// keys is refused: one key per issuer epoch, and a gateway naming more
// could tell clients apart by the key they use (key consistency).
func (s *tokenStore) fetchChallenge(ctx context.Context) (*challengeInfo, error) {
	fail := func(status int, err error) error {
		return &DeliveryError{Op: OpFetchTokens, URL: s.challengeU, Status: status, Err: err}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.challengeU, nil)
	if err != nil {
		return nil, fail(0, err)
	}
	req.Header.Set("User-Agent", "")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, transportError(OpFetchTokens, s.challengeU, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxChallengeDoc+1))
	if err != nil {
		return nil, transportError(OpFetchTokens, s.challengeU, err)
	}
	if resp.StatusCode != http.StatusOK || len(body) > maxChallengeDoc {
		return nil, fail(resp.StatusCode, errors.New("no token challenge"))
	}
	var doc struct {
		WindowEnd  int64  `json:"window-end"`
		Issuer     string `json:"issuer-request-uri"`
		Challenges []struct {
			Challenge string `json:"challenge"`
			TokenKey  string `json:"token-key"`
		} `json:"challenges"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, fail(resp.StatusCode, fmt.Errorf("challenge document: %w", err))
	}
	if len(doc.Challenges) == 0 || len(doc.Challenges) > 2 {
		return nil, fail(resp.StatusCode, fmt.Errorf("challenge document lists %d keys, want 1 or 2", len(doc.Challenges)))
	}
	// The newest key is listed last.
	last := doc.Challenges[len(doc.Challenges)-1]
	ch, err1 := base64.RawURLEncoding.DecodeString(last.Challenge)
	spki, err2 := base64.RawURLEncoding.DecodeString(last.TokenKey)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fail(resp.StatusCode, err)
	}
	if _, err := privacypass.ParseTokenChallenge(ch); err != nil {
		return nil, fail(resp.StatusCode, err)
	}
	key, err := privacypass.NewPublicKey(spki)
	if err != nil {
		return nil, fail(resp.StatusCode, err)
	}
	return &challengeInfo{challenge: ch, key: key, issuer: doc.Issuer, windowEnd: time.Unix(doc.WindowEnd, 0)}, nil
}

// issue asks the issuer for PerWindow tokens in one request (it may grant
// fewer) and finalizes them.
func (s *tokenStore) issue(ctx context.Context, issuer string, challenge []byte, key *privacypass.PublicKey) ([]*privacypass.Token, error) {
	body := make([]byte, 0, s.cfg.PerWindow*privacypass.TokenRequestSize)
	pending := make([]*privacypass.PendingToken, 0, s.cfg.PerWindow)
	for range s.cfg.PerWindow {
		r, p, err := privacypass.NewTokenRequest(nil, key, challenge)
		if err != nil {
			return nil, &DeliveryError{Op: OpFetchTokens, URL: issuer, Err: err}
		}
		body = append(body, r.Marshal()...)
		pending = append(pending, p)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, issuer, bytes.NewReader(body))
	if err != nil {
		return nil, &DeliveryError{Op: OpFetchTokens, URL: issuer, Err: err}
	}
	req.Header.Set("Content-Type", privacypass.MediaTypeTokenRequest)
	req.Header.Set("User-Agent", "")
	if err := s.cfg.Attest(req); err != nil {
		return nil, &DeliveryError{Op: OpFetchTokens, URL: issuer, Err: err}
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, transportError(OpFetchTokens, issuer, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(io.LimitReader(resp.Body, int64(s.cfg.PerWindow*privacypass.TokenResponseSize)+1))
	if err != nil {
		return nil, transportError(OpFetchTokens, issuer, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &DeliveryError{Op: OpFetchTokens, URL: issuer, Status: resp.StatusCode,
			retryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Err: errors.New("issuer refused")}
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != privacypass.MediaTypeTokenResponse {
		return nil, &DeliveryError{Op: OpFetchTokens, URL: issuer, Status: resp.StatusCode, Err: errors.New("unexpected content type")}
	}
	rs, err := privacypass.ParseTokenResponses(out)
	if err != nil || len(rs) == 0 || len(rs) > len(pending) {
		return nil, &DeliveryError{Op: OpFetchTokens, URL: issuer, Status: resp.StatusCode, Err: errors.New("malformed token responses")}
	}
	toks := make([]*privacypass.Token, 0, len(rs))
	for i, r := range rs {
		t, err := pending[i].Finalize(r)
		if err != nil {
			return nil, &DeliveryError{Op: OpFetchTokens, URL: issuer, Err: errors.New("a token response does not verify")}
		}
		toks = append(toks, t)
	}
	return toks, nil
}
