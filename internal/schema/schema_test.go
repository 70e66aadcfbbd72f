package schema

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
)

const launchDoc = `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-veil": {"name": "app.launch", "version": 1, "granularity": "hour", "retention_days": 30},
  "type": "object",
  "additionalProperties": false,
  "required": ["os"],
  "properties": {
    "os":            {"enum": ["android", "ios"], "x-veil-role": "dimension"},
    "app_version":   {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$", "maxLength": 16, "x-veil-role": "dimension"},
    "dark_mode":     {"type": "boolean", "x-veil-role": "dimension"},
    "cold_start_ms": {"type": "integer", "minimum": 0, "maximum": 600000, "x-veil-role": "measure"},
    "battery":       {"type": "number", "minimum": 0, "maximum": 1, "x-veil-role": "measure"},
    "frames":        {"type": "integer", "minimum": 0, "maximum": 1000000, "x-veil-role": "measure"},
    "note":          {"type": "string", "pattern": "^[a-z_]*$", "maxLength": 128, "x-veil-role": "dimension"},
    "wide":          {"type": "integer", "minimum": 0, "maximum": 1e16, "x-veil-role": "measure"}
  }
}`

func mustCompile(t testing.TB, doc string) *Schema {
	t.Helper()
	s, err := Compile([]byte(doc))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func TestCompile(t *testing.T) {
	s := mustCompile(t, launchDoc)
	if s.Name != "app.launch" || s.Version != 1 || s.Granularity != GranularityHour || s.RetentionDays != 30 {
		t.Errorf("metadata = %q %d %q %d", s.Name, s.Version, s.Granularity, s.RetentionDays)
	}
	if got := strings.Join(s.Dimensions, ","); got != "app_version,dark_mode,note,os" {
		t.Errorf("Dimensions = %s", got)
	}
	if got := strings.Join(s.Measures, ","); got != "battery,cold_start_ms,frames,wide" {
		t.Errorf("Measures = %s", got)
	}
}

func TestCompileDefaults(t *testing.T) {
	s := mustCompile(t, `{"x-veil":{"name":"a","version":2},"type":"object","additionalProperties":false,
		"properties":{"os":{"enum":["ios"],"x-veil-role":"dimension"}}}`)
	if s.Granularity != GranularityHour || s.RetentionDays != DefaultRetentionDays {
		t.Errorf("defaults = %q %d", s.Granularity, s.RetentionDays)
	}
}

// schemaWith wraps one property definition (or several, comma separated) in
// an otherwise valid document.
func schemaWith(props string) string {
	return `{"x-veil":{"name":"t.e","version":1},"type":"object","additionalProperties":false,"properties":{` + props + `}}`
}

func TestLintRules(t *testing.T) {
	dim := `"x-veil-role":"dimension"`
	tests := []struct {
		name, doc, property, rule string
	}{
		{"not json", `{`, "", RuleInvalidJSON},
		{"not object", `[]`, "", RuleInvalidJSON},
		{"trailing", `{} {}`, "", RuleInvalidJSON},
		{"dialect", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `{"x-veil"`, `{"$schema":"http://json-schema.org/draft-07/schema#","x-veil"`, 1), "", RuleDialect},
		{"x-veil missing", `{"type":"object","additionalProperties":false,"properties":{"os":{"enum":["a"],` + dim + `}}}`, "", RuleXVeil},
		{"x-veil bad name", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"t.e"`, `"App Launch"`, 1), "", RuleXVeil},
		{"x-veil version 0", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"version":1`, `"version":0`, 1), "", RuleXVeil},
		{"x-veil version fractional", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"version":1`, `"version":1.5`, 1), "", RuleXVeil},
		{"x-veil granularity", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"version":1`, `"version":1,"granularity":"minute"`, 1), "", RuleXVeil},
		{"x-veil retention", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"version":1`, `"version":1,"retention_days":100000`, 1), "", RuleXVeil},
		{"x-veil tokens", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"version":1`, `"version":1,"tokens":"always"`, 1), "", RuleXVeil},
		{"x-veil token_batch_events", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"version":1`, `"version":1,"tokens":"required","token_batch_events":0`, 1), "", RuleXVeil},
		{"x-veil unknown member", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"version":1`, `"version":1,"owner":"x"`, 1), "", RuleXVeil},
		{"type not object", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"type":"object"`, `"type":"array"`, 1), "", RuleNotObject},
		{"additionalProperties", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"additionalProperties":false`, `"additionalProperties":true`, 1), "", RuleAdditionalProperties},
		{"no properties", schemaWith(``), "", RuleNoProperties},
		{"required undeclared", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"type":"object"`, `"type":"object","required":["nope"]`, 1), "", RuleRequired},
		{"top-level $defs", strings.Replace(schemaWith(`"os":{"enum":["a"],`+dim+`}`), `"type":"object"`, `"type":"object","$defs":{}`, 1), "", RuleUnsupportedKeyword},
		{"property $ref", schemaWith(`"os":{"$ref":"#/x",` + dim + `,"enum":["a"]}`), "os", RuleUnsupportedKeyword},
		{"property format", schemaWith(`"os":{"type":"string","format":"email","pattern":"^a$","maxLength":3,` + dim + `}`), "os", RuleUnsupportedKeyword},
		{"property name chars", schemaWith(`"a b":{"enum":["a"],` + dim + `}`), "a b", RulePropertyName},
		{"identifying name", schemaWith(`"user_email":{"enum":["a"],` + dim + `}`), "user_email", RuleIdentifyingName},
		{"missing role", schemaWith(`"os":{"enum":["a"]}`), "os", RuleUnknownRole},
		{"unknown role", schemaWith(`"os":{"enum":["a"],"x-veil-role":"label"}`), "os", RuleUnknownRole},
		{"nested object", schemaWith(`"ctx":{"type":"object",` + dim + `}`), "ctx", RuleNestedObject},
		{"nested via properties", schemaWith(`"ctx":{"properties":{},` + dim + `}`), "ctx", RuleNestedObject},
		{"array", schemaWith(`"tags":{"type":"array","items":{"enum":["a"]},` + dim + `}`), "tags", RuleArray},
		{"enum with object", schemaWith(`"os":{"enum":[{"a":1}],` + dim + `}`), "os", RuleNestedObject},
		{"null type", schemaWith(`"os":{"type":"null",` + dim + `}`), "os", RuleInvalidType},
		{"type list", schemaWith(`"os":{"type":["string","null"],` + dim + `}`), "os", RuleInvalidType},
		{"no type", schemaWith(`"os":{` + dim + `}`), "os", RuleInvalidType},
		{"schema true", schemaWith(`"os":true`), "os", RuleInvalidType},
		{"string no pattern", schemaWith(`"screen":{"type":"string","maxLength":20,` + dim + `}`), "screen", RuleUnboundedString},
		{"string no maxLength", schemaWith(`"screen":{"type":"string","pattern":"^[a-z]+$",` + dim + `}`), "screen", RuleUnboundedString},
		{"string maxLength too big", schemaWith(`"screen":{"type":"string","pattern":"^[a-z]+$","maxLength":129,` + dim + `}`), "screen", RuleUnboundedString},
		{"long enum value", schemaWith(`"screen":{"enum":["` + strings.Repeat("a", 129) + `"],` + dim + `}`), "screen", RuleUnboundedString},
		{"integer dimension unbounded", schemaWith(`"level":{"type":"integer","minimum":0,` + dim + `}`), "level", RuleUnboundedNumber},
		{"measure unbounded", schemaWith(`"frames":{"type":"integer","maximum":9,"x-veil-role":"measure"}`), "frames", RuleUnboundedNumber},
		{"measure no bounds", schemaWith(`"load":{"type":"number","x-veil-role":"measure"}`), "load", RuleUnboundedNumber},
		{"number dimension", schemaWith(`"ratio":{"type":"number","minimum":0,"maximum":1,` + dim + `}`), "ratio", RuleDimensionType},
		{"fractional enum dimension", schemaWith(`"ratio":{"enum":[0.5,1],` + dim + `}`), "ratio", RuleDimensionType},
		{"string measure", schemaWith(`"load":{"type":"string","pattern":"^a$","maxLength":1,"x-veil-role":"measure"}`), "load", RuleMeasureType},
		{"enum measure", schemaWith(`"load":{"type":"integer","enum":[1,2],"minimum":0,"maximum":3,"x-veil-role":"measure"}`), "load", RuleMeasureType},
		{"identifying enum", schemaWith(`"contact":{"enum":["support@example.com","none"],` + dim + `}`), "contact", RuleIdentifyingEnum},
		{"identifying const", schemaWith(`"peer":{"const":"203.0.113.7",` + dim + `}`), "peer", RuleIdentifyingEnum},
		{"library refuses pattern", schemaWith(`"screen":{"type":"string","pattern":"(","maxLength":5,` + dim + `}`), "", RuleJSONSchema},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			findings := Lint([]byte(tc.doc))
			found := false
			for _, f := range findings {
				if f.Property == tc.property && f.Rule == tc.rule {
					found = true
				}
				if f.Message == "" {
					t.Errorf("finding without message: %+v", f)
				}
			}
			if !found {
				t.Errorf("want %s on %q, got %v", tc.rule, tc.property, findings)
			}
			_, err := Compile([]byte(tc.doc))
			var le *LintError
			if !errors.As(err, &le) || len(le.Findings) == 0 {
				t.Errorf("Compile error = %v, want *LintError", err)
			}
		})
	}
}

func TestLintFindingNeverQuotesEnumValue(t *testing.T) {
	for _, f := range Lint([]byte(schemaWith(`"contact":{"enum":["secret.person@example.com"],"x-veil-role":"dimension"}`))) {
		if strings.Contains(f.Message, "secret.person") {
			t.Errorf("finding reveals the value: %v", f)
		}
	}
}

func TestLintAcceptsDesignExample(t *testing.T) {
	doc := `{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "x-veil": {"name": "app.launch", "version": 1,
             "granularity": "hour", "retention_days": 30},
  "type": "object",
  "additionalProperties": false,
  "required": ["os"],
  "properties": {
    "os":            {"enum": ["android", "ios"], "x-veil-role": "dimension"},
    "app_version":   {"type": "string", "pattern": "^[0-9]+\\.[0-9]+$",
                      "maxLength": 16, "x-veil-role": "dimension"},
    "cold_start_ms": {"type": "integer", "minimum": 0, "maximum": 600000,
                      "x-veil-role": "measure"}
  }
}`
	if f := Lint([]byte(doc)); len(f) != 0 {
		t.Fatalf("findings on the DESIGN.md example: %v", f)
	}
}

func TestIdentifyingNames(t *testing.T) {
	identifying := []string{
		"ip", "ip_address", "ipAddress", "IPAddress", "client_ip", "remote_addr", "remoteAddr",
		"x-forwarded-ip", "ipv4", "src_ipv6",
		"email", "userEmail", "e_mail", "eMail", "mail", "contact-email-address",
		"phone", "phoneNumber", "msisdn", "mobile_number", "telephone",
		"user_id", "userId", "UserID", "deviceId", "device_id_hash", "advertising_id", "adId",
		"install_id", "installationId", "session_id", "sessionID", "client_id", "clientId",
		"idfa", "gaid", "android_id", "androidId",
		"imei", "imsi", "mac", "mac_address", "wifiMac",
		"lat", "lon", "lng", "latitude", "user_longitude", "geo", "geo_point", "location", "gps_fix",
		"address", "street", "postcode", "postal_code", "zipCode",
		"name", "first_name", "lastName", "full_name", "username", "userName", "display_name",
		"ssn", "passport", "passport_no", "national_id", "nationalId",
		"token", "push_token", "authToken", "password", "client_secret",
		"birth_date", "birthDate", "dob", "date_of_birth", "birthday",
		"timestamp", "event_timestamp", "ts", "created_at", "sentAt", "time", "time_ms",
		"event_time", "startTimeMs", "epoch_ms", "unix_time",
		"user_agent", "userAgent", "hostname", "serial_number", "uuid", "order_id",
		"screen_name", "screenName", // an account handle (issue 14)
	}
	for _, n := range identifying {
		if _, ok := identifyingName(n); !ok {
			t.Errorf("%q not flagged (words %v)", n, words(n))
		}
	}
	benign := []string{
		"os", "os_version", "app_version", "appVersion", "cold_start_ms", "coldStartMs",
		"locale", "country", "region", "screen", "screen_class", "screenClass", "event_name",
		"macos_version", "macOSVersion", "iOSVersion", "iPhone_model", "iphone_model",
		"device_model", "device_class", "network_type", "load_time_ms", "response_time",
		"time_zone", "timezone", "time_to_first_frame_ms", "latency_ms", "latency",
		"duration_ms", "build", "channel", "theme", "dark_mode", "battery_level",
		"session_length_s", "session_count", "location_permission", "email_verified",
		"has_email", "ip_version", "token_count", "platform", "arch", "crash_count",
		"template", "shipping_method", "tip_percent", "flat_rate", "plateau",
		"first_launch", "last_screen", "age_band", "cycle_length", "symptom",
	}
	for _, n := range benign {
		if what, ok := identifyingName(n); ok {
			t.Errorf("%q flagged as %q (words %v)", n, what, words(n))
		}
	}
}

func TestWords(t *testing.T) {
	tests := map[string]string{
		"userID":          "user id",
		"IPAddress":       "ip address",
		"remote-addr":     "remote addr",
		"X.Forwarded.For": "x forwarded for",
		"iPhoneModel":     "iphone model",
		"macOSVersion":    "macos version",
		"cold_start_ms":   "cold start ms",
		"ipv4Addr":        "ipv4 addr",
		"HTTPStatus":      "http status",
	}
	for in, want := range tests {
		if got := strings.Join(words(in), " "); got != want {
			t.Errorf("words(%q) = %q, want %q", in, got, want)
		}
	}
}

func num(s string) json.Number { return json.Number(s) }

func TestCheckReasons(t *testing.T) {
	s := mustCompile(t, launchDoc)
	tests := []struct {
		name    string
		fields  map[string]any
		reason  string
		field   string
		pointer string
	}{
		{"accepted", map[string]any{"os": "ios", "cold_start_ms": 420.0}, "", "", ""},
		{"accepted json.Number", map[string]any{"os": "ios", "cold_start_ms": num("420"), "battery": num("0.5")}, "", "", ""},
		{"accepted integral float", map[string]any{"os": "android", "frames": 3e2}, "", "", ""},
		{"unknown field", map[string]any{"os": "ios", "extra": "some value"}, ReasonFieldUnknown, "extra", "/extra"},
		{"unknown field, smallest name", map[string]any{"os": "ios", "zz": 1.0, "aa": 1.0}, ReasonFieldUnknown, "aa", "/aa"},
		{"unknown field with data name withheld", map[string]any{"os": "ios", "bob smith": 1.0}, ReasonFieldUnknown, "", ""},
		{"missing", map[string]any{"cold_start_ms": 1.0}, ReasonFieldMissing, "os", "/os"},
		{"nil fields", nil, ReasonFieldMissing, "os", "/os"},
		{"type string for integer", map[string]any{"os": "ios", "cold_start_ms": "420"}, ReasonFieldType, "cold_start_ms", "/cold_start_ms"},
		{"type fractional integer", map[string]any{"os": "ios", "cold_start_ms": 1.5}, ReasonFieldType, "cold_start_ms", "/cold_start_ms"},
		{"type fractional json.Number", map[string]any{"os": "ios", "cold_start_ms": num("1.5")}, ReasonFieldType, "cold_start_ms", "/cold_start_ms"},
		{"type bool", map[string]any{"os": "ios", "dark_mode": "yes"}, ReasonFieldType, "dark_mode", "/dark_mode"},
		{"type null", map[string]any{"os": "ios", "dark_mode": nil}, ReasonFieldType, "dark_mode", "/dark_mode"},
		{"type object", map[string]any{"os": "ios", "battery": map[string]any{"a": 1.0}}, ReasonFieldType, "battery", "/battery"},
		{"above maximum", map[string]any{"os": "ios", "cold_start_ms": 600001.0}, ReasonFieldOutOfRange, "cold_start_ms", "/cold_start_ms"},
		{"below minimum", map[string]any{"os": "ios", "battery": num("-0.1")}, ReasonFieldOutOfRange, "battery", "/battery"},
		{"enum", map[string]any{"os": "windows"}, ReasonFieldOutOfRange, "os", "/os"},
		{"pattern", map[string]any{"os": "ios", "app_version": "1.2.3"}, ReasonFieldOutOfRange, "app_version", "/app_version"},
		{"maxLength", map[string]any{"os": "ios", "app_version": "1." + strings.Repeat("1", 20)}, ReasonFieldOutOfRange, "app_version", "/app_version"},
		{"identifier in accepted field", map[string]any{"os": "ios", "note": "mail me: a.b@example.com"}, ReasonIdentifierEmail, "note", "/note"},
		// Undeclared fields are refused before any detector reads them.
		{"unknown field before detectors", map[string]any{"os": "ios", "peer": "203.0.113.9"}, ReasonFieldUnknown, "peer", "/peer"},
		{"unknown field beats identifier", map[string]any{"os": "ios", "zz": "a@example.com", "note": "203.0.113.9"}, ReasonFieldUnknown, "zz", "/zz"},
		{"identifier beats missing", map[string]any{"note": "+44 7700 900123"}, ReasonIdentifierPhone, "note", "/note"},
		{"identifier, smallest field", map[string]any{"os": "ios", "note": "a@example.com", "app_version": "203.0.113.9"}, ReasonIdentifierIPv4, "app_version", "/app_version"},
		// Values longer than the property could accept are refused unread.
		{"over maxLength, unread", map[string]any{"os": "ios", "note": strings.Repeat("a://", 129)}, ReasonFieldOutOfRange, "note", "/note"},
		{"over enum, unread", map[string]any{"os": strings.Repeat("a@b.co ", 2)}, ReasonFieldOutOfRange, "os", "/os"},
		{"string for integer over the cap, unread", map[string]any{"os": "ios", "frames": strings.Repeat("1", MaxValueBytes+1)}, ReasonFieldType, "frames", "/frames"},
		{"long number, unread", map[string]any{"os": "ios", "battery": num("0." + strings.Repeat("1", 80))}, ReasonFieldOutOfRange, "battery", "/battery"},
		{"over maxLength beats identifier", map[string]any{"os": "ios", "note": strings.Repeat("a", 600), "app_version": "a@b.co"}, ReasonFieldOutOfRange, "note", "/note"},
		// Control characters.
		{"NUL", map[string]any{"os": "ios", "note": "a\x00b"}, ReasonFieldControlCharacter, "note", "/note"},
		{"newline", map[string]any{"os": "ios", "note": "a\nb"}, ReasonFieldControlCharacter, "note", "/note"},
		{"C1 control", map[string]any{"os": "ios", "note": "a\u0085b"}, ReasonFieldControlCharacter, "note", "/note"},
		{"identifier beats control", map[string]any{"os": "ios", "note": "a\x00b", "app_version": "a@b.co"}, ReasonIdentifierEmail, "app_version", "/app_version"},
		// Numbers that carry identifiers, where the range allows them.
		{"card number as a number", map[string]any{"os": "ios", "wide": 4111111111111111.0}, ReasonIdentifierCreditCard, "wide", "/wide"},
		{"IPv4 as an integer", map[string]any{"os": "ios", "wide": num("3232235853")}, ReasonIdentifierIPv4, "wide", "/wide"},
		{"phone as an integer", map[string]any{"os": "ios", "wide": 447700900461.0}, ReasonIdentifierPhone, "wide", "/wide"},
		{"small range never inspected", map[string]any{"os": "ios", "frames": 999999.0}, "", "", ""},
		{"wide range, small value", map[string]any{"os": "ios", "wide": 16777215.0}, "", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := s.Check(tc.fields)
			if tc.reason == "" {
				if r != nil {
					t.Fatalf("rejected: %+v", r)
				}
				return
			}
			if r == nil {
				t.Fatalf("accepted, want %s", tc.reason)
			}
			if r.Reason != tc.reason || r.Field != tc.field || r.Pointer != tc.pointer {
				t.Errorf("got %+v, want %s %q %q", r, tc.reason, tc.field, tc.pointer)
			}
			for _, v := range tc.fields {
				if str, ok := v.(string); ok && str != "" && (strings.Contains(r.Field, str) || strings.Contains(r.Pointer, str) || strings.Contains(r.Error(), str)) {
					t.Errorf("rejection %+v contains the value %q", r, str)
				}
			}
		})
	}
}

func TestCheckDeterministic(t *testing.T) {
	s := mustCompile(t, launchDoc)
	fields := map[string]any{"os": "bsd", "cold_start_ms": "x", "app_version": "bad", "frames": -1.0, "zz": 1.0}
	for range 50 {
		r := s.Check(fields)
		if r.Reason != ReasonFieldUnknown || r.Field != "zz" {
			t.Fatalf("got %+v", r)
		}
	}
	delete(fields, "zz")
	for range 50 {
		if r := s.Check(fields); r.Reason != ReasonFieldType || r.Field != "cold_start_ms" {
			t.Fatalf("got %+v", r)
		}
	}
}

func TestCheckSchemaInvalidEvent(t *testing.T) {
	// Anything the mapping does not know (here an error at a nested
	// instance location, which lint makes impossible for real schemas)
	// falls back to schema_invalid_event with the failing pointer.
	r, rank := classify(&jsonschema.ValidationError{
		InstanceLocation: []string{"ab", "c/d~"},
		ErrorKind:        &kind.MinProperties{Got: 0, Want: 1},
	})
	if r.Reason != ReasonSchemaInvalidEvent || r.Field != "ab" || r.Pointer != "/ab/c~1d~0" || rank != 4 {
		t.Errorf("got %+v rank %d", r, rank)
	}
	// A field name that is not a plain identifier is withheld.
	r, _ = classify(&jsonschema.ValidationError{
		InstanceLocation: []string{"a b", "c"},
		ErrorKind:        &kind.MinProperties{Got: 0, Want: 1},
	})
	if r.Reason != ReasonSchemaInvalidEvent || r.Field != "" || r.Pointer != "" {
		t.Errorf("got %+v", r)
	}
}

func TestSplit(t *testing.T) {
	s := mustCompile(t, `{"x-veil":{"name":"t.e","version":1},"type":"object","additionalProperties":false,"properties":{
		"os":{"enum":["ios"],"x-veil-role":"dimension"},
		"dark":{"type":"boolean","x-veil-role":"dimension"},
		"level":{"type":"integer","minimum":0,"maximum":10,"x-veil-role":"dimension"},
		"ms":{"type":"integer","minimum":0,"maximum":1000,"x-veil-role":"measure"},
		"ratio":{"type":"number","minimum":0,"maximum":1,"x-veil-role":"measure"}}}`)
	split := func(m map[string]any) (map[string]any, map[string]float64) {
		t.Helper()
		dims, measures, rej := s.CheckSplit(FieldsFromMap(nil, m))
		if rej != nil {
			t.Fatalf("%v rejected: %v", m, rej)
		}
		return dims, measures
	}
	dims, measures := split(map[string]any{"os": "ios", "dark": true, "level": num("3"), "ms": 12.0, "ratio": num("0.25")})
	if dims["os"] != "ios" || dims["dark"] != true || dims["level"] != int64(3) || len(dims) != 3 {
		t.Errorf("dims = %#v", dims)
	}
	if measures["ms"] != 12 || measures["ratio"] != 0.25 || len(measures) != 2 {
		t.Errorf("measures = %#v", measures)
	}
	dims, measures = split(map[string]any{"os": "ios", "level": 4.0})
	if dims["level"] != int64(4) || len(dims) != 2 || len(measures) != 0 {
		t.Errorf("partial: %#v %#v", dims, measures)
	}
}

func TestEqual(t *testing.T) {
	tests := []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, `{ "b" : [1, 2], "a" : 1 }`, true},
		{`{"a":1}`, `{"a":1.0}`, true},
		{`{"a":100}`, `{"a":1e2}`, true},
		{`{"a":1}`, `{"a":2}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":"x"}`, `{"a":"x","b":null}`, false},
		{`{"a":true}`, `{"a":"true"}`, false},
		{`{`, `{`, true},
		{`{`, `{}`, false},
	}
	for _, tc := range tests {
		if got := Equal([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("Equal(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestReasonsDocumented(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		if seen[r] {
			t.Errorf("duplicate reason %q", r)
		}
		seen[r] = true
	}
	for _, want := range []string{"schema_unknown", "schema_invalid_event", "field_unknown", "field_missing", "field_type", "field_out_of_range", "batch_too_large", "batch_invalid", "duplicate", "identifier_email"} {
		if !seen[want] {
			t.Errorf("missing reason %q", want)
		}
	}
}

var rejSink *Rejection

func BenchmarkCheck(b *testing.B) {
	s := mustCompile(b, launchDoc)
	// A typical event: 3 dimensions, 3 measures, as encoding/json decodes it.
	fields := map[string]any{
		"os": "android", "app_version": "4.12", "dark_mode": true,
		"cold_start_ms": 412.0, "battery": 0.73, "frames": 1180.0,
	}
	if r := s.Check(fields); r != nil {
		b.Fatal(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		rejSink = s.Check(fields)
	}
}

func BenchmarkDecodeCheck(b *testing.B) {
	s := mustCompile(b, launchDoc)
	raw := []byte(`{"os":"android","app_version":"4.12","dark_mode":true,"cold_start_ms":412,"battery":0.73,"frames":1180}`)
	b.ReportAllocs()
	for b.Loop() {
		var fields map[string]any
		if err := json.Unmarshal(raw, &fields); err != nil {
			b.Fatal(err)
		}
		rejSink = s.Check(fields)
	}
}

func TestTokenPolicy(t *testing.T) {
	doc := `{"x-veil":{"name":"t.e","version":1,"tokens":"required","token_batch_events":20},"type":"object","additionalProperties":false,"properties":{"os":{"enum":["a"],"x-veil-role":"dimension"}}}`
	s, err := Compile([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	if s.Tokens != TokensRequired || s.TokenBatchEvents != 20 {
		t.Fatalf("policy %q cap %d", s.Tokens, s.TokenBatchEvents)
	}
	s, err = Compile([]byte(schemaWith(`"os":{"enum":["a"],"x-veil-role":"dimension"}`)))
	if err != nil || s.Tokens != TokensOff || s.TokenBatchEvents != 0 {
		t.Fatalf("default policy %q %d %v", s.Tokens, s.TokenBatchEvents, err)
	}
}
