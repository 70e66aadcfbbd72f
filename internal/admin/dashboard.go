package admin

import (
	"bytes"
	"cmp"
	"embed"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/internal/chart"
	"github.com/veil-telemetry/veil/internal/problem"

	"google.golang.org/protobuf/types/known/timestamppb"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// dashboardFS holds the dashboard's templates: base.html is the layout
// every page shares, each other file defines one page's "content".
//
//go:embed dashboard/*.html
var dashboardFS embed.FS

// dashboardFuncs are the helpers the templates call.
var dashboardFuncs = template.FuncMap{
	"ts": func(t *timestamppb.Timestamp) string {
		if t == nil {
			return "—"
		}
		return t.AsTime().UTC().Format("2006-01-02 15:04 UTC")
	},
	"schemaURL":   schemaPageURL,
	"num":         chart.Format,
	"int":         groupDigits,
	"bar":         chart.Bar,
	"withheldBar": chart.WithheldBar,
	"swatch":      chart.Swatch,
	"reasonURL":   reasonURL,
}

// dashboardPages are the parsed pages by name: each is base.html with
// the page's file.
var dashboardPages = func() map[string]*template.Template {
	m := map[string]*template.Template{}
	for _, name := range []string{"login", "overview", "schema", "ingest", "keys", "error"} {
		m[name] = template.Must(template.New(name).Funcs(dashboardFuncs).ParseFS(dashboardFS, "dashboard/base.html", "dashboard/"+name+".html"))
	}
	return m
}()

// page is what every dashboard page template gets: the layout's fields
// and the page's own data in Body.
type page struct {
	Title string
	// Nav names the navigation entry of the page ("overview", "ingest",
	// "keys"; "" for none).
	Nav   string
	Login bool
	Error string
	Now   string
	// Docs is the base URL of veil's documentation (Config.DocsURL).
	Docs string
	Body any
}

// overviewData is the body of the overview page.
type overviewData struct {
	K       int
	Stats   *veilv1.GetStatsResponse
	Schemas []*veilv1.Schema
	// MoreSchemas is set when Schemas is only the first page.
	MoreSchemas bool
	Keys        []*veilv1.Key
}

// dashboardCSP is the Content-Security-Policy of every dashboard page:
// nothing loads, nothing runs; styles are the page's own inline ones, and
// the charts are inline SVG, part of the document.
const dashboardCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"

// renderPage executes the page name with p and writes it with the
// dashboard's security headers.
func (s *Server) renderPage(w http.ResponseWriter, code int, name string, p page) {
	var buf bytes.Buffer
	p.Docs = s.cfg.DocsURL
	if err := dashboardPages[name].ExecuteTemplate(&buf, "base", p); err != nil {
		s.log.Error("dashboard template failed", "page", name, "error", err.Error())
		writeProblem(w, &problem.Error{Kind: problem.Internal})
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("Referrer-Policy", "no-referrer")
	w.WriteHeader(code)
	_, _ = w.Write(buf.Bytes())
}

// renderLogin answers with the sign-in page; next is the page to return
// to after signing in ("" for the overview).
func (s *Server) renderLogin(w http.ResponseWriter, code int, msg, next string) {
	s.renderPage(w, code, "login", page{Title: "Sign in", Login: true, Error: msg, Body: next})
}

// signedIn wraps a dashboard page: without a live session (or a bearer
// token) it answers with the sign-in page, which returns to this URL.
func (s *Server) signedIn(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.dashboardAuthorized(r) {
			s.renderLogin(w, http.StatusUnauthorized, "", localNext(r.URL.RequestURI()))
			return
		}
		h(w, r)
	}
}

// stamp is the generation time shown in a page's footer.
func (s *Server) stamp() string { return s.cfg.Now().UTC().Format("2006-01-02 15:04 UTC") }

func (s *Server) dashboard(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	now := s.cfg.Now().UTC()
	d := overviewData{K: s.cfg.K}
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
	s.renderPage(w, http.StatusOK, "overview", page{Title: "Overview", Nav: "overview", Now: s.stamp(), Body: d})
}

// dashboardError answers a page's failure as a page: the status and
// problem title of its kind, and the client message (never internals).
func (s *Server) dashboardError(w http.ResponseWriter, err error) {
	e := asError(err)
	if e.Kind == problem.Internal {
		s.log.Error("dashboard failed", "error", e.Error())
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(problem.RetryAfterSeconds(e.RetryAfter), 10))
	}
	d := e.Details()
	s.renderPage(w, d.Status, "error", page{Title: d.Title, Now: s.stamp(), Body: d})
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
		s.renderLogin(w, http.StatusBadRequest, "Malformed form.", "")
		return
	}
	tok := r.PostForm.Get("token")
	next := localNext(r.PostForm.Get("next"))
	if !s.cfg.Tokens.Valid(tok) {
		s.renderLogin(w, http.StatusUnauthorized, "That token is not valid.", next)
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
	http.Redirect(w, r, cmp.Or(next, "/"), http.StatusSeeOther)
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

// maxNext bounds the return address kept through the sign-in form.
const maxNext = 2048

// localNext returns next if it is a path on this server to return to
// after signing in, else "". An absolute URL, a scheme-relative "//host"
// or a backslash form that some browsers read as one would make the
// sign-in form an open redirect.
func localNext(next string) string {
	if next == "" || len(next) > maxNext || next[0] != '/' || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\x00\r\n") {
		return ""
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || strings.HasPrefix(u.Path, "//") {
		return ""
	}
	return next
}

// groupDigits writes n with its digits in groups of three ("3,724,000").
func groupDigits(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}
