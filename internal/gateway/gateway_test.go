package gateway_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"github.com/veil-telemetry/veil/internal/keystate"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/internal/gateway"
	"github.com/veil-telemetry/veil/ohttp"
)

func TestRoundTrip(t *testing.T) {
	for _, path := range []string{"/gateway", "/.well-known/ohttp-gateway"} {
		t.Run(path, func(t *testing.T) {
			e := newEnv(t, nil)
			body := []byte(`{"batch_id":"AAAA","events":[]}`)
			enc, cc := seal(t, &e.key.Config, innerRequest(testNow.Add(-time.Minute), body))
			resp := post(t, e.srv.URL+path, enc, nil)
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("outer Cache-Control %q", cc)
			}
			res := open(t, resp, cc)
			if res.StatusCode != http.StatusCreated || string(res.Content) != `{"results":[{"status":"accepted"}]}` {
				t.Errorf("inner response %d %q", res.StatusCode, res.Content)
			}
			if got := field(res.Header, "content-type"); got != "application/json" {
				t.Errorf("inner response content-type %q", got)
			}
			var xs []string
			for _, f := range res.Header {
				if f.Name == "x-inner" {
					xs = append(xs, f.Value)
				}
			}
			if strings.Join(xs, ",") != "a,b" {
				t.Errorf("repeated inner response field: %q", xs)
			}

			s := e.inner.last(t)
			if !bytes.Equal(s.body, body) {
				t.Errorf("inner body %q", s.body)
			}
			if s.method != "POST" || s.path != "/v1/events" || s.rawQuery != "x=1" || s.requestURI != "/v1/events?x=1" {
				t.Errorf("inner request line %s %s ? %s (%s)", s.method, s.path, s.rawQuery, s.requestURI)
			}
			if strings.Contains(s.host, "evil") || s.remoteAddr != gateway.InnerRemoteAddr {
				t.Errorf("inner host %q remote %q", s.host, s.remoteAddr)
			}
			if s.ctxLocalAddr != nil {
				t.Error("outer connection's context values reach the inner handler")
			}
			want := map[string]string{
				"Content-Type":   "application/json",
				"Content-Length": "31",
				"Date":           testNow.Add(-time.Minute).Format(http.TimeFormat),
				"Accept":         "application/json",
			}
			for k := range s.header {
				if _, ok := want[k]; !ok {
					t.Errorf("inner header %s reached ingest", k)
				}
			}
			for k, v := range want {
				if got := s.header.Get(k); got != v {
					t.Errorf("inner %s = %q, want %q", k, got, v)
				}
			}
			if !s.hasHash || s.encHash != encHashOf(t, enc) {
				t.Error("enc hash not passed to the inner context")
			}
		})
	}
}

func TestDateWindow(t *testing.T) {
	e := newEnv(t, nil)
	for name, date := range map[string]string{
		"missing":     "",
		"garbage":     "yesterday",
		"too old":     testNow.Add(-6 * time.Minute).Format(http.TimeFormat),
		"too far out": testNow.Add(6 * time.Minute).Format(http.TimeFormat),
	} {
		t.Run(name, func(t *testing.T) {
			req := innerRequest(testNow, []byte("{}"))
			var hs []bhttp.Field
			for _, f := range req.Header {
				if f.Name != "date" {
					hs = append(hs, f)
				}
			}
			if date != "" {
				hs = append(hs, bhttp.Field{Name: "date", Value: date})
			}
			req.Header = hs
			enc, cc := seal(t, &e.key.Config, req)
			res := open(t, post(t, e.srv.URL+"/gateway", enc, nil), cc)
			if res.StatusCode != http.StatusBadRequest {
				t.Fatalf("inner status %d", res.StatusCode)
			}
			var p struct{ Type string }
			if err := json.Unmarshal(res.Content, &p); err != nil || p.Type != ohttp.ProblemTypeDate {
				t.Errorf("problem %q (%v)", res.Content, err)
			}
			if !strings.HasSuffix(p.Type, "#date") {
				t.Errorf("type %q", p.Type)
			}
			if got := field(res.Header, "date"); got != testNow.Format(http.TimeFormat) {
				t.Errorf("gateway date %q", got)
			}
			if got := field(res.Header, "content-type"); got != "application/problem+json" {
				t.Errorf("content type %q", got)
			}
		})
	}
	if n := e.inner.count(); n != 0 {
		t.Errorf("inner handler reached %d times", n)
	}
	// At the edge of the window the request goes through.
	enc, cc := seal(t, &e.key.Config, innerRequest(testNow.Add(5*time.Minute), nil))
	if res := open(t, post(t, e.srv.URL+"/gateway", enc, nil), cc); res.StatusCode != http.StatusCreated {
		t.Errorf("edge of window: %d", res.StatusCode)
	}
}

// TestKeyProblems checks that every key or decryption failure gets the
// same answer, byte for byte.
func TestKeyProblems(t *testing.T) {
	e := newEnv(t, nil)
	retired := genKey(t, 2, ohttp.KEMX25519)
	graced := genKey(t, 3, ohttp.KEMX25519)
	unknown := genKey(t, 9, ohttp.KEMX25519)
	otherKEM := genKey(t, 1, ohttp.KEMP256) // key id 1 is X25519 here
	e.store.set(
		gateway.Key{Private: e.key, State: keystate.Current},
		gateway.Key{Private: retired, State: keystate.Draining, RetireAfter: testNow.Add(-time.Second)},
		gateway.Key{Private: graced, State: keystate.Draining, RetireAfter: testNow.Add(time.Hour)},
	)
	good, _ := seal(t, &e.key.Config, innerRequest(testNow, nil))
	tampered := bytes.Clone(good)
	tampered[len(tampered)-1] ^= 1
	badEnc := bytes.Clone(good)
	badEnc[10] ^= 0xff
	encU, _ := seal(t, &unknown.Config, innerRequest(testNow, nil))
	encR, _ := seal(t, &retired.Config, innerRequest(testNow, nil))
	encK, _ := seal(t, &otherKEM.Config, innerRequest(testNow, nil))
	wrongSuite := bytes.Clone(good)
	wrongSuite[6] = byte(ohttp.AEADAES256GCM) // suite not offered by key 1
	unsupported := bytes.Clone(good)
	unsupported[5], unsupported[6] = 0x77, 0x77 // unknown AEAD id

	var first []byte
	for name, body := range map[string][]byte{
		"unknown key id":         encU,
		"retired past grace":     encR,
		"ciphertext tampered":    tampered,
		"enc tampered":           badEnc,
		"other KEM under the id": encK,
		"suite not offered":      wrongSuite,
		"unsupported AEAD":       unsupported,
	} {
		resp := post(t, e.srv.URL+"/gateway", body, nil)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != gateway.StatusKeyProblem {
			t.Errorf("%s: status %d", name, resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("%s: content type %q", name, ct)
		}
		var p struct {
			Type   string
			Status int
		}
		if err := json.Unmarshal(b, &p); err != nil || p.Type != ohttp.ProblemTypeKey || p.Status != 422 {
			t.Errorf("%s: problem %s", name, b)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(first, b) {
			t.Errorf("%s: answer differs: %s vs %s", name, b, first)
		}
	}
	if strings.Contains(e.logs.String(), "decrypt") {
		t.Error("logs name the failing check")
	}

	// A draining key before its retirement still decrypts.
	enc, cc := seal(t, &graced.Config, innerRequest(testNow, nil))
	if res := open(t, post(t, e.srv.URL+"/gateway", enc, nil), cc); res.StatusCode != http.StatusCreated {
		t.Errorf("graced key: %d", res.StatusCode)
	}
	if e.inner.count() != 1 {
		t.Errorf("inner reached %d times", e.inner.count())
	}
}

func TestOuterErrors(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxRequestBytes = 512 })
	good, _ := seal(t, &e.key.Config, innerRequest(testNow, nil))
	tests := []struct {
		name, method, path, ctype string
		hdr                       http.Header
		body                      []byte
		status                    int
		allow                     string
	}{
		{"get gateway", "GET", "/gateway", "", nil, nil, 405, "POST"},
		{"put well-known", "PUT", "/.well-known/ohttp-gateway", "", nil, nil, 405, "GET, HEAD, POST"},
		{"post keys", "POST", "/ohttp-keys", ohttp.RequestMediaType, nil, good, 405, "GET, HEAD"},
		{"unknown path", "POST", "/v1/events", ohttp.RequestMediaType, nil, good, 404, ""},
		{"root", "POST", "/", ohttp.RequestMediaType, nil, good, 404, ""},
		{"no media type", "POST", "/gateway", "", nil, good, 415, ""},
		{"wrong media type", "POST", "/gateway", "application/json", nil, good, 415, ""},
		{"too large", "POST", "/gateway", ohttp.RequestMediaType, nil, make([]byte, 513), 413, ""},
		{"expect", "POST", "/gateway", ohttp.RequestMediaType, http.Header{"Expect": {"100-continue"}}, good, 417, ""},
		{"empty", "POST", "/gateway", ohttp.RequestMediaType, nil, nil, 400, ""},
		{"truncated header", "POST", "/gateway", ohttp.RequestMediaType, nil, good[:5], 400, ""},
		{"no ciphertext", "POST", "/gateway", ohttp.RequestMediaType, nil, good[:7+32], 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, e.srv.URL+tc.path, bytes.NewReader(tc.body))
			if tc.ctype != "" {
				req.Header.Set("Content-Type", tc.ctype)
			}
			for k, v := range tc.hdr {
				req.Header[k] = v
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if got := resp.Header.Get("Allow"); got != tc.allow {
				t.Errorf("Allow %q, want %q", got, tc.allow)
			}
			if ct := resp.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("content type %q", ct)
			}
			// An error is never cached, by the relay or a CDN in front.
			if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
		})
	}
	if n := e.inner.count(); n != 0 {
		t.Errorf("inner reached %d times", n)
	}
}

func TestTooLargeStreamed(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxRequestBytes = 512 })
	pr, pw := io.Pipe()
	go func() { pw.Write(make([]byte, 4096)); pw.Close() }()
	req, _ := http.NewRequest("POST", e.srv.URL+"/gateway", pr)
	req.Header.Set("Content-Type", ohttp.RequestMediaType)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
}

func TestOverloaded(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxConcurrent = 1 })
	e.inner.block = make(chan struct{})
	enc1, cc1 := seal(t, &e.key.Config, innerRequest(testNow, nil))
	done := make(chan *http.Response)
	go func() {
		req, _ := http.NewRequest("POST", e.srv.URL+"/gateway", bytes.NewReader(enc1))
		req.Header.Set("Content-Type", ohttp.RequestMediaType)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
		}
		done <- resp
	}()
	for e.inner.count() == 0 {
		time.Sleep(time.Millisecond)
	}
	enc2, _ := seal(t, &e.key.Config, innerRequest(testNow, nil))
	resp := post(t, e.srv.URL+"/gateway", enc2, nil)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("saturated: %d Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	close(e.inner.block)
	r1 := <-done
	defer r1.Body.Close()
	if res := open(t, r1, cc1); res.StatusCode != http.StatusCreated {
		t.Errorf("first request: %d", res.StatusCode)
	}
}

func TestKeysEndpoint(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.KeysMaxAge = time.Hour })
	active := genKey(t, 7, ohttp.KEMXWing)
	retired := genKey(t, 3, ohttp.KEMX25519)
	e.store.set(
		gateway.Key{Private: active, State: keystate.Active, DrainAfter: testNow.Add(20 * time.Minute), RetireAfter: testNow.Add(80 * time.Minute)},
		gateway.Key{Private: retired, State: keystate.Draining, RetireAfter: testNow.Add(time.Hour)},
		gateway.Key{Private: e.key, State: keystate.Current},
	)
	var etag string
	for _, path := range []string{"/ohttp-keys", "/.well-known/ohttp-gateway"} {
		resp, err := http.Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != ohttp.KeysMediaType {
			t.Fatalf("%s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		// Capped by the active key's scheduled end, 20 minutes away.
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=1200" {
			t.Errorf("Cache-Control %q", cc)
		}
		cfgs, err := ohttp.ParseKeyConfigs(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(cfgs) != 2 || cfgs[0].KeyID != 1 || cfgs[1].KeyID != 7 {
			t.Errorf("published %d configs (want current 1 then active 7)", len(cfgs))
		}
		if etag != "" && resp.Header.Get("ETag") != etag {
			t.Error("paths disagree")
		}
		etag = resp.Header.Get("ETag")
	}
	req, _ := http.NewRequest("GET", e.srv.URL+"/ohttp-keys", nil)
	req.Header.Set("If-None-Match", etag)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional: %d", resp.StatusCode)
	}
}

func TestKeysUnavailable(t *testing.T) {
	e := newEnv(t, nil)
	e.store.set()
	resp, err := http.Get(e.srv.URL + "/ohttp-keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("status %d", resp.StatusCode)
	}
	// A shared cache must not keep serving "no keys" once keys exist.
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if err := e.gw.Refresh(t.Context()); err == nil {
		t.Error("Refresh with no keys succeeded")
	}
	e.store.err = errors.New("db down")
	if err := e.gw.Refresh(t.Context()); err == nil {
		t.Error("Refresh with a failing store succeeded")
	}
}

func TestUnknownKeyRefresh(t *testing.T) {
	now := testNow
	e := newEnv(t, func(c *gateway.Config) {
		c.Now = func() time.Time { return now }
		c.UnknownKeyRefresh = 10 * time.Second
	})
	if err := e.gw.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	reads := e.store.readCount()

	// Another replica rotates: key 5 appears in the store.
	k5 := genKey(t, 5, ohttp.KEMX25519)
	e.store.set(gateway.Key{Private: e.key, State: keystate.Active}, gateway.Key{Private: k5, State: keystate.Current})
	enc, cc := seal(t, &k5.Config, innerRequest(now, nil))
	if res := open(t, post(t, e.srv.URL+"/gateway", enc, nil), cc); res.StatusCode != http.StatusCreated {
		t.Errorf("after rotation: %d", res.StatusCode)
	}
	if got := e.store.readCount(); got != reads+1 {
		t.Errorf("store read %d times, want 1", got-reads)
	}
	// Unknown ids do not hammer the store.
	k6 := genKey(t, 6, ohttp.KEMX25519)
	for range 5 {
		enc, _ := seal(t, &k6.Config, innerRequest(now, nil))
		post(t, e.srv.URL+"/gateway", enc, nil)
	}
	if got := e.store.readCount(); got != reads+1 {
		t.Errorf("store read %d times after unknown ids, want 1", got-reads)
	}
}

func TestPeriodicRefresh(t *testing.T) {
	now := testNow
	e := newEnv(t, func(c *gateway.Config) {
		c.Now = func() time.Time { return now }
		c.KeyRefresh = time.Minute
	})
	get := func() []*ohttp.KeyConfig {
		resp, err := http.Get(e.srv.URL + "/ohttp-keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		cfgs, err := ohttp.ParseKeyConfigs(b)
		if err != nil {
			t.Fatal(err)
		}
		return cfgs
	}
	if n := len(get()); n != 1 {
		t.Fatalf("%d keys", n)
	}
	e.store.set(gateway.Key{Private: e.key, State: keystate.Active},
		gateway.Key{Private: genKey(t, 2, ohttp.KEMX25519), State: keystate.Current})
	if n := len(get()); n != 1 {
		t.Errorf("reread before KeyRefresh: %d keys", n)
	}
	now = now.Add(time.Minute)
	if n := len(get()); n != 2 {
		t.Errorf("not reread after KeyRefresh: %d keys", n)
	}
}

func TestGzipInner(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) { c.MaxInnerBytes = 1 << 16 })
	gz := func(b []byte) []byte {
		var buf bytes.Buffer
		zw := gzip.NewWriter(&buf)
		zw.Write(b)
		zw.Close()
		return buf.Bytes()
	}
	send := func(content []byte, coding string) *bhttp.Response {
		req := innerRequest(testNow, content)
		req.Header = append(req.Header, bhttp.Field{Name: "content-encoding", Value: coding})
		enc, cc := seal(t, &e.key.Config, req)
		return open(t, post(t, e.srv.URL+"/gateway", enc, nil), cc)
	}
	plain := []byte(`{"events":[]}`)
	if res := send(gz(plain), "gzip"); res.StatusCode != http.StatusCreated {
		t.Fatalf("gzip: %d", res.StatusCode)
	}
	s := e.inner.last(t)
	if !bytes.Equal(s.body, plain) || s.header.Get("Content-Encoding") != "" || s.header.Get("Content-Length") != "13" {
		t.Errorf("inner got %q, encoding %q, length %q", s.body, s.header.Get("Content-Encoding"), s.header.Get("Content-Length"))
	}
	// A bomb: 64 KiB of zeros compress to a few hundred bytes.
	if res := send(gz(make([]byte, 1<<16+1)), "gzip"); res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("bomb: %d", res.StatusCode)
	}
	if res := send([]byte("not gzip"), "gzip"); res.StatusCode != http.StatusBadRequest {
		t.Errorf("bad gzip: %d", res.StatusCode)
	}
	if res := send(plain, "br"); res.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("br: %d", res.StatusCode)
	}
	if n := e.inner.count(); n != 1 {
		t.Errorf("inner reached %d times", n)
	}
}

func TestInnerErrors(t *testing.T) {
	e := newEnv(t, nil)
	// A malformed Binary HTTP message that decrypts fine.
	enc, cc, err := ohttp.EncapsulateRequest(nil, &e.key.Config, ohttp.DefaultSuite, []byte{0x07, 0x01})
	if err != nil {
		t.Fatal(err)
	}
	if res := open(t, post(t, e.srv.URL+"/gateway", enc, nil), cc); res.StatusCode != http.StatusBadRequest {
		t.Errorf("malformed inner: %d", res.StatusCode)
	}
	// An asterisk-form target.
	req := innerRequest(testNow, nil)
	req.Method, req.Path = "OPTIONS", "*"
	enc, cc = seal(t, &e.key.Config, req)
	if res := open(t, post(t, e.srv.URL+"/gateway", enc, nil), cc); res.StatusCode != http.StatusBadRequest {
		t.Errorf("asterisk path: %d", res.StatusCode)
	}
	if n := e.inner.count(); n != 0 {
		t.Errorf("inner reached %d times", n)
	}
}

func TestInnerPanicAndOversizedResponse(t *testing.T) {
	e := newEnv(t, func(c *gateway.Config) {
		c.MaxResponseBytes = 64
		c.Inner = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/panic" {
				panic("boom")
			}
			w.Write(make([]byte, 65))
		})
	})
	for path, want := range map[string]int{"/panic": 500, "/big": 500} {
		req := innerRequest(testNow, nil)
		req.Path = path
		enc, cc := seal(t, &e.key.Config, req)
		if res := open(t, post(t, e.srv.URL+"/gateway", enc, nil), cc); res.StatusCode != want {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
	if strings.Contains(e.logs.String(), "boom") {
		t.Error("panic value logged")
	}
}

func TestHealthz(t *testing.T) {
	e := newEnv(t, nil)
	resp, err := http.Get(e.srv.URL + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("status %d", resp.StatusCode)
	}
}

func TestNewValidates(t *testing.T) {
	inner := http.NotFoundHandler()
	for name, cfg := range map[string]gateway.Config{
		"no keys":        {Inner: inner},
		"no inner":       {Keys: &memStore{}},
		"negative limit": {Keys: &memStore{}, Inner: inner, MaxRequestBytes: -1},
		"negative dur":   {Keys: &memStore{}, Inner: inner, ReplayWindow: -1},
	} {
		if _, err := gateway.New(cfg); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
