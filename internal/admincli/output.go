package admincli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// jsonOptions write what the REST API writes: proto field names, every
// field present.
var jsonOptions = protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: true}

// writeJSON prints msgs as exactly one JSON document: the message itself,
// or, when list is set, an array of them. protojson varies its whitespace
// on purpose, so the document is re-indented for stable output.
func writeJSON(w io.Writer, list bool, msgs ...proto.Message) error {
	var raw bytes.Buffer
	if list {
		raw.WriteByte('[')
	}
	for i, m := range msgs {
		if i > 0 {
			raw.WriteByte(',')
		}
		b, err := jsonOptions.Marshal(m)
		if err != nil {
			return err
		}
		raw.Write(b)
	}
	if list {
		raw.WriteByte(']')
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw.Bytes(), "", "  "); err != nil {
		return err
	}
	out.WriteByte('\n')
	_, err := w.Write(out.Bytes())
	return err
}

// table writes aligned columns, one row per call to row.
type table struct{ tw *tabwriter.Writer }

func newTable(w io.Writer, header ...string) *table {
	t := &table{tw: tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)}
	t.row(header...)
	return t
}

func (t *table) row(cells ...string) {
	for i, c := range cells {
		if c == "" {
			c = "-"
		}
		// A cell is one line: a tab or a newline would break the
		// columns (values come from the server, and dimension values
		// from events).
		c = strings.Map(func(r rune) rune {
			if r == '\t' || r == '\n' || r == '\r' {
				return ' '
			}
			return r
		}, c)
		if i > 0 {
			fmt.Fprint(t.tw, "\t")
		}
		fmt.Fprint(t.tw, c)
	}
	fmt.Fprintln(t.tw)
}

func (t *table) flush() error { return t.tw.Flush() }

// timeCell formats a timestamp in UTC, "" when absent.
func timeCell(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return ""
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}

// numCell formats a float without a needless exponent or trailing zeros.
func numCell(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// valueCell formats one dimension value.
func valueCell(v *structpb.Value) string {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_NumberValue:
		return numCell(k.NumberValue)
	case *structpb.Value_BoolValue:
		return strconv.FormatBool(k.BoolValue)
	case nil, *structpb.Value_NullValue:
		return ""
	}
	b, err := protojson.Marshal(v)
	if err != nil {
		return "?"
	}
	return string(b)
}
