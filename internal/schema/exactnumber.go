package schema

import (
	"encoding/json"
	"math"
	"math/big"
	"strconv"
	"strings"
)

// maxExponent bounds the exponent of a number Float64Exact compares
// exactly: float64 spans about 1e±308, so a longer exponent is never
// exact, and comparing it would make big.Rat build a huge power of ten.
const maxExponent = 400

// Float64Exact reports whether the JSON number n denotes exactly the
// value of a float64, and returns that float64. A schema document sent
// as google.protobuf.Struct (the gRPC API) carries its numbers as
// float64, so only such numbers survive it unchanged; 9999999999999999999,
// for example, would arrive as 10000000000000000000.
func Float64Exact(n json.Number) (float64, bool) {
	s := string(n)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) {
		return 0, false
	}
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		if err != nil || e > maxExponent || e < -maxExponent {
			return 0, false
		}
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return 0, false
	}
	fr := new(big.Rat)
	if fr.SetFloat64(f) == nil {
		return 0, false
	}
	return f, fr.Cmp(r) == 0
}
