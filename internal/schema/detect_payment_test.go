package schema

import "testing"

func TestCardSeparatorsAndDigits(t *testing.T) {
	wantKind(t, KindCreditCard,
		"4111_1111_1111_1111",
		"4111/1111/1111/1111",
		"４１１１ １１１１ １１１１ １１１１", // fullwidth
		"٤١١١١١١١١١١١١١١١",    // Arabic-Indic
		"4111\u200b1111\u200b1111\u200b1111",
		"4111–1111–1111–1111", // en dashes
	)
	wantKind(t, KindIMEI, "49_015420_323751_8")
	wantBenign(t, "4111_1111_1111_1112", "1234/5678", "x86_64", "2024/11/05")
}

func TestIBANWithDashes(t *testing.T) {
	wantKind(t, KindIBAN,
		"DE89-3704-0044-0532-0130-00",
		"GB82-WEST-1234-5698-7654-32",
		"iban: ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００",
	)
	wantBenign(t, "DE89-3704-0044-0532-0130-01", "DE00-1234")
}
