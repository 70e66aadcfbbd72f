package storage

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

var (
	// ErrNotFound reports a missing schema version or key.
	ErrNotFound = errors.New("storage: not found")
	// ErrSchemaConflict reports a registration of an existing schema
	// version with a different document: versions are immutable.
	ErrSchemaConflict = errors.New("storage: schema version exists with a different document")
)

// SchemaRecord is one registered schema version.
type SchemaRecord struct {
	Name      string
	Version   int
	Document  []byte
	CreatedAt time.Time
	// Disabled reports that the version refuses new events
	// (SetSchemaDisabled).
	Disabled bool
}

// PutSchema registers a schema version. Registering the identical document
// again returns (false, nil); a different one, ErrSchemaConflict.
func (db *DB) PutSchema(ctx context.Context, s SchemaRecord) (created bool, err error) {
	if s.Name == "" || s.Version <= 0 || len(s.Document) == 0 {
		return false, errors.New("storage: schema needs a name, a positive version and a document")
	}
	tag, err := db.pool.Exec(ctx, `INSERT INTO schemas (name, version, document) VALUES ($1, $2, $3)
		ON CONFLICT (name, version) DO NOTHING`, s.Name, int32(s.Version), s.Document)
	if err != nil {
		return false, fmt.Errorf("storage: put schema: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	old, err := db.GetSchema(ctx, s.Name, s.Version)
	if err != nil {
		return false, err
	}
	if !bytes.Equal(old.Document, s.Document) {
		return false, ErrSchemaConflict
	}
	return false, nil
}

// GetSchema returns one schema version, or ErrNotFound.
func (db *DB) GetSchema(ctx context.Context, name string, version int) (SchemaRecord, error) {
	rows, err := db.pool.Query(ctx, `SELECT s.name, s.version, s.document, s.created_at, d.name IS NOT NULL
		FROM schemas s LEFT JOIN schema_disabled d USING (name, version)
		WHERE s.name = $1 AND s.version = $2`, name, int32(version))
	if err != nil {
		return SchemaRecord{}, fmt.Errorf("storage: get schema: %w", err)
	}
	s, err := pgx.CollectExactlyOneRow(rows, scanSchema)
	if errors.Is(err, pgx.ErrNoRows) {
		return SchemaRecord{}, ErrNotFound
	}
	return s, err
}

// ListSchemasAfter returns at most limit schema versions that sort after
// (afterName, afterVersion) in (name, version) order: a page of the
// listing, resumed where the previous page ended ("", 0 for the first).
func (db *DB) ListSchemasAfter(ctx context.Context, afterName string, afterVersion, limit int) ([]SchemaRecord, error) {
	if limit <= 0 {
		return nil, errors.New("storage: list schemas: the page size must be positive")
	}
	rows, err := db.pool.Query(ctx, `SELECT s.name, s.version, s.document, s.created_at, d.name IS NOT NULL
		FROM schemas s LEFT JOIN schema_disabled d USING (name, version)
		WHERE (s.name, s.version) > ($1, $2) ORDER BY s.name, s.version LIMIT $3`, afterName, int32(afterVersion), limit)
	if err != nil {
		return nil, fmt.Errorf("storage: list schemas: %w", err)
	}
	return pgx.CollectRows(rows, scanSchema)
}

func scanSchema(row pgx.CollectableRow) (SchemaRecord, error) {
	var s SchemaRecord
	var v int32
	err := row.Scan(&s.Name, &v, &s.Document, &s.CreatedAt, &s.Disabled)
	s.Version = int(v)
	return s, err
}

// SetSchemaDisabled disables (or enables again) a registered schema
// version: a disabled version refuses new events; what it stored stays.
// changed reports whether the state was different before; an unknown
// version is ErrNotFound.
func (db *DB) SetSchemaDisabled(ctx context.Context, name string, version int, disabled bool) (changed bool, err error) {
	var q string
	if disabled {
		q = `INSERT INTO schema_disabled (name, version)
			SELECT name, version FROM schemas WHERE name = $1 AND version = $2
			ON CONFLICT (name, version) DO NOTHING`
	} else {
		q = `DELETE FROM schema_disabled WHERE name = $1 AND version = $2`
	}
	tag, err := db.pool.Exec(ctx, q, name, int32(version))
	if err != nil {
		return false, fmt.Errorf("storage: disable schema: %w", err)
	}
	if tag.RowsAffected() == 1 {
		return true, nil
	}
	if _, err := db.GetSchema(ctx, name, version); err != nil {
		return false, err
	}
	return false, nil
}

// SchemaKey names a schema version.
type SchemaKey struct {
	Name    string
	Version int
}

// DisabledSchemas lists the disabled schema versions.
func (db *DB) DisabledSchemas(ctx context.Context) ([]SchemaKey, error) {
	rows, err := db.pool.Query(ctx, `SELECT name, version FROM schema_disabled ORDER BY name, version`)
	if err != nil {
		return nil, fmt.Errorf("storage: disabled schemas: %w", err)
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SchemaKey, error) {
		var k SchemaKey
		var v int32
		err := row.Scan(&k.Name, &v)
		k.Version = int(v)
		return k, err
	})
}
