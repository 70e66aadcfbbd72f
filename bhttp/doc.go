// Package bhttp encodes and decodes Binary HTTP messages (RFC 9292,
// media type message/bhttp) and maps them to and from net/http.
//
// # Forms
//
// Decoding accepts every form RFC 9292 lets a sender choose: known-length
// and indeterminate-length framing (framing indicators 0–3, §3.3),
// informational (1xx) responses (§3.5.1), trailers, truncation of a message
// after any complete section (missing sections are empty, §3.1, §3.2), and
// zero padding (§3.8). Marshal and AppendMarshal produce the conservative
// form veil sends: known-length framing, no truncation, no padding, minimal
// variable-length integers. MarshalOptions selects the other forms.
//
// # Validation
//
// RFC 9292 §3.6 requires field names and values to be constructed and
// validated by the rules of RFC 9113 §8.2.1, under which a field name with
// an uppercase letter, or any character outside the token set, makes a
// message malformed. The decoder therefore rejects uppercase field names with
// ErrInvalidField, while the encoder lowercases names (so Field.Name may use
// any case, such as http.Header's canonical form, when encoding). Field
// values must not contain NUL, CR or LF, and must not begin or end with a
// space or tab (RFC 9113 §8.2.1). Decoded field names are always lowercase.
//
// Request control data follows RFC 9113 §8.3.1: the method is a token; the
// scheme is empty or an RFC 3986 scheme; the authority uses only RFC 3986
// host and port characters (no userinfo); the path is empty, "*", or begins
// with "/", holds only visible ASCII and no "#", and is non-empty for http
// and https. This is stricter than RFC 9292 needs: it keeps a request from
// being split or redirected when it is replayed as HTTP/1.1.
//
// Every length is checked against the bytes that remain before anything is
// allocated, and against a named maximum (MaxFieldSectionBytes, MaxFields,
// MaxContentBytes, MaxControlBytes, MaxInformationalResponses). The encoder
// enforces the same rules and limits, so it never produces what the decoder
// rejects.
//
// # Errors
//
// Decoding errors are *DecodeError values that record the section and byte
// offset and wrap one of the sentinel errors (ErrTruncated, ErrTooLarge,
// ErrInvalidFraming, ErrInvalidControlData, ErrInvalidStatus,
// ErrInvalidField, ErrInvalidPadding); match them with errors.Is and
// errors.As. Encoding errors wrap the same sentinels. Error messages never
// contain field names, values or content.
//
// The package does no I/O and logs nothing.
package bhttp

// Limits applied by both the decoder and the encoder.
const (
	// MaxControlBytes bounds each of method, scheme, authority and path.
	MaxControlBytes = 8 << 10
	// MaxFieldSectionBytes bounds the encoded field lines of one header or
	// trailer section.
	MaxFieldSectionBytes = 64 << 10
	// MaxFields bounds the number of field lines in one section.
	MaxFields = 256
	// MaxContentBytes bounds the content of one message.
	MaxContentBytes = 16 << 20
	// MaxInformationalResponses bounds the 1xx responses before a final one.
	MaxInformationalResponses = 16
)
