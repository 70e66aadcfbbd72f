package schema

import "testing"

func TestPhoneNormalised(t *testing.T) {
	wantKind(t, KindPhone,
		"＋１ ４１５ ５５５ ２６７１",
		"+1\u00a0415\u00a0555\u00a02671", // no-break spaces
		"+44 20\u20097946 0958",          // thin space
		"%2B1%20415%20555%202671",
		"+91 ९८७६५ ४३२१०", // Devanagari digits
	)
	wantBenign(t, "step 3 of 25 took 4512ms", "%2B1")
}
