package storage

import (
	"time"
)

// Group commit. A free worker takes the first queued request and then
// everything queued behind it, up to MaxGroupRows events, into one
// acknowledge transaction; while the workers commit, the queue grows into
// the next group. A group smaller than a fifth of MaxGroupRows waits for
// another worker's transaction to end before it starts, so that at low
// load one transaction at a time commits growing groups instead of many
// small ones each paying for a commit (docs/performance.md).

// work collects groups from the queue and commits them.
func (w *Writer) work() {
	defer w.wg.Done()
	for {
		first, ok := <-w.queue
		if !ok {
			return
		}
		group, open := w.collect(first)
		w.commitGroup(group)
		if !open {
			return
		}
	}
}

// collect gathers a group starting with first; open is false once the
// queue is closed.
func (w *Writer) collect(first *Batch) (group []*Batch, open bool) {
	group = []*Batch{first}
	rows := len(first.Records)
	// The linger bounds the group's wait from its first request, not from
	// each arrival: a steady trickle would otherwise hold a group until it
	// is full.
	var linger <-chan time.Time
	if w.cfg.Linger > 0 {
		t := time.NewTimer(w.cfg.Linger)
		defer t.Stop()
		linger = t.C
	}
	for rows < w.cfg.MaxGroupRows {
		// Take what is queued without waiting.
		select {
		case b, ok := <-w.queue:
			if !ok {
				return group, false
			}
			group, rows = append(group, b), rows+len(b.Records)
			continue
		default:
		}
		// The queue is empty: wait for the linger, or for another
		// worker's transaction when this group is small, or not at all.
		var txDone <-chan struct{}
		if rows < w.smallGroup() && w.active.Load() > 0 {
			txDone = w.txDone()
			if w.active.Load() == 0 {
				txDone = nil
			}
		}
		if linger == nil && txDone == nil {
			return group, true
		}
		select {
		case b, ok := <-w.queue:
			if !ok {
				return group, false
			}
			group, rows = append(group, b), rows+len(b.Records)
		case <-linger:
			return group, true
		case <-txDone:
			if linger == nil {
				return group, true
			}
		case <-w.ctx.Done():
			return group, true
		}
	}
	return group, true
}

// smallGroup is the size below which a group waits for another worker's
// transaction to end before it commits (see collect).
func (w *Writer) smallGroup() int { return max(1, w.cfg.MaxGroupRows/5) }

// txDone returns a channel closed when the next transaction ends.
func (w *Writer) txDone() <-chan struct{} {
	w.txMu.Lock()
	defer w.txMu.Unlock()
	return w.txDoneCh
}

// txStarted counts a transaction in flight and returns the function that
// ends it.
func (w *Writer) txStarted() func() {
	w.active.Add(1)
	return func() {
		w.active.Add(-1)
		w.txMu.Lock()
		close(w.txDoneCh)
		w.txDoneCh = make(chan struct{})
		w.txMu.Unlock()
	}
}
