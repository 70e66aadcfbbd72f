package schema

// National identifiers: US Social Security numbers.

// hasSSN finds AAA-GG-SSSS (or space separated) within the SSA's valid
// ranges: no area 000, 666 or 9xx, no group 00, no serial 0000.
func hasSSN(s string) bool {
	for i := 0; i+11 <= len(s); i++ {
		if !isDigit(s[i]) {
			continue
		}
		if b := at(s, i-1); isAlnum(b) || b == '-' || b == '.' || b == '+' || b == '(' {
			continue
		}
		sep := at(s, i+3)
		if sep != '-' && sep != ' ' {
			continue
		}
		if !allDigits(s[i:i+3]) || !allDigits(s[i+4:i+6]) || at(s, i+6) != sep || !allDigits(s[i+7:i+11]) {
			continue
		}
		if c := at(s, i+11); isAlnum(c) || c == '-' || (c == '.' && isDigit(at(s, i+12))) {
			continue
		}
		area := s[i : i+3]
		if area == "000" || area == "666" || area[0] == '9' || s[i+4:i+6] == "00" || s[i+7:i+11] == "0000" {
			continue
		}
		return true
	}
	return false
}
