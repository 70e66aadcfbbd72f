package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditRecord is one state-changing admin call: who made it (the token's
// name, never the token), what it was and what it changed.
type AuditRecord struct {
	At     time.Time
	Actor  string
	Action string
	Target string
}

// InsertAudit appends r to the audit log; its time is the database's.
func (db *DB) InsertAudit(ctx context.Context, r AuditRecord) error {
	if r.Actor == "" || r.Action == "" {
		return errors.New("storage: an audit record needs an actor and an action")
	}
	if _, err := db.pool.Exec(ctx, `INSERT INTO audit_log (actor, action, target) VALUES ($1, $2, $3)`,
		r.Actor, r.Action, r.Target); err != nil {
		return fmt.Errorf("storage: audit: %w", err)
	}
	return nil
}

// ListAudit returns the audit records at or after since, oldest first, at
// most limit.
func (db *DB) ListAudit(ctx context.Context, since time.Time, limit int) ([]AuditRecord, error) {
	rows, err := db.pool.Query(ctx, `SELECT at, actor, action, target FROM audit_log
		WHERE at >= $1 ORDER BY at LIMIT $2`, since, limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list audit: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (AuditRecord, error) {
		var r AuditRecord
		err := row.Scan(&r.At, &r.Actor, &r.Action, &r.Target)
		return r, err
	})
}
