package loadgen

import (
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	randv2 "math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/veil-telemetry/veil/bhttp"
	"github.com/veil-telemetry/veil/ohttp"
)

// Answer is what came back for one request.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Prepared is one request, built and encapsulated, ready to send.
type Prepared struct {
	URL         string
	ContentType string
	Body        []byte
	// Events is the number of events the request carries.
	Events int
	// Check verifies the answer, outside the timed section. A failure is
	// a *KindError naming what went wrong.
	Check func(*Answer) error
}

// Workload builds requests. Prepare is called from many workers, each
// with its own rng.
type Workload interface {
	// Target is the URL requests go to (checked to be loopback).
	Target() string
	Prepare(rng *randv2.Rand) (*Prepared, error)
}

// KindError classifies a failed request for the errors-by-kind report.
type KindError struct{ Kind string }

func (e *KindError) Error() string { return "loadgen: " + e.Kind }

func kindf(format string, args ...any) error {
	return &KindError{Kind: fmt.Sprintf(format, args...)}
}

// statusKind names a non-2xx answer; a 503 without Retry-After is its own
// kind, since overload must be answered with one.
func statusKind(prefix string, status int, retryAfter string) error {
	if status == http.StatusServiceUnavailable && retryAfter == "" {
		return kindf("%s503_no_retry_after", prefix)
	}
	return kindf("%s%d", prefix, status)
}

// results is the inner API's answer.
type results struct {
	Results []struct {
		Status string `json:"status"`
		Reason string `json:"reason"`
	} `json:"results"`
}

// checkResults requires one "accepted" result per event.
func checkResults(body []byte, events int) error {
	var r results
	if err := json.Unmarshal(body, &r); err != nil {
		return kindf("bad_results_json")
	}
	if len(r.Results) != events {
		return kindf("results_count")
	}
	for _, res := range r.Results {
		switch res.Status {
		case "accepted":
		case "rejected":
			return kindf("event_rejected_%s", res.Reason)
		default:
			return kindf("event_%s", res.Status)
		}
	}
	return nil
}

// OHTTP sends POST /v1/events inside Oblivious HTTP to a gateway, directly
// or through a relay. Each request has a fresh batch id, a current Date
// and a fresh HPKE encapsulation.
type OHTTP struct {
	// URL is the gateway's or the relay's POST resource.
	URL string
	// Key is the gateway key configuration to encapsulate to.
	Key *ohttp.KeyConfig
	// Suite is the symmetric suite (zero: ohttp.DefaultSuite).
	Suite ohttp.SymmetricSuite
	// Events per request.
	Events int
	// CheckResults requires every event to be accepted (off for a
	// gateway whose inner handler is a no-op).
	CheckResults bool
	// Now is the clock for the inner Date (nil: time.Now).
	Now func() time.Time
}

// Target implements Workload.
func (o *OHTTP) Target() string { return o.URL }

// Prepare implements Workload.
func (o *OHTTP) Prepare(rng *randv2.Rand) (*Prepared, error) {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	suite := o.Suite
	if suite == (ohttp.SymmetricSuite{}) {
		suite = ohttp.DefaultSuite
	}
	content := AppendBatch(make([]byte, 0, 64+150*o.Events), rng, o.Events)
	inner := bhttp.Request{
		Method: http.MethodPost, Scheme: "https", Authority: "veil", Path: "/v1/events",
		Header: []bhttp.Field{
			{Name: "content-type", Value: "application/json"},
			{Name: "date", Value: now().UTC().Format(http.TimeFormat)},
		},
		Content: content,
	}
	msg, err := inner.Marshal()
	if err != nil {
		return nil, err
	}
	enc, cctx, err := ohttp.EncapsulateRequest(rand.Reader, o.Key, suite, msg)
	if err != nil {
		return nil, err
	}
	events := o.Events
	return &Prepared{
		URL: o.URL, ContentType: ohttp.RequestMediaType, Body: enc, Events: events,
		Check: func(a *Answer) error {
			if a.Status != http.StatusOK {
				return statusKind("http_", a.Status, a.Header.Get("Retry-After"))
			}
			if a.Header.Get("Content-Type") != ohttp.ResponseMediaType {
				return kindf("outer_content_type")
			}
			plain, err := cctx.DecapsulateResponse(a.Body)
			if err != nil {
				return kindf("decapsulate")
			}
			resp, err := bhttp.UnmarshalResponse(plain)
			if err != nil {
				return kindf("inner_bhttp")
			}
			if resp.StatusCode != http.StatusOK {
				ra := ""
				for _, f := range resp.Header {
					if f.Name == "retry-after" {
						ra = f.Value
					}
				}
				return statusKind("inner_", resp.StatusCode, ra)
			}
			if o.CheckResults {
				return checkResults(resp.Content, events)
			}
			return nil
		},
	}, nil
}

// JSON sends POST /v1/events in the clear to the inner ingest API, to
// measure the pipeline without the cost of Oblivious HTTP.
type JSON struct {
	// URL is the ingest API's /v1/events.
	URL    string
	Events int
}

// Target implements Workload.
func (j *JSON) Target() string { return j.URL }

// Prepare implements Workload.
func (j *JSON) Prepare(rng *randv2.Rand) (*Prepared, error) {
	body := AppendBatch(make([]byte, 0, 64+150*j.Events), rng, j.Events)
	events := j.Events
	return &Prepared{
		URL: j.URL, ContentType: "application/json", Body: body, Events: events,
		Check: func(a *Answer) error {
			if a.Status != http.StatusOK {
				return statusKind("http_", a.Status, a.Header.Get("Retry-After"))
			}
			return checkResults(a.Body, events)
		},
	}, nil
}

// PickKey returns the first configuration for kem.
func PickKey(cfgs []*ohttp.KeyConfig, kem ohttp.KEMID) (*ohttp.KeyConfig, error) {
	for _, c := range cfgs {
		if c.KEM == kem {
			return c, nil
		}
	}
	return nil, errors.New("loadgen: the gateway publishes no key for KEM 0x" + strconv.FormatUint(uint64(kem), 16))
}
