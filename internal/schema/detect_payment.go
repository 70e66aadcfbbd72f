package schema

// Payment and telecom numbers with a check digit: payment cards (ISO/IEC
// 7812) and IMEIs (3GPP TS 23.003 §6.2) by the Luhn check, IBANs (ISO
// 13616-1) by ISO 7064 MOD 97-10.

// findCardOrIMEI looks for 13–19 digits written together or in groups
// separated by single spaces or hyphens, passing the Luhn check. A 15-digit
// number is an IMEI unless it carries an American Express prefix (34, 37);
// other lengths must start with a card network's major industry digit (2–6).
func findCardOrIMEI(s string) (string, bool) {
	var digits [19]byte
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		if b := at(s, i-1); isAlnum(b) || b == '.' || b == '+' || ((b == '-' || b == ' ') && isDigit(at(s, i-2))) {
			continue
		}
		n, k, too := 0, i, false
		for k < len(s) {
			c := s[k]
			if isDigit(c) {
				if n == len(digits) {
					too = true
					break
				}
				digits[n] = c - '0'
				n++
				k++
				continue
			}
			if (c == ' ' || c == '-') && isDigit(at(s, k+1)) && isDigit(s[k-1]) {
				k++
				continue
			}
			break
		}
		if too || n < 13 || isAlnum(at(s, k)) || (at(s, k) == '.' && isDigit(at(s, k+1))) {
			i = k
			continue
		}
		d := digits[:n]
		if luhn(d) {
			amex := d[0] == 3 && (d[1] == 4 || d[1] == 7)
			switch {
			case n == 15 && !amex:
				return KindIMEI, true
			case d[0] >= 2 && d[0] <= 6:
				return KindCreditCard, true
			}
		}
		i = k
	}
	return "", false
}

func luhn(d []byte) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i])
		if (len(d)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}

// hasIBAN finds a country code, two check digits and a BBAN of 11–30
// letters and digits, written together or in groups separated by single
// spaces or hyphens, whose ISO 7064 MOD 97-10 check gives 1. The work per
// start is bounded by the longest IBAN (34 characters).
func hasIBAN(s string) bool {
	for i := 0; i+15 <= len(s); i++ {
		if !isLetter(s[i]) || !isLetter(s[i+1]) || !isDigit(s[i+2]) || !isDigit(s[i+3]) || isAlnum(at(s, i-1)) {
			continue
		}
		if upper(s[i]) != s[i] || upper(s[i+1]) != s[i+1] {
			if upper(s[i]) == s[i] || upper(s[i+1]) == s[i+1] {
				continue // mixed-case country code: a word, not an IBAN
			}
		}
		// Remainder of the BBAN so far, computed as digits are appended.
		rem, n := 0, 4
		head := [4]byte{upper(s[i]), upper(s[i+1]), s[i+2], s[i+3]}
		k := i + 4
		for k < len(s) && n < 34 {
			c := s[k]
			if (c == ' ' || c == '-') && isAlnum(at(s, k+1)) && isAlnum(s[k-1]) {
				k++
				continue
			}
			if !isAlnum(c) {
				break
			}
			rem = mod97Append(rem, upper(c))
			n++
			k++
			if n >= 15 && !isAlnum(at(s, k)) {
				r := rem
				for _, h := range head {
					r = mod97Append(r, h)
				}
				if r == 1 {
					return true
				}
			}
		}
	}
	return false
}

// mod97Append returns the remainder after appending c (a digit, or a letter
// standing for 10..35) to a number whose remainder mod 97 was rem.
func mod97Append(rem int, c byte) int {
	if isDigit(c) {
		return (rem*10 + int(c-'0')) % 97
	}
	return (rem*100 + int(c-'A') + 10) % 97
}
