package schema

import "testing"

// Identifying names by family, in the spellings schemas use: each must be
// refused. The examples come first in each family.
var identifyingNamesByFamily = map[string][]string{
	"device or hardware id": {"devid", "hwid", "dev_id", "hwId", "machineId", "machine_id", "deviceSerial", "board_serial",
		"cpuSerial", "hardware_uuid", "simid", "installGuid", "oaid", "udid"},
	"network address": {"srcip", "remote_host", "dstIp", "clientHost", "peer_addr", "hwaddr", "ethAddr", "wifiMac",
		"remotehost", "publicIP", "server_host", "host", "target_host", "callerIp", "fqdn", "visitor_ips"},
	"coordinates": {"latlng", "latLon", "lnglat", "lat_long", "geopoint", "geoPos", "gps_fix", "geoip", "coord"},
	"payment data": {"cc_number", "pan", "ccnum", "cardNo", "card_pan", "cardholder", "card_holder_name", "acct_no",
		"accountNumber", "cc_exp", "cardExpiry", "cvv2", "debit_card_number"},
	"account handle": {"login", "handle", "screen_name", "user_login", "loginName", "twitter_handle", "userHandle",
		"nick", "screenname", "login_id", "account_alias"},
	"session id": {"sid", "user_sid", "sid_hash"},
	"birth date": {"birthyear", "birth_year", "birthMonth", "yob", "bday", "birthplace", "year_of_birth"},
	"real name":  {"realname", "real_name", "givenName", "legal_name", "forename", "familyName", "recipient_name"},
	"user agent": {"user_agent", "ua", "uaString", "ua_string", "http_user_agent", "browser_ua", "userAgentHeader"},
	"telecom id": {"imsi", "iccid", "msisdn", "meid", "esn", "mdn", "imeisv", "sim_serial", "simSerialNumber", "subscriber_number", "euicc"},
}

// benignTelemetryNames must still pass: words that share a stem with an
// identifying family but describe a feature, a count or a kind.
var benignTelemetryNames = []string{
	"login_method", "pan_gesture_count", "handle_count", "session_length_ms", "sid_count",
	"login_attempts", "login_success", "login_duration_ms", "pan_velocity", "pan_zoom", "handle_type",
	"host_app", "host_app_version", "ghost_mode", "hostile_content", "ua_version",
	"card_type", "card_brand", "card_count", "payment_method", "cc_count", "account_type", "account_tier",
	"screen", "screen_class", "screen_width", "display_mode", "name_length", "username_length",
	"long_press_count", "latency_ms", "position_index", "geometry_type", "cell_count", "cellular",
	"simulator", "hw_acceleration", "hw_accel_enabled", "devtools_open", "dev_mode", "device_model",
	"machine_learning_enabled", "source_type", "local_cache_hit", "remote_config_version", "server_region",
	"handles_open", "is_login_required", "has_nickname", "user_count", "agent_version",
	"network_type", "wifi_enabled", "gps_enabled", "location_permission", "longevity_days",
}

func TestIdentifyingNameFamilies(t *testing.T) {
	for family, names := range identifyingNamesByFamily {
		for _, n := range names {
			if _, ok := identifyingName(n); !ok {
				t.Errorf("%s: %q not flagged (words %v)", family, n, words(n))
			}
		}
	}
	for _, n := range benignTelemetryNames {
		if what, ok := identifyingName(n); ok {
			t.Errorf("%q flagged as %q (words %v)", n, what, words(n))
		}
	}
}

// TestLintRefusesFamilyNames: the names reach lint's finding.
func TestLintRefusesFamilyNames(t *testing.T) {
	for _, n := range []string{"devid", "srcip", "latlng", "cc_number", "pan", "login", "handle", "sid", "screen_name", "realname", "birthyear"} {
		found := false
		for _, f := range Lint([]byte(schemaWith(`"` + n + `":{"enum":["a"],"x-veil-role":"dimension"}`))) {
			found = found || f.Property == n && f.Rule == RuleIdentifyingName
		}
		if !found {
			t.Errorf("%s: no identifying_name finding", n)
		}
	}
	if f := Lint([]byte(schemaWith(`"login_method":{"enum":["a"],"x-veil-role":"dimension"}`))); len(f) != 0 {
		t.Errorf("login_method: %v", f)
	}
}
