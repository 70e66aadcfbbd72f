-- Key-document signing keys (issue 22 §1). The gateway signs its
-- application/ohttp-keys document with a long-term Ed25519 key so that
-- clients, which fetch it through a relay, can tell it from keys the relay
-- substituted; apps ship the public key as a key pin.
--
-- At most one key is current (its pin is the one `veil admin keys pin`
-- prints) and at most one next (during a rotation both sign). The secret is
-- the Ed25519 seed sealed under the master key like key_ring's secrets,
-- bound to its public key; a retired key keeps its public key for the
-- record and loses its secret.
CREATE TABLE key_signers (
	public_key    bytea       PRIMARY KEY CHECK (length(public_key) = 32),
	sealed_secret bytea,
	state         text        NOT NULL CHECK (state IN ('current', 'next', 'retired')),
	created_at    timestamptz NOT NULL,
	retired_at    timestamptz,
	CHECK ((state = 'retired') = (sealed_secret IS NULL)),
	CHECK ((state = 'retired') = (retired_at IS NOT NULL))
);
CREATE UNIQUE INDEX key_signers_one_current ON key_signers (state) WHERE state = 'current';
CREATE UNIQUE INDEX key_signers_one_next ON key_signers (state) WHERE state = 'next';
