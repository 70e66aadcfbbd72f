package sdk

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// event is one recorded event, already encoded as the JSON object the
// ingest API takes: {"schema":"…","version":N,"fields":{…}}. Encoding at
// Record time lets the caller reuse its map and makes batch sizes exact.
type event struct {
	seq     uint64    // 0 for events restored from the queue directory
	at      time.Time // when Record queued it
	schema  string
	version int
	data    []byte
}

// appendEvent appends the JSON encoding of an event. Common scalar types
// are encoded directly (this is the SDK's hot path); anything else goes
// through encoding/json, so the server sees exactly what it would for
// json.Marshal of the same map, up to number formatting.
func appendEvent(dst []byte, schema string, version int, fields map[string]any) ([]byte, error) {
	dst = append(dst, `{"schema":`...)
	dst = appendJSONString(dst, schema)
	dst = append(dst, `,"version":`...)
	dst = strconv.AppendInt(dst, int64(version), 10)
	dst = append(dst, `,"fields":{`...)
	// Collect the pairs and sort them by key (insertion sort: events have
	// a handful of fields), so the encoding is deterministic and gzip finds
	// the repetition between events of one schema.
	type pair struct {
		k string
		v any
	}
	var stack [16]pair
	ps := stack[:0]
	for k, v := range fields {
		ps = append(ps, pair{k, v})
		for j := len(ps) - 1; j > 0 && ps[j].k < ps[j-1].k; j-- {
			ps[j], ps[j-1] = ps[j-1], ps[j]
		}
	}
	for i, p := range ps {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, p.k)
		dst = append(dst, ':')
		var err error
		if dst, err = appendJSONValue(dst, p.v); err != nil {
			return nil, fmt.Errorf("veil: field %q: %w", p.k, err)
		}
	}
	return append(dst, "}}"...), nil
}

func appendJSONValue(dst []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case nil:
		return append(dst, "null"...), nil
	case string:
		return appendJSONString(dst, v), nil
	case bool:
		return strconv.AppendBool(dst, v), nil
	case int:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int8:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int16:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int32:
		return strconv.AppendInt(dst, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(dst, v, 10), nil
	case uint:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint8:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint16:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint32:
		return strconv.AppendUint(dst, uint64(v), 10), nil
	case uint64:
		return strconv.AppendUint(dst, v, 10), nil
	case float32:
		return appendJSONFloat(dst, float64(v), 32)
	case float64:
		return appendJSONFloat(dst, v, 64)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(dst, b...), nil
}

func appendJSONFloat(dst []byte, f float64, bits int) ([]byte, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return nil, fmt.Errorf("unsupported value %v", f)
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits), nil
}

// appendJSONString appends s as a JSON string (RFC 8259 §7). Invalid UTF-8
// is replaced by U+FFFD, as encoding/json does.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
