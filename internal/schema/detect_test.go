package schema

import "testing"

// Positive cases written for these tests (not taken from the corpus): each
// must be detected as the given kind.
var detectPositive = []struct{ kind, value string }{
	{KindEmail, "someone@example.com"},
	{KindEmail, "reach me at First.Last+tag@sub.mail.example.co.uk please"},
	{KindEmail, "o'brien@example.ie"},
	{KindEmail, "X_Y-Z@EXAMPLE.NET"},

	{KindIPv4, "9.9.9.10"},
	{KindIPv4, "10.20.30.40:8080"},
	{KindIPv4, "from 198.51.100.23, via proxy"},
	{KindIPv4, "ip=203.0.113.9;"},
	{KindIPv6, "::ffff:192.0.2.128"},

	{KindIPv6, "2001:db8::1"},
	{KindIPv6, "fe80::1ff:fe23:4567:890a%eth0"},
	{KindIPv6, "[2001:db8:85a3::8a2e:370:7334]:443"},
	{KindIPv6, "peer 2a00:1450:4001:82a::200e closed"},
	{KindIPv6, "2001:0db8:0000:0000:0000:ff00:0042:8329"},

	{KindPhone, "+1 415 555 2671"},
	{KindPhone, "+33 6 12 34 56 78"},
	{KindPhone, "+81-90-1234-5678"},
	{KindPhone, "+4915112345678"},
	{KindPhone, "call (212) 555-0199 now"},
	{KindPhone, "212.555.0199"},
	{KindPhone, "1-800-555-0199"},
	{KindPhone, "0044 20 7946 0958"},
	{KindPhone, "020 7946 0958"},
	{KindPhone, "07911 123456"},
	{KindPhone, "01 23 45 67 89"},
	{KindPhone, "(02) 9876 5432"},
	{KindPhone, "+44 (0) 20 7946 0958"},

	{KindCreditCard, "4111111111111111"},
	{KindCreditCard, "4111 1111 1111 1111"},
	{KindCreditCard, "5500-0000-0000-0004"},
	{KindCreditCard, "3782 822463 10005"},
	{KindCreditCard, "card 6011000990139424 declined"},
	{KindCreditCard, "2223003122003222"},

	{KindIBAN, "DE89370400440532013000"},
	{KindIBAN, "DE89 3704 0044 0532 0130 00"},
	{KindIBAN, "iban: NL91ABNA0417164300"},
	{KindIBAN, "ES91 2100 0418 4502 0005 1332"},
	{KindIBAN, "BE68539007547034"},

	{KindDeviceID, "123e4567-e89b-12d3-a456-426614174000"},
	{KindDeviceID, "{EA7583CD-A667-48BC-B806-42ECB2B48606}"},
	{KindDeviceID, "idfa=6D92078A-8246-4BA4-AE5B-76104861E7DC"},
	{KindDeviceID, "9774d56d682e549c"},
	{KindDeviceID, "38400000-8cf0-11bd-b23e-10b96e4ef00d"},

	{KindMAC, "00:1A:2B:3C:4D:5E"},
	{KindMAC, "00-1a-2b-3c-4d-5e"},
	{KindMAC, "0012.3456.789a"},
	{KindMAC, "bssid 3c:5a:b4:01:02:03 seen"},

	{KindIMEI, "490154203237518"},
	{KindIMEI, "49-015420-323751-8"},
	{KindIMEI, "imei 356938035643809"},

	{KindSSN, "078-05-1120"},
	{KindSSN, "ssn 123-45-6789"},
	{KindSSN, "219 09 9999"},

	{KindGeo, "48.8566,2.3522"},
	{KindGeo, "40.712, -74.006"},
	{KindGeo, "lat=51.5074&lon=-0.1278"},
	{KindGeo, "-33.8688 151.2093"},
	{KindGeo, "35.6762° N, 139.6503° E"},
	{KindGeo, "37.774929;-122.419418"},
	{KindGeo, "-17.65,171.513"},

	{KindJWT, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"},
	{KindJWT, "jwt=eyJhbGciOiJub25lIn0.eyJzdWIiOiJhIn0."},

	{KindToken, "Bearer mF_9.B5f-4.1JqM9x7Kp2"},
	{KindToken, "Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ=="},
	{KindToken, "sk_live_51HxT9bKz4Qp2Lm8Vn3Rw7Yc0"},
	{KindToken, "ghp_1a2B3c4D5e6F7g8H9i0J1k2L3m4N5o6P7q8R"},
	{KindToken, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},

	{KindURL, "https://example.com/reset?token=abc"},
	{KindURL, "https://user:pw@example.com/"},
	{KindURL, "opened myapp://open?ref=campaign"},
	{KindURL, "https://example.com/cb#access_token=xyz"},
}

// Benign telemetry values written for these tests: none may be detected.
var detectNegative = []string{
	"", "ios", "android", "macos", "dark", "wifi", "cellular_4g", "true",
	"1.2.3", "10.0.19045", "10.0.22631.4460", "131.0.6778.85", "17.4.1",
	"2.0.0-beta.1+exp.sha.5114f85", "1.2.3.4", "4.2.0.1", "v1.2.3.4", "v192.168.1.1",
	"2024.11.05", "2024-11-05", "2024-11-05T13:45:00Z", "13:45:07", "12:30",
	"en-US", "zh-Hant-TW", "es-419", "sr-Latn-RS",
	"Pixel 7a", "SM-S918B", "iPhone16,1", "iPad13,18", "Mac14,2", "Moto G (5) Plus",
	"1920x1080", "3840x2160",
	"America/New_York", "Etc/GMT+5",
	"ERR_NAME_NOT_RESOLVED", "NSURLErrorDomain -1009", "HTTP 429", "E_OUT_OF_MEMORY",
	"123", "98765", "1234567", "4294967295", "18446744073709551615",
	"1732000000000", "250ms", "1.234s", "99.9%", "0.125",
	"10-19", "100-499", "1000-4999", "2026-W03", "Q4", "week_52",
	"arm64-v8a", "x86_64", "aarch64",
	"settings/notifications", "onboarding_step_12", "checkout.payment_sheet",
	"https://example.com/docs", "https://example.com/a/b/c.html",
	"std::vector", "a::b", "net::ERR_FAILED",
	"Firefox 128.0.3", "Chrome 126.0.6478.127", "Edge 131.0.2903.112",
	"build 20241105.3", "2025.2.3", "r8-3.3.75",
	"temperature 21.5 C", "1.5 2.5", "1.25 3.50", "Chrome/131.0.0.0", "10.1.2.0", "lat 48.8 lon 2.3",
	"Android 14 (API 34)", "OpenGL ES 3.2", "Vulkan 1.3.274",
	"count=1234567890", "0x7ffee4b2c8a0", "deadbeef",
	"insights/cycle_length_over_threshold_warning", "ERR_CONNECTION_CLOSED_BY_REMOTE_PEER",
	"user@", "@mention", "hello @ world", "retina@2x",
	"GB00", "DE00 1234", "IT60X0542811101000000123456x",
	"ssn", "000-12-3456", "666-12-3456", "900-12-3456",
	"00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff", "12:34:56",
	"00000000-0000-0000-0000-000000000000",
	"::1", "127.0.0.1", "0.0.0.0", "8.8.4.4",
}

func TestDetectPositive(t *testing.T) {
	for _, tc := range detectPositive {
		kind, ok := Detect(tc.value)
		if !ok || kind != tc.kind {
			t.Errorf("Detect(%q) = %q, %v; want %q", tc.value, kind, ok, tc.kind)
		}
	}
}

func TestDetectNegative(t *testing.T) {
	for _, v := range detectNegative {
		if kind, ok := Detect(v); ok {
			t.Errorf("Detect(%q) = %q; want no match", v, kind)
		}
	}
}

func TestDetectEveryKindCovered(t *testing.T) {
	seen := map[string]bool{}
	for _, tc := range detectPositive {
		seen[tc.kind] = true
	}
	for _, k := range Kinds() {
		if !seen[k] {
			t.Errorf("kind %q has no positive case", k)
		}
	}
}

var sink string

func BenchmarkDetect(b *testing.B) {
	cases := []struct{ name, v string }{
		{"enum", "cold_start"},
		{"semver", "3.19.17+build.77"},
		{"locale", "zh-Hant-TW"},
		{"model", "Pixel 8 Pro"},
		{"count", "88972"},
		{"email", "anna68@gmail.com"},
		{"ipv4", "client 22.46.39.60 connected"},
		{"phone", "+44 7101 451621"},
		{"card", "4111 1111 1111 1111"},
		{"uuid", "3a818d89-6205-4765-96ca-7cff00d796c2"},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			for b.Loop() {
				sink, _ = Detect(c.v)
			}
		})
	}
}

// wantKind checks that Detect reports kind for each value.
func wantKind(t *testing.T, kind string, values ...string) {
	t.Helper()
	for _, v := range values {
		if got, ok := Detect(v); !ok || got != kind {
			t.Errorf("Detect(%q) = %q, %v; want %s", v, got, ok, kind)
		}
	}
}

// wantBenign checks that Detect reports nothing for each value.
func wantBenign(t *testing.T, values ...string) {
	t.Helper()
	for _, v := range values {
		if got, ok := Detect(v); ok {
			t.Errorf("Detect(%q) = %s; want no match", v, got)
		}
	}
}
