package admin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/ohttp"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// kemInfo names a KEM in the API.
type kemInfo struct {
	name string
	id   ohttp.KEMID
}

// kemNames is the API's closed set of KEM names (keys.proto).
var kemNames = [...]kemInfo{
	{"x25519", ohttp.KEMX25519},
	{"xwing", ohttp.KEMXWing},
	{"p256", ohttp.KEMP256},
	{"x25519kyber768", ohttp.KEMX25519Kyber768},
}

func kemByName(name string) (kemInfo, bool) {
	for _, k := range kemNames {
		if k.name == name {
			return k, true
		}
	}
	return kemInfo{}, false
}

func kemByID(id uint16) (kemInfo, bool) {
	for _, k := range kemNames {
		if uint16(k.id) == id {
			return k, true
		}
	}
	return kemInfo{}, false
}

// KEMNames lists the KEM names Config.KEMs accepts.
func KEMNames() []string {
	out := make([]string, len(kemNames))
	for i, k := range kemNames {
		out[i] = k.name
	}
	return out
}

// keySuites are the symmetric suites every new key offers: the RFC 9458
// default first, then ChaCha20-Poly1305 for clients without AES hardware.
var keySuites = []ohttp.SymmetricSuite{
	ohttp.DefaultSuite,
	{KDF: ohttp.KDFHKDFSHA256, AEAD: ohttp.AEADChaCha20Poly1305},
}

// keyGen returns the storage key generator for kem; the private key
// leaves it only as the serialized secret that storage seals.
func (s *Server) keyGen(kem ohttp.KEMID) storage.KeyGen {
	return func(id uint8) ([]byte, []byte, error) {
		k, err := ohttp.GenerateKey(s.cfg.Rand, id, kem, keySuites)
		if err != nil {
			return nil, nil, err
		}
		cfg, err := k.Config.MarshalBinary()
		if err != nil {
			return nil, nil, err
		}
		return cfg, k.Secret(), nil
	}
}

// EnsureKeys gives every configured KEM a current key if it has none (the
// first start). A concurrent replica doing the same is not an error.
func (s *Server) EnsureKeys(ctx context.Context) error {
	keys, err := s.cfg.DB.ListKeys(ctx)
	if err != nil {
		return err
	}
	for _, k := range s.kems {
		if currentOf(keys, k.id) != nil {
			continue
		}
		rec, err := s.cfg.DB.AddKey(ctx, uint16(k.id), s.keyGen(k.id), storage.KeyCurrent)
		if errors.Is(err, storage.ErrKeyConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create first %s key: %w", k.name, err)
		}
		s.log.Info("created gateway key", "key_id", rec.ID, "kem", k.name)
	}
	return nil
}

// RotateDue rotates every KEM whose current key is at least the rotation
// period old, and reports when the next rotation falls due. Replicas share
// the key ring and each rotates only if the current key is still the one it
// saw, so when several fire together one rotates and the others' attempts
// are conflicts, not further keys.
func (s *Server) RotateDue(ctx context.Context) (next time.Time, err error) {
	keys, err := s.cfg.DB.ListKeys(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := s.cfg.Now()
	next = now.Add(s.cfg.KeyRotate)
	for _, k := range keys {
		if k.State != storage.KeyCurrent {
			continue
		}
		kem, ok := kemByID(k.KEM)
		if !ok {
			continue
		}
		due := k.CreatedAt.Add(s.cfg.KeyRotate)
		if now.Before(due) {
			if due.Before(next) {
				next = due
			}
			continue
		}
		expect := k.ID
		rec, err := s.rotate(ctx, kem, &expect, "schedule")
		if errors.Is(err, storage.ErrKeyConflict) {
			// Another replica rotated since we listed; its new key is
			// due a full period from now.
			s.log.DebugContext(ctx, "scheduled key rotation done by another replica", "kem", kem.name)
			continue
		}
		if err != nil {
			return time.Time{}, err
		}
		s.log.Info("rotated gateway key on schedule", "key_id", rec.ID, "kem", kem.name)
	}
	return next, nil
}

// rotate makes a new current key for kem: unconditionally when expect is
// nil (the API's explicit rotation), else only while key *expect is
// current (storage.ErrKeyConflict otherwise).
func (s *Server) rotate(ctx context.Context, kem kemInfo, expect *uint8, trigger string) (storage.KeyRecord, error) {
	var (
		rec storage.KeyRecord
		err error
	)
	if expect == nil {
		rec, err = s.cfg.DB.RotateKey(ctx, uint16(kem.id), s.keyGen(kem.id), s.cfg.KeyGrace)
	} else {
		rec, err = s.cfg.DB.RotateKeyIf(ctx, uint16(kem.id), *expect, s.keyGen(kem.id), s.cfg.KeyGrace)
	}
	if err != nil {
		return rec, err
	}
	s.metrics.keyRotated(kem.name, trigger)
	return rec, nil
}

func currentOf(keys []storage.KeyRecord, kem ohttp.KEMID) *storage.KeyRecord {
	for i := range keys {
		if keys[i].KEM == uint16(kem) && keys[i].State == storage.KeyCurrent {
			return &keys[i]
		}
	}
	return nil
}

// keyService implements veilv1.KeyServiceServer.
type keyService struct {
	veilv1.UnimplementedKeyServiceServer
	s *Server
}

func keyProto(k storage.KeyRecord) *veilv1.Key {
	out := &veilv1.Key{
		KeyId:      uint32(k.ID),
		KemId:      uint32(k.KEM),
		State:      k.State,
		CreateTime: timestamppb.New(k.CreatedAt),
		ConfigHex:  hex.EncodeToString(k.Config),
	}
	if kem, ok := kemByID(k.KEM); ok {
		out.Kem = kem.name
	}
	if !k.RetireAfter.IsZero() {
		out.RetireTime = timestamppb.New(k.RetireAfter)
	}
	return out
}

func (ks *keyService) ListKeys(ctx context.Context, _ *veilv1.ListKeysRequest) (*veilv1.ListKeysResponse, error) {
	keys, err := ks.s.cfg.DB.ListKeys(ctx)
	if err != nil {
		return nil, storageError(err)
	}
	resp := &veilv1.ListKeysResponse{}
	for _, k := range keys {
		resp.Keys = append(resp.Keys, keyProto(k))
	}
	return resp, nil
}

func (ks *keyService) RotateKeys(ctx context.Context, req *veilv1.RotateKeysRequest) (*veilv1.RotateKeysResponse, error) {
	var kems []kemInfo
	if len(req.GetKems()) == 0 {
		keys, err := ks.s.cfg.DB.ListKeys(ctx)
		if err != nil {
			return nil, storageError(err)
		}
		for _, k := range keys {
			if kem, ok := kemByID(k.KEM); ok && k.State == storage.KeyCurrent {
				kems = append(kems, kem)
			}
		}
		if len(kems) == 0 {
			return nil, Errorf(KindConflict, "no current key to rotate; name the KEMs to create")
		}
	}
	seen := map[string]bool{}
	for _, name := range req.GetKems() {
		kem, ok := kemByName(name)
		if !ok {
			return nil, Errorf(KindInvalid, "unknown KEM %q (known: %v)", name, KEMNames())
		}
		if !seen[name] {
			seen[name] = true
			kems = append(kems, kem)
		}
	}
	resp := &veilv1.RotateKeysResponse{}
	for _, kem := range kems {
		rec, err := ks.s.rotate(ctx, kem, nil, "api")
		if err != nil {
			return nil, storageError(err)
		}
		ks.s.log.InfoContext(ctx, "rotated gateway key", "key_id", rec.ID, "kem", kem.name)
		resp.Keys = append(resp.Keys, keyProto(rec))
	}
	return resp, nil
}

func (ks *keyService) RetireKey(ctx context.Context, req *veilv1.RetireKeyRequest) (*veilv1.Key, error) {
	if req.GetKeyId() > 255 {
		return nil, Errorf(KindInvalid, "key_id must be 0 to 255")
	}
	id := uint8(req.GetKeyId())
	keys, err := ks.s.cfg.DB.ListKeys(ctx)
	if err != nil {
		return nil, storageError(err)
	}
	var rec *storage.KeyRecord
	for i := range keys {
		if keys[i].ID == id && keys[i].State != storage.KeyRetired {
			rec = &keys[i]
		}
	}
	if rec == nil {
		return nil, Errorf(KindNotFound, "no live key %d", id)
	}
	if rec.State == storage.KeyCurrent {
		// Retiring the current key would leave clients with no key to
		// use; rotate first, then retire the old one.
		return nil, Errorf(KindConflict, "key %d is current: rotate its KEM first, then retire it", id)
	}
	if err := ks.s.cfg.DB.RetireKey(ctx, id); err != nil {
		return nil, storageError(err)
	}
	ks.s.log.InfoContext(ctx, "retired gateway key", "key_id", id)
	out := *rec
	out.State = storage.KeyRetired
	out.RetireAfter = ks.s.cfg.Now()
	return keyProto(out), nil
}

// storageError maps storage errors to kinds. Anything unrecognised is
// internal: its text stays in the logs.
func storageError(err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return &Error{Kind: KindNotFound, Message: "not found", Err: err}
	case errors.Is(err, storage.ErrSchemaConflict):
		return &Error{Kind: KindConflict, Message: "this schema version is registered with a different document; versions are immutable, register a new version", Err: err}
	case errors.Is(err, storage.ErrKeyConflict):
		return &Error{Kind: KindConflict, Message: "a concurrent key change won; retry", Err: err}
	case errors.Is(err, storage.ErrKTooSmall):
		return &Error{Kind: KindInvalid, Message: "the k-anonymity threshold must be at least 2", Err: err}
	case errors.Is(err, storage.ErrKeyIDsExhausted):
		return &Error{Kind: KindConflict, Message: "all 256 key ids are live; retire keys first", Err: err}
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: KindUnavailable, Err: err, RetryAfter: time.Second}
	case errors.Is(err, storage.ErrOverloaded):
		return &Error{Kind: KindOverloaded, Err: err, RetryAfter: time.Second}
	}
	return &Error{Kind: KindInternal, Err: err}
}
