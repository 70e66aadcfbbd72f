package admin

import (
	"cmp"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/veil-telemetry/veil/internal/keystate"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// keysView is the body of the keys page: the key ring per KEM.
type keysView struct {
	KEMs []kemKeys
	// Rotate and Grace are the configured rotation period and grace.
	Rotate, Grace string
}

type kemKeys struct {
	KEM  string
	Keys []keyRow
	// NextRotation is when the current key is due to be replaced, and
	// RotationIn how long until then ("" without a current key).
	NextRotation, RotationIn string
}

type keyRow struct {
	ID    uint32
	State string
	// Published: listed in the keys document clients fetch.
	Published bool
	Created   string
	// DrainAt is when an active key stops being published.
	DrainAt string
	// StopsAt is when a non-current key stops decrypting, and StopsIn
	// how long until then.
	StopsAt, StopsIn string
}

// stateOrder sorts a KEM's keys: current first, then active, draining.
var stateOrder = map[string]int{
	string(keystate.Current): 0, string(keystate.Active): 1, string(keystate.Draining): 2, string(keystate.Retired): 3,
}

// humanDuration writes d as its two largest units ("3d 4h", "2h 5m",
// "40s"); "now" for d ≤ 0.
func humanDuration(d time.Duration) string {
	if d <= 0 {
		return "now"
	}
	days, d := d/(24*time.Hour), d%(24*time.Hour)
	hours, d := d/time.Hour, d%time.Hour
	mins, d := d/time.Minute, d%time.Minute
	secs := d / time.Second
	parts := []struct {
		n    time.Duration
		unit string
	}{{days, "d"}, {hours, "h"}, {mins, "m"}, {secs, "s"}}
	out := ""
	for i, p := range parts {
		if p.n == 0 {
			continue
		}
		out = strconv.Itoa(int(p.n)) + p.unit
		if i+1 < len(parts) && parts[i+1].n > 0 {
			out += " " + strconv.Itoa(int(parts[i+1].n)) + parts[i+1].unit
		}
		return out
	}
	return "under a second"
}

func stampOf(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }

// buildKeysView groups keys by KEM at now.
func buildKeysView(keys []*veilv1.Key, now time.Time, rotate, grace time.Duration) keysView {
	v := keysView{Rotate: humanDuration(rotate), Grace: humanDuration(grace)}
	byKEM := map[string]*kemKeys{}
	var order []string
	for _, k := range keys {
		if k.GetState() == string(keystate.Retired) {
			continue
		}
		kk := byKEM[k.GetKem()]
		if kk == nil {
			kk = &kemKeys{KEM: k.GetKem()}
			byKEM[k.GetKem()] = kk
			order = append(order, k.GetKem())
		}
		st, _ := keystate.Parse(k.GetState())
		row := keyRow{ID: k.GetKeyId(), State: k.GetState(), Published: st.Published(), Created: stampOf(k.GetCreateTime().AsTime())}
		if st == keystate.Current {
			due := k.GetCreateTime().AsTime().Add(rotate)
			kk.NextRotation, kk.RotationIn = stampOf(due), humanDuration(due.Sub(now))
		} else {
			if t := k.GetDrainTime(); t != nil && st == keystate.Active {
				row.DrainAt = stampOf(t.AsTime())
			}
			if t := k.GetRetireTime(); t != nil {
				row.StopsAt, row.StopsIn = stampOf(t.AsTime()), humanDuration(t.AsTime().Sub(now))
			}
		}
		kk.Keys = append(kk.Keys, row)
	}
	slices.Sort(order)
	for _, name := range order {
		kk := byKEM[name]
		slices.SortStableFunc(kk.Keys, func(a, b keyRow) int {
			return cmp.Or(cmp.Compare(stateOrder[a.State], stateOrder[b.State]), cmp.Compare(b.ID, a.ID))
		})
		v.KEMs = append(v.KEMs, *kk)
	}
	return v
}

// keysPage serves /keys: each KEM's current, active and draining keys,
// the next scheduled rotation, and when each older key stops decrypting.
func (s *Server) keysPage(w http.ResponseWriter, r *http.Request) {
	keys, err := s.keys.ListKeys(r.Context(), &veilv1.ListKeysRequest{})
	if err != nil {
		s.dashboardError(w, err)
		return
	}
	v := buildKeysView(keys.GetKeys(), s.cfg.Now(), s.cfg.KeyRotate, s.cfg.KeyGrace)
	s.renderPage(w, http.StatusOK, "keys", page{Title: "Keys", Nav: "keys", Now: s.stamp(), Body: v})
}
