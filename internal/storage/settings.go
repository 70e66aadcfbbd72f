package storage

import (
	"context"
	"fmt"
	"strconv"
)

// LoggingWarnings reads the server settings that could make PostgreSQL
// timestamp or log content (DESIGN.md invariant 3) and returns one warning
// for each that does: commit timestamps on (they date every staging row
// and dedup claim to the microsecond), statements logged (their
// parameters hold sealed payloads and dedup hashes), statement durations
// logged, or bind parameters logged. The managed server sets them all
// safe; `veil serve --database-url` calls this at start. Sessions of this
// package set log_parameter_max_length_on_error = 0 themselves.
func (db *DB) LoggingWarnings(ctx context.Context) ([]string, error) {
	var track, stmt, dur, plen, verbosity string
	err := db.pool.QueryRow(ctx, `SELECT current_setting('track_commit_timestamp'), current_setting('log_statement'),
		current_setting('log_min_duration_statement'), current_setting('log_parameter_max_length'),
		current_setting('log_error_verbosity')`).Scan(&track, &stmt, &dur, &plen, &verbosity)
	if err != nil {
		return nil, fmt.Errorf("storage: read server settings: %w", err)
	}
	var out []string
	if track != "off" {
		out = append(out, "track_commit_timestamp is on: the server dates every acknowledge transaction to the microsecond; set it off")
	}
	if stmt != "none" {
		out = append(out, fmt.Sprintf("log_statement = %s: statements (with dedup hashes and sealed payloads) reach the server log; set it to none", stmt))
	}
	if d, err := strconv.Atoi(dur); err != nil || d >= 0 {
		out = append(out, fmt.Sprintf("log_min_duration_statement = %s: slow statements and their parameters reach the server log with a timestamp; set it to -1", dur))
	}
	if n, err := strconv.Atoi(plen); err != nil || n != 0 {
		out = append(out, fmt.Sprintf("log_parameter_max_length = %s: logged statements carry their parameters; set it to 0", plen))
	}
	if verbosity == "verbose" || verbosity == "default" {
		out = append(out, fmt.Sprintf("log_error_verbosity = %s: error DETAIL lines can quote row data; set it to terse", verbosity))
	}
	return out, nil
}

// WarnAboutLogging logs LoggingWarnings' warnings (or that they could not
// be read), one line each.
func (db *DB) WarnAboutLogging(ctx context.Context) {
	warns, err := db.LoggingWarnings(ctx)
	if err != nil {
		db.log.Warn("could not check the database server's logging settings", "error_kind", errorKind(err))
		return
	}
	for _, w := range warns {
		db.log.Warn("database server setting could log or timestamp content: " + w)
	}
}
