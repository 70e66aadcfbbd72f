package admin

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/veil-telemetry/veil/internal/problem"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/veil-telemetry/veil/internal/keystate"
	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/ohttp"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

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
		if currentOf(keys, k) != nil {
			continue
		}
		rec, err := s.cfg.DB.AddKey(ctx, uint16(k), s.keyGen(k), keystate.Current)
		if errors.Is(err, storage.ErrKeyConflict) {
			continue
		}
		if err != nil {
			return fmt.Errorf("create first %s key: %w", k.Name(), err)
		}
		s.log.Info("created gateway key", "key_id", rec.ID, "kem", k.Name())
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
		kem := ohttp.KEMID(k.KEM)
		if k.State != keystate.Current || kem.Name() == "" {
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
			s.log.DebugContext(ctx, "scheduled key rotation done by another replica", "kem", kem.Name())
			continue
		}
		if err != nil {
			return time.Time{}, err
		}
		s.log.Info("rotated gateway key on schedule", "key_id", rec.ID, "kem", kem.Name())
		// Recorded after the fact: a schedule is not a caller that can
		// be refused, and a lost race above changed nothing.
		_ = s.audit(ctx, auditRotateKeys, kem.Name())
		s.keysChanged(ctx)
	}
	return next, nil
}

// rotate makes a new current key for kem: unconditionally when expect is
// nil (the API's explicit rotation), else only while key *expect is
// current (storage.ErrKeyConflict otherwise).
func (s *Server) rotate(ctx context.Context, kem ohttp.KEMID, expect *uint8, trigger string) (storage.KeyRecord, error) {
	var (
		rec storage.KeyRecord
		err error
	)
	if expect == nil {
		rec, err = s.cfg.DB.RotateKey(ctx, uint16(kem), s.keyGen(kem), s.cfg.KeyGrace)
	} else {
		rec, err = s.cfg.DB.RotateKeyIf(ctx, uint16(kem), *expect, s.keyGen(kem), s.cfg.KeyGrace)
	}
	if err != nil {
		return rec, err
	}
	s.metrics.keyRotated(kem.Name(), trigger)
	return rec, nil
}

// keysChanged tells the serving gateway, if any, to reread its key ring
// now that the stored ring changed.
func (s *Server) keysChanged(ctx context.Context) {
	if s.cfg.KeysChanged != nil {
		s.cfg.KeysChanged(ctx)
	}
}

func currentOf(keys []storage.KeyRecord, kem ohttp.KEMID) *storage.KeyRecord {
	for i := range keys {
		if keys[i].KEM == uint16(kem) && keys[i].State == keystate.Current {
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

// keyProto is k as the API shows it, in its state at now.
func keyProto(k storage.KeyRecord, now time.Time) *veilv1.Key {
	out := &veilv1.Key{
		KeyId:      uint32(k.ID),
		Kem:        ohttp.KEMID(k.KEM).Name(),
		KemId:      uint32(k.KEM),
		State:      string(k.Life().At(now)),
		CreateTime: timestamppb.New(k.CreatedAt),
		ConfigHex:  hex.EncodeToString(k.Config),
	}
	if !k.DrainAfter.IsZero() {
		out.DrainTime = timestamppb.New(k.DrainAfter)
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
	now := ks.s.cfg.Now()
	for _, k := range keys {
		resp.Keys = append(resp.Keys, keyProto(k, now))
	}
	return resp, nil
}

func (ks *keyService) RotateKeys(ctx context.Context, req *veilv1.RotateKeysRequest) (*veilv1.RotateKeysResponse, error) {
	var kems []ohttp.KEMID
	if len(req.GetKems()) == 0 {
		keys, err := ks.s.cfg.DB.ListKeys(ctx)
		if err != nil {
			return nil, storageError(err)
		}
		for _, k := range keys {
			if kem := ohttp.KEMID(k.KEM); kem.Name() != "" && k.State == keystate.Current {
				kems = append(kems, kem)
			}
		}
		if len(kems) == 0 {
			return nil, problem.Errorf(problem.Conflict, "no current key to rotate; name the KEMs to create")
		}
	}
	seen := map[ohttp.KEMID]bool{}
	for _, name := range req.GetKems() {
		kem, err := ohttp.ParseKEM(name)
		if err != nil {
			return nil, problem.Errorf(problem.Invalid, "unknown KEM %q (known: %v)", name, ohttp.KEMNames())
		}
		if !seen[kem] {
			seen[kem] = true
			kems = append(kems, kem)
		}
	}
	names := make([]string, len(kems))
	for i, kem := range kems {
		names[i] = kem.Name()
	}
	if err := ks.s.audit(ctx, auditRotateKeys, strings.Join(names, ",")); err != nil {
		return nil, err
	}
	resp := &veilv1.RotateKeysResponse{}
	now := ks.s.cfg.Now()
	rotated := false
	// A rotation stored before a later one failed still changed the ring.
	defer func() {
		if rotated {
			ks.s.keysChanged(ctx)
		}
	}()
	for _, kem := range kems {
		rec, err := ks.s.rotate(ctx, kem, nil, "api")
		if err != nil {
			return nil, storageError(err)
		}
		rotated = true
		ks.s.log.InfoContext(ctx, "rotated gateway key", "key_id", rec.ID, "kem", kem.Name())
		resp.Keys = append(resp.Keys, keyProto(rec, now))
	}
	return resp, nil
}

func (ks *keyService) RetireKey(ctx context.Context, req *veilv1.RetireKeyRequest) (*veilv1.Key, error) {
	if req.GetKeyId() > 255 {
		return nil, problem.Errorf(problem.Invalid, "key_id must be 0 to 255")
	}
	id := uint8(req.GetKeyId())
	keys, err := ks.s.cfg.DB.ListKeys(ctx)
	if err != nil {
		return nil, storageError(err)
	}
	now := ks.s.cfg.Now()
	var rec *storage.KeyRecord
	for i := range keys {
		if keys[i].ID == id {
			rec = &keys[i]
		}
	}
	if rec == nil {
		return nil, problem.Errorf(problem.NotFound, "no live key %d", id)
	}
	// Straight to retired, skipping any draining left (keystate).
	life, err := rec.Life().Retire(now)
	switch {
	case errors.Is(err, keystate.ErrRetired):
		return nil, problem.Errorf(problem.NotFound, "no live key %d", id)
	case errors.Is(err, keystate.ErrRetireCurrent):
		// Retiring the current key would leave clients with no key to
		// use; rotate first, then retire the old one.
		return nil, problem.Errorf(problem.Conflict, "key %d is current: rotate its KEM first, then retire it", id)
	case err != nil:
		return nil, err
	}
	if err := ks.s.audit(ctx, auditRetireKey, fmt.Sprintf("key %d (%s)", id, ohttp.KEMID(rec.KEM).Name())); err != nil {
		return nil, err
	}
	if err := ks.s.cfg.DB.RetireKey(ctx, id); err != nil {
		return nil, storageError(err)
	}
	ks.s.log.InfoContext(ctx, "retired gateway key", "key_id", id)
	// Refused by this process's gateway from now on, not from its next
	// periodic refresh.
	ks.s.keysChanged(ctx)
	out := *rec
	out.State, out.DrainAfter, out.RetireAfter = life.State, life.DrainAfter, life.RetireAfter
	return keyProto(out, now), nil
}

// storageError maps storage errors to kinds. Anything unrecognised is
// internal: its text stays in the logs.
func storageError(err error) error {
	switch {
	case errors.Is(err, storage.ErrNotFound):
		return &problem.Error{Kind: problem.NotFound, Message: "not found", Err: err}
	case errors.Is(err, storage.ErrSchemaConflict):
		return &problem.Error{Kind: problem.Conflict, Message: "this schema version is registered with a different document; versions are immutable, register a new version", Err: err}
	case errors.Is(err, storage.ErrKeyConflict):
		return &problem.Error{Kind: problem.Conflict, Message: "a concurrent key change won; retry", Err: err}
	case errors.Is(err, storage.ErrKTooSmall):
		return &problem.Error{Kind: problem.Invalid, Message: "the k-anonymity threshold must be at least 2", Err: err}
	case errors.Is(err, storage.ErrKeyIDsExhausted):
		return &problem.Error{Kind: problem.Conflict, Message: "all 256 key ids are live; retire keys first", Err: err}
	case errors.Is(err, storage.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &problem.Error{Kind: problem.Unavailable, Err: err, RetryAfter: time.Second}
	case errors.Is(err, storage.ErrOverloaded):
		return &problem.Error{Kind: problem.Overloaded, Err: err, RetryAfter: time.Second}
	}
	return &problem.Error{Kind: problem.Internal, Err: err}
}
