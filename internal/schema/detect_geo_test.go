package schema

import "testing"

func TestGeoNormalised(t *testing.T) {
	wantKind(t, KindGeo,
		"４８．８５６６，２．３５２２",
		"lat%3D51.5074%26lon%3D-0.1278",
		"−33.8688 151.2093", // minus sign
	)
	wantBenign(t, "０．１２５ ０．２５０", "lat 48.8 lon 2.3")
}
