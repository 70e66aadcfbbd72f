package schema

import "strings"

// Property-name screening. A name is split into lower-case words whatever
// its spelling (snake_case, camelCase, kebab-case, dotted, prefixed or
// suffixed), then matched word by word against the identifying words and
// phrases below, and against families of identifiers (nameFamilies,
// headNouns), so "remoteAddr", "X-Forwarded-IP", "user_email_address",
// "deviceIDHash", "srcip", "hwid", "latlng", "cc_number" and "screen_name"
// are caught while "os", "latency_ms", "country", "login_method" and
// "pan_gesture_count" are not.

// words splits a property name into lower-case words. Case changes start a
// word ("userID" → user, id; "IPAddress" → ip, address) except after a lone
// leading lower-case letter, so product spellings stay whole ("iPhone",
// "iOS", "eMail"). Trailing digits stay attached ("ipv4").
func words(name string) []string {
	var out []string
	start := -1
	flush := func(end int) {
		if start >= 0 && end > start {
			out = append(out, strings.ToLower(name[start:end]))
		}
		start = -1
	}
	isUpper := func(c byte) bool { return 'A' <= c && c <= 'Z' }
	isLower := func(c byte) bool { return 'a' <= c && c <= 'z' }
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isAlnum(c) {
			flush(i)
			continue
		}
		if start < 0 {
			start = i
			continue
		}
		prev := name[i-1]
		switch {
		case isUpper(c) && (isLower(prev) || isDigit(prev)):
			if i-start == 1 && isLower(prev) {
				continue // iPhone, eMail
			}
			flush(i)
			start = i
		case isUpper(c) && isUpper(prev) && isLower(at(name, i+1)):
			flush(i)
			start = i
		}
	}
	flush(len(name))
	// "macOS" splits as mac, os: rejoin so the operating system is not
	// mistaken for a MAC address.
	for i := 0; i+1 < len(out); i++ {
		if out[i] == "mac" && out[i+1] == "os" {
			out = append(out[:i+1], out[i+2:]...)
			out[i] = "macos"
		}
	}
	return out
}

// identifyingWords identify wherever they appear in a name.
var identifyingWords = map[string]bool{
	// network addresses
	"ip": true, "ipv4": true, "ipv6": true, "ip4": true, "ip6": true, "ipaddr": true,
	"ipaddress": true, "addr": true, "address": true, "hostname": true, "fqdn": true,
	"mac": true, "macaddr": true, "macaddress": true, "bssid": true, "ssid": true,
	// contact
	"email": true, "emails": true, "mail": true, "emailaddress": true,
	"phone": true, "phonenumber": true, "telephone": true, "tel": true, "msisdn": true,
	// telecom: electronic serial number, mobile directory number, IMEI
	// software version, mobile subscription id, eUICC id
	"esn": true, "mdn": true, "imeisv": true, "msin": true, "euicc": true,
	// device and advertising identifiers
	"idfa": true, "idfv": true, "gaid": true, "aaid": true, "adid": true, "oaid": true, "imei": true,
	"imsi": true, "iccid": true, "meid": true, "udid": true, "uuid": true, "guid": true,
	"uid": true, "serial": true, "serialnumber": true, "fingerprint": true, "cookie": true,
	"useragent": true,
	// location
	"lat": true, "lon": true, "lng": true, "latitude": true, "longitude": true, "geo": true,
	"geolocation": true, "geohash": true, "location": true, "gps": true, "coord": true, "coords": true,
	"coordinates": true, "street": true, "postcode": true, "postalcode": true,
	"zip": true, "zipcode": true,
	// names
	"firstname": true, "lastname": true, "fullname": true, "surname": true,
	"username": true, "nickname": true, "displayname": true,
	// government, financial
	"ssn": true, "passport": true, "iban": true, "cvv": true, "cvc": true, "vin": true,
	"postal": true, "forwarded": true,
	// secrets
	"token": true, "password": true, "passwd": true, "pwd": true, "secret": true,
	"apikey": true, "credential": true, "credentials": true, "authorization": true,
	// birth
	"dob": true, "birth": true, "birthday": true, "birthdate": true, "yob": true, "bday": true,
	// precise time
	"timestamp": true, "ts": true, "datetime": true, "epoch": true, "unix": true,
}

// idSubjects are words that make "<subject> id" (or "<subject>id") identifying.
var idSubjects = []string{
	"user", "device", "advertising", "advertiser", "ad", "install", "installation",
	"session", "client", "customer", "account", "visitor", "member", "person",
	"profile", "player", "subscriber", "android", "tracking", "anonymous",
	"distinct", "external", "browser", "hardware", "vendor", "instance",
	"contact", "patient", "employee", "student", "order", "transaction", "payment",
	"national", "tax", "social",
}

// idWords complete an idSubject.
var idWords = map[string]bool{"id": true, "ids": true, "identifier": true, "uuid": true, "guid": true, "key": true, "number": true, "no": true, "ref": true, "hash": true}

// identifyingPhrases are word sequences that identify where their words
// alone do not.
var identifyingPhrases = [][]string{
	{"first", "name"}, {"last", "name"}, {"full", "name"}, {"given", "name"},
	{"family", "name"}, {"middle", "name"}, {"user", "name"}, {"display", "name"},
	{"real", "name"}, {"nick", "name"}, {"maiden", "name"}, {"contact", "name"},
	{"customer", "name"}, {"person", "name"}, {"device", "name"}, {"account", "name"},
	{"owner", "name"}, {"sur", "name"}, {"legal", "name"}, {"patient", "name"},
	{"user", "agent"}, {"date", "of", "birth"},
	{"social", "security"}, {"national", "insurance"}, {"driver", "license"},
	{"drivers", "license"}, {"id", "card"}, {"id", "number"},
	{"credit", "card"}, {"card", "number"}, {"card", "no"}, {"routing", "number"},
	{"bank", "account"}, {"mobile", "number"}, {"mobile", "no"}, {"cell", "number"},
	{"contact", "number"}, {"api", "key"}, {"access", "key"}, {"private", "key"},
	{"secret", "key"}, {"house", "number"}, {"post", "code"}, {"postal", "code"},
	{"zip", "code"}, {"license", "plate"}, {"licence", "plate"},
}

// featureWords, as the last word of a name, say the property describes a
// feature rather than carrying the data: "location_permission",
// "email_verified", "token_count", "ip_version". Booleans and enums named so
// are allowed; their values still pass through the detectors.
var featureWords = map[string]bool{
	"permission": true, "permissions": true, "enabled": true, "disabled": true,
	"granted": true, "denied": true, "consent": true, "setting": true, "settings": true,
	"status": true, "state": true, "type": true, "kind": true, "mode": true,
	"count": true, "length": true, "len": true, "format": true, "valid": true,
	"verified": true, "present": true, "provided": true, "prompt": true, "shown": true,
	"changed": true, "source": true, "precision": true, "accuracy": true,
	"provider": true, "version": true, "strength": true, "error": true, "errors": true,
}

// featurePrefixes, as the first word, do the same: "has_email", "is_geo_enabled".
var featurePrefixes = map[string]bool{"has": true, "is": true, "num": true, "n": true}

// timeQualifiers before "time" make it a point in time ("event_time",
// "start_time_ms"); any other word before it makes it a duration
// ("load_time_ms", "response_time").
var timeQualifiers = map[string]bool{
	"event": true, "client": true, "local": true, "device": true, "send": true,
	"sent": true, "receive": true, "received": true, "create": true, "created": true,
	"creation": true, "update": true, "updated": true, "start": true, "end": true,
	"current": true, "now": true, "server": true, "login": true, "logout": true,
	"open": true, "close": true, "visit": true, "exact": true, "precise": true,
	"capture": true, "captured": true, "record": true, "recorded": true,
	"occur": true, "occurred": true, "submit": true, "submitted": true,
	"purchase": true, "install": true, "last": true, "first": true, "wall": true,
	"clock": true, "utc": true,
}

// timeUnits may follow "time" without changing its meaning.
var timeUnits = map[string]bool{
	"ms": true, "millis": true, "msec": true, "us": true, "ns": true, "sec": true,
	"secs": true, "s": true, "seconds": true, "utc": true, "local": true, "iso": true,
	"epoch": true, "unix": true, "stamp": true,
}

// nameFamilies are the families of identifying names built from two parts:
// a qualifier and what it qualifies, written as one word ("srcip", "hwid",
// "latlng", "ccnum", "realname") or as two ("src_ip", "hw_id", "cc_number",
// "real_name"). A name identifies when two adjacent parts come from one
// family's prefixes and stems. Adding a qualifier or a stem to a family
// covers every spelling of every combination at once.
var nameFamilies = [...]struct {
	family   string
	prefixes []string
	stems    []string
}{
	{"device or hardware id",
		[]string{"dev", "device", "hw", "hardware", "machine", "board", "cpu", "sim", "cell", "drm", "widevine", "vendor", "install", "installation", "advertising", "ad"},
		[]string{"id", "ids", "uuid", "guid", "serial", "serialno", "serialnumber", "sn"}},
	{"network address",
		[]string{"src", "dst", "source", "dest", "destination", "client", "remote", "peer", "host", "local", "public", "private",
			"wan", "lan", "server", "origin", "real", "user", "device", "router", "gateway", "proxy", "nat", "eth", "wifi", "wlan",
			"hw", "ext", "external", "internal", "bind", "listen", "my", "visitor", "caller", "sender"},
		[]string{"ip", "ips", "ipv4", "ipv6", "ipaddr", "addr", "address", "host", "hostname", "mac", "macaddr", "fqdn"}},
	{"coordinates",
		[]string{"lat", "latitude", "lng", "lon", "long", "longitude", "geo", "gps"},
		[]string{"lat", "latitude", "lng", "lon", "long", "longitude", "point", "pos", "position", "loc", "location", "coord", "coords", "fix", "ip", "code"}},
	{"payment data",
		[]string{"card", "cc", "credit", "debit", "acct", "account", "bank", "payment"},
		[]string{"no", "nr", "num", "number", "pan", "exp", "expiry", "expiration", "cvv", "cvc", "cvv2", "cvc2", "holder", "holdername"}},
	{"account handle or real name",
		[]string{"first", "last", "full", "given", "family", "middle", "real", "legal", "maiden", "display", "user", "nick",
			"screen", "account", "acct", "login", "contact", "customer", "person", "owner", "sur", "fore", "patient", "holder",
			"member", "player", "profile", "recipient", "sender", "billing", "shipping", "cardholder"},
		[]string{"name", "names", "handle", "login", "alias"}},
	{"user agent",
		[]string{"user", "ua", "http", "browser"},
		[]string{"agent", "string", "str", "ua"}},
	{"telecom id",
		[]string{"sim", "subscriber", "mobile", "cell", "imei"},
		[]string{"serial", "number", "no", "id", "sv"}},
}

// headNouns identify when they are what a name is about — its last word,
// or followed by an id word ("login", "user_handle", "sid", "pan",
// "remote_host", "ua") — and not when they qualify another word
// ("login_method", "handle_count", "pan_gesture", "host_app").
var headNouns = map[string]string{
	"login": "account handle", "handle": "account handle", "nick": "account handle",
	"sid": "session id", "pan": "payment card number", "host": "network address", "ua": "user agent",
}

// familyWord reports whether word, or word followed by next, joins a
// prefix and a stem of one of nameFamilies, and names the family.
func familyWord(word, next string) (string, bool) {
	for _, f := range nameFamilies {
		for _, p := range f.prefixes {
			if !strings.HasPrefix(word, p) {
				continue
			}
			rest := word[len(p):]
			for _, st := range f.stems {
				if rest == st || rest == "" && next == st {
					return f.family, true
				}
			}
		}
	}
	return "", false
}

// identifyingName reports whether a property name looks identifying, and
// the word or phrase that made it so.
func identifyingName(name string) (string, bool) {
	w := words(name)
	if len(w) == 0 {
		return "", false
	}
	if featureWords[w[len(w)-1]] && len(w) > 1 || featurePrefixes[w[0]] && len(w) > 1 {
		return "", false
	}
	if len(w) == 1 && w[0] == "name" {
		return "name", true
	}
	for i, word := range w {
		base := strings.TrimRight(word, "0123456789")
		if base == "" {
			continue
		}
		if identifyingWords[word] || identifyingWords[base] {
			return word, true
		}
		for _, subj := range idSubjects {
			if base == subj+"id" || base == subj+"ids" {
				return word, true
			}
			if word == subj && i+1 < len(w) && idWords[w[i+1]] {
				return subj + " " + w[i+1], true
			}
		}
		next := ""
		if i+1 < len(w) {
			next = w[i+1]
		}
		if family, ok := familyWord(base, next); ok {
			return family, true
		}
		if family, ok := headNouns[base]; ok && (next == "" || idWords[next] || next == "string") {
			return family, true
		}
		if strings.HasPrefix(base, "birth") { // birthyear, birthplace, birth_month
			return word, true
		}
		// "created_at", "last_seen_at"
		if word == "at" && i == len(w)-1 && i > 0 {
			return strings.Join(w[i-1:], "_"), true
		}
		if word == "time" {
			unitsOnly := true
			for _, rest := range w[i+1:] {
				unitsOnly = unitsOnly && timeUnits[rest]
			}
			if unitsOnly && (i == 0 || timeQualifiers[w[i-1]]) {
				return strings.Join(w[max(i-1, 0):], "_"), true
			}
		}
	}
	for _, p := range identifyingPhrases {
		if containsPhrase(w, p) {
			return strings.Join(p, " "), true
		}
	}
	return "", false
}

func containsPhrase(w, p []string) bool {
	for i := 0; i+len(p) <= len(w); i++ {
		match := true
		for k := range p {
			if w[i+k] != p[k] {
				match = false
				break
			}
		}
		if match {
			return true
		}
	}
	return false
}
