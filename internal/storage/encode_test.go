package storage

import (
	"bytes"
	"encoding/json"
	"io"
	"testing"
)

// FuzzAppendJSONString checks the writer's JSON string encoder against
// encoding/json: the output is valid JSON and decodes to what
// encoding/json's encoding of the same string decodes to (invalid UTF-8
// replaced by U+FFFD the same way).
func FuzzAppendJSONString(f *testing.F) {
	for _, s := range []string{"", "ios", "q\"\\\n\tü✓", "\x00\x1f\x7f", "a\xffb\xc3", "\u2028<&>", "é\xe2\x82"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got := appendJSONString([]byte("x"), s)
		if got[0] != 'x' || !json.Valid(got[1:]) {
			t.Fatalf("invalid JSON %q for %q", got, s)
		}
		ref, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		var a, b string
		if err := json.Unmarshal(got[1:], &a); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(ref, &b); err != nil {
			t.Fatal(err)
		}
		if a != b {
			t.Fatalf("%q decodes to %q, encoding/json's to %q", s, a, b)
		}
	})
}

// TestCopyStream reads a COPY stream through buffers of every small size
// and checks it is the header, the tuples in order and the trailer.
func TestCopyStream(t *testing.T) {
	var rows []eventRow
	want := []byte(copyHeader)
	for i := range 5 {
		tuple := bytes.Repeat([]byte{byte('a' + i)}, 3*i+1)
		rows = append(rows, eventRow{tuple: tuple})
		want = append(want, tuple...)
	}
	want = append(want, copyTrailer...)
	for size := 1; size <= len(want)+1; size++ {
		cs := &copyStream{rows: rows}
		var got []byte
		buf := make([]byte, size)
		for {
			n, err := cs.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				t.Fatalf("buffer %d: Read returned 0 bytes without EOF", size)
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("buffer %d: stream %q, want %q", size, got, want)
		}
	}
	// No rows: header and trailer only.
	got, err := io.ReadAll(&copyStream{})
	if err != nil || !bytes.Equal(got, []byte(copyHeader+copyTrailer)) {
		t.Errorf("empty stream %q, %v", got, err)
	}
}
