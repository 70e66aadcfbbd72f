package bhttp

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// connectionFields are connection-specific fields (RFC 9110 §7.6.1,
// RFC 9113 §8.2.2). They describe one hop and are dropped when a net/http
// message is converted to Binary HTTP. Host is dropped too: the authority
// carries it.
var connectionFields = map[string]bool{
	"Connection":        true,
	"Keep-Alive":        true,
	"Proxy-Connection":  true,
	"Transfer-Encoding": true,
	"Upgrade":           true,
	"Host":              true,
}

// HTTPRequest converts r into an incoming server request, as a handler would
// receive it: URL from scheme, authority and path (keeping the query),
// RequestURI set to the path, Host from the authority or else the first host
// field, fields in Header and Trailer in their order, and a Body that reads
// Content. It is meant for dispatching to an http.Handler in process; it is
// not suitable for http.Client.Do, which refuses a RequestURI.
//
// Warning: the result says nothing about the client that sent r;
// RemoteAddr is empty and TLS is nil.
func (r *Request) HTTPRequest(ctx context.Context) (*http.Request, error) {
	if ctx == nil {
		return nil, errors.New("bhttp: nil context")
	}
	if !validControl(r.Method, r.Scheme, r.Authority, r.Path) {
		return nil, encodeError(secControl, ErrInvalidControlData)
	}
	u := new(url.URL)
	if r.Path != "" {
		var err error
		if u, err = url.ParseRequestURI(r.Path); err != nil {
			return nil, encodeError(secControl, ErrInvalidControlData)
		}
	}
	u.Scheme = r.Scheme
	u.Host = r.Authority
	req, err := http.NewRequestWithContext(ctx, r.Method, "", nil)
	if err != nil {
		return nil, encodeError(secControl, ErrInvalidControlData)
	}
	req.URL = u
	req.RequestURI = r.Path
	req.Proto, req.ProtoMajor, req.ProtoMinor = "HTTP/1.1", 1, 1
	req.Host = r.Authority
	req.Header = make(http.Header, len(r.Header))
	for _, f := range r.Header {
		k := textproto.CanonicalMIMEHeaderKey(f.Name)
		if k == "Host" {
			if req.Host == "" {
				req.Host = f.Value
			}
			continue // net/http keeps Host out of Header
		}
		req.Header[k] = append(req.Header[k], f.Value)
	}
	if len(r.Trailer) > 0 {
		req.Trailer = headerFromFields(r.Trailer)
	}
	req.ContentLength = int64(len(r.Content))
	req.Body = http.NoBody
	if len(r.Content) > 0 {
		req.Body = io.NopCloser(bytes.NewReader(r.Content))
	}
	return req, nil
}

// RequestFromHTTP converts a request, reading at most maxBody bytes of its
// body (MaxContentBytes if maxBody <= 0 or larger); a longer body is
// ErrTooLarge. It does not close the body. The scheme is the URL's, or
// "https" with TLS and "http" without; the authority is the URL's host or
// else r.Host; the path is the URL's path and query. Connection-specific
// fields and Host are dropped; header names are kept in http.Header's
// canonical case, sorted, each with its values in order. Trailers are read
// after the body.
func RequestFromHTTP(r *http.Request, maxBody int64) (*Request, error) {
	req := &Request{
		Method:    r.Method,
		Scheme:    r.URL.Scheme,
		Authority: r.URL.Host,
		Path:      r.URL.RequestURI(),
	}
	if req.Method == "" {
		req.Method = http.MethodGet
	}
	if req.Scheme == "" {
		req.Scheme = "http"
		if r.TLS != nil {
			req.Scheme = "https"
		}
	}
	if req.Authority == "" {
		req.Authority = r.Host
	}
	if r.Method == http.MethodConnect && r.URL.Path == "" {
		req.Scheme, req.Path = "", ""
	}
	if !validControl(req.Method, req.Scheme, req.Authority, req.Path) {
		return nil, encodeError(secControl, ErrInvalidControlData)
	}
	var err error
	if req.Header, err = fieldsFromHeader(r.Header, false); err != nil {
		return nil, err
	}
	if r.Body != nil {
		if req.Content, err = readBody(r.Body, maxBody); err != nil {
			return nil, err
		}
	}
	if req.Trailer, err = fieldsFromHeader(r.Trailer, false); err != nil {
		return nil, err
	}
	return req, nil
}

// HTTPResponse converts r into a client-side response with a Body that
// reads Content. Informational responses are dropped: http.Response has no
// place for them.
func (r *Response) HTTPResponse() *http.Response {
	resp := &http.Response{
		Status:        strconv.Itoa(r.StatusCode) + " " + http.StatusText(r.StatusCode),
		StatusCode:    r.StatusCode,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        headerFromFields(r.Header),
		ContentLength: int64(len(r.Content)),
		Body:          http.NoBody,
	}
	if len(r.Content) > 0 {
		resp.Body = io.NopCloser(bytes.NewReader(r.Content))
	}
	if len(r.Trailer) > 0 {
		resp.Trailer = headerFromFields(r.Trailer)
	}
	return resp
}

// ResponseFromHTTP converts a response, reading at most maxBody bytes of its
// body (MaxContentBytes if maxBody <= 0 or larger); a longer body is
// ErrTooLarge. It does not close the body. Fields are kept as
// RequestFromHTTP keeps them; trailers are read after the body.
func ResponseFromHTTP(r *http.Response, maxBody int64) (*Response, error) {
	if !isFinal(r.StatusCode) {
		return nil, encodeError(secControl, ErrInvalidStatus)
	}
	resp := &Response{StatusCode: r.StatusCode}
	var err error
	if resp.Header, err = fieldsFromHeader(r.Header, false); err != nil {
		return nil, err
	}
	if r.Body != nil {
		if resp.Content, err = readBody(r.Body, maxBody); err != nil {
			return nil, err
		}
	}
	if resp.Trailer, err = fieldsFromHeader(r.Trailer, false); err != nil {
		return nil, err
	}
	return resp, nil
}

func readBody(body io.Reader, maxBody int64) ([]byte, error) {
	if maxBody <= 0 || maxBody > MaxContentBytes {
		maxBody = MaxContentBytes
	}
	b, err := io.ReadAll(io.LimitReader(body, maxBody+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > maxBody {
		return nil, encodeError(secContent, ErrTooLarge)
	}
	if len(b) == 0 {
		return nil, nil
	}
	return b, nil
}

// fieldsFromHeader lists h's fields sorted by name, dropping
// connection-specific ones and, when trailerPrefix is set, keys carrying
// http.TrailerPrefix. Values are trimmed of surrounding spaces and tabs,
// which RFC 9110 §5.5 excludes from a field value anyway.
func fieldsFromHeader(h http.Header, trailerPrefix bool) ([]Field, error) {
	if len(h) == 0 {
		return nil, nil
	}
	keys := make([]string, 0, len(h))
	n := 0
	for k, vs := range h {
		if connectionFields[k] || trailerPrefix && strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		keys = append(keys, k)
		n += len(vs)
	}
	if n == 0 {
		return nil, nil
	}
	slices.Sort(keys)
	fs := make([]Field, 0, n)
	for _, k := range keys {
		if !validName(k) {
			return nil, encodeError(secHeader, ErrInvalidField)
		}
		for _, v := range h[k] {
			v = strings.Trim(v, " \t")
			if !validValue(v) {
				return nil, encodeError(secHeader, ErrInvalidField)
			}
			fs = append(fs, Field{Name: k, Value: v})
		}
	}
	return fs, nil
}

func headerFromFields(fs []Field) http.Header {
	h := make(http.Header, len(fs))
	for _, f := range fs {
		k := textproto.CanonicalMIMEHeaderKey(f.Name)
		h[k] = append(h[k], f.Value)
	}
	return h
}
