package admin

import (
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/veil-telemetry/veil/internal/storage"
)

// ServeTokens returns veil serve's admin tokens: those of file (the
// operator's --admin-token-file) or, when file is empty, of
// <dataDir>/admin-token, created on first start. It logs the file's path,
// never a token.
func ServeTokens(file, dataDir string, logger *slog.Logger) (*Tokens, error) {
	if file != "" {
		t, err := LoadTokens(file)
		if err != nil {
			return nil, fmt.Errorf("--admin-token-file: %w", err)
		}
		// A warning, not a refusal: secret mounts (Kubernetes' default
		// 0644) are often wider than the file's real exposure. Group-read
		// of a file another user owns is how a secret reaches a non-root
		// container, and draws no warning (the master key's rule).
		if err := storage.CheckSecretFileMode(file); err != nil {
			logger.Warn("admin token file is accessible to other users", "path", file)
		}
		return t, nil
	}
	path := filepath.Join(dataDir, "admin-token")
	t, created, err := EnsureTokenFile(path, nil)
	if err != nil {
		return nil, fmt.Errorf("admin token: %w", err)
	}
	if created {
		logger.Info("created admin token file", "path", path)
	} else {
		logger.Info("using admin token file", "path", path)
	}
	return t, nil
}
