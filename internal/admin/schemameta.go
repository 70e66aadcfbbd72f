package admin

import (
	"encoding/base64"
	"encoding/binary"
	"github.com/veil-telemetry/veil/internal/problem"
	"sync"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
)

// schemaKey names one schema version.
type schemaKey struct {
	name    string
	version int
}

// schemaMeta is what the API reports of a schema version beyond its
// document: the result of compiling it.
type schemaMeta struct {
	granularity   string
	retentionDays int
	dimensions    []string
	measures      []string
}

// maxCachedSchemaMeta bounds the cache; past it, the cache starts over.
// Each entry is a few hundred bytes.
const maxCachedSchemaMeta = 10000

// schemaMetaCache keeps the compiled metadata of each schema version, so
// listing schemas does not compile every document on every call. Versions
// are immutable (the schemas table refuses updates), so an entry never
// goes stale. The zero value is ready; compile is schema.Compile unless a
// test replaces it.
type schemaMetaCache struct {
	compile func([]byte) (*schema.Schema, error)

	mu sync.Mutex
	m  map[schemaKey]*schemaMeta
}

// get returns rec's metadata, compiling its document on a miss. The
// stored document compiled when it was registered, so a failure is
// internal.
func (c *schemaMetaCache) get(rec storage.SchemaRecord) (*schemaMeta, error) {
	k := schemaKey{rec.Name, rec.Version}
	c.mu.Lock()
	m, ok := c.m[k]
	compile := c.compile
	c.mu.Unlock()
	if ok {
		return m, nil
	}
	if compile == nil {
		compile = schema.Compile
	}
	sch, err := compile(rec.Document)
	if err != nil {
		return nil, &problem.Error{Kind: problem.Internal, Err: err}
	}
	m = &schemaMeta{
		granularity:   sch.Granularity,
		retentionDays: sch.RetentionDays,
		dimensions:    sch.Dimensions,
		measures:      sch.Measures,
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= maxCachedSchemaMeta {
		c.m = map[schemaKey]*schemaMeta{}
	}
	c.m[k] = m
	c.mu.Unlock()
	return m, nil
}

// A page token is the last schema version of the previous page, encoded
// base64url(uvarint(version) || name). It is opaque to clients and
// carries nothing they could not list.

// pageToken encodes k as a page token.
func pageToken(k schemaKey) string {
	b := binary.AppendUvarint(nil, uint64(k.version))
	return base64.RawURLEncoding.EncodeToString(append(b, k.name...))
}

// parsePageToken decodes a page token; ok is false for anything pageToken
// could not have made.
func parsePageToken(t string) (k schemaKey, ok bool) {
	if len(t) > 2*(binary.MaxVarintLen32+schema.MaxNameLength) {
		return k, false
	}
	b, err := base64.RawURLEncoding.DecodeString(t)
	if err != nil {
		return k, false
	}
	v, n := binary.Uvarint(b)
	if n <= 0 || v < 1 || v > 1<<31-1 {
		return k, false
	}
	name := string(b[n:])
	if name == "" || len(name) > schema.MaxNameLength {
		return k, false
	}
	return schemaKey{name, int(v)}, true
}
