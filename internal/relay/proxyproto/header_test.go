package proxyproto

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// encodeV1 and encodeV2 write h as a header, for round trips.
func encodeV1(h Header) []byte {
	if h.Local {
		return []byte("PROXY UNKNOWN\r\n")
	}
	proto := "TCP4"
	if h.Source.Addr().Is6() {
		proto = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", proto, h.Source.Addr(), h.Dest.Addr(), h.Source.Port(), h.Dest.Port())
}

func encodeV2(h Header, tlvs []byte) []byte {
	b := append([]byte(nil), v2Sig[:]...)
	var block []byte
	switch {
	case h.Local:
		b = append(b, 0x20, 0x00)
	case h.Source.Addr().Is4():
		b = append(b, 0x21, 0x11)
		s, d := h.Source.Addr().As4(), h.Dest.Addr().As4()
		block = append(append(block, s[:]...), d[:]...)
	default:
		b = append(b, 0x21, 0x21)
		s, d := h.Source.Addr().As16(), h.Dest.Addr().As16()
		block = append(append(block, s[:]...), d[:]...)
	}
	if !h.Local {
		block = binary.BigEndian.AppendUint16(block, h.Source.Port())
		block = binary.BigEndian.AppendUint16(block, h.Dest.Port())
	}
	block = append(block, tlvs...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(block)))
	return append(b, block...)
}

func read(b []byte) (Header, []byte, error) {
	r := bufio.NewReaderSize(bytes.NewReader(b), 16)
	h, err := Read(r)
	rest, _ := io.ReadAll(r)
	return h, rest, err
}

var (
	src4 = netip.MustParseAddrPort("192.0.2.10:51000")
	dst4 = netip.MustParseAddrPort("198.51.100.1:443")
	src6 = netip.MustParseAddrPort("[2001:db8::10]:51000")
	dst6 = netip.MustParseAddrPort("[2001:db8::1]:443")
)

func TestReadValid(t *testing.T) {
	tlv := []byte{0x04, 0x00, 0x03, 'a', 'b', 'c'} // PP2_TYPE_NOOP, 3 bytes
	for _, tc := range []struct {
		name string
		in   []byte
		want Header
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.0.2.10 198.51.100.1 51000 443\r\n"), Header{Version: 1, Source: src4, Dest: dst4}},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::10 2001:db8::1 51000 443\r\n"), Header{Version: 1, Source: src6, Dest: dst6}},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Local: true}},
		{"v1 unknown with addresses", []byte("PROXY UNKNOWN ffff:f...f:ffff ffff:f...f:ffff 65535 65535\r\n"), Header{Version: 1, Local: true}},
		{"v1 longest", []byte("PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n"),
			Header{Version: 1, Source: netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"), Dest: netip.MustParseAddrPort("[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535")}},
		{"v1 port 0", []byte("PROXY TCP4 192.0.2.10 198.51.100.1 0 443\r\n"), Header{Version: 1, Source: netip.AddrPortFrom(src4.Addr(), 0), Dest: dst4}},
		{"v2 inet", encodeV2(Header{Source: src4, Dest: dst4}, nil), Header{Version: 2, Source: src4, Dest: dst4}},
		{"v2 inet6 with TLVs", encodeV2(Header{Source: src6, Dest: dst6}, tlv), Header{Version: 2, Source: src6, Dest: dst6}},
		{"v2 local", encodeV2(Header{Local: true}, tlv), Header{Version: 2, Local: true}},
		{"v2 unspec", append(append(v2Sig[:], 0x21, 0x00, 0x00, 0x03), 1, 2, 3), Header{Version: 2, Local: true}},
		{"v2 unix", append(append(v2Sig[:], 0x21, 0x31, 0x00, 0xD8), make([]byte, 216)...), Header{Version: 2, Local: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if len(tc.in) > MaxV1Length && tc.in[0] == 'P' {
				t.Fatalf("vector longer than a v1 header may be: %d", len(tc.in))
			}
			in := append(append([]byte(nil), tc.in...), "GET / HTTP/1.1\r\n"...)
			h, rest, err := read(in)
			if err != nil || h != tc.want {
				t.Fatalf("Read = %+v, %v; want %+v", h, err, tc.want)
			}
			if string(rest) != "GET / HTTP/1.1\r\n" {
				t.Errorf("left %q after the header, want the request", rest)
			}
			var p Header
			if tc.in[0] == 'P' {
				p, err = ParseV1(tc.in)
			} else {
				p, err = ParseV2(tc.in)
			}
			if err != nil || p != tc.want {
				t.Errorf("Parse = %+v, %v", p, err)
			}
		})
	}
}

func TestReadInvalid(t *testing.T) {
	v2 := func(verCmd, fam byte, length uint16, body int) []byte {
		b := append(v2Sig[:], verCmd, fam)
		b = binary.BigEndian.AppendUint16(b, length)
		return append(b, make([]byte, body)...)
	}
	for _, tc := range []struct {
		name  string
		in    string
		want  error
		field string
	}{
		{"http", "GET / HTTP/1.1\r\n\r\n", ErrNoHeader, ""},
		{"post", "POST / HTTP/1.1\r\n\r\n", ErrNoHeader, ""},
		{"tls", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03aaaaaaaaaaa", ErrNoHeader, ""},
		{"empty", "", io.ErrUnexpectedEOF, ""},
		{"v1 lowercase", "proxy TCP4 192.0.2.10 198.51.100.1 51000 443\r\n", ErrNoHeader, ""},
		{"v1 no crlf", "PROXY TCP4 192.0.2.10 198.51.100.1 51000 443\n", ErrMalformed, "line end"},
		{"v1 truncated", "PROXY TCP4 192.0.2.10 198.51", io.ErrUnexpectedEOF, "line"},
		{"v1 too long", "PROXY UNKNOWN " + strings.Repeat("x", 100) + "\r\n", ErrMalformed, "length"},
		{"v1 bad protocol", "PROXY UDP4 192.0.2.10 198.51.100.1 51000 443\r\n", ErrMalformed, "protocol"},
		{"v1 family mismatch", "PROXY TCP4 2001:db8::10 198.51.100.1 51000 443\r\n", ErrMalformed, "source address"},
		{"v1 mapped in tcp4", "PROXY TCP4 ::ffff:192.0.2.10 198.51.100.1 51000 443\r\n", ErrMalformed, "source address"},
		{"v1 zone", "PROXY TCP6 fe80::1%eth0 2001:db8::1 51000 443\r\n", ErrMalformed, "source address"},
		{"v1 bad dest", "PROXY TCP4 192.0.2.10 198.51.100 51000 443\r\n", ErrMalformed, "destination address"},
		{"v1 port too big", "PROXY TCP4 192.0.2.10 198.51.100.1 65536 443\r\n", ErrMalformed, "source port"},
		{"v1 port leading zero", "PROXY TCP4 192.0.2.10 198.51.100.1 051000 443\r\n", ErrMalformed, "source port"},
		{"v1 port sign", "PROXY TCP4 192.0.2.10 198.51.100.1 51000 +443\r\n", ErrMalformed, "destination port"},
		{"v1 extra field", "PROXY TCP4 192.0.2.10 198.51.100.1 51000 443 1\r\n", ErrMalformed, "field count"},
		{"v1 missing field", "PROXY TCP4 192.0.2.10 198.51.100.1 51000\r\n", ErrMalformed, "field count"},
		{"v1 double space", "PROXY TCP4  192.0.2.10 198.51.100.1 51000 443\r\n", ErrMalformed, "field count"},
		{"v1 cr inside", "PROXY TCP4 192.0.2.10\r198.51.100.1 51000 443\r\n", ErrMalformed, "line end"},
		{"v2 bad signature", "\r\n\r\n\x00\r\nQUIT\r\x21\x11\x00\x0c", ErrNoHeader, ""},
		{"v2 short signature", "\r\n\r\n\x00\r\nQU", io.ErrUnexpectedEOF, "fixed part"},
		{"v2 version 1", string(v2(0x11, 0x11, 12, 12)), ErrUnsupported, "version"},
		{"v2 command 2", string(v2(0x22, 0x11, 12, 12)), ErrUnsupported, "command"},
		{"v2 dgram", string(v2(0x21, 0x12, 12, 12)), ErrUnsupported, "transport"},
		{"v2 transport 3", string(v2(0x21, 0x13, 12, 12)), ErrMalformed, "transport"},
		{"v2 family 4", string(v2(0x21, 0x41, 12, 12)), ErrMalformed, "address family"},
		{"v2 inet short", string(v2(0x21, 0x11, 11, 11)), ErrMalformed, "length"},
		{"v2 inet6 short", string(v2(0x21, 0x21, 35, 35)), ErrMalformed, "length"},
		{"v2 unix short", string(v2(0x21, 0x31, 215, 215)), ErrMalformed, "length"},
		{"v2 truncated addresses", string(v2(0x21, 0x11, 12, 5)), io.ErrUnexpectedEOF, "addresses"},
		{"v2 truncated TLVs", string(v2(0x21, 0x11, 0xFFFF, 100)), io.ErrUnexpectedEOF, "TLVs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := read([]byte(tc.in))
			var he *HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("err = %v, want a *HeaderError", err)
			}
			if !errors.Is(err, tc.want) || he.Field != tc.field {
				t.Errorf("err = %v (field %q), want %v (field %q)", err, he.Field, tc.want, tc.field)
			}
			if strings.Contains(err.Error(), "192.0.2.10") || strings.Contains(err.Error(), "xxxx") {
				t.Errorf("the error quotes the input: %v", err)
			}
		})
	}
}

// TestParseV2Length: ParseV2 wants exactly the declared length.
func TestParseV2Length(t *testing.T) {
	b := encodeV2(Header{Source: src4, Dest: dst4}, nil)
	for _, in := range [][]byte{b[:len(b)-1], append(b[:len(b):len(b)], 0)} {
		if _, err := ParseV2(in); !errors.Is(err, ErrMalformed) {
			t.Errorf("%d bytes for %d declared: %v", len(in), len(b), err)
		}
	}
	if _, err := ParseV2(v2Sig[:5]); !errors.Is(err, ErrMalformed) {
		t.Errorf("a prefix of the signature: %v", err)
	}
	if _, err := ParseV2([]byte("GET")); !errors.Is(err, ErrNoHeader) {
		t.Errorf("not a header: %v", err)
	}
	if _, err := ParseV1([]byte("PROXY UNKNOWN " + strings.Repeat("x", 200) + "\r\n")); !errors.Is(err, ErrMalformed) {
		t.Errorf("ParseV1 of an over-long line: %v", err)
	}
}

// FuzzRead: no input panics; an accepted header re-encodes to one that
// reads back the same; a refused one is a *HeaderError; Read never
// consumes more than a header's bound.
func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 192.0.2.10 198.51.100.1 51000 443\r\nGET / HTTP/1.1\r\n"))
	f.Add([]byte("PROXY TCP6 2001:db8::10 2001:db8::1 51000 443\r\n"))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add([]byte("PROXY TCP4 192.0.2.10 198.51.100.1 65536 443\r\n"))
	f.Add(encodeV2(Header{Source: src4, Dest: dst4}, nil))
	f.Add(encodeV2(Header{Source: src6, Dest: dst6}, []byte{0x04, 0x00, 0x01, 0x00}))
	f.Add(encodeV2(Header{Local: true}, nil))
	f.Add(append(append(v2Sig[:], 0x21, 0x31, 0x00, 0xD8), make([]byte, 216)...))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		br := bytes.NewReader(in)
		h, err := Read(bufio.NewReaderSize(br, 16))
		if err != nil {
			var he *HeaderError
			if !errors.As(err, &he) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		var again Header
		switch h.Version {
		case 1:
			again, err = ParseV1(encodeV1(h))
		case 2:
			again, err = ParseV2(encodeV2(h, nil))
		default:
			t.Fatalf("version %d", h.Version)
		}
		if err != nil || again != normalize(h) {
			t.Fatalf("%+v re-encoded reads %+v, %v", h, again, err)
		}
	})
}

// normalize is h as its re-encoding reads back: a Local header carries
// no addresses.
func normalize(h Header) Header {
	if h.Local {
		return Header{Version: h.Version, Local: true}
	}
	return h
}
