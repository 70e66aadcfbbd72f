package schema

// Phone numbers in their written forms (ITU-T E.164 and E.123).

// hasPhone accepts a run of digit groups separated by single spaces, hyphens,
// dots or parentheses when it is written as:
//   - international: "+" or "00", then 8–15 digits (E.164 maximum);
//   - NANP: optional country code 1, then 3-3-4 groups with an area code
//     starting 2–9;
//   - national with trunk prefix: a first group of 2–5 digits starting with
//     0 (optionally in parentheses), then groups of 3+ digits (or the
//     French five pairs), 9–12 digits in all.
func hasPhone(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && c != '+' && c != '(' {
			continue
		}
		// After a colon only "+…" ("tel:+1-201-…", RFC 3966); "12:34" is a time.
		if b := at(s, i-1); isAlnum(b) || b == '.' || b == '-' || b == '/' || b == '+' || b == '(' || b == ':' && c != '+' {
			continue
		}
		end, ok := phoneAt(s, i)
		if ok {
			return true
		}
		if end > i {
			i = end - 1
		}
	}
	return false
}

func phoneAt(s string, i int) (end int, ok bool) {
	var groups, starts [8]int
	ng, digits, plus, parens, dotSep, otherSep := 0, 0, false, 0, false, false
	k := i
	if s[k] == '+' {
		plus = true
		k++
		if !isDigit(at(s, k)) {
			return k, false
		}
	}
	for k < len(s) {
		c := s[k]
		switch {
		case isDigit(c):
			n, start := 0, k
			for k < len(s) && isDigit(s[k]) {
				n++
				k++
			}
			if ng == len(groups) {
				return k, false
			}
			groups[ng], starts[ng] = n, start
			ng++
			digits += n
			continue
		case c == '(':
			if isDigit(at(s, k+1)) && (k == i || !isDigit(s[k-1])) {
				parens++
				k++
				continue
			}
		case c == ')':
			if isDigit(at(s, k-1)) && parens > 0 {
				k++
				if at(s, k) == ' ' && (isDigit(at(s, k+1))) {
					k++
				}
				continue
			}
		case c == '/':
			// German "030/12345678": a slash only after the trunk-prefixed
			// area code.
			if ng == 1 && s[i] == '0' && isDigit(at(s, k+1)) {
				otherSep = true
				k++
				continue
			}
		case c == ' ' || c == '-' || c == '.':
			if isDigit(at(s, k-1)) && (isDigit(at(s, k+1)) || (c == ' ' && at(s, k+1) == '(')) {
				if c == '.' {
					dotSep = true
				} else {
					otherSep = true
				}
				k++
				continue
			}
		}
		break
	}
	if c := at(s, k); isLetter(c) || c == '@' || c == ':' || (c == '.' && isDigit(at(s, k+1))) || c == '%' {
		return k, false
	}
	g := groups[:ng]
	if ng == 0 {
		return k, false
	}
	first := s[i]
	if first == '(' {
		first = s[i+1]
	}
	switch {
	case plus:
		return k, digits >= 8 && digits <= 15 && !(dotSep && ng >= 3 && !otherSep && parens == 0 && digits < 10)
	case first == '0' && at(s, i+1) == '0' && ng >= 2 && g[0] >= 4:
		return k, digits >= 10 && digits <= 17
	}
	// NANP 3-3-4, optionally after a leading 1.
	if ng >= 3 {
		h, area := g, starts[0]
		if ng == 4 && g[0] == 1 && s[starts[0]] == '1' {
			h, area = g[1:], starts[1]
		}
		if len(h) == 3 && h[0] == 3 && h[1] == 3 && h[2] == 4 && s[area] >= '2' {
			return k, true
		}
	}
	// A parenthesised area code without trunk prefix, then the subscriber
	// number in groups: "(11) 91234-5678".
	if s[i] == '(' && first != '0' && ng >= 3 && g[0] >= 2 && g[0] <= 4 && g[1] >= 3 && g[ng-1] >= 4 && digits >= 9 && digits <= 12 {
		return k, true
	}
	if first != '0' || ng < 2 || digits < 9 || digits > 12 {
		return k, false
	}
	if g[0] < 2 || g[0] > 5 {
		return k, false
	}
	pairs := true
	for _, n := range g {
		pairs = pairs && n == 2
	}
	if pairs && ng == 5 {
		return k, true // French "06 12 34 56 78", also with dots
	}
	if dotSep {
		return k, false
	}
	for _, n := range g[1:] {
		if n < 3 {
			return k, false
		}
	}
	return k, true
}
