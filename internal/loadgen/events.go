package loadgen

import (
	"crypto/rand"
	"encoding/base64"
	randv2 "math/rand/v2"
	"strconv"
)

// Name and version of the benchmark's event schema.
const (
	SchemaName    = "bench.session"
	SchemaVersion = 1
)

// SchemaDocument is the event schema the full and ingest modes register: a
// realistic six-field event, four dimensions and two measures, every
// string bounded so it passes veil's schema lint.
const SchemaDocument = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-veil": {"name": "bench.session", "version": 1,
             "granularity": "hour", "retention_days": 7},
  "type": "object",
  "additionalProperties": false,
  "required": ["os", "app_version"],
  "properties": {
    "os":             {"enum": ["android", "ios", "web", "linux"], "x-veil-role": "dimension"},
    "app_version":    {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$",
                       "maxLength": 16, "x-veil-role": "dimension"},
    "channel":        {"enum": ["stable", "beta", "nightly"], "x-veil-role": "dimension"},
    "network":        {"enum": ["wifi", "cellular", "ethernet", "offline"], "x-veil-role": "dimension"},
    "duration_ms":    {"type": "integer", "minimum": 0, "maximum": 86400000, "x-veil-role": "measure"},
    "frames_dropped": {"type": "integer", "minimum": 0, "maximum": 1000000, "x-veil-role": "measure"}
  }
}`

var (
	benchOS       = [...]string{"android", "ios", "web", "linux"}
	benchChannel  = [...]string{"stable", "beta", "nightly"}
	benchNetwork  = [...]string{"wifi", "cellular", "ethernet", "offline"}
	benchVersions = [...]string{"1.0", "1.1", "2.0", "2.1", "2.2", "3.0"}
)

// AppendBatch appends the JSON body of POST /v1/events: a fresh random
// 128-bit batch_id (the idempotency key; never reused) and n events of
// SchemaDocument with values drawn from rng.
func AppendBatch(b []byte, rng *randv2.Rand, n int) []byte {
	var id [16]byte
	rand.Read(id[:])
	b = append(b, `{"batch_id":"`...)
	b = base64.RawURLEncoding.AppendEncode(b, id[:])
	b = append(b, `","events":[`...)
	for i := range n {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"schema":"`+SchemaName+`","version":`...)
		b = strconv.AppendInt(b, SchemaVersion, 10)
		b = append(b, `,"fields":{"os":"`...)
		b = append(b, benchOS[rng.IntN(len(benchOS))]...)
		b = append(b, `","app_version":"`...)
		b = append(b, benchVersions[rng.IntN(len(benchVersions))]...)
		b = append(b, `","channel":"`...)
		b = append(b, benchChannel[rng.IntN(len(benchChannel))]...)
		b = append(b, `","network":"`...)
		b = append(b, benchNetwork[rng.IntN(len(benchNetwork))]...)
		b = append(b, `","duration_ms":`...)
		b = strconv.AppendInt(b, int64(rng.IntN(600000)), 10)
		b = append(b, `,"frames_dropped":`...)
		b = strconv.AppendInt(b, int64(rng.IntN(120)), 10)
		b = append(b, "}}"...)
	}
	return append(b, "]}"...)
}
