package storage

import (
	"cmp"
	"context"
	"errors"
	"hash/fnv"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/jackc/pgx/v5"
)

// Chores (key rotation, retention, the mixer, releases) run on one replica
// at a time: the one holding a PostgreSQL session advisory lock on a
// connection of its own. PostgreSQL releases the lock when that session
// ends — the process exits or is killed, the connection breaks — so no
// lease needs renewing and no home-made consensus is involved.
//
// A holder that is cut off from the database must stop before another
// replica can start. Both ends of the lock's connection use short TCP
// keepalives (LeaderConfig.Keepalive) instead of the kernel's two-hour
// default, so the server ends a silent holder's session within about
// Keepalive×3; the holder checks its connection every Check, with a
// timeout of Keepalive, and stops its chores at the first failure — before
// the server frees the lock when Check + Keepalive < Keepalive×3, which the
// defaults give (2 s + 2 s < 6 s).

// LeaderConfig configures RunAsLeader. The zero value works.
type LeaderConfig struct {
	// Name names the lock; replicas that run the same chores use the
	// same name ("chores" by default).
	Name string
	// Retry is how often a replica that is not leading tries to take the
	// lock (default 5 s): how long a chore waits after its holder died.
	Retry time.Duration
	// Check is how often the holder confirms its lock connection
	// (default 2 s).
	Check time.Duration
	// Keepalive is the TCP keepalive idle time and interval of the lock's
	// connection, both ends (default 2 s).
	Keepalive time.Duration
	Logger    *slog.Logger
	// Leading, when set, is told when this replica starts (true) and
	// stops (false) leading: for metrics and tests.
	Leading func(bool)
}

// RunAsLeader runs chores whenever this process holds the named lock,
// until ctx ends. chores gets a context that ends when the lock is lost;
// RunAsLeader waits for chores to return before trying to lead again, so
// two copies never run in one process either.
func (db *DB) RunAsLeader(ctx context.Context, cfg LeaderConfig, chores func(ctx context.Context)) {
	cfg.Name = cmp.Or(cfg.Name, "chores")
	cfg.Retry = cmp.Or(cfg.Retry, 5*time.Second)
	cfg.Check = cmp.Or(cfg.Check, 2*time.Second)
	cfg.Keepalive = cmp.Or(cfg.Keepalive, 2*time.Second)
	log := cmp.Or(cfg.Logger, db.log, slog.New(slog.DiscardHandler))
	key := leaderKey(cfg.Name)
	for {
		conn, held, err := db.tryLead(ctx, key, cfg)
		switch {
		case err != nil && ctx.Err() == nil:
			log.Warn("chores: cannot reach the database to take the lead", "lock", cfg.Name, "error", err.Error())
		case held:
			log.Info("chores: leading", "lock", cfg.Name)
			db.lead(ctx, conn, cfg, chores)
			log.Info("chores: no longer leading", "lock", cfg.Name)
		}
		if conn != nil {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.Check)
			_ = conn.Close(closeCtx) // ends the session: the lock goes with it
			cancel()
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(cfg.Retry):
		}
	}
}

// tryLead opens the lock's connection and tries the lock once.
func (db *DB) tryLead(ctx context.Context, key int64, cfg LeaderConfig) (*pgx.Conn, bool, error) {
	cc := db.pool.Config().ConnConfig.Copy()
	ka := net.KeepAliveConfig{Enable: true, Idle: cfg.Keepalive, Interval: cfg.Keepalive, Count: 2}
	d := &net.Dialer{Timeout: cmp.Or(cc.ConnectTimeout, 5*time.Second), KeepAliveConfig: ka}
	cc.DialFunc = d.DialContext
	secs := strconv.Itoa(max(1, int(cfg.Keepalive/time.Second)))
	if cc.RuntimeParams == nil {
		cc.RuntimeParams = map[string]string{}
	}
	// The server's side: end the session of a holder that went silent.
	cc.RuntimeParams["tcp_keepalives_idle"] = secs
	cc.RuntimeParams["tcp_keepalives_interval"] = secs
	cc.RuntimeParams["tcp_keepalives_count"] = "2"
	cc.RuntimeParams["tcp_user_timeout"] = strconv.Itoa(int(2 * cfg.Keepalive / time.Millisecond))
	cctx, cancel := context.WithTimeout(ctx, cfg.Retry+cfg.Check)
	defer cancel()
	conn, err := pgx.ConnectConfig(cctx, cc)
	if err != nil {
		return nil, false, err
	}
	var held bool
	if err := conn.QueryRow(cctx, `SELECT pg_try_advisory_lock($1)`, key).Scan(&held); err != nil {
		_ = conn.Close(context.WithoutCancel(ctx))
		return nil, false, err
	}
	return conn, held, nil
}

// lead runs chores while conn keeps answering, and returns once they
// have stopped.
func (db *DB) lead(ctx context.Context, conn *pgx.Conn, cfg LeaderConfig, chores func(context.Context)) {
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	if cfg.Leading != nil {
		cfg.Leading(true)
	}
	go func() {
		defer close(done)
		chores(cctx)
	}()
	t := time.NewTicker(cfg.Check)
	defer t.Stop()
	for alive := true; alive; {
		select {
		case <-ctx.Done():
			alive = false
		case <-done:
			alive = false
		case <-t.C:
			pctx, pcancel := context.WithTimeout(ctx, cfg.Keepalive)
			err := conn.Ping(pctx)
			pcancel()
			if err != nil && !errors.Is(ctx.Err(), context.Canceled) {
				alive = false
			}
		}
	}
	cancel()
	<-done
	if cfg.Leading != nil {
		cfg.Leading(false)
	}
}

// leaderKey maps a lock name to PostgreSQL's 64-bit advisory lock key,
// prefixed so veil's locks do not collide with another application's.
func leaderKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("veil/leader/" + name))
	return int64(h.Sum64())
}
