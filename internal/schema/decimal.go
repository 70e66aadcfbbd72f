package schema

import (
	"bytes"
	"math"
	"math/bits"
)

// decimal is the exact value of a JSON number (RFC 8259 §6), as the
// compiled checker compares it: 0.d₁d₂…dₙ × 10^exp with no leading or
// trailing zero digit, so that equal values have equal decimals. It lives
// on the stack: a number Check reads has at most maxNumberText characters,
// so its significant digits fit in digits.
type decimal struct {
	neg    bool
	n      int // significant digits in digits[:n]; 0 for zero
	exp    int
	digits [maxNumberText]byte
}

// maxDecimalExp clamps the exponent of a parsed number. Anything the
// checker compares against (bounds, enum values) has a far smaller
// exponent (maxBoundExp), so clamping keeps every comparison exact while
// keeping the arithmetic in int.
const maxDecimalExp = 1 << 30

// maxBoundExp bounds the magnitude of a schema's numeric keywords that the
// compiler accepts: float64 spans about 10^±308, so a larger exponent
// would not survive the split into float64 measures.
const maxBoundExp = 400

// parseDecimal parses the JSON number text s exactly. It reports false
// for anything that is not a JSON number of at most maxNumberText bytes.
func parseDecimal(s string, d *decimal) bool {
	*d = decimal{}
	if len(s) == 0 || len(s) > maxNumberText {
		return false
	}
	i := 0
	if s[0] == '-' {
		d.neg = true
		i++
	}
	// Integer part: 0, or a non-zero digit followed by digits.
	start := i
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[start:i]
	if len(intPart) == 0 || len(intPart) > 1 && intPart[0] == '0' {
		return false
	}
	var frac string
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
		frac = s[fs:i]
		if len(frac) == 0 {
			return false
		}
	}
	e := 0
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		eneg := false
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			eneg = s[i] == '-'
			i++
		}
		es := i
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			if e < maxDecimalExp {
				e = e*10 + int(s[i]-'0')
			}
			i++
		}
		if i == es {
			return false
		}
		e = min(e, maxDecimalExp)
		if eneg {
			e = -e
		}
	}
	if i != len(s) {
		return false
	}
	// Significant digits of intPart+frac: skip leading zeros, then drop
	// trailing ones. The point sits after intPart.
	point := len(intPart)
	pos := 0 // index into intPart+frac
	lead := true
	for _, part := range [2]string{intPart, frac} {
		for j := 0; j < len(part); j++ {
			c := part[j]
			if lead && c == '0' {
				pos++
				continue
			}
			if lead {
				lead = false
				d.exp = point - pos
			}
			d.digits[d.n] = c
			d.n++
			pos++
		}
	}
	for d.n > 0 && d.digits[d.n-1] == '0' {
		d.n--
	}
	if d.n == 0 {
		d.neg, d.exp = false, 0
		return true
	}
	d.exp += e
	return true
}

func (d *decimal) isZero() bool { return d.n == 0 }

// integral reports whether d is an integer (JSON Schema's "integer": a
// number with a zero fractional part, 1.0 and 1e2 included).
func (d *decimal) integral() bool { return d.n == 0 || d.n <= d.exp }

// cmp compares a and b exactly: -1, 0 or +1.
func (a *decimal) cmp(b *decimal) int {
	switch {
	case a.isZero() && b.isZero():
		return 0
	case a.isZero():
		if b.neg {
			return 1
		}
		return -1
	case b.isZero():
		if a.neg {
			return -1
		}
		return 1
	case a.neg != b.neg:
		if a.neg {
			return -1
		}
		return 1
	}
	c := 0
	switch {
	case a.exp != b.exp:
		c = 1
		if a.exp < b.exp {
			c = -1
		}
	default:
		c = bytes.Compare(a.digits[:a.n], b.digits[:b.n])
	}
	if a.neg {
		c = -c
	}
	return c
}

// int64 returns d as an int64 when it is an integer in range.
func (d *decimal) int64() (int64, bool) {
	if !d.integral() || d.exp > 19 {
		return 0, false
	}
	var u uint64
	for i := 0; i < d.exp; i++ {
		c := uint64(0)
		if i < d.n {
			c = uint64(d.digits[i] - '0')
		}
		hi, lo := bits.Mul64(u, 10)
		lo, carry := bits.Add64(lo, c, 0)
		if hi != 0 || carry != 0 {
			return 0, false
		}
		u = lo
	}
	switch {
	case !d.neg && u <= math.MaxInt64:
		return int64(u), true
	case d.neg && u <= 1<<63:
		return -int64(u), true
	}
	return 0, false
}

// mantissa returns d's significant digits as an integer M and the power
// p with d = ±M × 10^p, when M fits in a uint64.
func (d *decimal) mantissa() (m uint64, p int, ok bool) {
	if d.n > 19 {
		return 0, 0, false
	}
	for i := 0; i < d.n; i++ {
		hi, lo := bits.Mul64(m, 10)
		lo, carry := bits.Add64(lo, uint64(d.digits[i]-'0'), 0)
		if hi != 0 || carry != 0 {
			return 0, 0, false
		}
		m = lo
	}
	return m, d.exp - d.n, true
}

// multipleOf reports whether v/m is an integer, m > 0 with a mantissa
// mm (d = mm × 10^mp). With v = V × 10^vp, v/m = (V/mm) × 10^(vp−mp): V has
// no trailing zero, so for vp < mp the quotient is never an integer
// (unless v is zero); otherwise mm must divide V × 10^(vp−mp), computed
// modulo mm digit by digit.
func (v *decimal) multipleOf(mm uint64, mp int) bool {
	if v.isZero() {
		return true
	}
	vp := v.exp - v.n
	if vp < mp {
		return false
	}
	var r uint64
	for i := 0; i < v.n; i++ {
		r = mulAddMod(r, 10, uint64(v.digits[i]-'0'), mm)
	}
	// r × 10^(vp−mp) mod mm, by squaring.
	k := vp - mp
	base := 10 % mm
	for k > 0 && r != 0 {
		if k&1 == 1 {
			r = mulAddMod(r, base, 0, mm)
		}
		base = mulAddMod(base, base, 0, mm)
		k >>= 1
	}
	return r == 0
}

// mulAddMod returns (a×b + c) mod m for a, b, c < 2^64, m > 0.
func mulAddMod(a, b, c, m uint64) uint64 {
	hi, lo := bits.Mul64(a, b)
	lo, carry := bits.Add64(lo, c, 0)
	return bits.Rem64(hi+carry, lo, m)
}
