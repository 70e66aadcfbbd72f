package storagetest

import (
	"io"
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
)

// NotReady is a database server that is not ready yet: a loopback
// listener that hangs up on its first connections, as a PostgreSQL
// container does while it initializes, then joins later ones to the
// server of a database URL. It is closed when the test ends.
type NotReady struct {
	// URL is the database URL given to StartNotReady, through the
	// listener.
	URL string
	// Addr is the listener's host:port.
	Addr string

	ln       net.Listener
	refuse   int64
	accepted atomic.Int64
	network  string
	target   string
	wg       sync.WaitGroup
}

// StartNotReady listens on loopback and hangs up on the first refuse
// connections (every one, when refuse is negative); later ones reach
// dbURL's server. dbURL may be empty when refuse is negative.
func StartNotReady(t testing.TB, dbURL string, refuse int64) *NotReady {
	t.Helper()
	if dbURL == "" {
		dbURL = "postgres://veil@localhost/veil?sslmode=disable"
	}
	cfg, err := pgx.ParseConfig(dbURL)
	if err != nil {
		t.Fatalf("storagetest: %v", err)
	}
	port := strconv.Itoa(int(cfg.Port))
	network, target := "tcp", net.JoinHostPort(cfg.Host, port)
	if strings.HasPrefix(cfg.Host, "/") {
		network, target = "unix", filepath.Join(cfg.Host, ".s.PGSQL."+port)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("storagetest: %v", err)
	}
	u, err := url.Parse(dbURL)
	if err != nil {
		t.Fatalf("storagetest: %v", err)
	}
	q := u.Query()
	q.Del("host")
	q.Del("port")
	u.RawQuery = q.Encode()
	u.Host = ln.Addr().String()
	s := &NotReady{URL: u.String(), Addr: ln.Addr().String(), ln: ln, refuse: refuse, network: network, target: target}
	s.wg.Go(s.serve)
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

// Accepted is how many connections the listener has accepted.
func (s *NotReady) Accepted() int64 { return s.accepted.Load() }

func (s *NotReady) serve() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		n := s.accepted.Add(1)
		if s.refuse < 0 || n <= s.refuse {
			c.Close()
			continue
		}
		s.wg.Go(func() { s.join(c) })
	}
}

func (s *NotReady) join(c net.Conn) {
	defer c.Close()
	up, err := net.Dial(s.network, s.target)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() { io.Copy(up, c); up.Close(); close(done) }()
	io.Copy(c, up)
	c.Close()
	<-done
}
