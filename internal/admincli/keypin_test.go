package admincli

import (
	"errors"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/ohttp/signedkeys"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

func TestKeyPin(t *testing.T) {
	s := newServer(t, false)
	c := s.client(t, false)
	if err := c.KeyPin(ctx); !errors.Is(err, ErrNoKeyPin) {
		t.Fatalf("before veil serve made one: %v; want ErrNoKeyPin", err)
	}
	want, err := s.adm.EnsureKeyPin(ctx)
	if err != nil {
		t.Fatal(err)
	}

	// Exactly the pin and a newline: what $(veil admin keys pin) takes.
	if err := c.KeyPin(ctx); err != nil {
		t.Fatal(err)
	}
	out := c.take()
	if out != want.String()+"\n" {
		t.Fatalf("keys pin printed %q, want %q", out, want.String()+"\n")
	}
	if _, err := signedkeys.ParsePin(strings.TrimSuffix(out, "\n")); err != nil {
		t.Fatalf("printed pin does not parse: %v", err)
	}

	// The rotation: add, list, promote.
	if err := c.AddKeyPin(ctx); err != nil {
		t.Fatal(err)
	}
	rows := lines(c.take())
	if len(rows) != 2 || strings.Join(rows[0], " ") != "PIN STATE CREATED RETIRED" || rows[1][1] != "next" {
		t.Fatalf("keys pin add: %q", rows)
	}
	next := rows[1][0]
	p := asProblem(t, c.AddKeyPin(ctx))
	if p.Title != "Conflict" || !strings.Contains(p.Detail, "promote") {
		t.Errorf("second add: %v", p)
	}
	if err := c.ListKeyPins(ctx); err != nil {
		t.Fatal(err)
	}
	if rows := lines(c.take()); len(rows) != 3 || rows[1][0] != want.String() || rows[1][1] != "current" || rows[2][0] != next {
		t.Fatalf("keys pin list: %q", rows)
	}
	// During the rotation the pin apps ship is still the current one.
	if err := c.KeyPin(ctx); err != nil || c.take() != want.String()+"\n" {
		t.Fatalf("keys pin during the rotation: %v", err)
	}
	if err := c.PromoteKeyPin(ctx); err != nil {
		t.Fatal(err)
	}
	if rows := lines(c.take()); len(rows) != 2 || rows[1][0] != next || rows[1][1] != "current" {
		t.Fatalf("keys pin promote: %q", rows)
	}
	if err := c.KeyPin(ctx); err != nil || c.take() != next+"\n" {
		t.Fatalf("keys pin after promotion: %v", err)
	}
	p = asProblem(t, c.PromoteKeyPin(ctx))
	if p.Title != "Not found" || !strings.Contains(p.Detail, "pin add") {
		t.Errorf("promote without a rotation: %v", p)
	}

	// JSON: the API's message.
	j := s.client(t, true)
	if err := j.KeyPin(ctx); err != nil {
		t.Fatal(err)
	}
	var kp veilv1.KeyPin
	oneDocument(t, j.take(), &kp)
	if kp.GetPin() != next || kp.GetState() != "current" {
		t.Errorf("keys pin --json: %v", &kp)
	}
}
