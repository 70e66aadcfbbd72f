// Package ingest is the pipeline behind veil's inner API, POST /v1/events:
// it serves veilv1.IngestService and turns a batch of events into stored,
// identifier-free records.
//
// For each request it checks the batch (its batch_id must be the base64url
// form of exactly 16 random bytes; at most Config.MaxEvents events), then
// for each event, in order: looks the schema up in the registry, validates
// the fields against it and runs the identifier detectors over every string
// (schema.Schema.CheckSplit), coarsens the server's receive time — clients send
// no timestamps — to the schema's granularity (hour or day, UTC), and splits
// the fields into dimensions and measures. The accepted records, the
// outcome counts (accepted, and rejected per reason code) and the batch's
// dedup keys (the decoded batch_id, and sha256 of the OHTTP enc that the
// gateway put in the context with WithEncHash) go to the storage writer as
// one storage.Batch, and the answer — one EventResult per event, in order —
// is sent only once that batch has committed. A batch the writer has seen
// before answers "duplicate" for each event that would have been accepted.
//
// # Privacy
//
// A rejected value never leaves this package except inside the answer to
// the client that sent it: not in a log line (the one line per request
// holds counts, a status and a duration), not in a metric label (labels are
// outcomes and reason codes from a closed set), not in an error message and
// not in storage (rejected events contribute only a count per reason). The
// batch_id is not logged either: it links the retries of one batch. The
// outcome counts of events naming an unregistered schema are stored under
// the empty schema name and version 0, since the name a client sent may
// itself be a value.
//
// # Errors for the transport
//
// Per-event problems are answers, not errors. Whole-request errors are
// *problem.Error values of one kind each, sent over gRPC as statuses
// (grpcproblem) carrying a google.rpc.ErrorInfo (domain ErrorDomain) whose
// reason says what happened; the kind decides the gRPC code and the HTTP
// status:
//
//	ErrorInfo reason     kind          gRPC code          HTTP
//	batch_invalid        invalid       InvalidArgument    400
//	batch_too_large      too_large     InvalidArgument    413
//	overloaded           overloaded    Unavailable        503 + Retry-After
//	unavailable          unavailable   Unavailable        503 + Retry-After
//	internal             internal      Internal           500 (the writer refused a record: a bug)
//	(none)               canceled      Canceled           499: the caller gave up
//	(none)               timeout       DeadlineExceeded   504: the caller's deadline ran out
//
// ErrorReason and HTTPStatus read an error, also one that crossed a gRPC
// connection. For the two 503s the handler also sets the gRPC header
// "retry-after" (whole seconds; grpc.SetHeader reaches grpc-gateway's
// ServerMetadata too) and adds a google.rpc.RetryInfo detail with the same
// delay. On the inner mux (MuxOptions) every error is an RFC 9457 problem
// (application/problem+json) whose type names the kind; a 4xx detail
// begins with the reason code. A canceled or timed-out request may still
// commit after the handler returned; its retry then answers "duplicate",
// so each batch is applied at most once and acknowledged only after its
// commit.
//
// # JSON
//
// Handler is the inner API as the gateway calls it: POST /v1/events, its
// JSON decoded once, by hand (wire.go), straight into the compiled
// checker's input (schema.Field, sharing the body's memory), and its
// answer written with proto field names, as DESIGN.md shows them. There
// is no other JSON path; gRPC callers of SubmitEvents send protobuf, whose
// Struct values are read into the same shape:
//
//	{"results":[{"index":0,"status":"accepted"},
//	            {"index":1,"status":"rejected","reason":"identifier_email","field":"note"}]}
package ingest
