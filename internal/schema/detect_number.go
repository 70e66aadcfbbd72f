package schema

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Identifiers written as numbers: a payment card number or an IMEI (by
// digit count and the Luhn check), an IPv4 address as a 32-bit integer
// (3232235853 is 192.168.1.77; a negative int32 too), and a phone number
// without its "+" (NANP, or a country code followed by that country's
// number length).

// NumberScanFloor is the magnitude below which no number is inspected: no
// identifier the number detectors know is written with fewer than eight
// digits (the smallest IPv4 integer read as an address, 1.0.0.0, is
// 2^24). A schema property whose bounds both lie within ±NumberScanFloor
// is never inspected at all.
const NumberScanFloor = 1 << 24

// maxNumberText bounds the text of a JSON number that is inspected or
// validated; a longer one is refused without further work (Schema.Check).
const maxNumberText = 64

// DetectNumber reports whether a number value carries an identifier, and
// which kind. Only integral values of magnitude NumberScanFloor or more
// are inspected.
func DetectNumber(v float64) (kind string, ok bool) {
	if math.IsNaN(v) || math.IsInf(v, 0) || v != math.Trunc(v) || math.Abs(v) < NumberScanFloor || math.Abs(v) >= 1e19 {
		return "", false
	}
	return detectInteger(v < 0, strconv.FormatFloat(math.Abs(v), 'f', 0, 64))
}

// detectNumberText is DetectNumber for the exact text of a JSON number, so
// digits beyond float64's precision (a 19-digit card) are kept.
func detectNumberText(text string) (string, bool) {
	if len(text) > maxNumberText {
		return "", false
	}
	neg := strings.HasPrefix(text, "-")
	digits := strings.TrimPrefix(text, "-")
	if !allDigits(digits) {
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			return "", false
		}
		return DetectNumber(f)
	}
	if len(digits) < 8 || len(digits) > 19 {
		return "", false
	}
	if u, err := strconv.ParseUint(digits, 10, 64); err != nil || u < NumberScanFloor {
		return "", false
	}
	return detectInteger(neg, digits)
}

// DetectValue runs the detector for a value's type: Detect for a string,
// the number detectors for float64, json.Number, int and int64. Other
// values (booleans, null, objects, arrays) carry no identifier of their
// own and are not reported.
func DetectValue(v any) (kind string, ok bool) {
	switch v := v.(type) {
	case string:
		return Detect(v)
	case float64:
		return DetectNumber(v)
	case json.Number:
		return detectNumberText(string(v))
	case int:
		return detectNumberText(strconv.Itoa(v))
	case int64:
		return detectNumberText(strconv.FormatInt(v, 10))
	}
	return "", false
}

// detectInteger checks the decimal digits of an integer (no sign, no
// leading zeros) of at least NumberScanFloor.
func detectInteger(neg bool, digits string) (string, bool) {
	if len(digits) > 19 {
		return "", false
	}
	if !neg && len(digits) >= cardMinDigits {
		if k, ok := findCardOrIMEI(digits); ok {
			return k, true
		}
	}
	u, err := strconv.ParseUint(digits, 10, 64)
	if err != nil {
		return "", false
	}
	switch {
	case !neg && u < 1<<32 && ipv4Unicast(uint32(u)):
		return KindIPv4, true
	case neg && u <= 1<<31 && ipv4Unicast(uint32(-int64(u))):
		// A signed 32-bit address (Java's InetAddress, many databases).
		return KindIPv4, true
	case !neg && phoneInteger(digits):
		return KindPhone, true
	}
	return "", false
}

// phoneInteger reports digits that read as a phone number written without
// "+" or separators: NANP (N11 area codes excluded, exchange 2–9), with or
// without the country code 1, or one of e164Lengths' country codes
// followed by a number of that country's length.
func phoneInteger(d string) bool {
	switch {
	case len(d) == 10 && nanp(d):
		return true
	case len(d) == 11 && d[0] == '1' && nanp(d[1:]):
		return true
	}
	for n := 1; n <= 3 && n < len(d); n++ {
		if lengths, ok := e164Lengths[d[:n]]; ok {
			for _, l := range lengths {
				if int(l) == len(d) {
					return true
				}
			}
			return false
		}
	}
	return false
}

func nanp(d string) bool {
	return d[0] >= '2' && !(d[1] == '1' && d[2] == '1') && d[3] >= '2'
}

// e164Lengths gives, for common ITU-T E.164 country codes, the total
// digit counts (country code included) of that country's numbers,
// mobile ones in particular. Codes are prefix-free, so the first that
// matches the start of the digits is the one.
var e164Lengths = map[string][]uint8{
	"7": {11}, "20": {12}, "27": {11}, "30": {12}, "31": {11}, "32": {10, 11}, "33": {11},
	"34": {11}, "36": {10, 11}, "39": {11, 12}, "40": {11}, "41": {11}, "43": {12, 13}, "44": {12},
	"45": {10}, "46": {10, 11}, "47": {10}, "48": {11}, "49": {12, 13}, "51": {11}, "52": {12},
	"54": {12, 13}, "55": {12, 13}, "56": {11}, "57": {12}, "58": {12}, "60": {11, 12}, "61": {11},
	"62": {11, 12, 13, 14}, "63": {12}, "64": {10, 11, 12}, "65": {10}, "66": {11}, "81": {11, 12},
	"82": {11, 12}, "84": {11, 12}, "86": {13}, "90": {12}, "91": {12}, "92": {12}, "93": {11},
	"94": {11}, "98": {12}, "212": {12}, "213": {12}, "234": {13}, "254": {12}, "351": {12},
	"353": {11, 12}, "358": {12, 13}, "380": {12}, "420": {12}, "421": {12}, "966": {12},
	"971": {12}, "972": {12},
}
