-- A gateway key's life gains a fourth state (internal/keystate): current →
-- active → draining → retired. A draining key is no longer published but
-- still decrypts until every cached keys document that listed it has
-- expired; only then is it retired and its secret wiped.
--
-- drain_after is when an active key stops being published; retire_after
-- keeps its meaning for storage, when the key is refused and wiped. Keys
-- rotated before this migration were scheduled to be refused at
-- retire_after with no draining; they keep that schedule.
ALTER TABLE key_ring DROP CONSTRAINT key_ring_state_check;
ALTER TABLE key_ring ADD CONSTRAINT key_ring_state_check
	CHECK (state IN ('current', 'active', 'draining', 'retired'));
ALTER TABLE key_ring ADD COLUMN drain_after timestamptz;
UPDATE key_ring SET drain_after = retire_after WHERE state = 'active';
