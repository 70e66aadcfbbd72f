package storage

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// The managed server authenticates every connection by password
// (SCRAM-SHA-256). Its roles' passwords derive from one random secret in
// veil's data directory (secretFile, mode 0600, owned by veil's user), so
// that neither a process of the server's OS user (the "postgres" account
// when veil runs as root) nor any other local process gets in without it.

// secretFile is the secret's file name in the data directory (not in the
// cluster directory, which belongs to the server's OS user in root mode).
const secretFile = "postgres-secret"

const secretSize = 32

// rolePassword is role's password: hex(HMAC-SHA-256(secret, label, role)).
func rolePassword(secret []byte, role string) string {
	h := hmac.New(sha256.New, secret)
	h.Write([]byte("veil managed PostgreSQL password\x00"))
	h.Write([]byte(role))
	return hex.EncodeToString(h.Sum(nil))
}

// loadSecret returns the secret, or nil when the file does not exist yet.
func (s *LocalServer) loadSecret(dataDir string) ([]byte, error) {
	path := filepath.Join(dataDir, secretFile)
	b, err := readSecretFile(path, 2*secretSize+2)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("storage: managed PostgreSQL secret: %w", err)
	}
	secret, err := hex.DecodeString(strings.TrimSpace(string(b)))
	if err != nil || len(secret) != secretSize {
		return nil, fmt.Errorf("storage: managed PostgreSQL secret %s is damaged (want %d hex-encoded bytes); if the server's passwords are lost with it, restore the file from a backup", path, secretSize)
	}
	return secret, nil
}

// writeHBA regenerates pg_hba.conf: unix-socket connections only, by
// password once one is set, trusted until then.
func (s *LocalServer) writeHBA(password bool) error {
	method := "scram-sha-256"
	if !password {
		method = "trust"
	}
	body := "# Managed by veil, rewritten at every start.\n" +
		"# TYPE  DATABASE  USER  METHOD\n" +
		"local   all       all   " + method + "\n"
	path := filepath.Join(s.pgdata, "pg_hba.conf")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		return fmt.Errorf("storage: write %s: %w", path, err)
	}
	if s.cred != nil {
		return os.Chown(path, int(s.cred.Uid), int(s.cred.Gid))
	}
	return nil
}

// setPasswords makes a secret, sets the superuser's password from it over
// the trusted connection, stores the secret, and switches the server to
// password authentication. The secret is stored only once the password is
// set, so a crash in between leaves a cluster that trusts (and gets a new
// secret next start), never one nobody can log in to.
func (s *LocalServer) setPasswords(ctx context.Context, dataDir string) error {
	secret := make([]byte, secretSize)
	if _, err := rand.Read(secret); err != nil {
		return err
	}
	trusted := s.urlAs(localSuperuser, "postgres") // s.secret is nil: no password
	conn, err := connectURL(ctx, trusted)
	if err != nil {
		return fmt.Errorf("storage: connect to managed PostgreSQL: %w", err)
	}
	v, err := scramVerifier(rolePassword(secret, localSuperuser))
	if err == nil {
		_, err = conn.Exec(ctx, "ALTER ROLE "+localSuperuser+" PASSWORD "+quoteLiteral(v))
	}
	conn.Close(context.Background())
	if err != nil {
		return fmt.Errorf("storage: set the managed PostgreSQL superuser's password: %w", err)
	}
	if err := writeFileAtomic(filepath.Join(dataDir, secretFile), []byte(hex.EncodeToString(secret)+"\n")); err != nil {
		return fmt.Errorf("storage: write managed PostgreSQL secret: %w", err)
	}
	s.secret = secret
	if err := s.writeHBA(true); err != nil {
		return err
	}
	if err := s.pgctl(ctx, "reload"); err != nil {
		return fmt.Errorf("storage: reload PostgreSQL: %w", err)
	}
	// The postmaster reloads pg_hba.conf when it handles the signal: wait
	// until a connection without the password is refused.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := connectURL(ctx, trusted)
		var pe *pgconn.PgError
		if errors.As(err, &pe) && strings.HasPrefix(pe.Code, "28") { // invalid authorization
			return nil
		}
		if c != nil {
			c.Close(context.Background())
		}
		select {
		case <-ctx.Done():
			return errors.New("storage: managed PostgreSQL still trusts connections without a password after reloading pg_hba.conf")
		case <-tick.C:
		}
	}
}

// writeFileAtomic writes data to path (mode 0600) through a temporary file
// and a rename, so path holds all of it or nothing.
func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
