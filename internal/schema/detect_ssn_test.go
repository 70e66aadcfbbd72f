package schema

import "testing"

func TestSSNSeparators(t *testing.T) {
	wantKind(t, KindSSN, "078-05-1120", "078_05_1120", "078/05/1120", "ssn ０７８-０５-１１２０")
	wantBenign(t, "000_12_3456", "666/12/3456", "12/05/2024", "1_2_3")
}
