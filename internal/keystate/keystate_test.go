package keystate

import (
	"errors"
	"testing"
	"time"
)

var t0 = time.Unix(1_700_000_000, 0)

func TestParse(t *testing.T) {
	for _, s := range []State{Current, Active, Draining, Retired} {
		if got, err := Parse(string(s)); err != nil || got != s {
			t.Errorf("Parse(%q) = %q, %v", s, got, err)
		}
	}
	for _, s := range []string{"", "Current", "expired"} {
		if _, err := Parse(s); err == nil {
			t.Errorf("Parse(%q) accepted", s)
		}
	}
}

func TestPublishedAndDecrypts(t *testing.T) {
	for _, tc := range []struct {
		s                   State
		published, decrypts bool
	}{
		{Current, true, true},
		{Active, true, true},
		{Draining, false, true},
		{Retired, false, false},
		{"bogus", false, false},
	} {
		if tc.s.Published() != tc.published || tc.s.Decrypts() != tc.decrypts {
			t.Errorf("%s: published %v decrypts %v", tc.s, tc.s.Published(), tc.s.Decrypts())
		}
	}
}

// TestScheduleWalksTheStates follows one key from current to retired on
// the schedule alone.
func TestScheduleWalksTheStates(t *testing.T) {
	grace := 7 * 24 * time.Hour
	cur := Life{State: Current}
	if cur.At(t0.Add(1000*time.Hour)) != Current {
		t.Fatal("a current key moved on by time alone; only a rotation moves it")
	}
	l, err := cur.Rotate(t0, grace)
	if err != nil {
		t.Fatal(err)
	}
	if l.State != Active || !l.DrainAfter.Equal(t0.Add(grace)) || !l.RetireAfter.Equal(t0.Add(grace+Drain)) {
		t.Fatalf("rotated: %+v", l)
	}
	for _, tc := range []struct {
		at   time.Duration
		want State
	}{
		{0, Active},
		{grace - time.Nanosecond, Active},
		{grace, Draining},
		{grace + Drain - time.Nanosecond, Draining},
		{grace + Drain, Retired},
		{grace + 100*Drain, Retired},
	} {
		if got := l.At(t0.Add(tc.at)); got != tc.want {
			t.Errorf("at +%v: %s, want %s", tc.at, got, tc.want)
		}
	}
	// Recording the move (storage's retention) changes nothing about
	// what comes next.
	d := l
	d.State = l.At(t0.Add(grace))
	if d.State != Draining || d.At(t0.Add(grace+Drain)) != Retired || d.At(t0.Add(grace)) != Draining {
		t.Errorf("recorded: %+v", d)
	}
	if _, err := l.Rotate(t0, grace); !errors.Is(err, ErrNotCurrent) {
		t.Errorf("rotating an active key: %v", err)
	}
	if _, err := cur.Rotate(t0, -time.Second); err == nil {
		t.Error("negative grace accepted")
	}
	// No grace: the old key drains at once.
	if z, _ := cur.Rotate(t0, 0); z.At(t0) != Draining {
		t.Errorf("zero grace: %s", z.At(t0))
	}
}

func TestAtUnscheduledAndUnknown(t *testing.T) {
	for _, tc := range []struct {
		name string
		l    Life
		want State
	}{
		{"active without an end", Life{State: Active}, Active},
		{"active past its retirement, never drained", Life{State: Active, RetireAfter: t0}, Retired},
		{"draining without an end", Life{State: Draining}, Retired},
		{"draining", Life{State: Draining, RetireAfter: t0.Add(time.Second)}, Draining},
		{"retired", Life{State: Retired, RetireAfter: t0.Add(time.Hour)}, Retired},
		{"unknown", Life{State: "lost"}, Retired},
	} {
		if got := tc.l.At(t0); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// TestRetireGoesStraightToRetired: the admin call skips draining.
func TestRetireGoesStraightToRetired(t *testing.T) {
	active, _ := Life{State: Current}.Rotate(t0, time.Hour)
	draining := active
	draining.State = Draining
	for name, l := range map[string]Life{
		"active":                         active,
		"draining":                       draining,
		"stored active, draining by now": active,
	} {
		now := t0
		if name != "active" {
			now = t0.Add(time.Hour + time.Minute)
		}
		r, err := l.Retire(now)
		if err != nil || r.State != Retired || r.At(now) != Retired || !r.RetireAfter.Equal(now) {
			t.Errorf("%s: %+v %v", name, r, err)
		}
	}
	if _, err := (Life{State: Current}).Retire(t0); !errors.Is(err, ErrRetireCurrent) {
		t.Errorf("current: %v", err)
	}
	if _, err := (Life{State: Retired}).Retire(t0); !errors.Is(err, ErrRetired) {
		t.Errorf("retired: %v", err)
	}
	if _, err := active.Retire(t0.Add(time.Hour + Drain)); !errors.Is(err, ErrRetired) {
		t.Errorf("retired by its schedule: %v", err)
	}
}
