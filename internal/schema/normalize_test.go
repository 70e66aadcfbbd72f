package schema

import (
	"strings"
	"testing"
	"unicode"
)

func TestNormalize(t *testing.T) {
	for in, want := range map[string]string{
		"plain":                "plain",
		"jane%40example.com":   "jane@example.com",
		"jane%2540example.com": "jane@example.com",
		"100%":                 "100%",
		"%zz%4":                "%zz%4",
		"jane.doe＠example.com": "jane.doe@example.com",
		"１９２．１６８．１．７７":         "192.168.1.77",
		"٤١١١ ۱۱۱۱ ११११ ১১১১":    "4111 1111 1111 1111", // Arabic-Indic, Persian, Devanagari, Bengali
		"𝟒𝟏𝟏𝟏":                   "4111",                // mathematical bold digits (NFKC)
		"a\u200bb\u200dc\ufeffd": "abcd",
		"soft\u00adhyphen":       "softhyphen",
		"a\u00a0b\u2009c\u3000d": "a b c d",
		"1‐2‑3–4—5−6":            "1-2-3-4-5-6",
		"a。b｡c":                  "a.b.c",
		"4111_1111/1111":         "4111-1111-1111",
		"x86_64":                 "x86-64",
		"snake_case/path":        "snake_case/path",
		"_1_":                    "_1_",
		"bad\xffutf8%41":         "bad\xffutf8A",
	} {
		if got := normalize(in); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDigitValueBlocks checks what digitValue relies on: every range of
// unicode.Nd is whole blocks of ten, each starting at a digit zero.
func TestDigitValueBlocks(t *testing.T) {
	check := func(lo, hi, stride uint32) {
		if stride != 1 || (hi-lo+1)%10 != 0 {
			t.Errorf("Nd range %U–%U (stride %d) is not blocks of ten", lo, hi, stride)
		}
		for r := lo; r <= hi; r += 10 {
			if !strings.ContainsRune("0", rune('0'+digitValue(rune(r)))) {
				t.Errorf("%U is not a zero", r)
			}
		}
	}
	for _, r := range unicode.Nd.R16 {
		check(uint32(r.Lo), uint32(r.Hi), uint32(r.Stride))
	}
	for _, r := range unicode.Nd.R32 {
		check(r.Lo, r.Hi, r.Stride)
	}
	if digitValue('٧') != 7 || digitValue('९') != 9 || digitValue('𝟓') != 5 {
		t.Error("digitValue of Arabic-Indic 7, Devanagari 9, mathematical 5")
	}
}
