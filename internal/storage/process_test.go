package storage_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/internal/storage/storagetest"
)

// localDir makes a directory for a managed server of the test's own,
// outside t.TempDir (0700 root-owned when run as root, so the postgres user
// could not reach it) with a path short enough for the socket.
func localDir(t *testing.T) string {
	t.Helper()
	storagetest.NeedBinaries(t)
	dir, err := os.MkdirTemp("", "veil-lt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "data")
}

func TestLocalServerRefusesSecondInstance(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dir := localDir(t)
	s, err := storage.StartLocal(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(context.Background())
	if _, err := storage.StartLocal(ctx, dir, nil); !errors.Is(err, storage.ErrDataDirInUse) {
		t.Fatalf("second StartLocal: %v; want ErrDataDirInUse", err)
	}
	if !strings.Contains(s.URL(), "host=") {
		t.Fatalf("URL %q is not a unix-socket URL", s.URL())
	}
	// Only a unix socket: no TCP listener.
	db, err := storage.Open(ctx, storage.Config{URL: s.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var listen, fsync string
	if err := db.Pool().QueryRow(ctx, "SELECT current_setting('listen_addresses'), current_setting('fsync')").Scan(&listen, &fsync); err != nil || listen != "" || fsync != "on" {
		t.Fatalf("listen_addresses=%q fsync=%q (%v)", listen, fsync, err)
	}
	// What PostgreSQL keeps or logs about content (DESIGN.md invariant 3).
	for setting, want := range map[string]string{
		"track_commit_timestamp":            "off",
		"log_error_verbosity":               "terse",
		"log_min_error_statement":           "panic",
		"log_statement":                     "none",
		"log_min_duration_statement":        "-1",
		"log_parameter_max_length":          "0",
		"log_parameter_max_length_on_error": "0",
	} {
		var got string
		if err := db.Pool().QueryRow(ctx, "SELECT current_setting($1)", setting).Scan(&got); err != nil || got != want {
			t.Errorf("%s = %q (%v), want %q", setting, got, err, want)
		}
	}
	if warns, err := db.LoggingWarnings(ctx); err != nil || len(warns) != 0 {
		t.Errorf("managed server's settings warned about: %v (%v)", warns, err)
	}
}

func TestUnavailableAndRecovery(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	dir := localDir(t)
	srv, err := storage.StartLocal(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	defer func() {
		if !stopped {
			srv.Stop(context.Background())
		}
	}()
	db, err := storage.Open(ctx, storage.Config{URL: srv.URL(), ConnectTimeout: time.Second, MasterKey: randBytes(32), StageKeyDir: t.TempDir()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := storagetest.NewWriter(t, db, storage.WriterConfig{})
	defer w.Close(context.Background())
	if s, err := w.Write(ctx, batchOf(t, "before", 2)); err != nil || s != storage.StatusCommitted {
		t.Fatal(s, err)
	}

	if err := srv.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	stopped = true
	// Until the writer notices, a request may be queued; it must complete
	// with ErrUnavailable, not hang. Then Submit must fail at once.
	deadline := time.Now().Add(15 * time.Second)
	var pending sync.WaitGroup
	for {
		b := batchOf(t, "during", 1)
		pending.Add(1)
		b.Done = func(s storage.Status, err error) {
			defer pending.Done()
			if err == nil || !errors.Is(err, storage.ErrUnavailable) {
				t.Errorf("request during outage completed with %v, %v; want ErrUnavailable", s, err)
			}
		}
		start := time.Now()
		err := w.Submit(b)
		if d := time.Since(start); d > 100*time.Millisecond {
			t.Errorf("Submit took %v during an outage", d)
		}
		if errors.Is(err, storage.ErrUnavailable) {
			pending.Done()
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if time.Now().After(deadline) {
			t.Fatal("writer never reported the database unavailable")
		}
		time.Sleep(50 * time.Millisecond)
	}
	waitOrFail(t, &pending, 15*time.Second, "requests queued before the outage was noticed")
	if w.Connected() {
		t.Error("Connected() true during an outage")
	}

	srv, err = storage.StartLocal(ctx, dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	stopped = false
	for !w.Connected() {
		if time.Now().After(deadline.Add(30 * time.Second)) {
			t.Fatal("writer did not reconnect")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if s, err := w.Write(ctx, batchOf(t, "after", 2)); err != nil || s != storage.StatusCommitted {
		t.Fatalf("write after recovery: %v %v", s, err)
	}
	// db logs in as the managed server's superuser (srv.URL()).
	if n := countTag(t, ctx, db, "during"); n != 0 {
		t.Errorf("%d rows written during the outage", n)
	}
}

func waitOrFail(t *testing.T, wg *sync.WaitGroup, d time.Duration, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: not completed after %v", what, d)
	}
}

const childEnv = "VEIL_STORAGE_TEST_CHILD_URL"

// childKeysEnv passes the child its stage key directory and master key
// (hex), "DIR:KEY": the parent mixes what it staged after the kill.
const childKeysEnv = "VEIL_STORAGE_TEST_CHILD_KEYS"

// childKey is request i's idempotency key.
func childKey(i int) []byte {
	h := sha256.Sum256([]byte("kill-" + strconv.Itoa(i)))
	return h[:16]
}

func childConfig(url, keys string) (storage.Config, error) {
	dir, kh, _ := strings.Cut(keys, ":")
	key, err := hex.DecodeString(kh)
	return storage.Config{URL: url, StageKeyDir: dir, MasterKey: key}, err
}

// writerChild is the child process of TestKillDuringAckAndMix (TestMain
// runs it when childEnv is set): it streams requests through a Writer
// that mixes every second with k = 1, and prints "ack N" once request N
// has completed as committed. It never returns normally; the parent kills
// it.
func writerChild(url string) int {
	ctx := context.Background()
	cfg, err := childConfig(url, os.Getenv(childKeysEnv))
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	db, err := storage.Open(ctx, cfg, nil)
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	w, err := storage.NewWriter(db, storage.WriterConfig{MaxGroupRows: 200, MixInterval: time.Second, MixK: 1})
	if err != nil {
		fmt.Println("error", err)
		return 1
	}
	var mu sync.Mutex
	out := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		b := newBatch("kill-"+strconv.Itoa(i), 3)
		b.BatchKey = childKey(i)
		b.Done = func(s storage.Status, err error) {
			if err != nil || s != storage.StatusCommitted {
				return
			}
			mu.Lock()
			fmt.Fprintf(out, "ack %d\n", i)
			out.Flush()
			mu.Unlock()
		}
		for {
			err := w.Submit(b)
			if err == nil {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// TestKillDuringAckAndMix kills a writer with SIGKILL while acknowledge
// transactions are in flight and while its mixer is inside a mix (held on
// the outcomes table by a lock the test takes): afterwards, every
// acknowledged request is counted exactly once, none partly, and a retry of
// an acknowledged request is answered duplicate.
func TestKillDuringAckAndMix(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	url := storagetest.URL(t)
	keys := t.TempDir() + ":" + hex.EncodeToString(randBytes(32))
	owner, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer owner.Close(ctx)
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), childEnv+"="+url, childKeysEnv+"="+keys)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := map[int]bool{}
	sc := bufio.NewScanner(stdout)
	killed := false
	timeout := time.AfterFunc(2*time.Minute, func() { cmd.Process.Kill() })
	defer timeout.Stop()
	var lock pgx.Tx
	for sc.Scan() {
		line := sc.Text()
		if n, ok := strings.CutPrefix(line, "ack "); ok {
			i, err := strconv.Atoi(n)
			if err != nil {
				t.Fatalf("child wrote %q", line)
			}
			acked[i] = true
		} else if strings.HasPrefix(line, "error") {
			t.Fatalf("child: %s", line)
		}
		if len(acked) >= 300 && lock == nil {
			// Hold the outcomes table: the next mix blocks inside its
			// transaction, after its rollup upserts.
			if lock, err = owner.Begin(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := lock.Exec(ctx, "LOCK TABLE ingest_outcomes IN EXCLUSIVE MODE"); err != nil {
				t.Fatal(err)
			}
			go func() {
				// Wait (on a connection of our own) for the mixer to
				// block, then kill the child mid-stream and mid-mix.
				c, err := pgx.Connect(ctx, url)
				if err != nil {
					cmd.Process.Kill()
					return
				}
				defer c.Close(ctx)
				for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
					var waiting int
					if err := c.QueryRow(ctx, "SELECT count(*) FROM pg_locks WHERE relation = 'ingest_outcomes'::regclass AND NOT granted").Scan(&waiting); err == nil && waiting > 0 {
						break
					}
				}
				cmd.Process.Signal(syscall.SIGKILL)
			}()
			killed = true
		}
	}
	cmd.Wait()
	if lock != nil {
		lock.Rollback(ctx)
	}
	if !killed {
		t.Fatalf("child ended before the kill after %d acks", len(acked))
	}
	cfg, err := childConfig(url, keys)
	if err != nil {
		t.Fatal(err)
	}
	check, err := storage.Open(ctx, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer check.Close()
	mixAll(t, ctx, check)
	rows, err := check.Pool().Query(ctx, "SELECT dims->>'tag', sum(count)::int FROM rollups GROUP BY 1")
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	for rows.Next() {
		var tag string
		var n int
		if err := rows.Scan(&tag, &n); err != nil {
			t.Fatal(err)
		}
		counts[tag] = n
	}
	if rows.Err() != nil {
		t.Fatal(rows.Err())
	}
	for i := range acked {
		if n := counts["kill-"+strconv.Itoa(i)]; n != 3 {
			t.Errorf("acknowledged request %d has %d of its 3 events", i, n)
		}
	}
	for tag, n := range counts {
		if n != 3 {
			t.Errorf("request %s counted %d times 3 events... %d events", tag, n/3, n)
		}
	}
	// Retries of acknowledged requests, after the restart, are duplicates.
	w := storagetest.NewWriter(t, check, storage.WriterConfig{NoMixer: true})
	defer w.Close(ctx)
	for i := range 5 {
		b := newBatch("kill-"+strconv.Itoa(i), 3)
		b.BatchKey = childKey(i)
		if s, err := w.Write(ctx, b); err != nil || s != storage.StatusDuplicate {
			t.Errorf("retry of acknowledged request %d: %v %v, want duplicate", i, s, err)
		}
	}
	t.Logf("%d acknowledged before SIGKILL, %d committed in all", len(acked), len(counts))
}

// TestMigrateURLOrLocal: veil migrate migrates the database at a URL, or,
// given none, the managed server under the data directory, which it starts
// and stops again (the directory is free after).
func TestMigrateURLOrLocal(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	latest, err := storage.SchemaVersion()
	if err != nil {
		t.Fatal(err)
	}
	from, to, err := storage.MigrateURLOrLocal(ctx, storagetest.EmptyURL(t), "", nil)
	if err != nil || from != 0 || to != latest {
		t.Fatalf("URL: from %d to %d (%v), want 0 to %d", from, to, err, latest)
	}
	dir := localDir(t)
	for i := range 2 {
		if _, to, err := storage.MigrateURLOrLocal(ctx, "", dir, nil); err != nil || to != latest {
			t.Fatalf("managed, run %d: to %d (%v), want %d", i, to, err, latest)
		}
	}
	s, err := storage.StartLocal(ctx, dir, nil)
	if err != nil {
		t.Fatalf("data directory not released: %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
