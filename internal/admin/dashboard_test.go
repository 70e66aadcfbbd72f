package admin

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/veil-telemetry/veil/internal/schema"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// seedHours registers the example schema and writes, for each of the 6
// hours ending with now's, 12 ios events and (in the 3 latest hours
// only) 11 android events, plus one "1.3" ios event per hour, which is
// below k and so withheld when grouped by app_version. It also writes
// outcome counts: accepted, and 2 rejected identifier_email per hour.
func seedHours(t *testing.T, h *harness, now time.Time) {
	t.Helper()
	if r := h.do(t, "POST", "/v1/schemas", testToken, map[string]any{"document": exampleSchema(t)}); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	hour := now.UTC().Truncate(time.Hour)
	b := &storage.Batch{}
	for i := range 6 {
		bucket := hour.Add(-time.Duration(i) * time.Hour)
		add := func(os, ver string, n int) {
			for j := range n {
				b.Records = append(b.Records, storage.Record{
					Bucket: bucket, Schema: "app.launch", Version: 1,
					Dimensions: map[string]any{"os": os, "app_version": ver},
					Measures:   map[string]float64{"cold_start_ms": float64(100 + j)},
				})
			}
		}
		add("ios", "1.2", 12)
		add("ios", "1.3", 1)
		accepted := 13
		if i < 3 {
			add("android", "1.2", 11)
			accepted += 11
		}
		b.Outcomes = append(b.Outcomes,
			storage.OutcomeCount{Bucket: bucket, Schema: "app.launch", Version: 1, Outcome: "accepted", Count: int64(accepted)},
			storage.OutcomeCount{Bucket: bucket, Schema: "app.launch", Version: 1, Outcome: "rejected", Reason: "identifier_email", Count: 2})
	}
	w := storagetest.NewWriter(t, h.db, storage.WriterConfig{})
	defer w.Close(context.Background())
	if _, err := w.Write(context.Background(), b); err != nil {
		t.Fatal(err)
	}
}

// page GETs a dashboard path with the token and checks the security
// headers every page carries.
func (h *harness) page(t *testing.T, path string, want int) string {
	t.Helper()
	r := h.do(t, "GET", path, testToken, nil)
	if r.status != want {
		t.Fatalf("%s: %d, want %d: %s", path, r.status, want, r.body)
	}
	if csp := r.header.Get("Content-Security-Policy"); csp != dashboardCSP || !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("%s: CSP %q", path, csp)
	}
	if r.header.Get("X-Frame-Options") != "DENY" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%s: headers %v", path, r.header)
	}
	body := string(r.body)
	if strings.Contains(body, "<script") || strings.Contains(body, " on") && regexp.MustCompile(`\son[a-z]+=`).MatchString(body) {
		t.Errorf("%s: the page has script", path)
	}
	return body
}

var (
	seriesRE = regexp.MustCompile(`<g class="series" data-name="([^"]*)" data-points="(\d+)"`)
	rowRE    = regexp.MustCompile(`<tr data-group="([^"]*)">.*?<td class="n count">(\d+)</td>`)
)

// seriesPoints maps each line of the page's first chart to its points.
func seriesPoints(t *testing.T, body string) map[string]int {
	t.Helper()
	return chartPoints(t, body, 0)
}

// chartPoints maps each line of the page's n-th chart to its points.
func chartPoints(t *testing.T, body string, n int) map[string]int {
	t.Helper()
	charts := strings.Split(body, `<svg class="chart"`)
	if len(charts) <= n+1 {
		t.Fatalf("no chart %d", n)
	}
	first := charts[n+1]
	first = first[:strings.Index(first, "</svg>")]
	m := map[string]int{}
	for _, s := range seriesRE.FindAllStringSubmatch(first, -1) {
		m[s[1]], _ = strconv.Atoi(s[2])
	}
	return m
}

func breakdown(body string) map[string]string {
	m := map[string]string{}
	for _, r := range rowRE.FindAllStringSubmatch(body, -1) {
		m[r[1]] = r[2]
	}
	return m
}

func TestDashboardSchemaPage(t *testing.T) {
	now := time.Now()
	h := newHarness(t, func(c *Config) { c.Now = func() time.Time { return now } })
	seedHours(t, h, now)

	body := h.page(t, "/schemas/app.launch/1", 200)
	if !strings.Contains(body, `data-buckets="24"`) {
		t.Error("the default range is not 24 hour buckets")
	}
	// Without a group-by each hour is one cell of 13 or 24 events.
	if got := seriesPoints(t, body); len(got) != 1 || got["events"] != 6 {
		t.Errorf("series %v, want events with 6 points", got)
	}
	if !strings.Contains(body, `<b id="total">111</b>`) || !strings.Contains(body, "exact — subtractable") {
		t.Error("total or release label missing")
	}
	if !strings.Contains(body, `<b>111</b> accepted, <b>12</b> rejected (<a href="/ingest?range=24h">`) {
		t.Error("the schema's ingest counts are missing")
	}

	body = h.page(t, "/schemas/app.launch/1?range=7d&group=os", 200)
	if !strings.Contains(body, `data-buckets="168"`) {
		t.Error("7 days are not 168 hour buckets")
	}
	if got := seriesPoints(t, body); got["ios"] != 6 || got["android"] != 3 || len(got) != 2 {
		t.Errorf("series %v, want ios 6, android 3", got)
	}
	if got := breakdown(body); got["ios"] != "78" || got["android"] != "33" {
		t.Errorf("breakdown %v", got)
	}
	if strings.Contains(body, `id="withheld"`) {
		t.Error("withheld cells reported with none withheld")
	}
	if !regexp.MustCompile(`<option value="os" selected>`).MatchString(body) {
		t.Error("the group-by selector does not show os")
	}
	// The range links keep the group-by.
	if !strings.Contains(body, `href="/schemas/app.launch/1?group=os&amp;range=30d"`) {
		t.Error("range link loses the group-by")
	}

	// Grouped by app_version, the six "1.3" cells (1 event each) are
	// withheld: shown as such, with their number, never as zero.
	body = h.page(t, "/schemas/app.launch/1?group=app_version", 200)
	if got := breakdown(body); len(got) != 1 || got["1.2"] != "105" {
		t.Errorf("breakdown %v, want only 1.2 = 105", got)
	}
	if !strings.Contains(body, `<span id="withheld"><b>6</b> cells were withheld</span>`) || !strings.Contains(body, `data-group="(withheld)"`) {
		t.Error("withheld cells not shown")
	}
	if strings.Contains(body, `data-name="1.3"`) {
		t.Error("a withheld group has a line")
	}
	// Measures: count, sum and mean over the released cells.
	if !strings.Contains(body, `id="measure-cold_start_ms"`) || !strings.Contains(body, "count<b>105</b>") {
		t.Error("measure summary missing")
	}

	// The measure chart shows the chosen statistic per leading group.
	body = h.page(t, "/schemas/app.launch/1?group=os&stat=sum", 200)
	if got := chartPoints(t, body, 1); got["ios"] != 6 || got["android"] != 3 || len(got) != 2 {
		t.Errorf("measure chart by os: %v", got)
	}
	if !strings.Contains(body, "cold_start_ms, sum per hour") || !strings.Contains(body, `<option value="sum" selected>`) {
		t.Error("the sum is not what the measure chart shows")
	}
	if !strings.Contains(body, `href="/schemas/app.launch/1?group=os&amp;range=7d&amp;stat=sum"`) {
		t.Error("range link loses the statistic")
	}
	body = h.page(t, "/schemas/app.launch/1?stat=p42", 400)
	if !strings.Contains(body, "unknown measure statistic") {
		t.Error("bad statistic not explained")
	}

	// A custom range of the 2 latest hours.
	hour := now.UTC().Truncate(time.Hour)
	q := url.Values{"range": {"custom"}, "from": {hour.Add(-time.Hour).Format("2006-01-02T15:04")}, "to": {hour.Add(time.Hour).Format("2006-01-02T15:04")}}
	body = h.page(t, "/schemas/app.launch/1?"+q.Encode(), 200)
	if !strings.Contains(body, `data-buckets="2"`) || seriesPoints(t, body)["events"] != 2 || !strings.Contains(body, `<b id="total">48</b>`) {
		t.Errorf("custom range: wrong buckets or total")
	}

	// Bad input is a 400 page that says why, never a dimension that is
	// not one.
	body = h.page(t, "/schemas/app.launch/1?group=cold_start_ms", 400)
	if !strings.Contains(body, "not a dimension") {
		t.Error("bad group-by not explained")
	}
	body = h.page(t, "/schemas/app.launch/1?range=custom&from=2026-01-02&to=2026-01-01", 400)
	if !strings.Contains(body, "from must be before to") {
		t.Error("bad range not explained")
	}
	body = h.page(t, "/schemas/app.launch/9", 404)
	if !strings.Contains(body, "<h1>Not Found</h1>") && !strings.Contains(body, "no schema") {
		t.Errorf("unknown version page: %s", body)
	}
}

func TestDashboardIngestAndKeys(t *testing.T) {
	now := time.Now()
	h := newHarness(t, func(c *Config) {
		c.Now = func() time.Time { return now }
		c.DocsURL = "https://docs.example/veil/"
	})
	seedHours(t, h, now)
	body := h.page(t, "/ingest", 200)
	if !strings.Contains(body, `<b id="accepted">111</b>`) || !strings.Contains(body, `<b id="rejected">12</b>`) {
		t.Error("ingest totals")
	}
	if !strings.Contains(body, `<a href="https://docs.example/veil/reason-codes.md#identifier_email"><code>identifier_email</code></a>`) {
		t.Error("reason code not linked to its documentation")
	}
	// Outcome counts have no threshold: 24 hourly values, zeros included.
	if got := seriesPoints(t, body); got["accepted"] != 24 || got["rejected"] != 24 {
		t.Errorf("ingest series %v", got)
	}
	body = h.page(t, "/ingest?range=30d", 200)
	if !strings.Contains(body, `data-buckets="30"`) {
		t.Error("30 days of ingest are not 30 day buckets")
	}

	// Rotate: the old key is active, published, and has a time at
	// which it stops decrypting.
	if r := h.do(t, "POST", "/v1/keys:rotate", testToken, map[string]any{"kems": []string{"x25519"}}); r.status != 200 {
		t.Fatalf("rotate: %d %s", r.status, r.body)
	}
	body = h.page(t, "/keys", 200)
	for _, want := range []string{`data-kem="x25519"`, `data-kem="xwing"`, `data-state="current"`, `data-state="active"`, "Next scheduled rotation", `class="stops-in"`} {
		if !strings.Contains(body, want) {
			t.Errorf("keys page lacks %s", want)
		}
	}
}

// TestDashboardPagesNeedSignIn: every page answers a visitor without a
// session with the sign-in form, which returns to that page; the return
// address is only ever a path on this server.
func TestDashboardPagesNeedSignIn(t *testing.T) {
	h := newHarness(t, nil)
	for _, p := range []string{"/", "/ingest", "/keys?x=1", "/schemas/app.launch/1?range=7d&group=os"} {
		r := h.do(t, "GET", p, "", nil)
		if r.status != 401 || !strings.Contains(string(r.body), `action="/login"`) || strings.Contains(string(r.body), "Sign out") {
			t.Errorf("%s: %d without a session", p, r.status)
		}
		if p != "/" && !strings.Contains(string(r.body), `name="next" value="`+strings.ReplaceAll(p, "&", "&amp;")+`"`) {
			t.Errorf("%s: sign-in form does not return here", p)
		}
	}
	form := url.Values{"token": {testToken}, "next": {"/schemas/app.launch/1?range=7d"}}
	resp, err := h.http.PostForm(h.url+"/login", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || loc != "/schemas/app.launch/1?range=7d" {
		t.Errorf("login with next: %d to %q", resp.StatusCode, loc)
	}
	for _, bad := range []string{"https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", "/ok\r\nSet-Cookie: x=1", "", strings.Repeat("/a", 2000)} {
		if got := localNext(bad); got != "" {
			t.Errorf("localNext(%q) = %q", bad, got)
		}
	}
	if got := localNext("/keys?a=b"); got != "/keys?a=b" {
		t.Errorf("localNext kept %q", got)
	}
}

// TestReasonCodesHaveAnchors: every reason code the dashboard may link
// has an anchor of its name in docs/reason-codes.md.
func TestReasonCodesHaveAnchors(t *testing.T) {
	doc, err := os.ReadFile("../../docs/reason-codes.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, code := range schema.Reasons() {
		if !strings.Contains(string(doc), `<a id="`+code+`"></a>`) {
			t.Errorf("docs/reason-codes.md has no anchor for %s", code)
		}
	}
}

func TestParseRange(t *testing.T) {
	now := time.Date(2026, 5, 10, 13, 25, 0, 0, time.UTC)
	for _, tc := range []struct {
		query, gran  string
		name, bucket string
		buckets      int
		from, to     string
		err          bool
	}{
		{"", "hour", "24h", "hour", 24, "2026-05-09T14:00", "2026-05-10T14:00", false},
		{"range=7d", "hour", "7d", "hour", 168, "2026-05-03T14:00", "2026-05-10T14:00", false},
		{"range=30d", "hour", "30d", "hour", 720, "2026-04-10T14:00", "2026-05-10T14:00", false},
		{"range=7d", "day", "7d", "day", 7, "2026-05-04T00:00", "2026-05-11T00:00", false},
		{"range=custom&from=2026-05-01&to=2026-05-03", "hour", "custom", "hour", 48, "2026-05-01T00:00", "2026-05-03T00:00", false},
		{"range=custom&from=2026-01-01&to=2026-05-01", "hour", "custom", "day", 120, "2026-01-01T00:00", "2026-05-01T00:00", false},
		{"range=custom&from=2026-05-01T10:30&to=2026-05-01T12:10", "hour", "custom", "hour", 3, "2026-05-01T10:00", "2026-05-01T13:00", false},
		{"range=custom&from=2026-05-03&to=2026-05-01", "hour", "24h", "hour", 24, "2026-05-09T14:00", "2026-05-10T14:00", true},
		{"range=custom&from=2024-01-01&to=2026-05-01", "hour", "24h", "hour", 24, "2026-05-09T14:00", "2026-05-10T14:00", true},
		{"range=custom&from=yesterday&to=2026-05-01", "hour", "24h", "hour", 24, "2026-05-09T14:00", "2026-05-10T14:00", true},
		{"range=1y", "hour", "24h", "hour", 24, "2026-05-09T14:00", "2026-05-10T14:00", true},
	} {
		q, _ := url.ParseQuery(tc.query)
		r, err := parseRange(q, now, tc.gran, maxHourSpan)
		f := "2006-01-02T15:04"
		if (err != nil) != tc.err || r.Name != tc.name || r.Bucket != tc.bucket || r.Buckets != tc.buckets || r.From.Format(f) != tc.from || r.To.Format(f) != tc.to {
			t.Errorf("%s (%s): %+v, %v", tc.query, tc.gran, r, err)
		}
	}
}

func TestHumanDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		-time.Second: "now", 40 * time.Second: "40s", 90 * time.Minute: "1h 30m",
		(3*24 + 4) * time.Hour: "3d 4h", 3 * 24 * time.Hour: "3d", 500 * time.Millisecond: "under a second",
	} {
		if got := humanDuration(d); got != want {
			t.Errorf("humanDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestDashboardDocImages: the screenshots docs/dashboard.md shows exist
// (scripts/screenshots writes them).
func TestDashboardDocImages(t *testing.T) {
	doc, err := os.ReadFile("../../docs/dashboard.md")
	if err != nil {
		t.Fatal(err)
	}
	imgs := regexp.MustCompile(`!\[[^\]]*\]\((dashboard/[a-z0-9-]+\.png)\)`).FindAllStringSubmatch(string(doc), -1)
	if len(imgs) < 5 {
		t.Fatalf("docs/dashboard.md shows %d screenshots, want 5", len(imgs))
	}
	for _, m := range imgs {
		if fi, err := os.Stat("../../docs/" + m[1]); err != nil || fi.Size() < 1000 {
			t.Errorf("%s: %v", m[1], err)
		}
	}
}

func TestGroupDigits(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 3724000: "3,724,000", -12345: "-12,345"} {
		if got := groupDigits(n); got != want {
			t.Errorf("groupDigits(%d) = %q, want %q", n, got, want)
		}
	}
}
