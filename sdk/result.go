package sdk

import "sync/atomic"

// Status is the final outcome of one event.
type Status string

const (
	// StatusAccepted: the gateway stored the event.
	StatusAccepted Status = "accepted"
	// StatusDuplicate: an earlier attempt of the same batch was stored, so
	// this one added nothing. The event counts as delivered.
	StatusDuplicate Status = "duplicate"
	// StatusRejected: the gateway refused the event (it failed its schema
	// or looked identifying); Reason and Field say why. It is not retried.
	StatusRejected Status = "rejected"
	// StatusDropped: the Client gave up on the event; Reason says why.
	StatusDropped Status = "dropped"
	// StatusQueued: Close returned before the event was answered and it is
	// kept in Config.QueueDir. It is not delivered yet, but not lost: the
	// next Client on the directory sends it with the same batch_id (and
	// reports it there with Seq 0). It is the last result this Client gives
	// for the event.
	StatusQueued Status = "queued"
)

// Reasons the Client gives for dropped events. Rejected events carry the
// gateway's own reason codes (for example "identifier_email").
const (
	// ReasonQueueFull: the in-memory queue (MaxQueueEvents,
	// MaxMemoryBytes) or the queue directory (MaxQueueBytes) was full; the
	// newest event or batch was dropped.
	ReasonQueueFull = "queue_full"
	// ReasonExpired: the batch waited longer than MaxAge.
	ReasonExpired = "expired"
	// ReasonRetriesExhausted: MaxAttempts requests all failed.
	ReasonRetriesExhausted = "retries_exhausted"
	// ReasonClosed: Close returned before the batch was answered and there
	// was no queue directory to keep it. It may or may not have been stored.
	ReasonClosed = "closed"
	// ReasonClockSkew: the gateway refused the request's Date even after the
	// Client corrected its clock from the gateway's answer.
	ReasonClockSkew = "clock_skew"
	// ReasonTooLarge: the gateway refused a batch of this single event as
	// too large (inside its encrypted answer: only such a 413 splits a
	// batch).
	ReasonTooLarge = "too_large"
	// ReasonRelayTooLarge: the relay (or the gateway, before decrypting)
	// answered 413 to the encrypted request. The batch is dropped rather
	// than split, since the relay could have forwarded it anyway and
	// resending its events under new batch_ids would store them again; so
	// it may or may not have been stored. A Config.MaxBatchBytes above
	// what the relay accepts causes it.
	ReasonRelayTooLarge = "relay_too_large"
	// ReasonRefused: the gateway refused the whole request with a client
	// error other than the ones the Client handles (413, 429, the Date
	// problem); retrying it unchanged would not help.
	ReasonRefused = "refused"
	// ReasonNoResult: the gateway answered the batch but gave no result for
	// this event.
	ReasonNoResult = "no_result"
	// ReasonCorrupt: the queue file holding the event was damaged on disk
	// (it could be read but not decrypted or decoded; a queue key other than
	// the one it was sealed under does the same) and was removed. Such a
	// result carries the Seq but no Schema or Version.
	ReasonCorrupt = "queue_file_corrupt"
)

// Result is the outcome of one recorded event, as given to Config.OnResult:
// final, or StatusQueued for an event Close left in the queue directory.
type Result struct {
	// Seq numbers the events of this Client in the order Record took them,
	// from 1: every Record call that returned nil or ErrQueueFull got the
	// next number (calls refused for other reasons get none). It is 0 for
	// events an earlier process left in the queue directory. It exists only
	// in memory and is never sent.
	Seq uint64
	// Schema and Version are those given to Record.
	Schema  string
	Version int
	Status  Status
	// Reason is the gateway's reason code for a rejected event, or one of
	// the Reason constants for a dropped one.
	Reason string
	// Field names the offending field of a rejected event, when known.
	// The value itself is never reported back.
	Field string
}

// Delivered reports whether the gateway has stored the event.
func (r Result) Delivered() bool {
	return r.Status == StatusAccepted || r.Status == StatusDuplicate
}

// Stats are a Client's counters since New.
type Stats struct {
	Recorded   uint64 // events accepted by Record
	Accepted   uint64
	Duplicate  uint64 // delivered by an earlier attempt
	Rejected   uint64
	Dropped    uint64 // including Record's ReasonQueueFull drops
	Requests   uint64 // requests sent to the relay
	Retries    uint64 // requests that repeated an earlier one for the same batch
	KeyFetches uint64
	Kept       uint64 // left in the queue directory by Close (StatusQueued)
	Queued     uint64 // events recorded and not yet answered (in memory or in the queue directory, as far as this Client knows)
}

type counters struct {
	recorded, accepted, duplicate, rejected, dropped atomic.Uint64
	requests, retries, keyFetches, kept              atomic.Uint64
}

func (c *counters) count(s Status) {
	switch s {
	case StatusAccepted:
		c.accepted.Add(1)
	case StatusDuplicate:
		c.duplicate.Add(1)
	case StatusRejected:
		c.rejected.Add(1)
	case StatusQueued:
		c.kept.Add(1)
	default:
		c.dropped.Add(1)
	}
}
