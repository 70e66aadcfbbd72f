package admincli

import (
	"context"
	"fmt"
	"strconv"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// ListKeys prints the gateway's key ring. The table leaves out the key
// configurations (long hex); JSON has them.
func (c *CLI) ListKeys(ctx context.Context) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.keys.ListKeys(cctx, &veilv1.ListKeysRequest{})
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	return c.keyTable(resp.GetKeys())
}

// RotateKeys makes a new current key for each KEM named (every KEM with a
// current key when none is) and prints the new keys.
func (c *CLI) RotateKeys(ctx context.Context, kems []string) error {
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.keys.RotateKeys(cctx, &veilv1.RotateKeysRequest{Kems: kems})
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	return c.keyTable(resp.GetKeys())
}

// RetireKey retires the key with the given id at once and prints it.
func (c *CLI) RetireKey(ctx context.Context, id string) error {
	n, err := strconv.ParseUint(id, 10, 8)
	if err != nil {
		return &UsageError{Msg: fmt.Sprintf("key id %q: give a number from 0 to 255 (the ID column of veil admin keys list)", id)}
	}
	cctx, cancel := c.call(ctx)
	defer cancel()
	resp, err := c.keys.RetireKey(cctx, &veilv1.RetireKeyRequest{KeyId: uint32(n)})
	if err != nil {
		return c.problem(err)
	}
	if c.cfg.JSON {
		return writeJSON(c.cfg.Out, false, resp)
	}
	return c.keyTable([]*veilv1.Key{resp})
}

func (c *CLI) keyTable(keys []*veilv1.Key) error {
	t := newTable(c.cfg.Out, "ID", "KEM", "STATE", "CREATED", "RETIRES")
	for _, k := range keys {
		t.row(strconv.Itoa(int(k.GetKeyId())), fmt.Sprintf("%s (0x%04x)", k.GetKem(), k.GetKemId()),
			k.GetState(), timeCell(k.GetCreateTime()), timeCell(k.GetRetireTime()))
	}
	return t.flush()
}
