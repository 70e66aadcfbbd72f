package storage

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The writer encodes each record's dimensions to JSON itself: the
// encoding is a rollup cell's key, so equal maps must encode equally (keys
// sorted), and encoding/json's reflection was a third of the writer's CPU
// when every event was a row (BenchmarkWriter).

// appendDims appends dims as a JSON object. Values are string, bool or an
// integer. The map is read once: its entries are copied out and sorted by
// key, so no value is looked up by its key again.
func appendDims(dst []byte, dims map[string]any) ([]byte, error) {
	var eb [16]entry[any] // no allocation for the usual few keys
	es := sortedEntries(eb[:0], dims)
	dst = append(dst, '{')
	for i := range es {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, es[i].k)
		dst = append(dst, ':')
		if err := checkText(es[i].k); err != nil {
			return nil, err
		}
		switch v := es[i].v.(type) {
		case string:
			if err := checkText(v); err != nil {
				return nil, err
			}
			dst = appendJSONString(dst, v)
		case bool:
			dst = strconv.AppendBool(dst, v)
		case int64:
			dst = strconv.AppendInt(dst, v, 10)
		case int:
			dst = strconv.AppendInt(dst, int64(v), 10)
		case int32:
			dst = strconv.AppendInt(dst, int64(v), 10)
		default:
			return nil, fmt.Errorf("%w: dimension of type %T", ErrInvalidRecord, v)
		}
	}
	return append(dst, '}'), nil
}

// entry is one map entry, copied out to be sorted by key.
type entry[V any] struct {
	k string
	v V
}

// sortedEntries appends m's entries to es, sorted by key (bytewise, so
// equal maps encode equally; the rollup pre-aggregation relies on that).
func sortedEntries[V any](es []entry[V], m map[string]V) []entry[V] {
	start := len(es)
	for k, v := range m {
		es = append(es, entry[V]{k, v})
	}
	slices.SortFunc(es[start:], func(a, b entry[V]) int { return strings.Compare(a.k, b.k) })
	return es
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string (RFC 8259, section 7);
// invalid UTF-8 becomes U+FFFD, as encoding/json does. Runs of bytes that
// need no escaping (all of a typical name or value) are copied at once.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && jsonSafe[s[j]] {
			j++
		}
		dst = append(dst, s[i:j]...)
		if i = j; i == len(s) {
			break
		}
		c := s[i]
		if c < utf8.RuneSelf {
			if c == '"' || c == '\\' {
				dst = append(dst, '\\', c)
			} else { // a control character
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+size]...)
		}
		i += size
	}
	return append(dst, '"')
}

// jsonSafe marks the ASCII bytes a JSON string holds as they are.
var jsonSafe = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// appendArrayString appends s as a double-quoted element of a PostgreSQL
// array literal.
func appendArrayString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return append(dst, '"')
}

func isUTF8(s string) bool { return utf8.ValidString(s) }
