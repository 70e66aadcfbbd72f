package sdk

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// queueDir keeps batches on disk between their cut and their answer, so
// that they survive a crash or a restart.
//
// Each file holds one batch, or the halves of a batch the gateway found too
// large, so that splitting is one atomic rename. Files are named
// <order>-<random>.batch: the order part is a strictly increasing number
// (nanoseconds since the epoch at creation, bumped past any existing file),
// which keeps the queue in order across restarts; the random part keeps
// names from linking anything. Nothing in the directory is specific to the
// installation.
type queueDir struct {
	dir      string
	maxBytes int64
	lock     *os.File // holds lockQueueDir's lock; nil where there is none

	mu      sync.Mutex
	size    int64  // bytes in all queue files
	lastKey uint64 // order part of the newest file
}

type queueFile struct {
	name string
	size int64
}

const queueFileSuffix = ".batch"

var (
	// errQueueDirFull reports that a batch would take the directory past
	// Config.MaxQueueBytes.
	errQueueDirFull = errors.New("veil: queue directory is full")
	// errQueueFileCorrupt reports a queue file that was read but does not
	// hold batches: it will never be sendable.
	errQueueFileCorrupt = errors.New("veil: corrupt queue file")
)

// queueFileData is the on-disk form of a queue file.
type queueFileData struct {
	Batches []queuedBatch `json:"batches"`
}

type queuedBatch struct {
	BatchID string            `json:"batch_id"`
	Created time.Time         `json:"created"`
	Events  []json.RawMessage `json:"events"`
}

// openQueueDir creates dir if needed (mode 0700), removes temporary files
// left by an interrupted write, and returns the queued files in order.
func openQueueDir(dir string, maxBytes int64) (*queueDir, []*queueFile, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	lock, err := lockQueueDir(dir)
	if err != nil {
		return nil, nil, err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if lock != nil {
			lock.Close()
		}
		return nil, nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	q := &queueDir{dir: dir, maxBytes: maxBytes, lock: lock}
	var files []*queueFile
	for _, e := range entries {
		name := e.Name()
		if !e.Type().IsRegular() {
			continue
		}
		if strings.HasSuffix(name, queueFileSuffix+".tmp") {
			os.Remove(filepath.Join(dir, name))
			continue
		}
		key, ok := queueFileKey(name)
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		q.lastKey = max(q.lastKey, key)
		q.size += info.Size()
		files = append(files, &queueFile{name: name, size: info.Size()})
	}
	// Names sort by their fixed-width order part.
	slices.SortFunc(files, func(a, b *queueFile) int { return strings.Compare(a.name, b.name) })
	return q, files, nil
}

// close releases the directory's lock.
func (q *queueDir) close() {
	if q.lock != nil {
		q.lock.Close()
		q.lock = nil
	}
}

func queueFileKey(name string) (uint64, bool) {
	base, ok := strings.CutSuffix(name, queueFileSuffix)
	if !ok {
		return 0, false
	}
	order, _, ok := strings.Cut(base, "-")
	if !ok || len(order) != 16 {
		return 0, false
	}
	key, err := strconv.ParseUint(order, 16, 64)
	return key, err == nil
}

// create writes a new queue file holding bs.
func (q *queueDir) create(bs []*batch, now time.Time) (*queueFile, error) {
	data := encodeQueueFile(bs)
	q.mu.Lock()
	if q.size+int64(len(data)) > q.maxBytes {
		q.mu.Unlock()
		return nil, errQueueDirFull
	}
	key := max(uint64(now.UnixNano()), q.lastKey+1)
	q.lastKey = key
	q.size += int64(len(data))
	q.mu.Unlock()

	var r [8]byte
	rand.Read(r[:])
	f := &queueFile{
		name: fmt.Sprintf("%016x-%s%s", key, hex.EncodeToString(r[:]), queueFileSuffix),
		size: int64(len(data)),
	}
	if err := q.write(f.name, data); err != nil {
		q.mu.Lock()
		q.size -= f.size
		q.mu.Unlock()
		return nil, err
	}
	return f, nil
}

// rewrite replaces f's contents with bs, or removes f when bs is empty.
func (q *queueDir) rewrite(f *queueFile, bs []*batch) error {
	if len(bs) == 0 {
		err := os.Remove(filepath.Join(q.dir, f.name))
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		q.mu.Lock()
		q.size -= f.size
		q.mu.Unlock()
		f.size = 0
		return err
	}
	data := encodeQueueFile(bs)
	if err := q.write(f.name, data); err != nil {
		return err
	}
	q.mu.Lock()
	q.size += int64(len(data)) - f.size
	q.mu.Unlock()
	f.size = int64(len(data))
	return nil
}

// write stores data under name atomically: a temporary file, synced, then
// renamed over the name, then the directory synced.
func (q *queueDir) write(name string, data []byte) error {
	path := filepath.Join(q.dir, name)
	tmp := path + ".tmp"
	fh, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("veil: queue directory: %w", err)
	}
	_, err = fh.Write(data)
	if err == nil {
		err = fh.Sync()
	}
	if cerr := fh.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("veil: queue directory: %w", err)
	}
	// Make the rename durable. Not every platform can sync a directory;
	// the rename itself is still atomic there.
	if d, err := os.Open(q.dir); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}

// load reads the batches of f.
func (q *queueDir) load(f *queueFile) ([]*batch, error) {
	data, err := os.ReadFile(filepath.Join(q.dir, f.name))
	if err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	var qf queueFileData
	if err := json.Unmarshal(data, &qf); err != nil {
		return nil, fmt.Errorf("%w %s: %w", errQueueFileCorrupt, f.name, err)
	}
	bs := make([]*batch, 0, len(qf.Batches))
	for _, qb := range qf.Batches {
		b := &batch{id: qb.BatchID, created: qb.Created, events: make([]event, 0, len(qb.Events))}
		if b.id == "" || len(qb.Events) == 0 {
			return nil, fmt.Errorf("%w %s: empty batch", errQueueFileCorrupt, f.name)
		}
		for _, raw := range qb.Events {
			var head struct {
				Schema  string `json:"schema"`
				Version int    `json:"version"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				return nil, fmt.Errorf("%w %s: %w", errQueueFileCorrupt, f.name, err)
			}
			b.events = append(b.events, event{schema: head.Schema, version: head.Version, data: raw})
		}
		bs = append(bs, b)
	}
	if len(bs) == 0 {
		return nil, fmt.Errorf("%w %s: no batches", errQueueFileCorrupt, f.name)
	}
	return bs, nil
}

func encodeQueueFile(bs []*batch) []byte {
	buf := []byte(`{"batches":[`)
	for i, b := range bs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"batch_id":`...)
		buf = appendJSONString(buf, b.id)
		buf = append(buf, `,"created":`...)
		buf = appendJSONString(buf, b.created.UTC().Format(time.RFC3339Nano))
		buf = append(buf, `,"events":[`...)
		for j, e := range b.events {
			if j > 0 {
				buf = append(buf, ',')
			}
			buf = append(buf, e.data...)
		}
		buf = append(buf, "]}"...)
	}
	return append(buf, "]}\n"...)
}
