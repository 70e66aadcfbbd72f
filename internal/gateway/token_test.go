package gateway_test

import (
	"context"
	"io"
	"net/http"
	"testing"

	"github.com/veil-telemetry/veil/internal/gateway"
)

type tokenKey struct{}

// TestWithTokenHook: the inner Authorization value goes to WithToken
// (before dispatch) and nowhere else; the inner handler sees only what the
// hook put in the context.
func TestWithTokenHook(t *testing.T) {
	var got []string
	e := newEnv(t, func(c *gateway.Config) {
		c.WithToken = func(ctx context.Context, authorization string) context.Context {
			got = append(got, authorization)
			return context.WithValue(ctx, tokenKey{}, "verdict")
		}
	})
	inner := &verdictInner{}
	e2 := newEnv(t, func(c *gateway.Config) {
		c.Inner = inner
		c.WithToken = func(ctx context.Context, authorization string) context.Context {
			return context.WithValue(ctx, tokenKey{}, "verdict:"+authorization)
		}
	})
	for _, env := range []*env{e, e2} {
		body, cc := seal(t, &env.key.Config, innerRequest(testNow, []byte(`{}`)))
		resp := open(t, post(t, env.srv.URL+"/gateway", body, nil), cc)
		if resp.StatusCode >= 400 {
			t.Fatalf("inner status %d", resp.StatusCode)
		}
	}
	if len(got) != 1 || got[0] != "Bearer inner" {
		t.Fatalf("hook saw %q", got)
	}
	if h := e.inner.last(t).header.Get("Authorization"); h != "" {
		t.Fatalf("Authorization reached the inner handler: %q", h)
	}
	if inner.verdict != "verdict:Bearer inner" {
		t.Fatalf("inner context value %q", inner.verdict)
	}
}

type verdictInner struct{ verdict string }

func (v *verdictInner) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	v.verdict, _ = r.Context().Value(tokenKey{}).(string)
	w.WriteHeader(200)
}

// TestTokenChallengeRoute: served when configured, 404 otherwise.
func TestTokenChallengeRoute(t *testing.T) {
	off := newEnv(t, nil)
	resp, err := http.Get(off.srv.URL + gateway.TokenChallengePath)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("without a challenge handler: %d", resp.StatusCode)
	}
	on := newEnv(t, func(c *gateway.Config) {
		c.TokenChallenge = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "doc") })
	})
	resp, err = http.Get(on.srv.URL + gateway.TokenChallengePath)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(b) != "doc" {
		t.Fatalf("challenge: %d %q", resp.StatusCode, b)
	}
	resp, err = http.Post(on.srv.URL+gateway.TokenChallengePath, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("POST challenge: %d", resp.StatusCode)
	}
}
