package schema

import (
	"strconv"
	"strings"
)

// Precise positions: a latitude/longitude pair in decimal degrees with
// three or more decimals, or in degrees, minutes and seconds.

func hasCoordinates(s string) bool {
	prevEnd, prevVal, prevOK, prevDecimals := -1, 0.0, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && c != '-' && c != '+' {
			continue
		}
		b := at(s, i-1)
		if isAlnum(b) || b == '.' || ((c == '-' || c == '+') && !isDigit(at(s, i+1))) {
			continue
		}
		k := i
		if c == '-' || c == '+' {
			k++
		}
		intStart := k
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		intDigits := k - intStart
		if intDigits == 0 || intDigits > 3 || at(s, k) != '.' || !isDigit(at(s, k+1)) {
			prevOK = false
			i = k
			continue
		}
		k++
		fracStart := k
		for k < len(s) && isDigit(s[k]) {
			k++
		}
		if c := at(s, k); isAlnum(c) && c != 'N' && c != 'S' && c != 'E' && c != 'W' || (c == '.' && isDigit(at(s, k+1))) {
			prevOK = false
			i = k
			continue
		}
		v, err := strconv.ParseFloat(s[i:k], 64)
		decimals := k - fracStart
		// Both need two decimals and one of them three: a printer dropping
		// a trailing zero ("-17.65,171.513") still leaks a position.
		precise := err == nil && decimals >= 2 && v >= -180 && v <= 180
		// Two fractions below one ("0.125 0.250") are ratios far more
		// often than a point in the Gulf of Guinea.
		if precise && prevOK && max(decimals, prevDecimals) >= 3 && prevVal >= -90 && prevVal <= 90 &&
			(v >= 1 || v <= -1 || prevVal >= 1 || prevVal <= -1) && coordGap(s[prevEnd:i]) {
			return true
		}
		prevEnd, prevVal, prevOK, prevDecimals = k, v, precise, decimals
		i = k - 1
	}
	return false
}

// hasDMS finds a latitude/longitude pair in degrees, minutes and seconds
// ("40°26'46\"N 79°58'56\"W"), or degrees and decimal minutes
// ("40°26.767'N"): both resolve a position to tens of metres. Degrees with
// whole minutes only (about 2 km) are not reported.
func hasDMS(s string) bool {
	found := 0
	for off := 0; ; {
		i := strings.Index(s[off:], "°")
		if i < 0 {
			return false
		}
		i += off
		off = i + len("°")
		if !isDigit(at(s, i-1)) {
			continue
		}
		k := off
		for at(s, k) == ' ' {
			k++
		}
		n := digitRun(s, k)
		if n == 0 || n > 2 {
			continue
		}
		k += n
		precise := false
		if at(s, k) == '.' && isDigit(at(s, k+1)) {
			k += 1 + digitRun(s, k+1)
			precise = true
		}
		m := minuteMark(s[k:])
		if m == 0 {
			continue
		}
		k += m
		for at(s, k) == ' ' {
			k++
		}
		if n := digitRun(s, k); n > 0 && n <= 2 {
			k += n
			if at(s, k) == '.' && isDigit(at(s, k+1)) {
				k += 1 + digitRun(s, k+1)
			}
			if sm := secondMark(s[k:]); sm > 0 {
				precise = true
				k += sm
			}
		}
		if precise {
			if found++; found == 2 {
				return true
			}
		}
		off = max(off, k)
	}
}

// minuteMark and secondMark match the ASCII and Unicode prime marks.
func minuteMark(s string) int {
	switch {
	case strings.HasPrefix(s, "′"):
		return len("′")
	case strings.HasPrefix(s, "'") && !strings.HasPrefix(s, "''"):
		return 1
	}
	return 0
}

func secondMark(s string) int {
	switch {
	case strings.HasPrefix(s, "″"):
		return len("″")
	case strings.HasPrefix(s, "''"):
		return 2
	case strings.HasPrefix(s, "\""):
		return 1
	}
	return 0
}

// coordGap reports whether the text between two numbers can separate a
// latitude from a longitude: punctuation, hemisphere letters and degree
// signs, or a label naming the longitude ("lon", "lng").
func coordGap(g string) bool {
	if len(g) == 0 || len(g) > 16 {
		return false
	}
	if indexFold(g, "lon") >= 0 || indexFold(g, "lng") >= 0 {
		return strings.IndexFunc(g, func(r rune) bool { return r >= '0' && r <= '9' }) < 0
	}
	for _, r := range g {
		switch r {
		case ' ', ',', ';', '/', '|', '\t', '°', 'N', 'S', 'E', 'W':
		default:
			return false
		}
	}
	return true
}
