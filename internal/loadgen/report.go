package loadgen

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// ProcessReport is what one process used during the load.
type ProcessReport struct {
	Name string `json:"name"`
	PID  int    `json:"pid"`
	// CPUSeconds is the CPU time spent during the load (user + system).
	CPUSeconds float64 `json:"cpu_seconds"`
	// CPUPerRequestMicros is CPUSeconds per successful request.
	CPUPerRequestMicros float64 `json:"cpu_per_request_us"`
	// PeakRSSBytes is the peak resident set since the process started.
	PeakRSSBytes int64 `json:"peak_rss_bytes"`
}

// Latency summarizes a Histogram in milliseconds.
type Latency struct {
	P50  float64 `json:"p50_ms"`
	P90  float64 `json:"p90_ms"`
	P99  float64 `json:"p99_ms"`
	Max  float64 `json:"max_ms"`
	Mean float64 `json:"mean_ms"`
}

// Report is the outcome of `veil bench`, as printed and as --json.
type Report struct {
	Mode             string           `json:"mode"`
	Suite            string           `json:"suite,omitempty"`
	Concurrency      int              `json:"concurrency"`
	TargetRate       float64          `json:"target_rate"`
	EventsPerRequest int              `json:"events_per_request"`
	ElapsedSeconds   float64          `json:"elapsed_seconds"`
	Requests         int64            `json:"requests"`
	Failed           int64            `json:"failed"`
	Events           int64            `json:"events"`
	RequestsPerSec   float64          `json:"requests_per_second"`
	EventsPerSec     float64          `json:"events_per_second"`
	Latency          Latency          `json:"latency"`
	Errors           map[string]int64 `json:"errors"`
	Processes        []ProcessReport  `json:"processes"`
	Notes            []string         `json:"notes,omitempty"`
}

// NewReport fills the measured part of a Report from s.
func NewReport(s *Stats) *Report {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return &Report{
		ElapsedSeconds: s.Elapsed.Seconds(),
		Requests:       s.OK,
		Failed:         s.Failed,
		Events:         s.Events,
		RequestsPerSec: s.RequestsPerSecond(),
		EventsPerSec:   s.EventsPerSecond(),
		Latency: Latency{
			P50: ms(s.Latency.Quantile(0.50)), P90: ms(s.Latency.Quantile(0.90)),
			P99: ms(s.Latency.Quantile(0.99)), Max: ms(s.Latency.Max()),
			Mean: ms(s.Latency.Mean()),
		},
		Errors: s.Errors,
	}
}

// AddProcess records a process's usage between before and after.
func (r *Report) AddProcess(name string, pid int, before, after Usage) {
	p := ProcessReport{Name: name, PID: pid, CPUSeconds: (after.CPU - before.CPU).Seconds(), PeakRSSBytes: after.PeakRSS}
	if r.Requests > 0 {
		p.CPUPerRequestMicros = p.CPUSeconds * 1e6 / float64(r.Requests)
	}
	r.Processes = append(r.Processes, p)
}

// WriteTable prints the report for a terminal.
func (r *Report) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	rate := "open"
	if r.TargetRate > 0 {
		rate = fmt.Sprintf("%.0f/s", r.TargetRate)
	}
	mode := r.Mode
	if r.Suite != "" {
		mode += " (" + r.Suite + ")"
	}
	fmt.Fprintf(tw, "mode\t%s\n", mode)
	fmt.Fprintf(tw, "load\tconcurrency %d, rate %s, %d events/request\n", r.Concurrency, rate, r.EventsPerRequest)
	fmt.Fprintf(tw, "elapsed\t%.2f s\n", r.ElapsedSeconds)
	fmt.Fprintf(tw, "requests\t%d ok, %d failed\n", r.Requests, r.Failed)
	fmt.Fprintf(tw, "requests/s\t%.0f\n", r.RequestsPerSec)
	fmt.Fprintf(tw, "events/s\t%.0f\n", r.EventsPerSec)
	fmt.Fprintf(tw, "latency\tp50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n",
		r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max)
	if len(r.Errors) == 0 {
		fmt.Fprintf(tw, "errors\tnone\n")
	} else {
		s := &Stats{Errors: r.Errors}
		var parts []string
		for _, k := range s.ErrorKinds() {
			parts = append(parts, fmt.Sprintf("%s %d", k, r.Errors[k]))
		}
		fmt.Fprintf(tw, "errors\t%s\n", strings.Join(parts, ", "))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "process\tpid\tCPU s\tCPU µs/request\tpeak RSS MiB\t\n")
	for _, p := range r.Processes {
		fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.1f\t%.1f\t\n", p.Name, p.PID, p.CPUSeconds, p.CPUPerRequestMicros, float64(p.PeakRSSBytes)/(1<<20))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
	return nil
}
