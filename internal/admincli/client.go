package admincli

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	veilv1 "github.com/veil-telemetry/veil/proto/veil/v1"
)

// Defaults of Config, matching `veil serve`'s.
const (
	DefaultAddr    = "127.0.0.1:8081"
	DefaultDataDir = "veil-data"
	DefaultTimeout = 30 * time.Second
	// TokenFileName is the token file `veil serve` creates in its data
	// directory when it is given none.
	TokenFileName = "admin-token"
	// maxTokenFile bounds what is read of a token file: `veil serve`
	// accepts at most 64 tokens of at most 512 characters.
	maxTokenFile = 64 << 10
)

// Config is what every command needs. Its zero value, apart from
// TokenFile, talks to a local `veil serve` with the default listeners.
type Config struct {
	// Addr is the admin listener: host:port or http://host:port for
	// HTTP/2 without TLS (h2c, what `veil serve` speaks without
	// --tls-cert), https://host:port for TLS ("": DefaultAddr).
	Addr string
	// TokenFile holds the bearer token: the first line that is neither
	// blank nor a '#' comment, as `veil serve --admin-token-file` reads
	// it (see TokenFile for the usual choice).
	TokenFile string
	// CAFile is a PEM file of CA certificates trusted for an https://
	// address ("": the system's roots).
	CAFile string
	// Timeout bounds each call (0: DefaultTimeout).
	Timeout time.Duration
	// JSON prints the API's answer as one JSON document instead of a
	// table.
	JSON bool
	// Out receives the output (nil: os.Stdout).
	Out io.Writer
	// Now is the clock relative times are taken from (nil: time.Now).
	Now func() time.Time
}

// TokenFile picks the token file the way the flags document it: the
// --token-file flag, else the VEIL_ADMIN_TOKEN_FILE environment variable
// (the variable `veil serve` reads its token file from), else the token
// `veil serve` generates in its data directory.
func TokenFile(flag, env, dataDir string) string {
	switch {
	case flag != "":
		return flag
	case env != "":
		return env
	}
	if dataDir == "" {
		dataDir = DefaultDataDir
	}
	return filepath.Join(dataDir, TokenFileName)
}

// ErrNoToken is returned when the token file holds no token.
var ErrNoToken = errors.New("no token in the file")

// LoadToken reads the first token of a token file.
func LoadToken(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", fmt.Errorf("admin token: %w; give the file with --token-file or VEIL_ADMIN_TOKEN_FILE, or --data-dir for the directory veil serve uses", err)
		}
		return "", fmt.Errorf("admin token: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(io.LimitReader(f, maxTokenFile))
	for sc.Scan() {
		tok := strings.TrimSpace(sc.Text())
		if tok == "" || strings.HasPrefix(tok, "#") {
			continue
		}
		return tok, nil
	}
	if err := sc.Err(); err != nil {
		return "", fmt.Errorf("admin token: %s: %w", path, err)
	}
	return "", fmt.Errorf("admin token: %s: %w", path, ErrNoToken)
}

// CLI runs the admin commands over one connection. Close it when done.
type CLI struct {
	cfg     Config
	addr    string // host:port, for messages
	conn    *grpc.ClientConn
	schemas veilv1.SchemaServiceClient
	keys    veilv1.KeyServiceClient
	query   veilv1.QueryServiceClient
	keyPins veilv1.KeyPinServiceClient
}

// New loads the token and prepares the connection; nothing is dialled
// until the first call.
func New(cfg Config) (*CLI, error) {
	if cfg.Addr == "" {
		cfg.Addr = DefaultAddr
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Out == nil {
		cfg.Out = os.Stdout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.TokenFile == "" {
		return nil, &UsageError{Msg: "no admin token file given"}
	}
	addr, useTLS, err := parseAddr(cfg.Addr)
	if err != nil {
		return nil, err
	}
	if cfg.CAFile != "" && !useTLS {
		return nil, &UsageError{Msg: fmt.Sprintf("--ca-file is for TLS: give --admin as https://%s", addr)}
	}
	tok, err := LoadToken(cfg.TokenFile)
	if err != nil {
		return nil, err
	}
	creds := insecure.NewCredentials()
	if useTLS {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if cfg.CAFile != "" {
			pem, err := os.ReadFile(cfg.CAFile)
			if err != nil {
				return nil, fmt.Errorf("--ca-file: %w", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("--ca-file: %s holds no PEM certificate", cfg.CAFile)
			}
		}
		creds = credentials.NewTLS(tc)
	}
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(bearer{token: tok}),
	)
	if err != nil {
		return nil, fmt.Errorf("admin listener %s: %w", addr, err)
	}
	return &CLI{
		cfg: cfg, addr: addr, conn: conn,
		schemas: veilv1.NewSchemaServiceClient(conn),
		keys:    veilv1.NewKeyServiceClient(conn),
		query:   veilv1.NewQueryServiceClient(conn),
		keyPins: veilv1.NewKeyPinServiceClient(conn),
	}, nil
}

// Close closes the connection.
func (c *CLI) Close() error { return c.conn.Close() }

// parseAddr splits an --admin value into host:port and whether it is TLS.
func parseAddr(s string) (addr string, useTLS bool, err error) {
	switch {
	case strings.HasPrefix(s, "https://"):
		addr, useTLS = strings.TrimPrefix(s, "https://"), true
	case strings.HasPrefix(s, "http://"):
		addr = strings.TrimPrefix(s, "http://")
	default:
		addr = s
	}
	addr = strings.TrimSuffix(addr, "/")
	if _, _, err := net.SplitHostPort(addr); err != nil || strings.Contains(addr, "/") {
		return "", false, &UsageError{Msg: fmt.Sprintf("--admin %q: give host:port, http://host:port or https://host:port", s)}
	}
	return addr, useTLS, nil
}

// bearer sends the token with every call (RFC 6750 §2.1, as the admin
// listener reads it from the authorization metadata).
type bearer struct{ token string }

func (b bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + b.token}, nil
}

// RequireTransportSecurity is false so that the plain listener `veil
// serve` opens on loopback by default can be used; over TLS gRPC checks
// the connection's security anyway.
func (b bearer) RequireTransportSecurity() bool { return false }

// call bounds one call by the configured timeout.
func (c *CLI) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, c.cfg.Timeout)
}
