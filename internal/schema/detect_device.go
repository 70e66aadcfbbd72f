package schema

// Device and advertising identifiers in UUID form (RFC 9562): IDFA, GAID,
// install ids. Hex runs without hyphens (16-hex Android ids, 32-hex
// IDFAs) are found with the other random runs in detect_secret.go.

func hasUUID(s string) bool {
	groups := [5]int{8, 4, 4, 4, 12}
	for i := 0; i+36 <= len(s); i++ {
		if !isHex(s[i]) || isAlnum(at(s, i-1)) {
			continue
		}
		k, ok, nonzero, nonmax := i, true, false, false
		for g, n := range groups {
			for range n {
				c := at(s, k)
				if !isHex(c) {
					ok = false
					break
				}
				nonzero = nonzero || c != '0'
				nonmax = nonmax || (c != 'f' && c != 'F')
				k++
			}
			if !ok {
				break
			}
			if g < 4 {
				if at(s, k) != '-' {
					ok = false
					break
				}
				k++
			}
		}
		// The nil and max UUIDs (RFC 9562 §5.9, §5.10) are sentinels.
		if ok && !isAlnum(at(s, k)) && nonzero && nonmax {
			return true
		}
	}
	return false
}
