package admin

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// Limits of the admin listener's gRPC transport.
const (
	// maxGRPCMessage bounds one decoded gRPC request. The largest request
	// of the admin API is a schema registration: REST takes its JSON text
	// up to maxRequestBody (1 MiB), as written in a file, indentation and
	// all, while gRPC carries it compactly as a google.protobuf.Struct. A
	// schema that lints has at most 64 properties with names of at most
	// 64 bytes and strings of at most 128, so a real document is a few
	// KiB; a quarter of the REST limit leaves room for long enums and
	// descriptions while one call can no longer make the server hold
	// a megabyte.
	maxGRPCMessage = maxRequestBody / 4
	// maxStreamsPerConn bounds the concurrent calls of one connection,
	// both in the HTTP/2 settings of the listener and in the gRPC server.
	// The admin API has a handful of operators and veil admin runs calls
	// one at a time.
	maxStreamsPerConn = 16
	// maxStreamBuffer is how much request body HTTP/2 buffers for a
	// stream its handler has not read yet (the stream's flow-control
	// window): what an unauthenticated caller can make the server hold
	// before the handler refuses it.
	maxStreamBuffer = 64 << 10
)

// HTTP2Config is the HTTP/2 configuration of the admin listener's
// http.Server: at most maxStreamsPerConn concurrent streams per connection
// and a small per-stream receive window, so a connection's unread request
// bodies stay bounded (net/http's defaults are 250 streams and 1 MiB).
func (s *Server) HTTP2Config() *http.HTTP2Config {
	return &http.HTTP2Config{
		MaxConcurrentStreams:      maxStreamsPerConn,
		MaxReceiveBufferPerStream: maxStreamBuffer,
	}
}

// isGRPC reports whether r is a gRPC call (HTTP/2, content-type
// application/grpc or application/grpc+codec).
func isGRPC(r *http.Request) bool {
	return r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc")
}

// unauthenticatedGRPCHeaders is the trailers-only gRPC answer to a call
// without a valid token (gRPC over HTTP/2, "Responses": a HEADERS frame
// with END_STREAM holding the status): the same status, message and
// details the auth interceptors return, so clients see no difference.
var unauthenticatedGRPCHeaders = func() http.Header {
	st := status.Convert(grpcUnauthenticated)
	details, err := proto.Marshal(st.Proto())
	if err != nil {
		panic("admin: encoding the unauthenticated status: " + err.Error())
	}
	return http.Header{
		"Content-Type":            {"application/grpc"},
		"Grpc-Status":             {strconv.Itoa(int(st.Code()))},
		"Grpc-Message":            {grpcPercentEncode(st.Message())},
		"Grpc-Status-Details-Bin": {base64.RawStdEncoding.EncodeToString(details)},
	}
}()

// refuseGRPC answers an unauthenticated gRPC call before anything reads its
// request body: the message is never received, decoded or allocated.
func refuseGRPC(w http.ResponseWriter) {
	h := w.Header()
	for k, v := range unauthenticatedGRPCHeaders {
		h[k] = v
	}
	w.WriteHeader(http.StatusOK)
}

// grpcPercentEncode encodes a grpc-message value: bytes outside printable
// ASCII, and '%', as %XX (gRPC over HTTP/2, "Responses").
func grpcPercentEncode(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c > 0x7e || c == '%' {
			b.WriteString("%" + strings.ToUpper(strconv.FormatInt(int64(c)|0x100, 16)[1:]))
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}
