package admin

import (
	"crypto/rand"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLogoutEndsSessionServerSide (issue 14 §5): signing out ends the
// session on the server, so a copy of the cookie taken before opens
// nothing; another sign-in's session is untouched.
func TestLogoutEndsSessionServerSide(t *testing.T) {
	h := newHarness(t, nil)
	login := func() *http.Cookie {
		t.Helper()
		resp, err := h.http.PostForm(h.url+"/login", url.Values{"token": {testToken}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || len(resp.Cookies()) != 1 {
			t.Fatalf("login: %d %v", resp.StatusCode, resp.Cookies())
		}
		return resp.Cookies()[0]
	}
	send := func(method, path string, c *http.Cookie) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(method, h.url+path, nil)
		req.AddCookie(c)
		resp, err := h.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	mine, other := login(), login()
	if mine.Value == other.Value {
		t.Fatal("two sign-ins got the same session")
	}
	copied := *mine
	if code := send("GET", "/", mine).StatusCode; code != 200 {
		t.Fatalf("session: %d", code)
	}
	resp := send("POST", "/logout", mine)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if cs := resp.Cookies(); len(cs) != 1 || cs[0].MaxAge >= 0 {
		t.Errorf("logout did not clear the cookie: %v", cs)
	}
	if code := send("GET", "/", &copied).StatusCode; code != http.StatusUnauthorized {
		t.Errorf("copied cookie after logout: %d, want 401", code)
	}
	if code := send("GET", "/", other).StatusCode; code != 200 {
		t.Errorf("another session after this one's logout: %d", code)
	}
}

// TestSessionEndsWithItsToken: a session is worth nothing once its token
// is no longer accepted, and a session identifier is not derived from the
// token.
func TestSessionEndsWithItsToken(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	const a, b = "token-a-0123456789abcdef", "token-b-0123456789abcdef"
	both, err := ParseTokens(strings.NewReader(a + "\n" + b + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	onlyB, err := ParseTokens(strings.NewReader(b + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	var ss sessions
	v, err := ss.start(strings.NewReader(strings.Repeat("x", sessionIDBytes)), a, now)
	if err != nil {
		t.Fatal(err)
	}
	if !ss.valid(both, v, now) {
		t.Fatal("fresh session refused")
	}
	if ss.valid(onlyB, v, now) {
		t.Error("session of a removed token accepted")
	}
	if ss.valid(both, v, now.Add(sessionTTL)) {
		t.Error("expired session accepted")
	}
	if ss.valid(both, v, now) {
		t.Error("an expired session came back")
	}
}

// TestSessionsAreBounded: sign-ins beyond maxSessions end the session
// closest to its expiry, so memory stays bounded.
func TestSessionsAreBounded(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	tokens := mustTokens(t)
	var ss sessions
	var first string
	for i := range maxSessions + 1 {
		v, err := ss.start(rand.Reader, testToken, now.Add(time.Duration(i)*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = v
		}
	}
	if n := len(ss.byID); n > maxSessions {
		t.Errorf("%d sessions held, bound %d", n, maxSessions)
	}
	if ss.valid(tokens, first, now) {
		t.Error("the oldest session survived the bound")
	}
}
