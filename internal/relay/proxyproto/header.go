// Package proxyproto reads the PROXY protocol header (versions 1 and 2,
// HAProxy's "The PROXY protocol" specification, 2020-03-05) that a load
// balancer sends at the start of a TCP connection to pass on the client's
// address, and wraps a listener so that connections from trusted load
// balancers report that address as their RemoteAddr.
//
// The parser reads only what the header declares, checks every length
// against its bound before reading, runs in time linear in the header's
// size, and returns typed errors that never quote the input. Only the
// addresses are kept: version 2's TLVs are skipped unread.
package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
)

// Sizes from the specification.
const (
	// MaxV1Length bounds a version 1 header, CRLF included (§2.1).
	MaxV1Length = 107
	// v2SigLen is the length of the version 2 signature; v2FixedLen adds
	// the version/command, family and length bytes (§2.2).
	v2SigLen   = 12
	v2FixedLen = 16
	// Address block sizes of the version 2 families.
	v2InetLen  = 12
	v2Inet6Len = 36
	v2UnixLen  = 216
)

// v2Sig is the version 2 signature: \r\n\r\n\0\r\nQUIT\n.
var v2Sig = [v2SigLen]byte{0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A}

// v1Prefix begins a version 1 header.
const v1Prefix = "PROXY "

// Errors. Every parse error wraps one of them.
var (
	// ErrNoHeader: the connection does not begin with a PROXY header.
	ErrNoHeader = errors.New("proxyproto: no PROXY protocol header")
	// ErrMalformed: the header breaks the specification's syntax.
	ErrMalformed = errors.New("proxyproto: malformed header")
	// ErrUnsupported: a well-formed header this receiver does not take
	// (an unknown version or command, a datagram transport).
	ErrUnsupported = errors.New("proxyproto: unsupported header")
)

// HeaderError is a parse error: which version's header and which part
// of it was refused. It never holds the input's bytes.
type HeaderError struct {
	Version int    // 1 or 2; 0 when no header was recognised
	Field   string // the part refused, e.g. "source address"
	Err     error  // ErrNoHeader, ErrMalformed, ErrUnsupported or an I/O error
}

func (e *HeaderError) Error() string {
	if e.Version == 0 {
		return e.Err.Error()
	}
	return fmt.Sprintf("%v (version %d, %s)", e.Err, e.Version, e.Field)
}

func (e *HeaderError) Unwrap() error { return e.Err }

func malformed(v int, field string) error {
	return &HeaderError{Version: v, Field: field, Err: ErrMalformed}
}

// Header is what a PROXY header says about the connection.
type Header struct {
	// Version is 1 or 2.
	Version int
	// Local is true when the header says the connection is the proxy's
	// own (version 2's LOCAL command, version 1's UNKNOWN protocol, or an
	// address family without IP addresses): Source and Dest are then
	// zero and the connection's own addresses apply.
	Local bool
	// Source is the client's address and port, Dest the address and port
	// it connected to.
	Source, Dest netip.AddrPort
}

// Read reads one PROXY header, version 1 or 2, from r and leaves r at
// the first byte after it. It reads no more than the header declares:
// for version 1 at most MaxV1Length bytes, for version 2 its 16 fixed
// bytes and the length they declare (at most 65535 more), skipping
// TLVs without holding them.
func Read(r *bufio.Reader) (Header, error) {
	first, err := r.Peek(1)
	if err != nil {
		return Header{}, &HeaderError{Err: ioErr(err)}
	}
	switch first[0] {
	case v2Sig[0]:
		return readV2(r)
	case v1Prefix[0]:
		return readV1(r)
	}
	return Header{}, &HeaderError{Err: ErrNoHeader}
}

// ioErr turns an EOF inside a header into io.ErrUnexpectedEOF.
func ioErr(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// readV1 reads a version 1 header (§2.1):
//
//	"PROXY" SP ( "TCP4" | "TCP6" ) SP src-addr SP dst-addr SP src-port SP dst-port CRLF
//	"PROXY" SP "UNKNOWN" [ anything but CRLF ] CRLF
//
// at most 107 bytes, CRLF included.
func readV1(r *bufio.Reader) (Header, error) {
	var line [MaxV1Length]byte
	n := 0
	for {
		if n == len(line) {
			return Header{}, malformed(1, "length")
		}
		b, err := r.ReadByte()
		if err != nil {
			return Header{}, &HeaderError{Version: 1, Field: "line", Err: ioErr(err)}
		}
		line[n] = b
		n++
		if n == len(v1Prefix) && string(line[:n]) != v1Prefix {
			return Header{}, &HeaderError{Err: ErrNoHeader}
		}
		if b == '\n' {
			break
		}
	}
	return ParseV1(line[:n])
}

// ParseV1 parses a complete version 1 header line, CRLF included.
func ParseV1(line []byte) (Header, error) {
	if len(line) > MaxV1Length {
		return Header{}, malformed(1, "length")
	}
	rest, ok := bytes.CutPrefix(line, []byte(v1Prefix))
	if !ok {
		return Header{}, &HeaderError{Err: ErrNoHeader}
	}
	rest, ok = bytes.CutSuffix(rest, []byte("\r\n"))
	if !ok || bytes.ContainsAny(rest, "\r\n") {
		return Header{}, malformed(1, "line end")
	}
	h := Header{Version: 1}
	proto, rest, _ := bytes.Cut(rest, []byte{' '})
	switch string(proto) {
	case "UNKNOWN":
		// The receiver must ignore what follows (§2.1).
		h.Local = true
		return h, nil
	case "TCP4", "TCP6":
	default:
		return Header{}, malformed(1, "protocol")
	}
	var fields [4][]byte
	for i := range fields {
		var f []byte
		if i < len(fields)-1 {
			var ok bool
			if f, rest, ok = bytes.Cut(rest, []byte{' '}); !ok {
				return Header{}, malformed(1, "field count")
			}
		} else {
			f = rest
			if bytes.IndexByte(f, ' ') >= 0 {
				return Header{}, malformed(1, "field count")
			}
		}
		fields[i] = f
	}
	src, err1 := parseV1Addr(fields[0], string(proto) == "TCP4")
	dst, err2 := parseV1Addr(fields[1], string(proto) == "TCP4")
	if err1 != nil {
		return Header{}, malformed(1, "source address")
	}
	if err2 != nil {
		return Header{}, malformed(1, "destination address")
	}
	sport, ok1 := parseV1Port(fields[2])
	dport, ok2 := parseV1Port(fields[3])
	if !ok1 {
		return Header{}, malformed(1, "source port")
	}
	if !ok2 {
		return Header{}, malformed(1, "destination port")
	}
	h.Source = netip.AddrPortFrom(src, sport)
	h.Dest = netip.AddrPortFrom(dst, dport)
	return h, nil
}

// parseV1Addr parses an address of the family the protocol names: TCP4
// a dotted quad, TCP6 an IPv6 address without zone.
func parseV1Addr(b []byte, v4 bool) (netip.Addr, error) {
	if len(b) == 0 || len(b) > 39 {
		return netip.Addr{}, ErrMalformed
	}
	a, err := netip.ParseAddr(string(b))
	if err != nil || a.Zone() != "" || a.Is4() != v4 {
		return netip.Addr{}, ErrMalformed
	}
	return a, nil
}

// parseV1Port parses a port: 1 to 5 decimal digits, no sign, no leading
// zero, at most 65535.
func parseV1Port(b []byte) (uint16, bool) {
	if len(b) == 0 || len(b) > 5 || (len(b) > 1 && b[0] == '0') {
		return 0, false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(b), 10, 16)
	return uint16(n), err == nil
}

// readV2 reads a version 2 header (§2.2):
//
//	signature     12 bytes  \r\n\r\n\0\r\nQUIT\n
//	ver_cmd        1 byte   version (high nibble, 2), command (low: 0 LOCAL, 1 PROXY)
//	fam            1 byte   address family (high: 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX)
//	                        and transport (low: 0 UNSPEC, 1 STREAM, 2 DGRAM)
//	len            2 bytes  big endian: the bytes that follow
//	addresses      INET 12 (src, dst, sport, dport), INET6 36, UNIX 216
//	TLVs           the rest of len, skipped
func readV2(r *bufio.Reader) (Header, error) {
	var fixed [v2FixedLen]byte
	if n, err := io.ReadFull(r, fixed[:]); err != nil {
		if !bytes.HasPrefix(v2Sig[:], fixed[:min(n, v2SigLen)]) {
			return Header{}, &HeaderError{Err: ErrNoHeader}
		}
		return Header{}, &HeaderError{Version: 2, Field: "fixed part", Err: ioErr(err)}
	}
	h, addrLen, err := parseV2Fixed(fixed)
	if err != nil {
		return Header{}, err
	}
	total := int(binary.BigEndian.Uint16(fixed[14:16]))
	var block [v2UnixLen]byte
	if _, err := io.ReadFull(r, block[:addrLen]); err != nil {
		return Header{}, &HeaderError{Version: 2, Field: "addresses", Err: ioErr(err)}
	}
	if _, err := r.Discard(total - addrLen); err != nil {
		return Header{}, &HeaderError{Version: 2, Field: "TLVs", Err: ioErr(err)}
	}
	return finishV2(h, block[:addrLen])
}

// ParseV2 parses a complete version 2 header: its 16 fixed bytes and the
// length they declare, no more and no less.
func ParseV2(b []byte) (Header, error) {
	if len(b) < v2FixedLen {
		if !bytes.HasPrefix(v2Sig[:], b[:min(len(b), v2SigLen)]) {
			return Header{}, &HeaderError{Err: ErrNoHeader}
		}
		return Header{}, malformed(2, "fixed part")
	}
	h, addrLen, err := parseV2Fixed([v2FixedLen]byte(b[:v2FixedLen]))
	if err != nil {
		return Header{}, err
	}
	if total := int(binary.BigEndian.Uint16(b[14:16])); len(b)-v2FixedLen != total {
		return Header{}, malformed(2, "length")
	}
	return finishV2(h, b[v2FixedLen:v2FixedLen+addrLen])
}

// parseV2Fixed checks the fixed part and returns the header so far and
// the length of the address block to read (within the declared length).
func parseV2Fixed(fixed [v2FixedLen]byte) (Header, int, error) {
	if [v2SigLen]byte(fixed[:v2SigLen]) != v2Sig {
		return Header{}, 0, &HeaderError{Err: ErrNoHeader}
	}
	h := Header{Version: 2}
	verCmd, fam := fixed[12], fixed[13]
	if verCmd>>4 != 2 {
		return Header{}, 0, &HeaderError{Version: 2, Field: "version", Err: ErrUnsupported}
	}
	total := int(binary.BigEndian.Uint16(fixed[14:16]))
	switch verCmd & 0x0F {
	case 0x0: // LOCAL: the proxy's own connection; the family is ignored (§2.2)
		h.Local = true
		return h, 0, nil
	case 0x1: // PROXY
	default:
		return Header{}, 0, &HeaderError{Version: 2, Field: "command", Err: ErrUnsupported}
	}
	switch fam & 0x0F {
	case 0x0, 0x1: // UNSPEC, STREAM
	case 0x2:
		return Header{}, 0, &HeaderError{Version: 2, Field: "transport", Err: ErrUnsupported}
	default:
		return Header{}, 0, &HeaderError{Version: 2, Field: "transport", Err: ErrMalformed}
	}
	var need int
	switch fam >> 4 {
	case 0x0: // AF_UNSPEC: no addresses; the receiver uses its own
		h.Local = true
		return h, 0, nil
	case 0x1:
		need = v2InetLen
	case 0x2:
		need = v2Inet6Len
	case 0x3: // AF_UNIX: no IP address to report
		need = v2UnixLen
		h.Local = true
	default:
		return Header{}, 0, &HeaderError{Version: 2, Field: "address family", Err: ErrMalformed}
	}
	if total < need {
		return Header{}, 0, malformed(2, "length")
	}
	return h, need, nil
}

// finishV2 decodes the address block of an INET or INET6 header.
func finishV2(h Header, block []byte) (Header, error) {
	switch len(block) {
	case v2InetLen:
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(block[0:4])), binary.BigEndian.Uint16(block[8:10]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom4([4]byte(block[4:8])), binary.BigEndian.Uint16(block[10:12]))
	case v2Inet6Len:
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(block[0:16])), binary.BigEndian.Uint16(block[32:34]))
		h.Dest = netip.AddrPortFrom(netip.AddrFrom16([16]byte(block[16:32])), binary.BigEndian.Uint16(block[34:36]))
	}
	return h, nil
}
