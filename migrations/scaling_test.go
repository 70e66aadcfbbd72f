package migrations_test

import (
	"io/fs"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/veil-telemetry/veil/migrations"
)

// table is what the migrations leave of one table: its columns and the
// column lists of its primary key and unique constraints.
type table struct {
	columns map[string]bool
	uniques [][]string
}

var (
	createTable = regexp.MustCompile(`(?s)CREATE (?:UNLOGGED )?TABLE (?:IF NOT EXISTS )?(?:public\.)?(\w+) \((.*?)\n\)`)
	dropTable   = regexp.MustCompile(`DROP TABLE (\w+);`)
	addColumn   = regexp.MustCompile(`(?s)ALTER TABLE (\w+)((?:\s*(?:ADD|DROP) COLUMN \w+[^,;]*,?)+);`)
	columnOp    = regexp.MustCompile(`(ADD|DROP) COLUMN (\w+)`)
	uniqueIndex = regexp.MustCompile(`CREATE UNIQUE INDEX \w+ ON (\w+) \(([^)]*)\)`)
	keyList     = regexp.MustCompile(`(?:PRIMARY KEY|UNIQUE) \(([^)]*)\)`)
	trigger     = regexp.MustCompile(`CREATE TRIGGER \w+ .*? ON (\w+)`)
)

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		out = append(out, strings.TrimSpace(f))
	}
	return out
}

// schemaFromMigrations applies the migrations' DDL as text (enough for
// the statements veil's migrations use; a parse miss fails the checks
// below rather than passing them).
func schemaFromMigrations(t *testing.T, sql string) map[string]*table {
	t.Helper()
	tables := map[string]*table{}
	type event struct {
		at int
		do func()
	}
	var evs []event
	for _, m := range createTable.FindAllStringSubmatchIndex(sql, -1) {
		name, body := sql[m[2]:m[3]], sql[m[4]:m[5]]
		evs = append(evs, event{m[0], func() {
			tb := &table{columns: map[string]bool{}}
			for line := range strings.SplitSeq(body, "\n") {
				line = strings.TrimSpace(line)
				if k := keyList.FindStringSubmatch(line); k != nil && !strings.HasPrefix(line, "CHECK") {
					tb.uniques = append(tb.uniques, splitList(k[1]))
					continue
				}
				f := strings.Fields(line)
				if len(f) < 2 || f[0] == "CHECK" {
					continue
				}
				tb.columns[f[0]] = true
				if strings.Contains(line, "PRIMARY KEY") || strings.Contains(line, " UNIQUE") {
					tb.uniques = append(tb.uniques, []string{f[0]})
				}
			}
			tables[name] = tb
		}})
	}
	for _, m := range dropTable.FindAllStringSubmatchIndex(sql, -1) {
		name := sql[m[2]:m[3]]
		evs = append(evs, event{m[0], func() { delete(tables, name) }})
	}
	for _, m := range addColumn.FindAllStringSubmatchIndex(sql, -1) {
		name, ops := sql[m[2]:m[3]], sql[m[4]:m[5]]
		evs = append(evs, event{m[0], func() {
			tb := tables[name]
			if tb == nil {
				t.Errorf("ALTER TABLE of unknown table %s", name)
				return
			}
			for _, op := range columnOp.FindAllStringSubmatch(ops, -1) {
				tb.columns[op[2]] = op[1] == "ADD"
			}
		}})
	}
	for _, m := range uniqueIndex.FindAllStringSubmatchIndex(sql, -1) {
		name, cols := sql[m[2]:m[3]], sql[m[4]:m[5]]
		evs = append(evs, event{m[0], func() {
			if tb := tables[name]; tb != nil {
				tb.uniques = append(tb.uniques, splitList(cols))
			}
		}})
	}
	sort.Slice(evs, func(i, j int) bool { return evs[i].at < evs[j].at })
	for _, e := range evs {
		e.do()
	}
	return tables
}

func allMigrations(t *testing.T) string {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("migrations: %v, %d files", err, len(names))
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		data, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		b.WriteString("\n")
	}
	return b.String()
}

// TestScalingPlanCoversSchema keeps docs/scaling.md's Citus plan and the
// migrations in step: every table has a row saying how it is placed, each
// distribution column exists, and — Citus's rule — every primary key and
// unique constraint of a distributed table contains its distribution
// column. It also checks the constructs the plan relies on veil avoiding.
func TestScalingPlanCoversSchema(t *testing.T) {
	sql := allMigrations(t)
	tables := schemaFromMigrations(t, sql)
	for _, want := range []string{"events", "rollups", "batch_keys", "key_ring"} {
		if tables[want] == nil {
			t.Fatalf("parsed no table %s from the migrations: the parser needs updating", want)
		}
	}
	if tables["rollup_measures"] != nil {
		t.Error("rollup_measures was dropped by migration 002 but is still parsed")
	}
	docBytes, err := os.ReadFile("../docs/scaling.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(docBytes)

	// Columns the plan adds when moving.
	for _, m := range regexp.MustCompile(`ALTER TABLE (\w+) ADD COLUMN (\w+)`).FindAllStringSubmatch(doc, -1) {
		if tb := tables[m[1]]; tb != nil {
			tb.columns[m[2]] = true
		}
	}
	distributed := map[string]string{}
	for _, m := range regexp.MustCompile(`create_distributed_table\('(\w+)', '(\w+)'`).FindAllStringSubmatch(doc, -1) {
		distributed[m[1]] = m[2]
	}
	for name, tb := range tables {
		if !regexp.MustCompile("(?m)^\\| [^|]*`" + name + "`").MatchString(doc) {
			t.Errorf("table %s has no row in docs/scaling.md's distribution table", name)
		}
		col, ok := distributed[name]
		if !ok {
			continue
		}
		if !tb.columns[col] {
			t.Errorf("%s is distributed by %s, which it does not have", name, col)
		}
		for _, u := range tb.uniques {
			if !slices.Contains(u, col) {
				t.Errorf("%s: unique key (%s) lacks the distribution column %s", name, strings.Join(u, ", "), col)
			}
		}
	}
	for name := range distributed {
		if tables[name] == nil {
			t.Errorf("docs/scaling.md distributes %s, which the migrations do not create", name)
		}
	}
	for _, m := range trigger.FindAllStringSubmatch(sql, -1) {
		if _, ok := distributed[m[1]]; ok {
			t.Errorf("trigger on %s, which the plan distributes", m[1])
		}
	}
	code := regexp.MustCompile(`--[^\n]*`).ReplaceAllString(sql, "")
	for _, avoided := range []string{`\b(SMALL|BIG)?SERIAL\b`, `GENERATED (ALWAYS|BY DEFAULT)`, `CREATE SEQUENCE`, `\bNEXTVAL\b`, `\bREFERENCES\b`} {
		if m := regexp.MustCompile(`(?i)` + avoided).FindString(code); m != "" {
			t.Errorf("the migrations use %s, which docs/scaling.md says veil avoids", m)
		}
	}
}

func TestSchemaParser(t *testing.T) {
	tables := schemaFromMigrations(t, "CREATE TABLE a (\n\tx int PRIMARY KEY,\n\ty text NOT NULL,\n\tUNIQUE (y, x)\n);\n"+
		"ALTER TABLE a ADD COLUMN z int, DROP COLUMN y;\nCREATE UNIQUE INDEX a_z ON a (z) WHERE z > 0;\n"+
		"CREATE TABLE b (\n\tq int\n);\nDROP TABLE b;\n")
	a := tables["a"]
	if a == nil || tables["b"] != nil {
		t.Fatalf("tables %v", tables)
	}
	if !a.columns["x"] || a.columns["y"] || !a.columns["z"] {
		t.Errorf("columns %v", a.columns)
	}
	if len(a.uniques) != 3 || !slices.Equal(a.uniques[1], []string{"y", "x"}) || !slices.Equal(a.uniques[2], []string{"z"}) {
		t.Errorf("uniques %v", a.uniques)
	}
}
