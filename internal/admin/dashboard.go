package admin

import (
	"bytes"
	"github.com/veil-telemetry/veil/internal/problem"
	"html/template"
	"net/http"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// dashboardTmpl is the whole dashboard: server-rendered, no script.
var dashboardTmpl = template.Must(template.New("dashboard").Funcs(template.FuncMap{
	"ts": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return "—"
		}
		return t.AsTime().UTC().Format("2006-01-02 15:04 UTC")
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>veil admin</title>
<style>
body{font:15px/1.4 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}
table{border-collapse:collapse;width:100%;margin-bottom:2rem}
th,td{text-align:left;padding:.25rem .5rem;border-bottom:1px solid #ddd}
td.n{text-align:right;font-variant-numeric:tabular-nums}
code{font-size:90%}
.err{color:#a00}
</style></head><body>
{{if .Login}}
<h1>veil admin</h1>
{{if .Error}}<p class="err">{{.Error}}</p>{{end}}
<form method="post" action="/login">
<label>Admin token <input type="password" name="token" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>
<p>The token is in <code>&lt;data-dir&gt;/admin-token</code> or your <code>--admin-token-file</code>.</p>
{{else}}
<form method="post" action="/logout" style="float:right"><button type="submit">Sign out</button></form>
<h1>veil admin</h1>
<p>k-anonymity threshold: <b>{{.K}}</b> · generated {{.Now}}</p>

<h2>Ingest, last 24 hours</h2>
{{with .Stats}}
<p>accepted <b>{{.Accepted}}</b> · rejected <b>{{.Rejected}}</b></p>
<table><tr><th>schema</th><th>version</th><th>outcome</th><th>reason</th><th>count</th></tr>
{{range .Rows}}<tr><td>{{.Schema}}</td><td>{{.Version}}</td><td>{{.Outcome}}</td><td>{{.Reason}}</td><td class="n">{{.Count}}</td></tr>
{{else}}<tr><td colspan="5">no events</td></tr>{{end}}
</table>
{{end}}

<h2>Schemas</h2>
<table><tr><th>name</th><th>version</th><th>granularity</th><th>retention (days)</th><th>dimensions</th><th>measures</th><th>registered</th></tr>
{{range .Schemas}}<tr><td>{{.Name}}</td><td>{{.Version}}</td><td>{{.Granularity}}</td><td class="n">{{.RetentionDays}}</td><td>{{range $i, $d := .Dimensions}}{{if $i}}, {{end}}{{$d}}{{end}}</td><td>{{range $i, $m := .Measures}}{{if $i}}, {{end}}{{$m}}{{end}}</td><td>{{ts .CreateTime}}</td></tr>
{{else}}<tr><td colspan="7">none registered</td></tr>{{end}}
</table>
{{if .MoreSchemas}}<p>The first {{len .Schemas}} schema versions; veil admin schemas list lists them all.</p>{{end}}

<h2>Gateway keys</h2>
<table><tr><th>id</th><th>KEM</th><th>state</th><th>created</th><th>retires</th></tr>
{{range .Keys}}<tr><td class="n">{{.KeyId}}</td><td>{{.Kem}}</td><td>{{.State}}</td><td>{{ts .CreateTime}}</td><td>{{ts .RetireTime}}</td></tr>
{{else}}<tr><td colspan="5">no keys</td></tr>{{end}}
</table>
{{end}}
</body></html>
`))

type dashboardData struct {
	Login   bool
	Error   string
	K       int
	Now     string
	Stats   *veilv1.GetStatsResponse
	Schemas []*veilv1.Schema
	// MoreSchemas is set when Schemas is only the first page.
	MoreSchemas bool
	Keys        []*veilv1.Key
}

func (s *Server) renderDashboard(w http.ResponseWriter, code int, d dashboardData) {
	var buf bytes.Buffer
	if err := dashboardTmpl.Execute(&buf, d); err != nil {
		s.log.Error("dashboard template failed", "error", err.Error())
		writeProblem(w, &problem.Error{Kind: problem.Internal})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	if !s.dashboardAuthorized(r) {
		s.renderDashboard(w, http.StatusUnauthorized, dashboardData{Login: true})
		return
	}
	ctx := r.Context()
	now := s.cfg.Now().UTC()
	d := dashboardData{K: s.cfg.K, Now: now.Format("2006-01-02 15:04 UTC")}
	schemas, err := s.schemas.ListSchemas(ctx, &veilv1.ListSchemasRequest{PageSize: maxSchemaPage})
	if err != nil {
		s.dashboardError(w, err)
		return
	}
	keys, err := s.keys.ListKeys(ctx, &veilv1.ListKeysRequest{})
	if err != nil {
		s.dashboardError(w, err)
		return
	}
	stats, err := s.query.GetStats(ctx, &veilv1.GetStatsRequest{
		From: timestamppb.New(now.Add(-24 * time.Hour)), To: timestamppb.New(now),
	})
	if err != nil {
		s.dashboardError(w, err)
		return
	}
	d.Schemas, d.Keys, d.Stats = schemas.GetSchemas(), keys.GetKeys(), stats
	d.MoreSchemas = schemas.GetNextPageToken() != ""
	s.renderDashboard(w, http.StatusOK, d)
}

func (s *Server) dashboardError(w http.ResponseWriter, err error) {
	e := asError(err)
	if e.Kind == problem.Internal {
		s.log.Error("dashboard failed", "error", e.Error())
	}
	writeProblem(w, e)
}

// login checks a submitted token and sets the session cookie: a random
// identifier of a session the server records (sessions), never the token
// nor derived from it.
// HttpOnly keeps it from scripts, SameSite=Strict and the cross-origin
// check in Handler keep other sites from using or planting it, Secure
// keeps it off plain HTTP when veil serves TLS.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	if err := r.ParseForm(); err != nil {
		s.renderDashboard(w, http.StatusBadRequest, dashboardData{Login: true, Error: "Malformed form."})
		return
	}
	tok := r.PostForm.Get("token")
	if !s.cfg.Tokens.Valid(tok) {
		s.renderDashboard(w, http.StatusUnauthorized, dashboardData{Login: true, Error: "That token is not valid."})
		return
	}
	id, err := s.sessions.start(s.cfg.Rand, tok, s.cfg.Now())
	if err != nil {
		s.dashboardError(w, err)
		return
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: id, Path: "/",
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.SecureCookie,
		MaxAge: int(sessionTTL / time.Second),
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// logout ends the session on the server, so a copy of the cookie stops
// working too, then clears the cookie.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		s.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: s.cfg.SecureCookie,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}
