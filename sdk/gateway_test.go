package sdk_test

import (
	"bytes"
	"compress/gzip"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/ohttp"
	"github.com/veil-telemetry/veil/ohttp/signedkeys"
)

// fakeGateway is a test double of the network peer: an httptest server
// that plays relay and gateway in one. It serves a key document at
// /ohttp-keys (and, once pin gave it a signing key, the signed document at
// /ohttp-keys-signed), decapsulates what is POSTed to /gateway, decodes the ingest
// request inside and answers as its script says. Like the real gateway it
// remembers batch ids and answers "duplicate" for a batch it stored before.
type fakeGateway struct {
	t   testing.TB
	srv *httptest.Server

	mu         sync.Mutex
	keys       []*ohttp.PrivateKey // offered in the key document
	accept     map[uint8]*ohttp.PrivateKey
	keyDoc     []byte // served instead of the marshalled keys when set
	keyFetches int
	requests   []*gwRequest
	stored     map[string]bool
	// script answers a decoded request; nil accepts every event.
	script func(r *gwRequest) gwAnswer

	// signer signs the key document served at /ohttp-keys-signed (see
	// pin); signedDoc, when set, is served there instead.
	signer    ed25519.PrivateKey
	signedDoc []byte
}

// gwRequest is what the fake gateway saw in one request.
type gwRequest struct {
	N         int // 0-based position among requests
	KeyID     uint8
	KEM       ohttp.KEMID
	Suite     ohttp.SymmetricSuite
	Enc       []byte
	MsgLen    int // Binary HTTP request length, padding included
	Request   *bhttp.Request
	Gzipped   bool
	Date      time.Time
	BatchID   string
	Events    []gwEvent
	Outer     http.Header
	Content   []byte // decoded (gunzipped) content
	Duplicate bool
}

type gwEvent struct {
	Schema  string         `json:"schema"`
	Version int            `json:"version"`
	Fields  map[string]any `json:"fields"`
}

// gwAnswer is a scripted answer. A non-zero OuterStatus answers without
// encapsulation; otherwise Status (default 200) is encapsulated, with Body
// (default: every event accepted, or duplicate when stored before).
type gwAnswer struct {
	OuterStatus int
	OuterHeader http.Header
	OuterBody   []byte

	Status int
	Header []bhttp.Field
	Body   []byte
}

func newFakeGateway(t testing.TB, kems ...ohttp.KEMID) *fakeGateway {
	t.Helper()
	if len(kems) == 0 {
		kems = []ohttp.KEMID{ohttp.KEMX25519}
	}
	g := &fakeGateway{t: t, accept: map[uint8]*ohttp.PrivateKey{}, stored: map[string]bool{}}
	for i, kem := range kems {
		g.addKey(uint8(i+1), kem)
	}
	g.srv = httptest.NewServer(http.HandlerFunc(g.serveHTTP))
	t.Cleanup(g.srv.Close)
	return g
}

func (g *fakeGateway) relayURL() string { return g.srv.URL + "/gateway" }

// inProcess is an HTTP client that serves each request from the fake
// gateway's handler on the caller's goroutine, with no socket: a Client
// using it can run inside a testing/synctest bubble, where time is the
// bubble's and synctest.Wait sees every goroutine block.
func (g *fakeGateway) inProcess() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		rec := httptest.NewRecorder()
		g.serveHTTP(rec, r)
		resp := rec.Result()
		resp.Request = r
		return resp, nil
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// addKey generates a key, offers it and accepts requests for it.
func (g *fakeGateway) addKey(id uint8, kem ohttp.KEMID) *ohttp.PrivateKey {
	g.t.Helper()
	k, err := ohttp.GenerateKey(nil, id, kem, []ohttp.SymmetricSuite{ohttp.DefaultSuite})
	if err != nil {
		g.t.Fatal(err)
	}
	g.mu.Lock()
	g.keys = append(g.keys, k)
	g.accept[id] = k
	g.mu.Unlock()
	return k
}

// rotate replaces every key with a new one of id, and forgets the old ones:
// requests for them get the RFC 9458 key problem.
func (g *fakeGateway) rotate(id uint8) {
	g.mu.Lock()
	g.keys, g.accept = nil, map[uint8]*ohttp.PrivateKey{}
	g.mu.Unlock()
	g.addKey(id, ohttp.KEMX25519)
}

func (g *fakeGateway) setScript(f func(r *gwRequest) gwAnswer) {
	g.mu.Lock()
	g.script = f
	g.mu.Unlock()
}

func (g *fakeGateway) setKeyDoc(doc []byte) {
	g.mu.Lock()
	g.keyDoc = doc
	g.mu.Unlock()
}

func (g *fakeGateway) seen() []*gwRequest {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]*gwRequest(nil), g.requests...)
}

func (g *fakeGateway) fetches() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.keyFetches
}

func (g *fakeGateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/ohttp-keys":
		g.serveKeys(w)
	case r.Method == http.MethodGet && r.URL.Path == signedkeys.DefaultPath:
		g.serveSignedKeys(w)
	case r.Method == http.MethodPost && r.URL.Path == "/gateway":
		g.serveGateway(w, r)
	default:
		http.NotFound(w, r)
	}
}

func (g *fakeGateway) serveKeys(w http.ResponseWriter) {
	g.mu.Lock()
	g.keyFetches++
	doc := g.keyDocLocked()
	g.mu.Unlock()
	w.Header().Set("Content-Type", ohttp.KeysMediaType)
	w.Header().Set("Cache-Control", "max-age=86400")
	w.Write(doc)
}

// keyDocLocked is the key document: keyDoc, or the offered keys. g.mu is
// held.
func (g *fakeGateway) keyDocLocked() []byte {
	if g.keyDoc != nil {
		return g.keyDoc
	}
	var cfgs []*ohttp.KeyConfig
	for _, k := range g.keys {
		cfgs = append(cfgs, &k.Config)
	}
	doc, err := ohttp.MarshalKeyConfigs(cfgs)
	if err != nil {
		g.t.Error(err)
	}
	return doc
}

// pin gives the fake gateway a signing key, if it has none, and returns
// its key pin.
func (g *fakeGateway) pin() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.signer == nil {
		_, g.signer, _ = ed25519.GenerateKey(nil)
	}
	p, err := signedkeys.PinOf(g.signer.Public().(ed25519.PublicKey))
	if err != nil {
		g.t.Fatal(err)
	}
	return p.String()
}

// signedKeys returns the signed key document the gateway serves.
func (g *fakeGateway) signedKeys() []byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.signedKeysLocked()
}

func (g *fakeGateway) signedKeysLocked() []byte {
	if g.signedDoc != nil {
		return g.signedDoc
	}
	if g.signer == nil {
		return nil
	}
	b, err := signedkeys.Sign(g.keyDocLocked(), g.signer)
	if err != nil {
		g.t.Error(err)
	}
	return b
}

func (g *fakeGateway) setSignedDoc(doc []byte) {
	g.mu.Lock()
	g.signedDoc = doc
	g.mu.Unlock()
}

// serveSignedKeys serves the signed key document, or 404 when the fake
// gateway has no signing key (as an older gateway would).
func (g *fakeGateway) serveSignedKeys(w http.ResponseWriter) {
	g.mu.Lock()
	g.keyFetches++
	doc := g.signedKeysLocked()
	g.mu.Unlock()
	if doc == nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", signedkeys.MediaType)
	w.Header().Set("Cache-Control", "max-age=86400")
	w.Write(doc)
}

func (g *fakeGateway) serveGateway(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Header.Get("Content-Type") != ohttp.RequestMediaType {
		http.Error(w, "bad media type", http.StatusUnsupportedMediaType)
		return
	}
	er, err := ohttp.ParseEncapsulatedRequest(body)
	if err != nil {
		g.t.Errorf("fake gateway: %v", err)
		http.Error(w, "malformed", http.StatusBadRequest)
		return
	}
	g.mu.Lock()
	key := g.accept[er.KeyID]
	g.mu.Unlock()
	if key == nil {
		// Recorded too, though nothing inside can be read.
		g.mu.Lock()
		g.requests = append(g.requests, &gwRequest{N: len(g.requests), KeyID: er.KeyID, KEM: er.KEM, Enc: er.Enc, Outer: r.Header.Clone()})
		g.mu.Unlock()
		w.Header().Set("Content-Type", "application/problem+json")
		w.WriteHeader(http.StatusUnprocessableEntity)
		fmt.Fprintf(w, `{"type":%q,"title":"key identifier unknown or expired"}`, "https://iana.org/assignments/http-problem-types#ohttp-key")
		return
	}
	msg, sctx, err := key.DecapsulateRequest(er)
	if err != nil {
		g.t.Errorf("fake gateway: decapsulate: %v", err)
		http.Error(w, "decrypt", http.StatusBadRequest)
		return
	}
	breq, err := bhttp.UnmarshalRequest(msg)
	if err != nil {
		g.t.Errorf("fake gateway: bhttp: %v", err)
		http.Error(w, "bhttp", http.StatusBadRequest)
		return
	}
	gr := &gwRequest{KeyID: er.KeyID, KEM: er.KEM, Suite: er.Suite(), Enc: er.Enc, MsgLen: len(msg), Request: breq, Outer: r.Header.Clone()}
	for _, f := range breq.Header {
		switch f.Name {
		case "content-encoding":
			gr.Gzipped = f.Value == "gzip"
		case "date":
			gr.Date, _ = http.ParseTime(f.Value)
		}
	}
	gr.Content = breq.Content
	if gr.Gzipped {
		zr, err := gzip.NewReader(bytes.NewReader(breq.Content))
		if err == nil {
			gr.Content, err = io.ReadAll(zr)
		}
		if err != nil {
			g.t.Errorf("fake gateway: gzip: %v", err)
		}
	}
	var content struct {
		BatchID string    `json:"batch_id"`
		Events  []gwEvent `json:"events"`
	}
	if err := json.Unmarshal(gr.Content, &content); err != nil {
		g.t.Errorf("fake gateway: content: %v", err)
	}
	gr.BatchID, gr.Events = content.BatchID, content.Events

	g.mu.Lock()
	gr.N = len(g.requests)
	g.requests = append(g.requests, gr)
	script := g.script
	g.mu.Unlock()

	var a gwAnswer
	if script != nil {
		a = script(gr)
	}
	if a.OuterStatus != 0 {
		for k, v := range a.OuterHeader {
			w.Header()[k] = v
		}
		w.WriteHeader(a.OuterStatus)
		w.Write(a.OuterBody)
		return
	}
	resp := &bhttp.Response{StatusCode: a.Status, Header: a.Header, Content: a.Body}
	if resp.StatusCode == 0 {
		resp.StatusCode = http.StatusOK
	}
	if resp.StatusCode == http.StatusOK && resp.Content == nil {
		g.mu.Lock()
		dup := g.stored[gr.BatchID]
		g.stored[gr.BatchID] = true
		g.mu.Unlock()
		gr.Duplicate = dup
		status := "accepted"
		if dup {
			status = "duplicate"
		}
		resp.Content = resultsJSON(len(gr.Events), func(int) string { return `"status":"` + status + `"` })
		resp.Header = []bhttp.Field{{Name: "content-type", Value: "application/json"}}
	}
	inner, err := resp.Marshal()
	if err != nil {
		g.t.Errorf("fake gateway: marshal: %v", err)
	}
	out, err := sctx.EncapsulateResponse(nil, inner)
	if err != nil {
		g.t.Errorf("fake gateway: encapsulate: %v", err)
	}
	w.Header().Set("Content-Type", ohttp.ResponseMediaType)
	w.Write(out)
}

// resultsJSON builds {"results":[…]} in protojson's style: index omitted
// when zero.
func resultsJSON(n int, entry func(i int) string) []byte {
	var b strings.Builder
	b.WriteString(`{"results":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('{')
		if i > 0 {
			fmt.Fprintf(&b, `"index":%d,`, i)
		}
		b.WriteString(entry(i))
		b.WriteByte('}')
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// problem is an inner problem+json answer.
func problem(status int, typ string, extra ...bhttp.Field) gwAnswer {
	return gwAnswer{
		Status: status,
		Header: append([]bhttp.Field{{Name: "content-type", Value: "application/problem+json"}}, extra...),
		Body:   []byte(fmt.Sprintf(`{"type":%q,"status":%d}`, typ, status)),
	}
}
