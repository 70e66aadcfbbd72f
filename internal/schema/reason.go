package schema

// Reason codes are the closed, stable set of answers ingest and
// `veil validate` give for a rejected event. They are metric labels and API
// values: never rename one, only add. docs/reason-codes.md documents each.
const (
	// ReasonSchemaUnknown: no registered schema has the event's name and version.
	ReasonSchemaUnknown = "schema_unknown"
	// ReasonSchemaDisabled: the schema version is registered but an
	// operator disabled it (veil admin schemas disable).
	ReasonSchemaDisabled = "schema_disabled"
	// ReasonSchemaInvalidEvent: the event breaks its schema in a way no more
	// specific reason covers; Rejection.Pointer names the failing location.
	ReasonSchemaInvalidEvent = "schema_invalid_event"
	// ReasonFieldUnknown: a field the schema does not declare.
	ReasonFieldUnknown = "field_unknown"
	// ReasonFieldMissing: a required field is absent.
	ReasonFieldMissing = "field_missing"
	// ReasonFieldType: a field has the wrong JSON type (including a
	// non-integral number for an integer field, and null).
	ReasonFieldType = "field_type"
	// ReasonFieldOutOfRange: a field has the right type but a value the
	// schema does not allow: minimum/maximum (exclusive too), multipleOf,
	// minLength/maxLength, enum/const and pattern violations.
	ReasonFieldOutOfRange = "field_out_of_range"
	// ReasonFieldControlCharacter: a string value holds a control character
	// (U+0000–U+001F, U+007F–U+009F); see Schema.Check. Refused before
	// anything reaches the database.
	ReasonFieldControlCharacter = "field_control_character"
	// ReasonBatchTooLarge: the batch has too many events or bytes (ingest).
	ReasonBatchTooLarge = "batch_too_large"
	// ReasonBatchInvalid: the batch could not be decoded (ingest).
	ReasonBatchInvalid = "batch_invalid"
	// ReasonDuplicate: the batch's idempotency key was already applied (ingest).
	ReasonDuplicate = "duplicate"

	// ReasonIdentifierEmail and the other identifier_ reasons: a value
	// matched the named identifier detector; see Detect and DetectNumber.
	ReasonIdentifierEmail      = "identifier_" + KindEmail
	ReasonIdentifierIPv4       = "identifier_" + KindIPv4
	ReasonIdentifierIPv6       = "identifier_" + KindIPv6
	ReasonIdentifierPhone      = "identifier_" + KindPhone
	ReasonIdentifierCreditCard = "identifier_" + KindCreditCard
	ReasonIdentifierIBAN       = "identifier_" + KindIBAN
	ReasonIdentifierDeviceID   = "identifier_" + KindDeviceID
	ReasonIdentifierMAC        = "identifier_" + KindMAC
	ReasonIdentifierIMEI       = "identifier_" + KindIMEI
	ReasonIdentifierSSN        = "identifier_" + KindSSN
	ReasonIdentifierGeo        = "identifier_" + KindGeo
	ReasonIdentifierJWT        = "identifier_" + KindJWT
	ReasonIdentifierToken      = "identifier_" + KindToken
	ReasonIdentifierURL        = "identifier_" + KindURL
)

// Detector kinds, as returned by Detect. The reason code for a match is
// "identifier_" + kind.
const (
	KindEmail      = "email"       // local@domain.tld, also inside text
	KindIPv4       = "ipv4"        // dotted quad (with or without port), in a host name, hex, or as an integer
	KindIPv6       = "ipv6"        // any RFC 4291 text form, zones, brackets, ports
	KindPhone      = "phone"       // international (+CC / 00CC) and national formats, integers
	KindCreditCard = "credit_card" // 13–19 digit payment card number, Luhn-valid
	KindIBAN       = "iban"        // ISO 13616, mod-97 check
	KindDeviceID   = "device_id"   // UUID / IDFA / GAID, 16-hex Android ID
	KindMAC        = "mac"         // EUI-48 in colon, hyphen or dotted-quad-hex form
	KindIMEI       = "imei"        // 15-digit, Luhn-valid
	KindSSN        = "ssn"         // US social security number AAA-GG-SSSS
	KindGeo        = "geo"         // latitude/longitude pair, ≥ 3 decimals (other ≥ 2)
	KindJWT        = "jwt"         // JWS/JWE compact serialization
	KindToken      = "token"       // bearer/basic credentials, published key shapes, long secret-looking strings
	KindURL        = "url"         // URL carrying a query string or userinfo
)

// Reasons returns every reason code, in documentation order. The slice is
// fresh on each call.
func Reasons() []string {
	r := []string{
		ReasonSchemaUnknown, ReasonSchemaDisabled, ReasonSchemaInvalidEvent, ReasonFieldUnknown,
		ReasonFieldMissing, ReasonFieldType, ReasonFieldOutOfRange,
		ReasonFieldControlCharacter,
	}
	for _, k := range Kinds() {
		r = append(r, "identifier_"+k)
	}
	return append(r, ReasonBatchTooLarge, ReasonBatchInvalid, ReasonDuplicate)
}

// Kinds returns every detector kind Detect can report. The slice is fresh on
// each call.
func Kinds() []string {
	return []string{
		KindEmail, KindIPv4, KindIPv6, KindPhone, KindCreditCard, KindIBAN,
		KindDeviceID, KindMAC, KindIMEI, KindSSN, KindGeo, KindJWT, KindToken,
		KindURL,
	}
}
