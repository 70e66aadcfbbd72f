// Package sdk is the Go client of veil, a telemetry service that cannot
// tell who sent an event. It batches events, encrypts each batch to the
// gateway's public key with Oblivious HTTP (RFC 9458) and sends it through a
// relay run by someone else: the relay sees who sends but not what, the
// gateway sees what but not who.
//
// The import path is github.com/veil-telemetry/veil/sdk; the package name is
// sdk, so calls read sdk.New, sdk.Config.
//
// # Use
//
// Create one Client per process with New, call Record for each event and
// Close before exiting:
//
//	c, err := sdk.New(sdk.Config{
//		RelayURL: "https://relay.example/gateway",
//		KeyPin:   "veil-pin-ed25519:…", // from `veil admin keys pin`, shipped in the app
//	})
//	...
//	c.Record(ctx, "app.launch", 1, map[string]any{"os": "ios", "cold_start_ms": 420})
//	...
//	c.Close(ctx)
//
// Record never waits for the network. A background goroutine groups events
// into batches (Config.MaxBatchEvents, Config.MaxBatchBytes,
// Config.FlushInterval) and delivers them; Config.OnResult and
// Client.Stats report what became of every event.
//
// # Trusting the keys
//
// The gateway's keys are fetched through the relay, so that every client
// sees the same key document and the gateway cannot single one out with a
// key of its own (RFC 9458 §7). The relay could then serve keys of its
// own and read everything; Config.KeyPin stops it. The collector signs its
// key document with a long-term Ed25519 key, and the app ships that key's
// pin, printed by `veil admin keys pin`. The Client fetches the signed
// document (/ohttp-keys-signed on the relay's origin) and encrypts to its
// keys only when a signature by the pinned key verifies over its exact
// bytes; otherwise nothing is sent and OnError gets
// ErrKeysUnauthenticated. New refuses to start without a pin unless the
// relay is on loopback or Config.InsecureNoKeyPin says so, and refuses
// http:// URLs off loopback unless Config.InsecureHTTP says so. A key
// document offering more than two configurations of one KEM is refused
// (ErrKeyConfig): the gateway publishes a current and a previous key, and
// more could tell clients apart.
//
// # What is sent
//
// Each batch is one ingest request, POST /v1/events with
// {"batch_id":"…","events":[…]}, encoded as Binary HTTP (RFC 9292), gzipped
// when that makes it smaller, padded with zeros to a size bucket (1, 4, 16
// or 64 KiB, then multiples of 64 KiB) and encapsulated to a key fetched
// through the relay (X25519, or X-Wing with Config.PostQuantum). The
// batch_id is 128 random bits, fresh for every batch. Nothing in a request
// or in the queue directory identifies the sender or links two batches.
//
// # Delivery
//
// An event handed to Record ends accepted, duplicate, rejected or dropped,
// and each of those is reported: never silently lost. With a QueueDir, an
// event still unanswered when Close gives up is reported queued instead: it
// stays on disk for the next Client.
//
//   - Every attempt for a batch keeps its batch_id but is encapsulated afresh
//     with the current Date, so the gateway stores it at most once however
//     often it is sent; an answer of "duplicate" means an earlier attempt
//     was stored, and counts as delivered.
//   - Network errors, 429, 502, 503 and 504 are retried with exponential
//     backoff and full jitter, never sooner than a Retry-After asks, up to
//     Config.MaxRetryWait (a relay can send any Retry-After).
//   - When the gateway refuses the key (the RFC 9458 key problem, or any
//     other unencapsulated client error), the keys are fetched again and
//     the batch resent at once, one time.
//   - When the gateway refuses the request's Date, the Client resends the
//     batch once with its Date corrected by the gateway's, by at most
//     5 minutes (the gateway's replay window) and for that batch only, so
//     that no value the gateway picks follows the Client's later requests.
//     Dates are whole seconds.
//   - A batch the gateway refuses as too large (413 inside its encrypted
//     answer) is split in two, each half with a new batch_id. A 413 from
//     the relay, outside the encryption, drops the batch with
//     ReasonRelayTooLarge instead: the relay may have forwarded it anyway,
//     and the halves would then be stored a second time.
//   - Events the gateway rejects (invalid, or looking identifying) are not
//     retried; their reason code and field reach OnResult.
//
// # When nothing gets through
//
// Config.OnError is told of every failed attempt, with a *DeliveryError
// naming the URL, the HTTP status (if any answer came) and the wait before
// the next attempt. Its class says whether waiting can help:
//
//	c, err := sdk.New(sdk.Config{
//		RelayURL: relay,
//		OnError: func(err error) {
//			switch {
//			case errors.Is(err, sdk.ErrKeysUnauthenticated):
//				// the keys are not signed by KeyPin: a relay substituting keys,
//				// or a signing key rotated past the pin the app ships
//			case errors.Is(err, sdk.ErrKeysRefused), errors.Is(err, sdk.ErrKeyConfig), errors.Is(err, sdk.ErrTLS):
//				// misconfigured: a wrong RelayURL or KeysURL, or a certificate
//			case errors.Is(err, sdk.ErrUnreachable):
//				// nothing listens there, or no route: the relay may be down
//			default:
//				// a timeout, 429 or 5xx: retried with backoff
//			}
//		},
//	})
//
// Whatever the class, the Client keeps its events queued (and, with a
// QueueDir, on disk) and keeps retrying until MaxAttempts or MaxAge, since
// an app's relay may come back; only the app can decide to give up.
//
// Memory is bounded by Config.MaxQueueEvents and Config.MaxMemoryBytes: when
// either is reached the newest event is dropped and reported. With
// Config.QueueDir each batch is written to disk before its first attempt, so
// batches survive a crash or restart and are sent by the next Client with
// the same batch_id.
//
// # Files at rest
//
// The queue directory must be private to the user: New refuses a symbolic
// link, and on Unix systems a directory another user owns or that group or
// others may write to (ErrQueueDirUnsafe); temporary files are created
// exclusively, never through a link. Each queue file is encrypted with
// AES-256-GCM under a per-installation key — by default a random key in the
// directory's queue.key (mode 0600, removed by Close once no batch is left),
// or one from the app's keystore through Config.QueueKey — and keeps the
// batch's creation time to the minute only. Files written by earlier
// versions (plain JSON) are sealed in place when loaded, before they are
// sent. A file larger than a batch can make is skipped unread.
package sdk
