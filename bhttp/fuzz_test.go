package bhttp

import (
	"errors"
	"testing"
)

var sentinels = []error{
	ErrTruncated, ErrTooLarge, ErrInvalidFraming, ErrInvalidControlData,
	ErrInvalidStatus, ErrInvalidField, ErrInvalidPadding,
}

// checkRejected requires a decode error to be a *DecodeError wrapping one of
// the sentinels.
func checkRejected(t *testing.T, err error) {
	t.Helper()
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %v (%T) is not a *DecodeError", err, err)
	}
	for _, s := range sentinels {
		if errors.Is(err, s) {
			return
		}
	}
	t.Fatalf("error %v wraps no sentinel", err)
}

func seed(f *testing.F) {
	for name, b := range vectors(f) {
		f.Add(b)
		// Every prefix of a vector, to reach the truncation paths.
		if len(b) < 64 || name == "rfc9292-request-known" {
			for i := range b {
				f.Add(b[:i])
			}
		}
	}
}

func FuzzUnmarshalRequest(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalRequest(b)
		if err != nil {
			checkRejected(t, err)
			return
		}
		// Accepted input re-encodes, in every form, to an equal request.
		for _, o := range []MarshalOptions{{}, {Indeterminate: true, Truncate: true, Padding: 3}} {
			enc, err := o.MarshalRequest(r)
			if err != nil {
				t.Fatalf("%+v: re-encoding an accepted request: %v", o, err)
			}
			again, err := UnmarshalRequest(enc)
			if err != nil {
				t.Fatalf("%+v: decoding the re-encoding: %v", o, err)
			}
			if !requestsEqual(r, again) {
				t.Fatalf("%+v: round trip changed the request:\n%+v\n%+v", o, r, again)
			}
		}
	})
}

func FuzzUnmarshalResponse(f *testing.F) {
	seed(f)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := UnmarshalResponse(b)
		if err != nil {
			checkRejected(t, err)
			return
		}
		for _, o := range []MarshalOptions{{}, {Indeterminate: true, Truncate: true, Padding: 3}} {
			enc, err := o.MarshalResponse(r)
			if err != nil {
				t.Fatalf("%+v: re-encoding an accepted response: %v", o, err)
			}
			again, err := UnmarshalResponse(enc)
			if err != nil {
				t.Fatalf("%+v: decoding the re-encoding: %v", o, err)
			}
			if !responsesEqual(r, again) {
				t.Fatalf("%+v: round trip changed the response:\n%+v\n%+v", o, r, again)
			}
		}
	})
}
