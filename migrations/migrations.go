// Package migrations holds veil's PostgreSQL schema as numbered SQL files,
// embedded in the binary and applied in order by storage.Migrate (through
// jackc/tern). A file, once released, is never edited: a change is a new
// file with the next number.
//
// Files are tern templates: avoid "{{" in SQL.
package migrations

import "embed"

// FS holds the migration files, named NNN_description.sql.
//
//go:embed *.sql
var FS embed.FS
