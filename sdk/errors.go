package sdk

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"
)

// Classes of delivery failure, for errors.Is on an error given to
// Config.OnError. The Client retries every one of them with backoff, since
// a relay that is down or misconfigured may be fixed while the app runs; a
// one-shot caller (such as `veil send`) may instead give up at once on
// ErrKeysRefused, ErrKeysUnauthenticated, ErrKeyConfig, ErrTLS and a
// repeated ErrRelayRefused, which retrying the same request cannot fix, and on ErrUnreachable when no
// answer has ever come.
var (
	// ErrUnreachable: no connection could be made: refused (nothing
	// listens at the URL's port), host unknown, or no route to it.
	ErrUnreachable = errors.New("veil: server unreachable")
	// ErrKeysRefused: the key URL answered a client error other than 408
	// and 429, most often 404 for a RelayURL or KeysURL with a wrong path.
	ErrKeysRefused = errors.New("veil: key URL refused the request")
	// ErrRelayRefused: the relay answered an encapsulated request with a
	// client error other than 408, 413, 429 and the RFC 9458 key problem
	// (for example 404 for a RelayURL with a wrong path). The Client
	// refetches the keys and resends at once, one time, in case the
	// gateway meant an unknown key; after that it backs off.
	ErrRelayRefused = errors.New("veil: relay refused the request")
	// ErrTLS: the server's certificate could not be verified (unknown
	// authority, expired, or issued for another host name).
	ErrTLS = errors.New("veil: TLS certificate verification failed")
	// ErrKeysUnauthenticated: with Config.KeyPin, the key document is not
	// signed by the pinned key: no signature by it (a relay serving keys
	// of its own, a rotated signing key, or an unsigned document), a
	// signature that does not verify (the document was altered on the
	// way), or a signed document that cannot be parsed. Nothing is
	// encrypted to such keys. The DeliveryError's Err says which, and
	// matches signedkeys.ErrNotSigned, signedkeys.ErrBadSignature or
	// signedkeys.ErrMalformed.
	ErrKeysUnauthenticated = errors.New("veil: gateway keys not authenticated by the key pin")
)

// The operations of a DeliveryError.
const (
	OpFetchKeys = "fetch keys" // GET of the key document (Config.KeysURL)
	OpSend      = "send"       // POST of an encapsulated batch (Config.RelayURL)
)

// DeliveryError describes one failed attempt to fetch the gateway's keys or
// to deliver a batch. Config.OnError receives one per failed attempt.
// errors.Is matches it against its class (ErrUnreachable, ErrKeysRefused,
// ErrKeysUnauthenticated, ErrRelayRefused, ErrTLS, ErrKeyConfig) and
// against its cause.
type DeliveryError struct {
	// Op is OpFetchKeys or OpSend.
	Op string
	// URL is the URL requested: the key URL or the relay URL.
	URL string
	// Status is the HTTP status of the answer: the relay's, or the
	// gateway's inside an encapsulated answer. It is 0 when no answer came.
	Status int
	// Attempt numbers the attempts for the batch, from 1 (a key fetch
	// made for a batch counts as its attempt).
	Attempt int
	// RetryIn is how long the Client waits before the batch's next
	// attempt. It is 0 when the next attempt follows at once (after
	// refetching the keys or correcting the clock) or when there is none:
	// the batch was split, dropped or given up, which OnResult reports.
	RetryIn time.Duration
	// Err is the cause: a transport error, or what was wrong with the
	// answer. It is nil when Status says it all.
	Err error

	class      error         // one of the class sentinels, or nil
	retryAfter time.Duration // the server's Retry-After
}

func (e *DeliveryError) Error() string {
	method := http.MethodPost
	if e.Op == OpFetchKeys {
		method = http.MethodGet
	}
	s := "veil: " + method + " " + e.URL + ": "
	switch {
	case e.Status != 0 && e.Err != nil:
		return s + fmt.Sprintf("HTTP %d %s: %v", e.Status, http.StatusText(e.Status), e.Err)
	case e.Status != 0:
		return s + fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	case e.Err != nil:
		return s + e.Err.Error()
	}
	return s + "failed"
}

// Unwrap returns the class and the cause, so that errors.Is and errors.As
// see both.
func (e *DeliveryError) Unwrap() []error {
	var errs []error
	if e.class != nil {
		errs = append(errs, e.class)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// transportError makes a DeliveryError of an error returned by
// http.Client.Do or while reading a body, classifying it.
func transportError(op, u string, err error) *DeliveryError {
	// The URL is in the DeliveryError already.
	if ue, ok := errors.AsType[*url.Error](err); ok {
		err = ue.Err
	}
	return &DeliveryError{Op: op, URL: u, Err: err, class: transportClass(err)}
}

// transportClass returns the class of a transport error, or nil when it
// may pass by itself (a timeout, a reset connection).
func transportClass(err error) error {
	if _, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return ErrTLS
	}
	if _, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return ErrTLS
	}
	if _, ok := errors.AsType[x509.HostnameError](err); ok {
		return ErrTLS
	}
	if _, ok := errors.AsType[x509.CertificateInvalidError](err); ok {
		return ErrTLS
	}
	if errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return ErrUnreachable
	}
	if de, ok := errors.AsType[*net.DNSError](err); ok && de.IsNotFound {
		return ErrUnreachable
	}
	return nil
}

// retryableStatus reports whether a client error status may pass by itself.
func retryableStatus(code int) bool {
	return code == http.StatusRequestTimeout || code == http.StatusTooManyRequests
}
