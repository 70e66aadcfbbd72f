package storage

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// health tracks whether the database answers. After a failure that says
// it cannot be reached, the writer refuses requests (Submit answers
// ErrUnavailable, the API 503) and the monitor pings with backoff until it
// answers; while up, it pings when the writer has been idle a second.
type health struct {
	db     *DB
	log    *slog.Logger
	up     atomic.Bool
	lastOK atomic.Int64 // unix nanos of the last successful commit or ping
	poke   chan struct{}
	done   chan struct{}
}

func (h *health) init(db *DB, log *slog.Logger) {
	h.db, h.log = db, log
	h.poke = make(chan struct{}, 1)
	h.done = make(chan struct{})
	h.up.Store(true)
	h.ok()
}

func (h *health) ok() { h.lastOK.Store(time.Now().UnixNano()) }

// wait waits for monitor to return.
func (h *health) wait() { <-h.done }

// unavailable reports an error that says the database cannot be reached,
// as opposed to one about the request.
func unavailable(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return true // network, timeout, closed pool: not a server verdict
	}
	switch {
	case len(pe.Code) == 5 && pe.Code[:2] == "08", // connection exception
		pe.Code == "57P01", pe.Code == "57P02", pe.Code == "57P03", // shutdown, cannot connect now
		len(pe.Code) == 5 && pe.Code[:2] == "53": // insufficient resources
		return true
	}
	return false
}

func (h *health) markDown(err error) {
	if h.up.Swap(false) {
		h.log.Warn("database unavailable; writer refusing requests until it is back", "error_kind", errorKind(err))
	}
	select {
	case h.poke <- struct{}{}:
	default:
	}
}

// monitor runs until ctx ends.
func (h *health) monitor(ctx context.Context) {
	defer close(h.done)
	backoff := 100 * time.Millisecond
	t := time.NewTimer(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-h.poke:
		case <-t.C:
		}
		if h.up.Load() && time.Since(time.Unix(0, h.lastOK.Load())) < time.Second {
			t.Reset(time.Second)
			continue
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := h.db.pool.Ping(pctx)
		cancel()
		switch {
		case err == nil:
			h.ok()
			backoff = 100 * time.Millisecond
			if !h.up.Swap(true) {
				h.log.Info("database reachable again; writer accepting requests")
			}
			t.Reset(time.Second)
		case ctx.Err() != nil:
			return
		default:
			h.markDown(err)
			// Drain the poke markDown just sent; the timer paces retries.
			select {
			case <-h.poke:
			default:
			}
			jitter := time.Duration(rand.Int64N(int64(backoff) / 2))
			t.Reset(backoff + jitter)
			backoff = min(backoff*2, 3*time.Second)
		}
	}
}
