package admincli

import (
	"context"
	"errors"
	"fmt"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// ErrNoKeyPin is returned by KeyPin when the server has no current
// key-document signing key (veil serve creates one at start).
var ErrNoKeyPin = errors.New("the server has no key-document signing key yet; veil serve creates one when it starts")

// KeyPin prints the current key pin alone on one line, so that a shell can
// take it whole: --key-pin "$(veil admin keys pin)". With JSON it prints
// the API's KeyPin message.
func (c *CLI) KeyPin(ctx context.Context) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.keyPins.ListKeyPins(cctx, &veilv1.ListKeyPinsRequest{})
	if err != nil {
		return c.problem(err)
	}
	for _, p := range resp.GetPins() {
		if p.GetState() != "current" {
			continue
		}
		if c.cfg.JSON {
			return writeJSON(c.cfg.Out, false, p)
		}
		_, err := fmt.Fprintln(c.cfg.Out, p.GetPin())
		return err
	}
	return ErrNoKeyPin
}

// ListKeyPins prints every key-document signing key by its pin.
func (c *CLI) ListKeyPins(ctx context.Context) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.keyPins.ListKeyPins(cctx, &veilv1.ListKeyPinsRequest{})
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	return c.pinTable(resp.GetPins())
}

// AddKeyPin starts a rotation of the signing key and prints the next pin.
func (c *CLI) AddKeyPin(ctx context.Context) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.keyPins.AddKeyPin(cctx, &veilv1.AddKeyPinRequest{})
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	return c.pinTable([]*veilv1.KeyPin{resp})
}

// PromoteKeyPin ends a rotation and prints the new current pin.
func (c *CLI) PromoteKeyPin(ctx context.Context) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.keyPins.PromoteKeyPin(cctx, &veilv1.PromoteKeyPinRequest{})
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	return c.pinTable([]*veilv1.KeyPin{resp})
}

func (c *CLI) pinTable(pins []*veilv1.KeyPin) error {
	t := newTable(c.cfg.Out, "PIN", "STATE", "CREATED", "RETIRED")
	for _, p := range pins {
		t.row(p.GetPin(), p.GetState(), timeCell(p.GetCreateTime()), timeCell(p.GetRetireTime()))
	}
	return t.flush()
}
