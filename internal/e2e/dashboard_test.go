package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/veil-telemetry/veil/internal/e2e/e2etest"
	"github.com/veil-telemetry/veil/sdk"
)

// EnvScreenshots names a folder the browser test writes its screenshots
// into (scripts/screenshots sets it to docs/dashboard/); without it they
// go to the test's temporary folder.
const EnvScreenshots = "VEIL_DASHBOARD_SCREENSHOTS"

// dashboardEvents are what the browser test sends, by os and app_version.
// "2.9" has fewer than k = 10 events: grouped by app_version its cell is
// withheld; grouped by os its events count in android's.
var dashboardEvents = []struct {
	os, version string
	n           int
}{
	{"ios", "2.7", 30}, {"android", "2.7", 20}, {"ios", "2.8", 12}, {"android", "2.9", 3},
}

// chartState is what the page shows, read from its DOM.
type chartState struct {
	URL       string            `json:"url"`
	Buckets   string            `json:"buckets"`
	Series    map[string]int    `json:"series"`
	Breakdown map[string]string `json:"breakdown"`
	Withheld  bool              `json:"withheld"`
	Group     string            `json:"group"`
	Total     string            `json:"total"`
}

// readChart reads the count chart and the breakdown table of a schema
// page. DevTools evaluation is not bound by the page's CSP, which allows
// no script of the page's own.
const readChart = `JSON.stringify((() => {
	const svg = document.querySelector('svg.chart');
	const series = {};
	svg.querySelectorAll('g.series').forEach(g => { series[g.dataset.name] = +g.dataset.points; });
	const breakdown = {};
	document.querySelectorAll('#breakdown tr[data-group]').forEach(r => {
		const c = r.querySelector('td.count');
		if (c) breakdown[r.dataset.group] = c.textContent;
	});
	return {url: location.pathname + location.search, buckets: svg.dataset.buckets, series, breakdown,
		withheld: !!document.querySelector('#breakdown tr.withheld'),
		group: document.querySelector('#group').value, total: document.querySelector('#total').textContent};
})())`

// TestDashboardInBrowser drives the dashboard in headless Chromium over
// data sent through the relay with the SDK: sign in, read the chart's
// points and the ranked breakdown, switch the group-by and the range with
// the page's own controls (one of them from the keyboard), go back, and
// save screenshots for docs/dashboard.md.
func TestDashboardInBrowser(t *testing.T) {
	browser := e2etest.Chromium(t)
	s := startStackWith(t, stackOptions{relayArgs: fastRelay})
	s.registerSchema(t, "testdata/app.launch.json")

	var tally resultTally
	c, err := sdk.New(sdk.Config{RelayURL: s.relayAt + "/gateway", OnResult: tally.add})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sent := 0
	for _, e := range dashboardEvents {
		for i := range e.n {
			if err := c.Record(ctx, "app.launch", 1, map[string]any{"os": e.os, "app_version": e.version, "cold_start_ms": 100 + 10*i}); err != nil {
				t.Fatal(err)
			}
			sent++
		}
	}
	// Two events the gateway refuses, for the ingest page.
	for range 2 {
		if err := c.Record(ctx, "app.launch", 1, map[string]any{"os": "ios", "app_version": "jane@example.org"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := tally.get(sdk.StatusAccepted); got != sent || tally.get(sdk.StatusRejected) != 2 {
		t.Fatalf("SDK: %d accepted, %d rejected; want %d and 2", got, tally.get(sdk.StatusRejected), sent)
	}
	// What the API releases: the chart must show as many points as it
	// has buckets (1, or 2 if the sending crossed an hour).
	all := s.aggregates(t, "app.launch", 1, "")
	buckets := map[time.Time]bool{}
	for _, g := range all.Groups {
		buckets[g.Bucket] = true
	}
	byVersion := s.aggregates(t, "app.launch", 1, "app_version")

	shots := os.Getenv(EnvScreenshots)
	if shots == "" {
		shots = t.TempDir()
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(browser), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 800),
		// Back then loads the page again from the server, as it does for
		// a no-store page outside the back/forward cache, so that the
		// test can wait for that load.
		chromedp.Flag("disable-features", "Translate,BlinkGenPropertyTrees,BackForwardCache"))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	do := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(bctx, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	// navigate runs steps that start a navigation and waits for its page.
	navigate := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		resp, err := chromedp.RunResponse(bctx, steps...)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if resp.Status != 200 {
			t.Fatalf("%s: status %d", what, resp.Status)
		}
	}
	state := func() chartState {
		t.Helper()
		js, err := chromedp.Run(bctx, chromedp.Evaluate[string](readChart))
		if err != nil {
			t.Fatal(err)
		}
		var st chartState
		if err := json.Unmarshal([]byte(js), &st); err != nil {
			t.Fatalf("%v: %s", err, js)
		}
		return st
	}
	shoot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		if len(png) < 1000 {
			t.Fatalf("screenshot %s: %d bytes", name, len(png))
		}
		if err := os.WriteFile(filepath.Join(shots, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	// A bookmark of a schema page leads through the sign-in form back
	// to it.
	page := s.admin + "/schemas/app.launch/1"
	do("open", chromedp.Navigate(page), chromedp.WaitVisible(`input[name=token]`))
	navigate("sign in", chromedp.SendKeys(`input[name=token]`, s.token), chromedp.Submit(`input[name=token]`))
	st := state()
	if st.URL != "/schemas/app.launch/1" || st.Buckets != "24" || st.Series["events"] != len(buckets) || st.Total != fmt.Sprint(sent) {
		t.Fatalf("after sign-in: %+v; want 24 buckets, %d points, total %d", st, len(buckets), sent)
	}
	shoot("schema-24h.png")

	// Group by os with the selector.
	do("choose os", chromedp.SetValue(`#group`, "os"))
	navigate("apply group-by", chromedp.Click(`#apply-group`))
	st = state()
	if q, _ := url.ParseQuery(strings.TrimPrefix(st.URL[strings.Index(st.URL, "?"):], "?")); q.Get("group") != "os" || q.Get("range") != "24h" {
		t.Errorf("group-by not in the URL: %s", st.URL)
	}
	if st.Breakdown["ios"] != "42" || st.Breakdown["android"] != "23" || len(st.Breakdown) != 2 || st.Withheld {
		t.Errorf("breakdown by os %+v, want ios 42, android 23", st)
	}
	if len(st.Series) != 2 || st.Series["ios"] != len(buckets) || st.Series["android"] != len(buckets) {
		t.Errorf("series by os %v", st.Series)
	}

	// Switch to 7 days from the keyboard: focus the link, press Enter.
	do("focus 7d", chromedp.Focus(`a[data-range="7d"]`))
	navigate("7d by keyboard", chromedp.KeyEvent("\r"))
	st = state()
	if !strings.Contains(st.URL, "range=7d") || !strings.Contains(st.URL, "group=os") || st.Buckets != "168" || st.Group != "os" {
		t.Errorf("after 7d: %+v", st)
	}
	if st.Breakdown["ios"] != "42" {
		t.Errorf("7d breakdown %v", st.Breakdown)
	}

	// The back button returns to the 24-hour view, grouped by os.
	do("back", chromedp.NavigateBack())
	st = state()
	if !strings.Contains(st.URL, "range=24h") || st.Buckets != "24" || st.Group != "os" {
		t.Errorf("after back: %+v", st)
	}

	// A custom range of the last 3 hours, typed into the form.
	hour := time.Now().UTC().Truncate(time.Hour)
	do("custom range", chromedp.SetValue(`#from`, hour.Add(-2*time.Hour).Format("2006-01-02T15:04")),
		chromedp.SetValue(`#to`, hour.Add(time.Hour).Format("2006-01-02T15:04")))
	navigate("apply custom range", chromedp.Click(`#apply-custom`))
	st = state()
	if !strings.Contains(st.URL, "range=custom") || !strings.Contains(st.URL, "group=os") || st.Buckets != "3" || st.Series["ios"] != len(buckets) || st.Breakdown["ios"] != "42" {
		t.Errorf("after the custom range: %+v", st)
	}
	do("back again", chromedp.NavigateBack())
	if st = state(); !strings.Contains(st.URL, "range=24h") || st.Buckets != "24" {
		t.Errorf("back from the custom range: %+v", st)
	}

	// Group by app_version: 2.9's cell is withheld, shown as such.
	do("choose app_version", chromedp.SetValue(`#group`, "app_version"))
	navigate("apply app_version", chromedp.Click(`#apply-group`))
	st = state()
	if st.Breakdown["2.7"] != "50" || st.Breakdown["2.8"] != "12" || len(st.Breakdown) != 2 || !st.Withheld {
		t.Errorf("breakdown by app_version %+v, want 2.7 50, 2.8 12 and a withheld row", st)
	}
	if byVersion.Suppressed < 1 {
		t.Errorf("API withheld %d cells by app_version", byVersion.Suppressed)
	}
	withheld, err := chromedp.Run(bctx, chromedp.Text(`#withheld`))
	if err != nil || !strings.HasPrefix(withheld, fmt.Sprint(byVersion.Suppressed)+" cell") {
		t.Errorf("withheld note %q (%v), want %d cells", withheld, err, byVersion.Suppressed)
	}
	shoot("schema-by-version.png")

	// A narrow window: nothing makes the page wider than the window (the
	// chart and tables scroll in their own boxes).
	do("narrow", chromedp.EmulateViewport(420, 900))
	overflow, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.documentElement.scrollWidth > window.innerWidth`))
	if err != nil || overflow {
		t.Errorf("narrow window: page wider than the window (%v)", err)
	}
	shoot("schema-narrow.png")
	do("wide", chromedp.EmulateViewport(1280, 800))

	// Ingest health: exact counts, the refused events by reason.
	navigate("ingest", chromedp.Click(`nav a[href="/ingest"]`))
	var ingest struct {
		Accepted, Rejected, Reason string
	}
	js, err := chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify({Accepted: document.querySelector('#accepted').textContent,
		Rejected: document.querySelector('#rejected').textContent,
		Reason: (document.querySelector('#reasons tr[data-reason] a') || {}).href || ''})`))
	if err != nil || json.Unmarshal([]byte(js), &ingest) != nil {
		t.Fatalf("ingest page: %v %s", err, js)
	}
	if ingest.Accepted != fmt.Sprint(sent) || ingest.Rejected != "2" || !strings.HasSuffix(ingest.Reason, "reason-codes.md#identifier_email") {
		t.Errorf("ingest page %+v", ingest)
	}
	shoot("ingest.png")

	// Keys: one table per KEM, a current key each; after a rotation the
	// replaced key is active, with the time until it stops decrypting.
	if r := call(t, "POST", s.admin+"/v1/keys:rotate", s.token, "application/json", []byte(`{"kems":["x25519"]}`)); r.Status != 200 {
		t.Fatalf("rotate: %d %s", r.Status, r.Body)
	}
	navigate("keys", chromedp.Click(`nav a[href="/keys"]`))
	var keys struct{ Current, Active, StopsIn int }
	js, err = chromedp.Run(bctx, chromedp.Evaluate[string](`JSON.stringify({
		Current: document.querySelectorAll('table.keys tr[data-state="current"]').length,
		Active: document.querySelectorAll('table[data-kem="x25519"] tr[data-state="active"]').length,
		StopsIn: document.querySelectorAll('table[data-kem="x25519"] tr[data-state="active"] .stops-in').length})`))
	if err != nil || json.Unmarshal([]byte(js), &keys) != nil || keys.Current != 2 || keys.Active != 1 || keys.StopsIn != 1 {
		t.Errorf("keys page: %s (%v), want 2 current keys and an active x25519 key with its end", js, err)
	}
	shoot("keys.png")
}
