package charttest

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

func readFile(t *testing.T, path ...string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(append([]string{".."}, path...)...))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// composeFile is the part of the compose file the checks read. Unknown
// fields are fine here: the compose specification is large, and the
// checks below name what they need.
type composeFile struct {
	Services map[string]composeService `json:"services"`
	Secrets  map[string]struct {
		File string `json:"file"`
	} `json:"secrets"`
	Networks map[string]struct {
		IPAM struct {
			Config []struct {
				Subnet string `json:"subnet"`
			} `json:"config"`
		} `json:"ipam"`
	} `json:"networks"`
}

type composeService struct {
	Image       string                       `json:"image"`
	Restart     string                       `json:"restart"`
	Command     []string                     `json:"command"`
	Secrets     []string                     `json:"secrets"`
	Ports       []string                     `json:"ports"`
	DependsOn   map[string]map[string]string `json:"depends_on"`
	Healthcheck *struct {
		Test    []string `json:"test"`
		Disable bool     `json:"disable"`
	} `json:"healthcheck"`
}

// flagValue returns the argument after flag in a command, or "".
func flagValue(cmd []string, flag string) string {
	if i := slices.Index(cmd, flag); i >= 0 && i+1 < len(cmd) {
		return cmd[i+1]
	}
	return ""
}

func TestCompose(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal([]byte(readFile(t, "compose.yaml")), &c); err != nil {
		t.Fatal(err)
	}
	readme := readFile(t, "README.md")
	for _, want := range []string{"postgres", "veil", "relay"} {
		if _, ok := c.Services[want]; !ok {
			t.Fatalf("no service %q", want)
		}
	}
	for name, s := range c.Services {
		if s.Restart != "unless-stopped" && s.Restart != "always" && !strings.HasPrefix(s.Restart, "on-failure") {
			t.Errorf("%s: restart policy %q", name, s.Restart)
		}
		for dep, cond := range s.DependsOn {
			if cond["condition"] != "service_healthy" {
				t.Errorf("%s: depends on %s without condition service_healthy", name, dep)
			}
			if h := c.Services[dep].Healthcheck; h == nil || h.Disable || len(h.Test) == 0 {
				t.Errorf("%s: depends on %s, which has no health check", name, dep)
			}
		}
		for _, sec := range s.Secrets {
			def, ok := c.Secrets[sec]
			if !ok {
				t.Errorf("%s: secret %q not declared", name, sec)
				continue
			}
			// deploy/README.md has the command that creates each secret
			// file (written with > or openssl's -out/-keyout).
			made := regexp.MustCompile(`(>|-out|-keyout) ` + regexp.QuoteMeta(filepath.Base(def.File)) + `\b`)
			if !made.MatchString(readme) {
				t.Errorf("deploy/README.md has no command creating secret file %s", def.File)
			}
		}
		if strings.HasSuffix(s.Image, ":latest") {
			t.Errorf("%s: image %s", name, s.Image)
		}
		// A port published on every host interface must be TLS.
		for _, p := range s.Ports {
			if !strings.HasPrefix(p, "127.0.0.1:") && flagValue(s.Command, "--tls-cert") == "" {
				t.Errorf("%s: port %q is published off loopback without TLS", name, p)
			}
		}
	}
	if len(c.Services["veil"].DependsOn) == 0 {
		t.Error("veil does not wait for postgres")
	}
	veil := c.Services["veil"]
	if veil.Command[0] != "serve" {
		t.Fatalf("veil command %q", veil.Command)
	}
	for _, flag := range []string{"--admin-token-file", "--master-key-file", "--database-url-file", "--relay-allow"} {
		if flagValue(veil.Command, flag) == "" {
			t.Errorf("veil command lacks %s", flag)
		}
	}
	// The relay-allow range is the relay's own network, and the relay is
	// on no other.
	allow := flagValue(veil.Command, "--relay-allow")
	hop := c.Networks["relay_hop"]
	if len(hop.IPAM.Config) != 1 || hop.IPAM.Config[0].Subnet != allow {
		t.Errorf("--relay-allow %q is not the relay_hop subnet %+v", allow, hop)
	}
	relay := c.Services["relay"]
	if flagValue(relay.Command, "--tls-cert") == "" {
		t.Error("relay serves without TLS")
	}
}

func TestDockerfile(t *testing.T) {
	df := readFile(t, "Dockerfile")
	user := regexp.MustCompile(`(?m)^USER (\S+)`).FindAllStringSubmatch(df, -1)
	if len(user) != 1 || !regexp.MustCompile(`^[1-9][0-9]*(:[0-9]+)?$`).MatchString(user[0][1]) {
		t.Errorf("USER lines %q: want one numeric non-root user", user)
	}
	build := regexp.MustCompile(`(?m)^RUN go build .*$`).FindString(df)
	for _, want := range []string{"-trimpath", "-buildid="} {
		if !strings.Contains(build, want) {
			t.Errorf("go build line %q lacks %s", build, want)
		}
	}
	if !strings.Contains(df, "create_main_cluster = false") {
		t.Error("the postgresql package's unused main cluster is not turned off")
	}
	cmd := regexp.MustCompile(`(?ms)^CMD \[(.*?)\]`).FindStringSubmatch(df)
	if cmd == nil {
		t.Fatal("no CMD")
	}
	if !strings.Contains(cmd[1], `"--admin-listen", "0.0.0.0:8081"`) || !strings.Contains(cmd[1], `"--admin-token-file"`) {
		t.Errorf("CMD %s: want the admin listener on every interface with a token file", cmd[1])
	}
	for _, from := range regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1) {
		if strings.HasSuffix(from[1], ":latest") || !strings.Contains(from[1], ":") {
			t.Errorf("FROM %s is not pinned", from[1])
		}
	}
}

func TestSystemdCreatesItsUser(t *testing.T) {
	for _, unit := range []string{"veil.service", "veil-relay.service"} {
		u := readFile(t, "systemd", unit)
		if !regexp.MustCompile(`(?m)^DynamicUser=(yes|true)$`).MatchString(u) {
			t.Errorf("%s: no DynamicUser (a User= must pre-exist)", unit)
		}
		if regexp.MustCompile(`(?m)^User=`).MatchString(u) {
			t.Errorf("%s: names a User= that must pre-exist", unit)
		}
	}
}

// TestValuesDocumented checks that every value in the charts' values.yaml
// is explained: each leaf key has a comment directly above it or above one
// of its ancestors.
func TestValuesDocumented(t *testing.T) {
	for _, chart := range []string{"veil", "veil-relay"} {
		for _, missing := range undocumented(readFile(t, "helm", chart, "values.yaml")) {
			t.Errorf("%s/values.yaml: %s has no comment", chart, missing)
		}
	}
	if got := undocumented("a:\n  # b\n  b: 1\n  c: 2\n# d\nd:\n  e: 1\nf: []\n"); !slices.Equal(got, []string{"a.c", "f"}) {
		t.Errorf("undocumented reports %q, want [a.c f]", got)
	}
}

var keyLine = regexp.MustCompile(`^( *)([A-Za-z][A-Za-z0-9_]*):(.*)$`)

// undocumented returns the dotted paths of the leaf keys of a values file
// with no comment on themselves or an ancestor.
func undocumented(values string) []string {
	type frame struct {
		indent     int
		key        string
		documented bool
	}
	var stack []frame
	var missing []string
	prevComment := false
	lines := strings.Split(values, "\n")
	for i, line := range lines {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			prevComment = true
			continue
		}
		m := keyLine.FindStringSubmatch(line)
		if m == nil {
			// Blank lines, list items and continuations.
			prevComment = false
			continue
		}
		indent := len(m[1])
		for len(stack) > 0 && stack[len(stack)-1].indent >= indent {
			stack = stack[:len(stack)-1]
		}
		documented := prevComment
		for _, f := range stack {
			documented = documented || f.documented
		}
		path := m[2]
		if len(stack) > 0 {
			path = stack[len(stack)-1].key + "." + m[2]
		}
		// A key is a leaf when its value is on its line, or when the next
		// key or list item below it is not indented further.
		leaf := strings.TrimSpace(m[3]) != ""
		if !leaf {
			leaf = true
			for _, next := range lines[i+1:] {
				nt := strings.TrimSpace(next)
				if nt == "" || strings.HasPrefix(nt, "#") {
					continue
				}
				nextIndent := len(next) - len(strings.TrimLeft(next, " "))
				leaf = nextIndent <= indent || strings.HasPrefix(nt, "- ")
				break
			}
		}
		if leaf && !documented {
			missing = append(missing, path)
		}
		stack = append(stack, frame{indent: indent, key: path, documented: prevComment})
		prevComment = false
	}
	return missing
}
