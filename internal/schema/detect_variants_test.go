package schema

import (
	"encoding/base64"
	"fmt"
	"maps"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// Variant tables: realistic spellings of each identifier kind and of benign
// telemetry values, written for this test from the formats' specifications
// (check digits computed for the values here) rather than from any corpus.
// They exist so the detectors are held to the shapes identifiers take in the
// wild, not to one data set.

var variantPositive = map[string][]string{
	KindEmail: {
		"first.last+newsletter@example.com",
		"ops@eu-west.mail.example.org",
		"JOHN.DOE@EXAMPLE.COM",
		"contact: jane_doe99@example.co.jp, thanks",
		"user@xn--mnchen-3ya.de",
		"user@example.xn--p1ai",
		"\"john doe\"@example.com",
		"\"very.unusual.@.unusual.com\"@example.com",
		"пользователь@пример.рф",
		"josé@bücher.example",
		"admin@[192.0.2.10]",
		"mailto:someone@example.net",
		"a@b.io",
		"jane dot doe at example dot com",
		"jane.doe [at] example [dot] org",
		"jane(at)example(dot)com",
	},
	KindIPv4: {
		"8.26.56.26",
		"client connected from 172.16.254.1 at boot",
		"192.168.1.17:51234",
		"10.0.0.5/8",
		"host=100.64.12.7",
		"[203.0.113.45]:443",
		"x-forwarded-for: 198.51.100.7, 203.0.113.9",
		"192.168.001.010",
		"peer(45.33.32.156)",
	},
	KindIPv6: {
		"2001:db8:3333:4444:5555:6666:7777:8888",
		"2001:DB8::FF00:42:8329",
		"fe80::a00:27ff:fe4e:66a1%en0",
		"fe80::1%25eth0",
		"::ffff:203.0.113.7",
		"[2001:db8::7]:8443",
		"http://[2606:4700:4700::1111]/",
		"remote=2a03:2880:f12f:83:face:b00c::25de closed",
		"64:ff9b::198.51.100.33",
		"2001:db8:0:0:1:0:0:1",
		"fd12:3456:789a:1::1",
	},
	KindPhone: {
		"+14155552671",
		"+1 (415) 555-2671",
		"+1-415-555-2671 ext. 204",
		"(415) 555-2671 x204",
		"415-555-2671",
		"415.555.2671",
		"+44 20 7946 0018",
		"+44 7700 900461",
		"07700 900461",
		"(020) 7946 0018",
		"+49 30 901820",
		"+49 (0)30 12345678",
		"0151 23456789",
		"030/12345678",
		"0049 30 12345678",
		"06 12 34 56 78",
		"06.12.34.56.78",
		"+33 (0)1 23 45 67 89",
		"+91 98765 43210",
		"+91-9876543210",
		"090-1234-5678",
		"03-1234-5678",
		"+81 3-1234-5678",
		"+55 11 91234-5678",
		"(11) 91234-5678",
		"+61 412 345 678",
		"0412 345 678",
		"06-12345678",
		"+34 612 34 56 78",
		"+39 06 1234 5678",
		"+86 138 0013 8000",
		"tel:+1-201-555-0123",
		"call me on +353 85 123 4567 tomorrow",
	},
	KindCreditCard: {
		"4532015112830366",
		"4532 0151 1283 0366",
		"4532-0151-1283-0366",
		"4222222222222",
		"4716342154895701125",
		"5387561203487239",
		"5387 5612 0348 7239",
		"2223004891726514",
		"2720991837465249",
		"378282246310005",
		"3782 822463 10005",
		"3456-781234-98765",
		"6011098437261546",
		"6500123984765125",
		"6441298374651283",
		"36227206271667",
		"3056 930902 5904",
		"3530111333300000",
		"3566 9876 5432 1015",
		"6212345678901232",
		"621234567890123457",
		"2200123456789019",
		"6767123456789015",
		"paid with card 4024007159063279 ok",
	},
	KindIBAN: {
		"GB82WEST12345698765432",
		"GB82 WEST 1234 5698 7654 32",
		"gb82west12345698765432",
		"gb82 west 1234 5698 7654 32",
		"FR1420041010050500013M02606",
		"FR14 2004 1010 0505 0001 3M02 606",
		"IT60X0542811101000000123456",
		"CH93 0076 2011 6238 5295 7",
		"PL69 1090 1014 0000 0712 1981 2874",
		"SE45 5000 0000 0583 9825 7466",
		"NO93 8601 1117 947",
		"AT61 1904 3002 3457 3201",
		"PT50000201231234567890154",
		"SA03 8000 0000 6080 1016 7519",
		"BR9700360305000010009795493P1",
		"IE29 AIBK 9311 5212 3456 78",
		"DK5000400440116243",
		"FI50 2100 0018 0000 00",
		"refund to IBAN: DE89 3704 0044 0532 0130 00.",
	},
	KindDeviceID: {
		"6ba7b810-9dad-11d1-80b4-00c04fd430c8",
		"000003e8-2b3c-21ef-b200-325096b39f47",
		"a3bb189e-8bf9-3888-9912-ace4e6543002",
		"550E8400-E29B-41D4-A716-446655440000",
		"c232ab00-9414-51de-b4ed-0f3a2b4c6d8e",
		"1ec9414c-232a-6b00-b3c8-9e6bdeced846",
		"017f22e2-79b0-7cc3-98c4-dc0c0c07398f",
		"320c3d4d-cc00-875b-8ec9-32d5f69181c0",
		"{550e8400-e29b-41d4-a716-446655440000}",
		"urn:uuid:f81d4fae-7dec-11d0-a765-00a0c91e6bf6",
		"550e8400e29b41d4a716446655440000",
		"550E8400E29B41D4A716446655440000",
		"gaid=38400000-8cf0-11bd-b23e-10b96e4ef00d",
		"IDFA 6D92078A-8246-4BA4-AE5B-76104861E7DC",
		"a1b2c3d4e5f60718",
		"F3A91C0B77E2D456",
		"android_id:8af3c2d1e4b56790",
	},
	KindMAC: {
		"3C:22:FB:9A:10:4E",
		"3c-22-fb-9a-10-4e",
		"3c22.fb9a.104e",
		"3C22.FB9A.104E",
		"wlan0 ether a4:83:e7:2b:5c:01 txqueuelen 1000",
		"seen ap 3c22.fb9a.104e. signal ok.",
		"bssid=f0:9f:c2:11:22:33",
	},
	KindIMEI: {
		"352099001761481",
		"35-209900-176148-1",
		"35 209900 176148 1",
		"IMEI: 860691035234181",
		"990001123456782",
		"imei=356938035643809;",
	},
	KindSSN: {
		"123-45-6789",
		"SSN 078-05-1121",
		"219 09 9998",
		"ssn: 536-22-1234.",
		"applicant 772-11-2233 verified",
	},
	KindGeo: {
		"52.520008,13.404954",
		"52.520008, 13.404954",
		"(52.5200, 13.4050)",
		"-33.865143 151.209900",
		"40.7128 N, 74.0060 W",
		"40.7128°N 74.0060°W",
		"N 40.7128, W 74.0060",
		"geo:37.786971,-122.399677",
		"geo:47.6062,-122.3321;u=35",
		"lat: 51.5007, lng: -0.1246",
		"latitude=48.85837&longitude=2.294481",
		"{\"lat\":35.6586,\"lon\":139.7454}",
		"pos 1.352083|103.819836",
		"40°26'46\"N 79°58'56\"W",
		"48°51'29.6\"N 2°17'40.2\"E",
	},
	KindJWT: {
		"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyLTQyIiwiaWF0IjoxNzAwMDAwMDAwfQ.4pcPyMD09olPSyXnrXCjTwXyr4BsezdI1AVTmud2fU4",
		"token=eyJhbGciOiJFUzI1NiIsImtpZCI6IjEifQ.eyJpc3MiOiJ4In0.MEUCIQDx",
		"eyJhbGciOiJSU0EtT0FFUCIsImVuYyI6IkEyNTZHQ00ifQ.OKOawDo13gRp2ojaHV7LFpZcgV7T6DVZKTyKOMTYUmKoTCVJRgckCL9kiMT03JGeipsEdY3mx_etLbbWSrFr05kLzcSr4qKAq7YN7e9jwQRb23nfa6c9d-StnImGyFDbSv04uVuxIp5Zms1gNxKKK2Da14B8S4rzVRltdYwam_lDp5XnZAYpQdb76FdIKLaVmqgfwX7XWRxv2322i-vDxRfqNzo_tETKzpVLzfiwQyeyPGLBIO56YJ7eObdv0je81860ppamavo35UgoRdbYaBcoh9QcfylQr66oc6vFWXRcZ_ZT2LawVCWTIy3brGPi6UklfCpIMfIjf7iGdXKHzg.48V1_ALb6US04U3b.5eym8TW_c8SuK0ltJ3rpYIzOeDQz7TALvtu6UG9oMo4vpzs9tX_EFShS8iB7j6jiSdiwkIr3ajwQzaBtQD_A.XFBoMYUZodetZdvTiFvSkQ",
		"Authorization: Bearer eyJhbGciOiJub25lIn0.eyJ1aWQiOjd9.",
	},
	KindToken: {
		"Bearer 7Hq2xLm9Vt4Rk8Zp1Wn6Yc3B",
		"authorization=bearer%20mF_9.B5f-4.1JqM",
		"Basic dXNlcjpwYXNzd29yZA==",
		"sk_test_4eC39HqLyjWDarjtT1zdp7dc",
		"xoxb-2048-1024-Ab3dEf6hIj9kLm2nOp5qRs8t",
		"AIzaSyD8x7Vq2Lm4Np9Rt6Wk1Zc3Bf5Hg0Jd2Ke",
		"ghp_Zx8Yw7Vu6Ts5Rq4Po3Nm2Lk1Ji0Hg9Fe8Dc",
		"AKIAZ7Q3M2K9X4B6W8PT",
		"api_key=Qk9mT2vX7pL4rW8zN1cB6hJ3",
		"dGhpcyBpcyBhIHNlY3JldCB2YWx1ZQ==",
		"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		"a94a8fe5ccb19ba61c4c0873d391e987982fbbd3",
		"session 3kT9vQ2mX8pL5rW1zN7cB4hJ6dF0gS",
		"k8Qm2Zr7Vx4Lp9Tn3Wb6Yc1Hd5Fj",
	},
	KindURL: {
		"https://example.com/search?q=john+doe",
		"http://user:secret@example.com/",
		"https://admin@intranet.example/dashboard",
		"https://example.com/app#id_token=abc.def",
		"ftp://anonymous:guest@ftp.example.org/pub",
		"opened https://shop.example/cart?session=8f7a6c in app",
		"HTTPS://EXAMPLE.COM/PATH?USER=X",
		"myapp://deeplink?uid=42",
		"wss://push.example.net/socket?auth=z",
	},
}

// variantBenign are values telemetry legitimately carries, grouped by what
// they are; none may be detected.
var variantBenign = map[string][]string{
	"version": {
		"1.2.3", "10.0.19045", "10.0.22631.4460", "2024.11.1", "v1.2.3-beta.4+build.5",
		"17.5.1", "14.4.1 (23E224)", "128.0.6613.137", "6.1.0-27-amd64", "5.15.0-1051-azure",
		"3.11.9", "1.0.0-rc.1", "0.9.12", "v2.45.1", "2.4.1.2", "12.0.1.345", "1.10.100.1000",
		"4.0.0.0", "Mozilla/5.0 (Windows NT 10.0; Win64; x64)", "AppleWebKit/537.36",
		"Version/17.4 Mobile/15E148 Safari/604.1",
	},
	"build": {
		"20241105.3", "build 4711", "b1234", "UP1A.231005.007", "AP2A.240805.005.F1",
		"TQ3A.230901.001", "23E224", "22H2", "19045.4529", "r8-3.3.75", "14C92", "2024-11-05-nightly",
		"ci-run-88213", "1.2.3+20241105T1200",
	},
	"locale": {"en-US", "zh-Hant-TW", "pt_BR", "sr-Latn-RS", "es-419", "de-CH-1996", "en_GB.UTF-8", "fr"},
	"device_model": {
		"SM-G991B", "SM-S928U1", "iPhone15,2", "iPad14,6", "Pixel 8 Pro", "moto g(60)", "Redmi Note 12 Pro+ 5G",
		"MacBookPro18,3", "Galaxy Tab S9", "CPH2451", "V2231", "2201117TG", "ONEPLUS A6013", "Nokia G21",
		"Surface Laptop 5", "ThinkPad X1 Carbon Gen 11",
	},
	"os": {"Android 14", "iOS 17.5.1", "macOS 14.5", "Windows 11 23H2", "Ubuntu 22.04.4 LTS", "ChromeOS 126", "HarmonyOS 4.0", "Fedora Linux 40"},
	"enum": {
		"cold_start", "warm_start", "foreground", "background", "checkout_completed", "wifi", "cellular_5g",
		"dark", "light", "portrait", "landscape_left", "PAYMENT_METHOD_CARD", "ipv6_only", "mac_catalyst",
		"email_signup", "phone_verification", "card_declined", "location_denied", "token_expired",
		"user_cancelled", "AVAudioSessionErrorCodeCannotStartPlaying", "NSURLErrorTimedOut",
		"com.example.app.widget.refresh", "x86_64-unknown-linux-gnu", "aarch64-apple-darwin",
	},
	"duration": {"250ms", "1.5s", "00:01:30", "2h45m", "PT15M", "P1DT2H", "1m30.5s", "13:45", "13:45:07.123"},
	"count": {
		"0", "42", "1000000", "123456789", "4294967295", "9007199254740991", "1732000000000", "1732000000000000",
		"18446744073709551615", "3,456,789", "1 234 567", "12.345.678",
	},
	"percent":    {"99.9%", "12.5 %", "0.125", "100%", "-3.75%", "0.333"},
	"screen":     {"1920x1080", "2560×1440", "390x844@3x", "1080 x 2400", "6.1in", "460ppi", "3840x2160@60Hz"},
	"color":      {"#ff8800", "#FFF", "#1e1e1ecc", "rgb(255, 136, 0)", "0xFF00FF"},
	"hash_short": {"5114f85", "a1b2c3d", "deadbeef", "g5114f85", "build-7f3e2a1", "abcdef123456", "0x7ffee4b2c8a0"},
	"date": {
		"2024-11-05", "2024/11/05", "05.11.2024", "11/05/2024", "2024-W45", "2024-11", "Nov 5, 2024",
		"20241105", "2024-11-05T00:00Z",
	},
	"error_code": {
		"E1234", "ERR_CONNECTION_RESET", "ECONNREFUSED", "0x80070005", "-1009", "NSURLErrorDomain -1001",
		"SQLSTATE 40001", "HRESULT 0x8007000E", "errno 104", "SIGSEGV", "EXC_BAD_ACCESS (code=1, address=0x10)",
		"java.lang.NullPointerException", "ANR in com.example.app",
	},
	"http":     {"200", "404", "HTTP 503", "HTTP/2 429", "GET /v1/events", "https://example.com/docs/getting-started", "https://cdn.example.com/app.js"},
	"timezone": {"Europe/Berlin", "America/Argentina/Buenos_Aires", "UTC", "Etc/GMT-14", "+05:30", "UTC+05:45", "GMT-3"},
	"currency": {"EUR", "USD", "JPY", "12.99 USD", "EUR 1,234.56", "$4.99", "€0.99"},
	"misc": {
		"1.5 2.5", "0.125 0.250", "lat 48.8 lon 2.3", "temperature 21.5 C", "10-19", "100-499", "2026-W03",
		"arm64-v8a", "armeabi-v7a", "AES-256-GCM", "TLS_AES_128_GCM_SHA256", "sha256", "H.264", "HEVC Main10",
		"8 GB", "256GB", "Snapdragon 8 Gen 3", "Apple M3 Max", "Intel(R) Core(TM) i7-1185G7 @ 3.00GHz",
		"1.2.3.4", "::", "a::b", "std::vector<int>", "12:34:56", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff",
		"00000000-0000-0000-0000-000000000000", "ffffffff-ffff-ffff-ffff-ffffffffffff",
		"127.0.0.1", "0.0.0.0", "192.168.1.0/24", "10.1.2.0", "::1", "fe80::/10",
		"see you at 5 dot", "meet at the lobby", "error at line 42", "retina@2x", "@mention", "user@",
		"room 101 at building 7", "crash at main.go", "failed at AppDelegate.swift", "v1.2.3.4", "Chrome/131.0.0.0",
		"000-00-0000", "123456789", "1234 5678", "4111 1111 1111 1112",
		"onboarding_step_12", "settings/privacy/location", "cycle_length_over_threshold_warning",
		"ERR_HTTP2_PROTOCOL_ERROR", "GL_OES_EGL_image_external_essl3", "VK_KHR_dynamic_rendering",
	},
}

// TestDetectVariants reports recall per identifier kind and false positives
// per benign category on the variant tables, and fails on any miss.
func TestDetectVariants(t *testing.T) {
	kinds := make([]string, 0, len(variantPositive))
	for k := range variantPositive {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	totalPos, totalHit := 0, 0
	for _, k := range kinds {
		hit := 0
		for _, v := range variantPositive[k] {
			got, ok := Detect(v)
			switch {
			case !ok:
				t.Errorf("missed %s: %q", k, v)
			case got != k:
				// Still rejected, but under another code: count it as
				// detected and flag it.
				hit++
				t.Errorf("%s detected as %s: %q", k, got, v)
			default:
				hit++
			}
		}
		totalPos += len(variantPositive[k])
		totalHit += hit
		t.Logf("recall %-12s %3d/%-3d", k, hit, len(variantPositive[k]))
	}
	cats := make([]string, 0, len(variantBenign))
	for c := range variantBenign {
		cats = append(cats, c)
	}
	sort.Strings(cats)
	totalNeg, totalFP := 0, 0
	for _, c := range cats {
		fp := 0
		for _, v := range variantBenign[c] {
			if got, ok := Detect(v); ok {
				fp++
				t.Errorf("false positive (%s) as %s: %q", c, got, v)
			}
		}
		totalNeg += len(variantBenign[c])
		totalFP += fp
		t.Logf("false positives %-12s %3d/%-3d", c, fp, len(variantBenign[c]))
	}
	t.Logf("recall %d/%d, false positives %d/%d", totalHit, totalPos, totalFP, totalNeg)
}

// The generated tables draw many random instances of each format from a
// fixed seed, so the detectors are measured on values nobody picked.

const variantsPerFormat = 200

func luhnComplete(r *rand.Rand, prefix string, n int) string {
	b := []byte(prefix)
	for len(b) < n-1 {
		b = append(b, byte('0'+r.IntN(10)))
	}
	for c := byte('0'); c <= '9'; c++ {
		d := make([]byte, n)
		for i := range n - 1 {
			d[i] = b[i] - '0'
		}
		d[n-1] = c - '0'
		if luhn(d) {
			return string(append(b, c))
		}
	}
	panic("unreachable")
}

// group inserts sep between groups of the given sizes.
func group(s, sep string, sizes ...int) string {
	var out []string
	for _, n := range sizes {
		if n >= len(s) {
			break
		}
		out = append(out, s[:n])
		s = s[n:]
	}
	return strings.Join(append(out, s), sep)
}

func randFrom(r *rand.Rand, alphabet string, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

const (
	alDigits = "0123456789"
	alHex    = "0123456789abcdef"
	alB62    = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	alB64    = alB62 + "+/"
	alLower  = "abcdefghijklmnopqrstuvwxyz"
)

func ibanWithCheck(cc, bban string) string {
	rem := 0
	for _, c := range []byte(strings.ToUpper(bban) + cc + "00") {
		rem = mod97Append(rem, c)
	}
	return fmt.Sprintf("%s%02d%s", cc, 98-rem, bban)
}

func generatedPositive(r *rand.Rand) map[string][]string {
	out := map[string][]string{}
	add := func(kind, v string) { out[kind] = append(out[kind], v) }
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	for range variantsPerFormat {
		// payment cards: brand prefix and length, Luhn check digit
		brands := []struct {
			prefix string
			n      int
		}{{"4", 16}, {"4", 13}, {"4", 19}, {"51", 16}, {"55", 16}, {"2221", 16}, {"2720", 16}, {"34", 15}, {"37", 15},
			{"6011", 16}, {"65", 16}, {"644", 16}, {"36", 14}, {"300", 14}, {"3528", 16}, {"3589", 16}, {"62", 16}, {"62", 19}, {"2200", 16}, {"6304", 16}}
		b := brands[r.IntN(len(brands))]
		card := luhnComplete(r, b.prefix, b.n)
		switch r.IntN(3) {
		case 1:
			card = group(card, " ", 4, 4, 4, 4)
		case 2:
			card = group(card, "-", 4, 4, 4, 4)
		}
		if b.n == 15 && r.IntN(2) == 0 {
			card = group(luhnComplete(r, b.prefix, 15), " ", 4, 6)
		}
		add(KindCreditCard, pick("", "card ", "pan=")+card)

		imei := luhnComplete(r, pick("35", "86", "01", "99", "49"), 15)
		switch r.IntN(3) {
		case 1:
			imei = group(imei, "-", 2, 6, 6)
		case 2:
			imei = group(imei, " ", 2, 6, 6)
		}
		add(KindIMEI, pick("", "IMEI ", "imei=")+imei)

		// IBAN: country code with its national length
		countries := []struct {
			cc     string
			n      int
			letter int // leading letters of the BBAN (bank code)
		}{{"DE", 18, 0}, {"GB", 18, 4}, {"FR", 23, 0}, {"ES", 20, 0}, {"IT", 23, 1}, {"NL", 14, 4}, {"BE", 12, 0},
			{"CH", 17, 0}, {"AT", 16, 0}, {"PL", 24, 0}, {"SE", 20, 0}, {"NO", 11, 0}, {"IE", 18, 4}, {"PT", 21, 0}}
		c := countries[r.IntN(len(countries))]
		bban := randFrom(r, "ABCDEFGHIJKLMNOPQRSTUVWXYZ", c.letter) + randFrom(r, alDigits, c.n-c.letter)
		iban := ibanWithCheck(c.cc, bban)
		switch r.IntN(4) {
		case 1:
			iban = group(iban, " ", 4, 4, 4, 4, 4, 4, 4)
		case 2:
			iban = strings.ToLower(iban)
		case 3:
			iban = "IBAN: " + group(iban, " ", 4, 4, 4, 4, 4, 4, 4)
		}
		add(KindIBAN, iban)

		// UUIDs of every version, and 16-hex Android ids
		u := []byte(randFrom(r, alHex, 32))
		u[12] = "12345678"[r.IntN(8)]
		u[16] = "89ab"[r.IntN(4)]
		us := group(string(u), "-", 8, 4, 4, 4)
		switch r.IntN(5) {
		case 1:
			us = strings.ToUpper(us)
		case 2:
			us = "{" + us + "}"
		case 3:
			us = string(u)
		case 4:
			us = pick("idfa=", "gaid:", "install ") + us
		}
		add(KindDeviceID, us)
		add(KindDeviceID, randFrom(r, alHex, 16))

		mac := randFrom(r, alHex, 12)
		switch r.IntN(4) {
		case 0:
			mac = group(mac, ":", 2, 2, 2, 2, 2)
		case 1:
			mac = strings.ToUpper(group(mac, "-", 2, 2, 2, 2, 2))
		case 2:
			mac = group(mac, ".", 4, 4)
		case 3:
			mac = "ether " + group(mac, ":", 2, 2, 2, 2, 2) + " up"
		}
		add(KindMAC, mac)

		ip4 := fmt.Sprintf("%d.%d.%d.%d", 11+r.IntN(212), r.IntN(256), r.IntN(256), 1+r.IntN(254))
		add(KindIPv4, pick("", "client ", "from ", "ip=")+ip4+pick("", ":"+strconv.Itoa(1024+r.IntN(60000)), " ok", "/32"))

		var a16 [16]byte
		for i := range a16 {
			a16[i] = byte(r.IntN(256))
		}
		a16[0], a16[1] = 0x20, 0x01
		if r.IntN(3) == 0 {
			for i := 4; i < 12; i++ {
				a16[i] = 0
			}
		}
		ip6 := netip.AddrFrom16(a16).String()
		switch r.IntN(4) {
		case 1:
			ip6 = "[" + ip6 + "]:" + strconv.Itoa(1024+r.IntN(60000))
		case 2:
			ip6 = strings.ToUpper(ip6)
		case 3:
			ip6 = "fe80::" + strings.Join([]string{randFrom(r, alHex, 4), randFrom(r, alHex, 4), randFrom(r, alHex, 4), randFrom(r, alHex, 4)}, ":") + "%" + pick("eth0", "en0", "wlan0", "3")
		}
		add(KindIPv6, ip6)

		// phones: E.164 with a country code, and national shapes
		cc := pick("1", "44", "49", "33", "81", "91", "55", "61", "34", "39", "86", "353", "7", "27", "52")
		nsn := strconv.Itoa(2+r.IntN(8)) + randFrom(r, alDigits, 8+r.IntN(2))
		var phone string
		switch r.IntN(5) {
		case 0:
			phone = "+" + cc + nsn
		case 1:
			phone = "+" + cc + " " + group(nsn, " ", 3, 3)
		case 2:
			phone = "+" + cc + "-" + group(nsn, "-", 2, 4)
		case 3:
			area := strconv.Itoa(2+r.IntN(8)) + randFrom(r, alDigits, 2)
			ex := strconv.Itoa(2+r.IntN(8)) + randFrom(r, alDigits, 2)
			line := randFrom(r, alDigits, 4)
			phone = pick("("+area+") "+ex+"-"+line, area+"-"+ex+"-"+line, area+"."+ex+"."+line, "1-"+area+"-"+ex+"-"+line)
		case 4:
			phone = "0" + group(nsn[:9], " ", 3, 3)
		}
		add(KindPhone, pick("", "tel ", "call ")+phone)

		local := randFrom(r, alLower, 3+r.IntN(8)) + pick("", ".", "_", "+") + randFrom(r, alLower+alDigits, 2+r.IntN(5))
		if strings.HasSuffix(local, ".") {
			local += "x"
		}
		domain := randFrom(r, alLower, 3+r.IntN(8)) + pick(".com", ".co.uk", ".de", ".io", ".example", ".mail.example.org")
		email := local + "@" + domain
		if r.IntN(4) == 0 {
			email = strings.ToUpper(email)
		}
		add(KindEmail, pick("", "from ", "<")+email+pick("", ">", " said"))

		lat := (r.Float64()*170 - 85)
		lon := (r.Float64()*350 - 175)
		prec := 3 + r.IntN(4)
		var geo string
		switch r.IntN(4) {
		case 0:
			geo = fmt.Sprintf("%.*f,%.*f", prec, lat, prec, lon)
		case 1:
			geo = fmt.Sprintf("%.*f, %.*f", prec, lat, prec, lon)
		case 2:
			geo = fmt.Sprintf("geo:%.*f,%.*f", prec, lat, prec, lon)
		case 3:
			geo = fmt.Sprintf("lat=%.*f&lng=%.*f", prec, lat, prec, lon)
		}
		add(KindGeo, geo)

		area := 1 + r.IntN(899)
		if area == 666 {
			area = 667
		}
		ssn := fmt.Sprintf("%03d%s%02d%s%04d", area, "-", 1+r.IntN(99), "-", 1+r.IntN(9999))
		if r.IntN(3) == 0 {
			ssn = strings.ReplaceAll(ssn, "-", " ")
		}
		add(KindSSN, ssn)

		// tokens: random base62 / base64 / hex secrets, with and without
		// a vendor-style prefix
		var tok string
		switch r.IntN(5) {
		case 0:
			tok = randFrom(r, alB62, 20+r.IntN(29))
		case 1:
			tok = pick("sk_live_", "ghp_", "xoxb-", "pk_", "key-", "glpat-") + randFrom(r, alB62, 20+r.IntN(21))
		case 2:
			n := 18 + 3*r.IntN(10)
			tok = base64.StdEncoding.EncodeToString([]byte(randFrom(r, alB62+"!#$%&", n)))
		case 3:
			tok = randFrom(r, alHex, pick2(r, 40, 64))
		case 4:
			tok = pick("Bearer ", "Token ", "Authorization: Bearer ") + randFrom(r, alB62+"-._~", 20+r.IntN(30))
		}
		add(KindToken, tok)
	}
	return out
}

func pick2(r *rand.Rand, a, b int) int {
	if r.IntN(2) == 0 {
		return a
	}
	return b
}

func generatedBenign(r *rand.Rand) map[string][]string {
	out := map[string][]string{}
	add := func(cat, v string) { out[cat] = append(out[cat], v) }
	pick := func(xs ...string) string { return xs[r.IntN(len(xs))] }
	words := []string{"cold", "start", "checkout", "payment", "sheet", "settings", "privacy", "sync", "upload", "retry", "timeout", "network", "offline", "camera", "photo", "share", "widget", "refresh", "login", "screen", "tab", "home", "search", "error", "banner"}
	for range variantsPerFormat {
		add("version", fmt.Sprintf("%d.%d.%d", r.IntN(30), r.IntN(50), r.IntN(300)))
		add("version", fmt.Sprintf("v%d.%d.%d-%s.%d+build.%d", r.IntN(10), r.IntN(20), r.IntN(50), pick("alpha", "beta", "rc"), r.IntN(10), r.IntN(5000)))
		add("version", fmt.Sprintf("%d.0.%d.%d", 90+r.IntN(50), 1000+r.IntN(9000), r.IntN(300)))
		add("version", fmt.Sprintf("10.0.%d", 10000+r.IntN(20000)))
		add("version", fmt.Sprintf("%d.%d.%d", 2015+r.IntN(12), 1+r.IntN(12), 1+r.IntN(30)))
		add("build", fmt.Sprintf("%d%02d%02d.%d", 2015+r.IntN(12), 1+r.IntN(12), 1+r.IntN(28), r.IntN(20)))
		add("build", fmt.Sprintf("%s%d%s.%02d%02d%02d.%03d", pick("UP", "AP", "TQ", "SP"), 1+r.IntN(4), pick("A", "B"), 20+r.IntN(6), 1+r.IntN(12), 1+r.IntN(28), r.IntN(50)))
		add("count", strconv.Itoa(r.IntN(1_000_000_000)))
		add("count", strconv.FormatInt(1_600_000_000_000+r.Int64N(200_000_000_000), 10))
		add("duration", fmt.Sprintf("%d%s", r.IntN(100000), pick("ms", "s", "us", "ns")))
		add("duration", fmt.Sprintf("%.3fs", r.Float64()*100))
		add("duration", fmt.Sprintf("%02d:%02d:%02d", r.IntN(24), r.IntN(60), r.IntN(60)))
		add("percent", fmt.Sprintf("%.2f%%", r.Float64()*100))
		add("percent", fmt.Sprintf("%.3f", r.Float64()))
		add("screen", fmt.Sprintf("%dx%d", 320+r.IntN(3500), 240+r.IntN(2000)))
		add("color", "#"+randFrom(r, alHex, pick2(r, 6, 8)))
		add("hash_short", randFrom(r, alHex, 7))
		add("date", fmt.Sprintf("%d-%02d-%02d", 2000+r.IntN(30), 1+r.IntN(12), 1+r.IntN(28)))
		add("date", fmt.Sprintf("%02d.%02d.%d", 1+r.IntN(28), 1+r.IntN(12), 2000+r.IntN(30)))
		add("error_code", fmt.Sprintf("E%d", r.IntN(100000)))
		add("error_code", fmt.Sprintf("0x%08X", r.Uint32()))
		add("model", fmt.Sprintf("SM-%s%03d%s", pick("G", "S", "A", "F", "N"), r.IntN(1000), pick("B", "U", "U1", "F", "N", "")))
		add("model", fmt.Sprintf("iPhone%d,%d", 8+r.IntN(10), 1+r.IntN(8)))
		add("enum", strings.Join([]string{words[r.IntN(len(words))], words[r.IntN(len(words))], words[r.IntN(len(words))]}, pick("_", ".", "-", "/")))
		add("enum", strings.ToUpper(words[r.IntN(len(words))]+"_"+words[r.IntN(len(words))]+"_"+words[r.IntN(len(words))]))
		add("range", fmt.Sprintf("%d-%d", r.IntN(1000), 1000+r.IntN(9000)))
		add("money", fmt.Sprintf("%s %.2f", pick("EUR", "USD", "GBP", "JPY"), r.Float64()*10000))
		add("text", fmt.Sprintf("step %d of %d took %dms", r.IntN(20), 20+r.IntN(20), r.IntN(5000)))
	}
	return out
}

// TestDetectGenerated measures recall and false positives on the generated
// tables; it fails below 99 % recall per kind or above 1 % false positives
// per benign category, the same bar as the development corpus.
func TestDetectGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(2024, 11))
	pos := generatedPositive(r)
	neg := generatedBenign(r)
	shown := 0
	for _, k := range slices.Sorted(maps.Keys(pos)) {
		hit := 0
		for _, v := range pos[k] {
			if _, ok := Detect(v); ok {
				hit++
			} else if shown++; shown <= 40 {
				t.Logf("missed %s: %q", k, v)
			}
		}
		rec := float64(hit) / float64(len(pos[k]))
		t.Logf("recall %-12s %.3f (%d/%d)", k, rec, hit, len(pos[k]))
		if rec < 0.99 {
			t.Errorf("recall for %s %.3f below 0.99", k, rec)
		}
	}
	for _, c := range slices.Sorted(maps.Keys(neg)) {
		fp := 0
		for _, v := range neg[c] {
			if kind, ok := Detect(v); ok {
				fp++
				if shown++; shown <= 80 {
					t.Logf("false positive %s as %s: %q", c, kind, v)
				}
			}
		}
		rate := float64(fp) / float64(len(neg[c]))
		t.Logf("false positives %-12s %.3f (%d/%d)", c, rate, fp, len(neg[c]))
		if rate > 0.01 {
			t.Errorf("false positives for %s %.3f above 0.01", c, rate)
		}
	}
}

// Property names in the spellings schemas use; each must be refused, and
// the benign ones allowed.
var (
	lintIdentifyingNames = []string{
		"userEmail", "user-email", "USER_EMAIL", "deviceID", "ip_addr", "clientIp", "clientIP", "IPAddress",
		"geoLat", "gpsLon", "latLng", "zipCode", "postalCode", "postal", "dateOfBirth", "dob", "msisdn", "imsi",
		"ssnLast4", "ssn_last4", "remoteAddress", "forwardedFor", "x_forwarded_for", "X-Forwarded-For", "advertisingId", "adId",
		"installId", "sessionId", "androidId", "macAddress", "wifiBssid", "homeAddress", "firstName", "passportNo",
		"nationalId", "authToken", "apiKey", "eventTimestamp", "createdAt", "emailHash", "userIdHash", "imei1",
		"customer_ref", "vin", "licensePlate", "cardNumber", "cvc", "taxId", "visitorId", "idfa", "gaid",
		"screen_name", // an account handle (issue 14)
	}
	lintBenignNames = []string{
		"os", "latency_ms", "country", "screen_class", "location_permission", "email_verified", "ip_version",
		"load_time_ms", "app_version", "macOS_version", "is_email_verified", "device_model", "locale", "timezone",
		"cold_start_ms", "retry_count", "network_type", "error_code", "http_status", "screen_width", "plateau",
		"deviceClass", "username_length", "categoryId", "relationship",
	}
)

func TestIdentifyingNameSpellings(t *testing.T) {
	for _, n := range lintIdentifyingNames {
		if _, ok := identifyingName(n); !ok {
			t.Errorf("identifyingName(%q) = false; want true", n)
		}
	}
	for _, n := range lintBenignNames {
		if w, ok := identifyingName(n); ok {
			t.Errorf("identifyingName(%q) = true (%s); want false", n, w)
		}
	}
}

// TestDetectSingleCaseKeys covers random keys in one letter case —
// lower-case API keys, base32 secrets, letters-only keys — which the
// segment and vowel rules miss, against names made of telemetry words
// written together in one case, which must stay benign.
func TestDetectSingleCaseKeys(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 21))
	for _, c := range []struct {
		name, alphabet string
		minRecall      float64 // at 20-40 characters
	}{
		{"lower+digits", "abcdefghijklmnopqrstuvwxyz0123456789", 0.95},
		{"upper+digits", "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 0.95},
		{"base32", "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 0.90},
		{"lower letters", "abcdefghijklmnopqrstuvwxyz", 0.85},
		{"upper letters", "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 0.85},
	} {
		hit, n := 0, 2000
		for range n {
			if _, ok := Detect(randFrom(r, c.alphabet, 20+r.IntN(21))); ok {
				hit++
			}
		}
		rec := float64(hit) / float64(n)
		t.Logf("recall %-14s %.3f", c.name, rec)
		if rec < c.minRecall {
			t.Errorf("%s: recall %.3f below %.2f", c.name, rec, c.minRecall)
		}
	}
	words := []string{"cold", "start", "checkout", "payment", "sheet", "settings", "privacy", "sync", "upload", "retry",
		"timeout", "network", "offline", "camera", "photo", "share", "widget", "refresh", "login", "screen", "tab", "home",
		"search", "error", "banner", "background", "foreground", "fetch", "completed", "failed", "notification",
		"permission", "granted", "denied", "location", "bluetooth", "keyboard", "scroll", "display", "brightness",
		"volume", "playback", "buffer", "stream", "video", "audio", "subscription", "purchase", "restore", "onboarding",
		"profile", "avatar", "message", "thread", "reply", "forward", "delete", "archive", "inbox", "draft", "calendar",
		"reminder", "dark", "light", "mode", "toggle", "switch", "button", "tapped", "viewed", "opened", "closed",
		"crash", "memory", "warning", "battery", "charging", "wifi", "cellular", "gps", "sensor", "step", "heart",
		"rate", "sleep", "workout", "running", "cycling", "swimming", "yoga", "journal", "mood", "symptom",
		"medication", "dose", "glucose", "pressure", "weight", "temperature"}
	fp, total := 0, 0
	for range 5000 {
		s := ""
		for range 3 + r.IntN(3) {
			s += words[r.IntN(len(words))]
		}
		if len(s) < 20 {
			continue
		}
		if r.IntN(2) == 0 {
			s = strings.ToUpper(s)
		}
		total++
		if kind, ok := Detect(s); ok {
			if fp++; fp <= 10 {
				t.Logf("false positive as %s: %q", kind, s)
			}
		}
	}
	long := []string{"internationalization", "uncharacteristically", "counterrevolutionaries", "electroencephalography",
		"hydroxychloroquinesulfate", "levothyroxinesodium", "geschwindigkeitsbegrenzung", "supercalifragilisticexpialidocious",
		"ANDROIDXCOMPOSEFOUNDATION", "systemuiservicebinder", "surfaceflingerframestats", "mediaplaybackservicestate",
		"CFNETWORKDOWNLOADSTALLED", "nsurlerrortimedout", "wkwebviewcontentprocessterminated", "dxgierrordeviceremoved",
		strings.Repeat("a", 40), strings.Repeat("ab", 15), strings.Repeat("XYZ", 10)} // repetition is not randomness
	for _, s := range long {
		total++
		if kind, ok := Detect(s); ok {
			fp++
			t.Logf("false positive as %s: %q", kind, s)
		}
	}
	t.Logf("false positives %d/%d", fp, total)
	if fp*1000 > total { // 0.1 %
		t.Errorf("%d false positives in %d single-case names", fp, total)
	}
}

// TestDetectFormatCodes: constants made of words and short letter-digit
// groups stay benign when two of their pieces are words, while keys behind
// a worded vendor prefix are still tokens (the random piece is judged on
// its own).
func TestDetectFormatCodes(t *testing.T) {
	for _, v := range []string{"VK_FORMAT_R8G8B8A8_UNORM", "VK_FORMAT_R16G16B16A16_SFLOAT", "DXGI_FORMAT_R16G16B16A16_FLOAT",
		"GL_RGBA8_SNORM_EXT", "MTLPixelFormatBGRA8Unorm_sRGB", "VK_FORMAT_A2B10G10R10_UNORM_PACK32"} {
		if kind, ok := Detect(v); ok {
			t.Errorf("%q detected as %s", v, kind)
		}
	}
	r := rand.New(rand.NewPCG(8, 8))
	hit, n := 0, 0
	for range 200 {
		for _, prefix := range []string{"sk_live_", "glpat-", "rk_test_", "token_value_"} {
			v := prefix + randFrom(r, alB62, 24+r.IntN(16))
			n++
			if _, ok := Detect(v); ok {
				hit++
			} else if n-hit <= 5 {
				t.Logf("missed %q", v)
			}
		}
	}
	// 97.0 % before pieces were judged on their own, 98.6 % after.
	if rec := float64(hit) / float64(n); rec < 0.98 {
		t.Errorf("prefixed keys: recall %.3f below 0.98", rec)
	}
}
