package send

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
)

func TestParseEvent(t *testing.T) {
	for _, tc := range []struct {
		line, want string // want: the error, or "" for an event
	}{
		{`{"schema":"app.launch","version":1,"fields":{"os":"ios","ms":420}}`, ""},
		{`{"schema":"app.launch","version":1}`, ""},
		{`{"schema":"app.launch","version":1,"fields":null}`, ""},
		{`{"Schema":"app.launch","Version":1,"other":true}`, ""},
		{`not json`, `not JSON (at byte 2): invalid character 'o' in literal null (expecting 'u')`},
		{`{"schema":"app.launch","version":1`, `not JSON (at byte 34): unexpected end of JSON input`},
		{`{"schema":"app.launch"} {}`, `not JSON (at byte 25): invalid character '{' after top-level value`},
		{`[{"schema":"app.launch","version":1}]`, `an array, not an event object like ` + exampleEvent},
		{`"app.launch"`, `a string, not an event object like ` + exampleEvent},
		{`42`, `a number, not an event object like ` + exampleEvent},
		{`null`, `null, not an event object like ` + exampleEvent},
		{`{"version":1}`, `"schema" is missing`},
		{`{"schema":"","version":1}`, `"schema" is empty`},
		{`{"schema":7,"version":1}`, `"schema" must be a string, not a number`},
		{`{"schema":"app.launch"}`, `"version" is missing`},
		{`{"schema":"app.launch","version":"1"}`, `"version" must be an integer, not a string`},
		{`{"schema":"app.launch","version":1.5}`, `"version" must be an integer, not 1.5`},
		{`{"schema":"app.launch","version":0}`, `"version" must be at least 1, not 0`},
		{`{"schema":"app.launch","version":1,"fields":[1]}`, `"fields" must be an object, not an array`},
		{`{"schema":"app.launch","version":1,"fields":"os=ios"}`, `"fields" must be an object, not a string`},
	} {
		ev, err := parseEvent([]byte(tc.line))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.line, err)
		case tc.want == "" && (ev.Schema != "app.launch" || ev.Version != 1):
			t.Errorf("%s: parsed as %+v", tc.line, ev)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: error %v, want %s", tc.line, err, tc.want)
		}
	}
	ev, err := parseEvent([]byte(`{"schema":"a","version":2,"fields":{"n":12345678901234567890,"s":"x"}}`))
	if err != nil || fmt.Sprint(ev.Fields["n"]) != "12345678901234567890" || ev.Fields["s"] != "x" || ev.Version != 2 {
		t.Errorf("fields %+v, %v: numbers must stay exact", ev, err)
	}
}

func TestLineReader(t *testing.T) {
	const max = 8
	in := "a\n\n" + strings.Repeat("b", max) + "\r\n" + strings.Repeat("c", max+1) + "\n" +
		strings.Repeat("d", 3*max) + "\nlast" + "\n" + strings.Repeat("e", max+1)
	lr := newLineReader(strings.NewReader(in), max)
	var got []string
	for {
		l, err := lr.next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%d:%s", l.n, l.text)
		if l.tooLong {
			s = fmt.Sprintf("%d:too long", l.n)
		}
		got = append(got, s)
	}
	want := []string{"1:a", "2:", "3:" + strings.Repeat("b", max), "4:too long", "5:too long", "6:last", "7:too long"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("lines %q, want %q", got, want)
	}
}

// TestInvalidLines: a line that is not an event is reported with its line
// number, as the result's "line" and on stderr with the parser's message;
// the other events are sent.
func TestInvalidLines(t *testing.T) {
	srv := sendGateway(t)
	in := `{"schema":"app.launch","version":1,"fields":{"os":"ios"}}` + "\n" +
		"\n" +
		"not json\n" +
		`[{"schema":"app.launch","version":1}]` + "\n" +
		"\n\n" +
		`{"schema":"app.launch","version":1,"fields":{"os":"ios"}}` + "\n"
	out, stderr, code := runSend(t, in, flags(srv.URL+"/gateway"))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := `{"index":0,"status":"accepted"}` + "\n" +
		`{"index":1,"line":3,"status":"dropped","reason":"invalid_event"}` + "\n" +
		`{"index":2,"line":4,"status":"dropped","reason":"invalid_event"}` + "\n" +
		`{"index":3,"status":"accepted"}` + "\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	wantErr := "send: line 3: not JSON (at byte 2): invalid character 'o' in literal null (expecting 'u')\n" +
		"send: line 4: an array, not an event object like " + exampleEvent + "\n" +
		"send: 4 events: 2 accepted, 2 dropped\n"
	if stderr != wantErr {
		t.Errorf("stderr:\n%s\nwant:\n%s", stderr, wantErr)
	}
}

// TestManyInvalidLines: stderr names the first maxInputErrors lines, then
// says once that there are more.
func TestManyInvalidLines(t *testing.T) {
	srv := sendGateway(t)
	in := strings.Repeat("{}\n", maxInputErrors+5)
	out, stderr, code := runSend(t, in, flags(srv.URL+"/gateway"))
	if code != 1 || strings.Count(out, `"reason":"invalid_event"`) != maxInputErrors+5 {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != maxInputErrors+2 {
		t.Fatalf("%d stderr lines, want %d:\n%s", len(lines), maxInputErrors+2, stderr)
	}
	if lines[0] != `send: line 1: "schema" is missing` || !strings.HasPrefix(lines[maxInputErrors], "send: more lines are not events") {
		t.Errorf("stderr:\n%s", stderr)
	}
}

// TestOverlongLine: a line over MaxLine is dropped as too_large, named with
// its line number and the limit; the lines after it are still sent.
func TestOverlongLine(t *testing.T) {
	srv := sendGateway(t)
	ev := `{"schema":"app.launch","version":1,"fields":{"os":"ios"}}` + "\n"
	big := `{"schema":"app.launch","version":1,"fields":{"blob":"` + strings.Repeat("x", MaxLine) + `"}}` + "\n"
	out, stderr, code := runSend(t, ev+big+ev, flags(srv.URL+"/gateway"))
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	want := `{"index":0,"status":"accepted"}` + "\n" +
		`{"index":1,"line":2,"status":"dropped","reason":"too_large"}` + "\n" +
		`{"index":2,"status":"accepted"}` + "\n"
	if out != want {
		t.Errorf("output:\n%s\nwant:\n%s", out, want)
	}
	if want := "send: line 2: longer than the limit of 1048576 bytes (1 MiB); not sent\n"; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr %q, want it to start %q", stderr, want)
	}
}

// TestEventLargerThanBatch: a line within MaxLine whose event cannot fit a
// batch is too_large too, with its line.
func TestEventLargerThanBatch(t *testing.T) {
	srv := sendGateway(t)
	big := `{"schema":"app.launch","version":1,"fields":{"blob":"` + strings.Repeat("x", 100<<10) + `"}}` + "\n"
	out, stderr, code := runSend(t, big, flags(srv.URL+"/gateway"))
	if code != 1 || out != `{"index":0,"line":1,"status":"dropped","reason":"too_large"}`+"\n" {
		t.Errorf("exit %d, output %q", code, out)
	}
	if want := "send: line 1: the event is larger than a batch may be (64 KiB encoded); not sent\n"; !strings.HasPrefix(stderr, want) {
		t.Errorf("stderr %q, want it to start %q", stderr, want)
	}
}

// TestReasonsDocumented: the reason codes `veil send` gives of its own are
// in docs/reason-codes.md (the SDK's are checked in sdk).
func TestReasonsDocumented(t *testing.T) {
	doc, err := os.ReadFile("../../docs/reason-codes.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range []string{reasonInvalidEvent, "too_large", "closed", "retries_exhausted"} {
		if !strings.Contains(string(doc), "| `"+code+"` |") {
			t.Errorf("%s has no row in docs/reason-codes.md", code)
		}
	}
}
