package ingest

import (
	"context"
	"errors"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
)

// SchemaStore lets a schema.Registry read registered documents from
// storage. It maps storage's not-found to schema.ErrNotFound, which the
// registry caches briefly as a negative answer; any other error is an
// outage and is not cached.
type SchemaStore struct{ DB *storage.DB }

// GetSchema implements schema.Store.
func (s SchemaStore) GetSchema(ctx context.Context, name string, version int) ([]byte, error) {
	rec, err := s.DB.GetSchema(ctx, name, version)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, schema.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	return rec.Document, nil
}
