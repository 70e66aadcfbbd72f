package sdk

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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
// <order>-<random>.batch: the order part is a strictly increasing counter
// (one past the newest file's), which keeps the queue in order across
// restarts; the random part keeps names from linking anything. Every file
// is sealed with the queue key (queuekey.go) and holds times to the minute
// only (queueTimeUnit). Nothing in the directory is sent anywhere.
//
// All file operations go through root, the directory opened once and
// checked to be this user's own (openQueueDir), so that nothing done to
// the path afterwards redirects a write.
type queueDir struct {
	dir      string
	root     *os.Root
	aead     cipher.AEAD
	keyFile  bool  // the key is the default queue.key, which close may remove
	maxBytes int64 // Config.MaxQueueBytes
	maxFile  int64 // the largest file a batch can make: larger ones are skipped
	log      *slog.Logger
	lock     *os.File // holds lockQueueDir's lock; nil where there is none

	mu      sync.Mutex
	size    int64  // bytes in all queue files
	lastKey uint64 // order part of the newest file
}

type queueFile struct {
	name string
	size int64
}

const (
	queueFileSuffix = ".batch"
	// queueTimeUnit is the precision of the times kept in queue files: a
	// batch's creation, truncated. Finer times would say when the app was
	// used; this is fine enough for MaxAge, which it may shorten by up to
	// the unit, never lengthen.
	queueTimeUnit = time.Minute
	// queueFileOverhead is what a queue file holds beyond its batches'
	// events as the request encodes them (which MaxBatchBytes bounds):
	// the JSON of two batch envelopes (a split batch's halves) and the
	// sealing, with room to spare. A file larger than MaxBatchBytes plus
	// this was not written by a Client with this configuration.
	queueFileOverhead = 1 << 10
)

var (
	// errQueueDirFull reports that a batch would take the directory past
	// Config.MaxQueueBytes.
	errQueueDirFull = errors.New("veil: queue directory is full")
	// errQueueFileCorrupt reports a queue file that was read but does not
	// hold batches: it will never be sendable.
	errQueueFileCorrupt = errors.New("veil: corrupt queue file")
	// errQueueFileTooLarge reports a queue file larger than a batch can
	// make (queueFileOverhead); it is left alone, unread.
	errQueueFileTooLarge = errors.New("veil: queue file larger than a batch")
)

// queueFileData is the JSON a queue file seals.
type queueFileData struct {
	Batches []queuedBatch `json:"batches"`
}

type queuedBatch struct {
	BatchID string            `json:"batch_id"`
	Created time.Time         `json:"created"`
	Events  []json.RawMessage `json:"events"`
}

// openQueueDir creates dir if needed (mode 0700) and checks that it is
// this user's own (see openPrivateDir), locks it, gets the queue key (from
// keys, or the directory's key file when keys is nil), removes temporary
// files left by an interrupted write, and returns the queued files in
// order. Files larger than maxFile are skipped: left on disk, unread and
// not counted against maxBytes.
func openQueueDir(dir string, maxBytes, maxFile int64, keys QueueKeyProvider, log *slog.Logger) (_ *queueDir, files []*queueFile, err error) {
	root, err := openPrivateDir(dir)
	if err != nil {
		return nil, nil, err
	}
	q := &queueDir{dir: dir, root: root, maxBytes: maxBytes, maxFile: maxFile, log: log}
	defer func() {
		if err != nil {
			q.release()
		}
	}()
	if q.lock, err = lockQueueDir(root, dir); err != nil {
		return nil, nil, err
	}
	// Stale temporary files go first: a key file's would stop the key
	// from being created.
	entries, err := q.list()
	if err != nil {
		return nil, nil, err
	}
	for _, name := range entries {
		if strings.HasSuffix(name, ".tmp") && (strings.HasPrefix(name, queueKeyFile) || strings.HasSuffix(name, queueFileSuffix+".tmp")) {
			if info, err := root.Lstat(name); err == nil && info.Mode().IsRegular() {
				root.Remove(name)
			}
		}
	}
	var key []byte
	if keys != nil {
		key, err = providedKey(keys)
	} else {
		key, err = fileKey(root, dir)
		q.keyFile = true
	}
	if err != nil {
		return nil, nil, err
	}
	if q.aead, err = newQueueAEAD(key); err != nil {
		return nil, nil, err
	}
	if q.keyFile {
		clear(key) // ours; a provider's slice is left as it gave it
	}
	for _, name := range entries {
		key, ok := queueFileKey(name)
		if !ok {
			continue
		}
		info, err := root.Lstat(name)
		if err != nil || !info.Mode().IsRegular() {
			continue
		}
		q.lastKey = max(q.lastKey, key)
		if info.Size() > maxFile {
			log.Warn("veil: skipping a queue file larger than a batch can be; raise Config.MaxBatchBytes to send it, or remove it",
				"file", filepath.Join(dir, name), "bytes", info.Size(), "limit", maxFile)
			continue
		}
		q.size += info.Size()
		files = append(files, &queueFile{name: name, size: info.Size()})
	}
	// Names sort by their fixed-width order part.
	slices.SortFunc(files, func(a, b *queueFile) int { return strings.Compare(a.name, b.name) })
	return q, files, nil
}

// openPrivateDir creates dir if needed (mode 0700) and opens it, refusing
// a symbolic link, a directory another user owns, and one group or others
// may write to (checkPrivate): in such a directory someone else could
// plant batches, hold the lock, or put a link where the Client writes. The
// checks are made on the directory opened, which is the one used from then
// on, whatever later happens to the path.
func openPrivateDir(dir string) (*os.Root, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	if info.Mode()&os.ModeSymlink != 0 {
		return nil, fmt.Errorf("%w: %s is a symbolic link: set Config.QueueDir to the directory it points to, if that directory is this user's own", ErrQueueDirUnsafe, dir)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("veil: queue directory %s is not a directory", dir)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	opened, err := root.Stat(".")
	switch {
	case err != nil:
		err = fmt.Errorf("veil: queue directory: %w", err)
	case !sameFile(info, opened):
		err = fmt.Errorf("%w: %s was replaced while it was being opened", ErrQueueDirUnsafe, dir)
	default:
		err = checkPrivate(dir, opened, 0o022)
	}
	if err != nil {
		root.Close()
		return nil, err
	}
	return root, nil
}

// list returns the names in the directory.
func (q *queueDir) list() ([]string, error) {
	d, err := q.root.Open(".")
	if err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	defer d.Close()
	names, err := d.Readdirnames(-1)
	if err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	return names, nil
}

// close releases the directory. When the key is the default key file and
// no batch is left, the key file is removed as well: the next Client makes
// a new one, and what the deleted batches left on the disk can no longer
// be decrypted.
func (q *queueDir) close() {
	if q.keyFile {
		names, err := q.list()
		if err == nil && !slices.ContainsFunc(names, func(n string) bool { return strings.HasSuffix(n, queueFileSuffix) }) {
			if err := q.root.Remove(queueKeyFile); err != nil {
				q.log.Warn("veil: cannot remove the key file of the empty queue directory", "err", err)
			}
		}
	}
	q.release()
}

// release closes the lock and the directory.
func (q *queueDir) release() {
	if q.lock != nil {
		q.lock.Close()
		q.lock = nil
	}
	q.root.Close()
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
func (q *queueDir) create(bs []*batch) (*queueFile, error) {
	data := seal(q.aead, encodeQueueFile(bs))
	q.mu.Lock()
	if q.size+int64(len(data)) > q.maxBytes {
		q.mu.Unlock()
		return nil, errQueueDirFull
	}
	q.lastKey++
	key := q.lastKey
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
		err := q.root.Remove(f.name)
		if errors.Is(err, os.ErrNotExist) {
			err = nil
		}
		q.mu.Lock()
		q.size -= f.size
		q.mu.Unlock()
		f.size = 0
		return err
	}
	data := seal(q.aead, encodeQueueFile(bs))
	if err := q.write(f.name, data); err != nil {
		return err
	}
	q.mu.Lock()
	q.size += int64(len(data)) - f.size
	q.mu.Unlock()
	f.size = int64(len(data))
	return nil
}

// write stores data under name atomically (writeExclusive).
func (q *queueDir) write(name string, data []byte) error {
	if err := writeExclusive(q.root, name, data); err != nil {
		return fmt.Errorf("veil: queue directory: %w", err)
	}
	return nil
}

// load reads the batches of f. A file from before queue files were sealed
// (plain JSON) is read as it is and sealed in place at once.
func (q *queueDir) load(f *queueFile) ([]*batch, error) {
	data, err := q.read(f.name)
	if err != nil {
		return nil, err
	}
	plain, legacy := data, len(data) > 0 && data[0] == '{'
	if !legacy {
		if plain, err = unseal(q.aead, data); err != nil {
			return nil, fmt.Errorf("%w %s: %w", errQueueFileCorrupt, f.name, err)
		}
	}
	bs, err := decodeQueueFile(plain)
	if err != nil {
		return nil, fmt.Errorf("%w %s: %w", errQueueFileCorrupt, f.name, err)
	}
	if legacy {
		if err := q.rewrite(f, bs); err != nil {
			q.log.Warn("veil: cannot seal a queue file written by an earlier version; it is sent as it is", "err", err)
		}
	}
	return bs, nil
}

// read returns the contents of the queue file name, refusing, without
// reading it whole, one larger than q.maxFile.
func (q *queueDir) read(name string) ([]byte, error) {
	fh, err := q.root.Open(name)
	if err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	defer fh.Close()
	info, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	if !info.Mode().IsRegular() {
		return nil, fmt.Errorf("veil: queue file %s is not a regular file", name)
	}
	if info.Size() > q.maxFile {
		return nil, fmt.Errorf("%w: %s, %d bytes", errQueueFileTooLarge, name, info.Size())
	}
	data, err := io.ReadAll(io.LimitReader(fh, q.maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("veil: queue directory: %w", err)
	}
	if int64(len(data)) > q.maxFile {
		return nil, fmt.Errorf("%w: %s grew past %d bytes", errQueueFileTooLarge, name, q.maxFile)
	}
	return data, nil
}

// decodeQueueFile parses a queue file's JSON.
func decodeQueueFile(data []byte) ([]*batch, error) {
	var qf queueFileData
	if err := json.Unmarshal(data, &qf); err != nil {
		return nil, err
	}
	bs := make([]*batch, 0, len(qf.Batches))
	for _, qb := range qf.Batches {
		// Files from before queue files were sealed have exact times.
		b := &batch{id: qb.BatchID, created: qb.Created.Truncate(queueTimeUnit), events: make([]event, 0, len(qb.Events))}
		if b.id == "" || len(qb.Events) == 0 {
			return nil, errors.New("empty batch")
		}
		for _, raw := range qb.Events {
			var head struct {
				Schema  string `json:"schema"`
				Version int    `json:"version"`
			}
			if err := json.Unmarshal(raw, &head); err != nil {
				return nil, err
			}
			b.events = append(b.events, event{schema: head.Schema, version: head.Version, data: raw})
		}
		bs = append(bs, b)
	}
	if len(bs) == 0 {
		return nil, errors.New("no batches")
	}
	return bs, nil
}

// encodeQueueFile returns the JSON a queue file seals:
// {"batches":[{"batch_id":"…","created":"…","events":[…]},…]}, with
// creation times truncated to queueTimeUnit.
func encodeQueueFile(bs []*batch) []byte {
	buf := []byte(`{"batches":[`)
	for i, b := range bs {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"batch_id":`...)
		buf = appendJSONString(buf, b.id)
		buf = append(buf, `,"created":`...)
		buf = appendJSONString(buf, b.created.Truncate(queueTimeUnit).UTC().Format(time.RFC3339))
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
