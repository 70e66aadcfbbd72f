package admin

import (
	"context"
	"fmt"
	"time"

	"github.com/veil-telemetry/veil/internal/problem"
	"github.com/veil-telemetry/veil/internal/storage"
)

// Audit actions: the closed set of state changes the audit log records.
const (
	auditRegisterSchema = "schema.register"
	auditDisableSchema  = "schema.disable"
	auditEnableSchema   = "schema.enable"
	auditRotateKeys     = "keys.rotate"
	auditRetireKey      = "keys.retire"
	auditAddKeyPin      = "key_pin.add"
	auditPromoteKeyPin  = "key_pin.promote"
)

// scheduleActor is the audit log's actor for changes veil makes on its own
// schedule (key rotation).
const scheduleActor = "veil-schedule"

// audit records a state change before it is made: a change that cannot be
// recorded is refused, so the log holds every change that happened (and,
// rarely, one that was then refused for another reason — the log line says
// which). It names the caller by the token's name, never the token.
func (s *Server) audit(ctx context.Context, action, target string) error {
	actor := scheduleActor
	if c, ok := CallerFrom(ctx); ok {
		actor = c.Name
	}
	if err := s.cfg.DB.InsertAudit(ctx, storage.AuditRecord{Actor: actor, Action: action, Target: target}); err != nil {
		s.log.ErrorContext(ctx, "audit log write failed; change refused", "actor", actor, "action", action, "error", err.Error())
		return &problem.Error{Kind: problem.Unavailable, Message: "the audit log could not be written; nothing was changed", Err: err, RetryAfter: time.Second}
	}
	s.log.InfoContext(ctx, "admin change", "actor", actor, "action", action, "target", target)
	return nil
}

func schemaTarget(name string, version int32) string {
	return fmt.Sprintf("%s v%d", name, version)
}
