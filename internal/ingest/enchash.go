package ingest

import "context"

type encHashKey struct{}

// WithEncHash returns a context carrying sha256 of the OHTTP request's enc
// (RFC 9458 §4.3). The gateway sets it before dispatching the inner request;
// SubmitEvents stores it with the batch for the replay window, so the same
// encapsulated bytes replayed by a relay are answered duplicate.
func WithEncHash(ctx context.Context, encHash [32]byte) context.Context {
	return context.WithValue(ctx, encHashKey{}, encHash)
}

// encHashFrom returns the enc hash in ctx, or nil for a request that did not
// come through OHTTP.
func encHashFrom(ctx context.Context) []byte {
	h, ok := ctx.Value(encHashKey{}).([32]byte)
	if !ok {
		return nil
	}
	return h[:]
}
