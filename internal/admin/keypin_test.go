package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/veil-telemetry/veil/ohttp/signedkeys"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// keyDoc stands in for the gateway's application/ohttp-keys document:
// the signer signs bytes, whatever they are.
var keyDoc = []byte{0, 3, 1, 2, 3}

func mustPin(t *testing.T, s string) signedkeys.Pin {
	t.Helper()
	p, err := signedkeys.ParsePin(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestKeyPinRotation walks the documented rotation over REST: the first
// start's pin signs; `pin add` makes a next key that signs too, so apps
// pinned to either accept the document; `pin promote` retires the old one.
func TestKeyPinRotation(t *testing.T) {
	h := newHarness(t, nil)
	ctx := context.Background()
	if _, err := h.srv.SignKeys(ctx, keyDoc); err == nil {
		t.Fatal("SignKeys before EnsureKeyPin succeeded")
	}
	first, err := h.srv.EnsureKeyPin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if again, err := h.srv.EnsureKeyPin(ctx); err != nil || again != first {
		t.Fatalf("EnsureKeyPin twice: %s, %v; want %s", again, err, first)
	}
	verify := func(pin signedkeys.Pin) error {
		t.Helper()
		doc, err := h.srv.SignKeys(ctx, keyDoc)
		if err != nil {
			t.Fatal(err)
		}
		_, err = signedkeys.Verify(doc, pin)
		return err
	}
	if err := verify(first); err != nil {
		t.Fatalf("first pin: %v", err)
	}
	type pinJSON struct {
		Pin   string `json:"pin"`
		State string `json:"state"`
	}
	list := func() []pinJSON {
		t.Helper()
		r := h.do(t, "GET", "/v1/key-pins", testToken, nil)
		if r.status != 200 {
			t.Fatalf("list: %d %s", r.status, r.body)
		}
		var out struct{ Pins []pinJSON }
		if err := json.Unmarshal(r.body, &out); err != nil {
			t.Fatal(err)
		}
		return out.Pins
	}
	if got := list(); len(got) != 1 || got[0].Pin != first.String() || got[0].State != "current" {
		t.Fatalf("pins after first start: %+v", got)
	}

	mustProblem(t, h.do(t, "POST", "/v1/key-pins:promote", testToken, `{}`), http.StatusNotFound)
	r := h.do(t, "POST", "/v1/key-pins", testToken, `{}`)
	if r.status != 200 {
		t.Fatalf("add: %d %s", r.status, r.body)
	}
	var added pinJSON
	if err := json.Unmarshal(r.body, &added); err != nil || added.State != "next" {
		t.Fatalf("add: %s (%v)", r.body, err)
	}
	next := mustPin(t, added.Pin)
	if p := mustProblem(t, h.do(t, "POST", "/v1/key-pins", testToken, `{}`), http.StatusConflict); !strings.Contains(p.Detail, "promote") {
		t.Errorf("second add: %+v; want a conflict that says to promote", p)
	}
	for _, p := range []signedkeys.Pin{first, next} {
		if err := verify(p); err != nil {
			t.Errorf("during the rotation, pin %s: %v", p, err)
		}
	}
	if got := list(); len(got) != 2 || got[0].State != "current" || got[1].Pin != next.String() || got[1].State != "next" {
		t.Fatalf("pins during the rotation: %+v", got)
	}

	if r := h.do(t, "POST", "/v1/key-pins:promote", testToken, `{}`); r.status != 200 || !strings.Contains(string(r.body), next.String()) {
		t.Fatalf("promote: %d %s", r.status, r.body)
	}
	if err := verify(next); err != nil {
		t.Errorf("after promotion, the new pin: %v", err)
	}
	if err := verify(first); !errors.Is(err, signedkeys.ErrNotSigned) {
		t.Errorf("after promotion, the old pin: %v; want ErrNotSigned", err)
	}
	if got := list(); len(got) != 2 || got[0].Pin != next.String() || got[0].State != "current" || got[1].State != "retired" {
		t.Fatalf("pins after promotion: %+v", got)
	}
	if p, err := h.srv.EnsureKeyPin(ctx); err != nil || p != next {
		t.Errorf("EnsureKeyPin after promotion: %s, %v; want the promoted pin", p, err)
	}
	mustProblem(t, h.do(t, "GET", "/v1/key-pins", "", nil), http.StatusUnauthorized)
}

func TestKeyPinGRPC(t *testing.T) {
	h := newHarness(t, nil)
	pin, err := h.srv.EnsureKeyPin(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(h.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := veilv1.NewKeyPinServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.ListKeyPins(ctx, &veilv1.ListKeyPinsRequest{}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("no token: %v", err)
	}
	actx := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+testToken)
	resp, err := c.ListKeyPins(actx, &veilv1.ListKeyPinsRequest{})
	if err != nil || len(resp.Pins) != 1 || resp.Pins[0].Pin != pin.String() || resp.Pins[0].CreateTime == nil {
		t.Fatalf("ListKeyPins: %v, %v", resp, err)
	}
	if _, err := c.PromoteKeyPin(actx, &veilv1.PromoteKeyPinRequest{}); status.Code(err) != codes.NotFound {
		t.Fatalf("promote without a rotation: %v", err)
	}
}
