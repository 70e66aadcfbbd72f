package send

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/veil-telemetry/veil/sdk"
)

// progressThreshold is the input size from which a progress bar is shown
// (on a terminal only).
const progressThreshold = 1000

// result is one output line, in the field order of DESIGN.md. Line is set
// for events refused before sending (invalid_event, too_large).
type result struct {
	Index  int    `json:"index"`
	Line   int    `json:"line,omitempty"`
	Status string `json:"status"`
	Reason string `json:"reason,omitempty"`
	Field  string `json:"field,omitempty"`
}

// statusOrder is the order of statuses in summaries.
var statusOrder = []sdk.Status{sdk.StatusAccepted, sdk.StatusDuplicate, sdk.StatusRejected, sdk.StatusDropped, sdk.StatusQueued}

// resultPrinter writes result lines in input order as they arrive, and
// draws the progress bar.
type resultPrinter struct {
	progressTo *os.File

	mu       sync.Mutex
	w        *bufio.Writer
	enc      *json.Encoder
	ready    map[int]result
	next     int // next index to print
	total    int // events read so far
	failed   int // rejected or dropped
	queued   int // kept in --queue-dir for the next run
	byStatus map[string]int
	bar      *progressbar.ProgressBar
	lastOut  time.Time
	werr     error
}

func newResultPrinter(out io.Writer) *resultPrinter {
	w := bufio.NewWriter(out)
	return &resultPrinter{w: w, enc: json.NewEncoder(w), ready: map[int]result{}, byStatus: map[string]int{}}
}

// expect notes that n events have been read.
func (p *resultPrinter) expect(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total = n
	if p.bar == nil && p.progressTo != nil && n >= progressThreshold {
		p.bar = progressbar.NewOptions(-1,
			progressbar.OptionSetWriter(p.progressTo),
			progressbar.OptionSetDescription("sending"),
			progressbar.OptionShowCount(),
			progressbar.OptionShowIts(),
			progressbar.OptionSetItsString("events"),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionClearOnFinish(),
		)
		p.bar.Set(p.next)
	}
	if p.bar != nil {
		p.bar.ChangeMax(n)
	}
}

func (p *resultPrinter) set(r result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.byStatus[r.Status]++
	switch r.Status {
	case string(sdk.StatusAccepted), string(sdk.StatusDuplicate):
	case string(sdk.StatusQueued):
		p.queued++
	default:
		p.failed++
	}
	p.ready[r.Index] = r
	printed := 0
	for {
		res, ok := p.ready[p.next]
		if !ok {
			break
		}
		delete(p.ready, p.next)
		if err := p.enc.Encode(res); err != nil && p.werr == nil {
			p.werr = err
		}
		p.next++
		printed++
	}
	if p.bar != nil && printed > 0 {
		p.bar.Add(printed)
	}
	// Let results show up while a long input is still being sent.
	if now := time.Now(); printed > 0 && now.Sub(p.lastOut) > 200*time.Millisecond {
		p.lastOut = now
		if err := p.w.Flush(); err != nil && p.werr == nil {
			p.werr = err
		}
	}
}

// finish prints what is left, reporting any event that got no result
// (which Close should rule out) as dropped.
func (p *resultPrinter) finish() {
	p.mu.Lock()
	missing := []int{}
	for i := p.next; i < p.total; i++ {
		if _, ok := p.ready[i]; !ok {
			missing = append(missing, i)
		}
	}
	p.mu.Unlock()
	for _, i := range missing {
		p.set(result{Index: i, Status: string(sdk.StatusDropped), Reason: sdk.ReasonClosed})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		p.bar.Finish()
	}
	if err := p.w.Flush(); err != nil && p.werr == nil {
		p.werr = err
	}
}

func (p *resultPrinter) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.werr
}

// counts returns "N events: A accepted, R rejected, …" for this run's
// events, naming only the statuses that occurred.
func (p *resultPrinter) counts() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var parts []string
	n := 0
	for _, s := range statusOrder {
		if c := p.byStatus[string(s)]; c > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", c, s))
			n += c
		}
	}
	return fmt.Sprintf("%d %s: %s", n, plural(n, "event"), strings.Join(parts, ", "))
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

// restoredCounts tallies the results of events an earlier run left in the
// queue directory.
type restoredCounts struct {
	mu                                             sync.Mutex
	accepted, duplicate, rejected, dropped, queued int
}

func (r *restoredCounts) add(res sdk.Result) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch res.Status {
	case sdk.StatusAccepted:
		r.accepted++
	case sdk.StatusDuplicate:
		r.duplicate++
	case sdk.StatusRejected:
		r.rejected++
	case sdk.StatusQueued:
		r.queued++
	default:
		r.dropped++
	}
}

func (r *restoredCounts) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.accepted + r.duplicate + r.rejected + r.dropped + r.queued
}

func (r *restoredCounts) queuedCount() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.queued
}

func (r *restoredCounts) failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rejected + r.dropped
}

func (r *restoredCounts) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := fmt.Sprintf("%d events from an earlier run in --queue-dir: %d accepted, %d duplicate, %d rejected, %d dropped",
		r.accepted+r.duplicate+r.rejected+r.dropped+r.queued, r.accepted, r.duplicate, r.rejected, r.dropped)
	if r.queued > 0 {
		s += fmt.Sprintf(", %d still queued", r.queued)
	}
	return s
}
