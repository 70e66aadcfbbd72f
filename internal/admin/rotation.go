package admin

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"time"
)

// rotationJitter spreads replicas' scheduled rotations. Every replica
// computes the same due time from the shared key ring; waking at a random
// point of the next few minutes lets the first replica rotate and the
// others find a fresh key that is not due. Should two wake together
// anyway, RotateDue rotates only while the current key is the one it saw
// (storage.RotateKeyIf), so they make one key, not one each.
const rotationJitter = 5 * time.Minute

// rotationRetry is the wait after a failed rotation, before jitter.
const rotationRetry = time.Minute

// RunRotation rotates gateway keys on schedule until ctx ends: it wakes
// when the next current key falls due (plus a random jitter, see
// rotationJitter), and at least hourly, so clock jumps and other replicas'
// rotations are noticed. A failed rotation is logged and retried after
// about a minute.
func (s *Server) RunRotation(ctx context.Context) {
	rotationLoop(ctx, s.RotateDue, s.cfg.Now, rand.N[time.Duration], time.After, s.log)
}

// rotationLoop is RunRotation with its clock, randomness and timer
// injected.
func rotationLoop(ctx context.Context, due func(context.Context) (time.Time, error), now func() time.Time,
	jitter func(time.Duration) time.Duration, after func(time.Duration) <-chan time.Time, log *slog.Logger) {
	for {
		next, err := due(ctx)
		var wait time.Duration
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			log.Error("scheduled key rotation failed", "error", err.Error())
			wait = rotationRetry + jitter(rotationJitter/5)
		} else {
			wait = rotationWait(next, now(), jitter(rotationJitter))
		}
		select {
		case <-ctx.Done():
			return
		case <-after(wait):
		}
	}
}

// rotationWait is how long the rotation loop sleeps before its next check:
// until next plus jitter, at least a second, at most an hour.
func rotationWait(next, now time.Time, jitter time.Duration) time.Duration {
	d := next.Sub(now)
	if d >= time.Hour {
		return time.Hour
	}
	return min(max(d, time.Second)+jitter, time.Hour)
}
