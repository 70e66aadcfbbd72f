package admin

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"github.com/veil-telemetry/veil/internal/problem"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/veil-telemetry/veil/internal/storage"
	"github.com/veil-telemetry/veil/ohttp/signedkeys"
	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// newSigner makes an Ed25519 key-document signing key and stores it in
// state; the seed leaves this function only to be sealed by storage.
func (s *Server) newSigner(ctx context.Context, state string) (storage.SignerRecord, error) {
	pub, priv, err := ed25519.GenerateKey(s.cfg.Rand)
	if err != nil {
		return storage.SignerRecord{}, err
	}
	return s.cfg.DB.AddSigner(ctx, state, pub, priv.Seed())
}

// EnsureKeyPin gives the key document a current signing key if it has
// none (the first start) and returns its pin, which `veil serve` logs. A
// concurrent replica creating one too is not an error: the first stored
// wins and both return its pin.
func (s *Server) EnsureKeyPin(ctx context.Context) (signedkeys.Pin, error) {
	for range 2 {
		signers, err := s.cfg.DB.ListSigners(ctx)
		if err != nil {
			return signedkeys.Pin{}, err
		}
		for _, r := range signers {
			if r.State == storage.SignerCurrent {
				return signedkeys.PinOf(r.PublicKey)
			}
		}
		rec, err := s.newSigner(ctx, storage.SignerCurrent)
		if errors.Is(err, storage.ErrSignerConflict) {
			continue
		}
		if err != nil {
			return signedkeys.Pin{}, fmt.Errorf("create the key-document signing key: %w", err)
		}
		pin, err := signedkeys.PinOf(rec.PublicKey)
		if err == nil {
			s.log.Info("created key-document signing key", "key_pin", pin.String())
		}
		return pin, err
	}
	return signedkeys.Pin{}, errors.New("create the key-document signing key: another replica's key could not be read")
}

// SignKeys signs the gateway's key document with the current signing key,
// and with the next one while a rotation is under way (gateway.KeysSigner).
// The seeds are unsealed for the call and not kept.
func (s *Server) SignKeys(ctx context.Context, keys []byte) ([]byte, error) {
	signers, err := s.cfg.DB.ListSigners(ctx)
	if err != nil {
		return nil, err
	}
	var privs []ed25519.PrivateKey
	for _, r := range signers {
		if (r.State == storage.SignerCurrent || r.State == storage.SignerNext) && len(r.Secret) == ed25519.SeedSize {
			privs = append(privs, ed25519.NewKeyFromSeed(r.Secret))
		}
	}
	if len(privs) == 0 {
		return nil, errors.New("admin: no key-document signing key (veil serve creates one at start)")
	}
	return signedkeys.Sign(keys, privs...)
}

// keyPinService implements veilv1.KeyPinServiceServer.
type keyPinService struct {
	veilv1.UnimplementedKeyPinServiceServer
	s *Server
}

func keyPinProto(r storage.SignerRecord) (*veilv1.KeyPin, error) {
	pin, err := signedkeys.PinOf(r.PublicKey)
	if err != nil {
		return nil, err
	}
	out := &veilv1.KeyPin{Pin: pin.String(), State: r.State, CreateTime: timestamppb.New(r.CreatedAt)}
	if !r.RetiredAt.IsZero() {
		out.RetireTime = timestamppb.New(r.RetiredAt)
	}
	return out, nil
}

func (ks *keyPinService) ListKeyPins(ctx context.Context, _ *veilv1.ListKeyPinsRequest) (*veilv1.ListKeyPinsResponse, error) {
	signers, err := ks.s.cfg.DB.ListSigners(ctx)
	if err != nil {
		return nil, storageError(err)
	}
	resp := &veilv1.ListKeyPinsResponse{}
	for _, r := range signers {
		p, err := keyPinProto(r)
		if err != nil {
			return nil, &problem.Error{Kind: problem.Internal, Err: err}
		}
		resp.Pins = append(resp.Pins, p)
	}
	return resp, nil
}

func (ks *keyPinService) AddKeyPin(ctx context.Context, _ *veilv1.AddKeyPinRequest) (*veilv1.KeyPin, error) {
	if err := ks.s.audit(ctx, auditAddKeyPin, "next signing key"); err != nil {
		return nil, err
	}
	rec, err := ks.s.newSigner(ctx, storage.SignerNext)
	if errors.Is(err, storage.ErrSignerConflict) {
		return nil, &problem.Error{Kind: problem.Conflict, Err: err,
			Message: "a signing key rotation is already under way: finish it with `veil admin keys pin promote` first"}
	}
	if err != nil {
		return nil, storageError(err)
	}
	p, err := keyPinProto(rec)
	if err != nil {
		return nil, &problem.Error{Kind: problem.Internal, Err: err}
	}
	ks.s.log.InfoContext(ctx, "added next key-document signing key", "key_pin", p.Pin)
	return p, nil
}

func (ks *keyPinService) PromoteKeyPin(ctx context.Context, _ *veilv1.PromoteKeyPinRequest) (*veilv1.KeyPin, error) {
	if err := ks.s.audit(ctx, auditPromoteKeyPin, "next signing key"); err != nil {
		return nil, err
	}
	rec, err := ks.s.cfg.DB.PromoteSigner(ctx)
	if errors.Is(err, storage.ErrNotFound) {
		return nil, &problem.Error{Kind: problem.NotFound, Err: err,
			Message: "no signing key rotation is under way: start one with `veil admin keys pin add`"}
	}
	if err != nil {
		return nil, storageError(err)
	}
	p, err := keyPinProto(rec)
	if err != nil {
		return nil, &problem.Error{Kind: problem.Internal, Err: err}
	}
	ks.s.log.InfoContext(ctx, "promoted key-document signing key", "key_pin", p.Pin)
	return p, nil
}
