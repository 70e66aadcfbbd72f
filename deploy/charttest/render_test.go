package charttest

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/loader"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/engine"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// The charts, relative to this module.
var (
	veilChart  = filepath.Join("..", "helm", "veil")
	relayChart = filepath.Join("..", "helm", "veil-relay")
)

// manifests is one chart rendering, decoded: every object of each kind the
// charts may emit. An object of any other kind fails decode.
type manifests struct {
	deployments []*appsv1.Deployment
	services    []*corev1.Service
	pdbs        []*policyv1.PodDisruptionBudget
	netpols     []*networkingv1.NetworkPolicy
	pvcs        []*corev1.PersistentVolumeClaim
	notes       string
}

// render renders the chart at dir with vals over its values.yaml, as
// `helm template` would for a release "telemetry" in namespace "veil",
// with the engine in strict mode (a template naming a value that does not
// exist fails).
func render(t *testing.T, dir string, vals map[string]any) (map[string]string, error) {
	t.Helper()
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatalf("load %s: %v", dir, err)
	}
	top, err := util.ToRenderValuesWithSchemaValidation(ch, vals,
		common.ReleaseOptions{Name: "telemetry", Namespace: "veil", IsInstall: true}, nil, false)
	if err != nil {
		return nil, err
	}
	return engine.Engine{Strict: true}.RenderWithContext(context.Background(), ch, top)
}

// mustRender renders and decodes, failing the test on any error.
func mustRender(t *testing.T, dir string, vals map[string]any) *manifests {
	t.Helper()
	out, err := render(t, dir, vals)
	if err != nil {
		t.Fatalf("render %s: %v", dir, err)
	}
	m, err := decode(out)
	if err != nil {
		t.Fatalf("decode %s: %v", dir, err)
	}
	return m
}

// decode splits every rendered template into its YAML documents and decodes
// each strictly into its k8s.io/api type: an unknown or duplicated field,
// or an unexpected kind, is an error.
func decode(rendered map[string]string) (*manifests, error) {
	m := &manifests{}
	names := make([]string, 0, len(rendered))
	for name := range rendered {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		text := rendered[name]
		if strings.HasSuffix(name, "NOTES.txt") {
			m.notes = text
			continue
		}
		for i, doc := range splitDocs(text) {
			if err := m.add(doc); err != nil {
				return nil, fmt.Errorf("%s, document %d: %w", name, i, err)
			}
		}
	}
	return m, nil
}

// splitDocs splits a YAML stream at its "---" lines, dropping documents
// that hold only comments or blank lines.
func splitDocs(text string) [][]byte {
	var docs [][]byte
	for part := range strings.SplitSeq("\n"+text, "\n---") {
		body := strings.TrimLeft(part, "\n")
		empty := true
		for line := range strings.SplitSeq(body, "\n") {
			if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "#") {
				empty = false
				break
			}
		}
		if !empty {
			docs = append(docs, []byte(body))
		}
	}
	return docs
}

func (m *manifests) add(doc []byte) error {
	var tm metav1.TypeMeta
	if err := yaml.Unmarshal(doc, &tm); err != nil {
		return err
	}
	strict := func(into any) error {
		if err := yaml.UnmarshalStrict(doc, into); err != nil {
			return fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
		}
		return nil
	}
	switch tm.APIVersion + " " + tm.Kind {
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		m.deployments = append(m.deployments, &o)
		return strict(&o)
	case "v1 Service":
		var o corev1.Service
		m.services = append(m.services, &o)
		return strict(&o)
	case "policy/v1 PodDisruptionBudget":
		var o policyv1.PodDisruptionBudget
		m.pdbs = append(m.pdbs, &o)
		return strict(&o)
	case "v1 PersistentVolumeClaim":
		var o corev1.PersistentVolumeClaim
		m.pvcs = append(m.pvcs, &o)
		return strict(&o)
	case "networking.k8s.io/v1 NetworkPolicy":
		var o networkingv1.NetworkPolicy
		m.netpols = append(m.netpols, &o)
		return strict(&o)
	}
	return fmt.Errorf("unexpected object %q %q", tm.APIVersion, tm.Kind)
}

func TestDecodeIsStrict(t *testing.T) {
	// The decoder must refuse what a typo in a template would produce, or
	// the chart tests prove nothing.
	bad := map[string]string{
		"unknown field": "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {selctor: {a: b}}\n",
		"duplicate":     "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {type: ClusterIP, type: NodePort}\n",
		"wrong type":    "apiVersion: v1\nkind: Service\nmetadata: {name: x}\nspec: {ports: [{port: http}]}\n",
		"unknown kind":  "apiVersion: v1\nkind: Pod\nmetadata: {name: x}\n",
	}
	for name, doc := range bad {
		if _, err := decode(map[string]string{"t.yaml": doc}); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	good := "# c\n---\napiVersion: v1\nkind: Service\nmetadata: {name: first}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: second}\n"
	m, err := decode(map[string]string{"t.yaml": good})
	if err != nil || len(m.services) != 2 || m.services[1].Name != "second" {
		t.Fatalf("decode two documents: %v, %+v", err, m)
	}
}

func TestChartsLint(t *testing.T) {
	for _, c := range []struct {
		dir  string
		vals map[string]any
	}{
		{veilChart, nil},
		{relayChart, map[string]any{"relay": map[string]any{"gateways": []any{"https://collector.example/gateway"}}}},
	} {
		l := lint.RunAll(c.dir, c.vals, "veil")
		for _, msg := range l.Messages {
			if msg.Severity >= support.WarningSev {
				t.Errorf("%s: %v", c.dir, msg)
			}
		}
	}
}

// veilValueSets are the value sets the veil chart is rendered with: the
// defaults and two others.
var veilValueSets = map[string]map[string]any{
	"defaults": nil,
	"single replica, TLS, relays restricted": {
		"replicaCount": 1,
		"image":        map[string]any{"repository": "registry.example/veil", "digest": "sha256:" + strings.Repeat("ab", 32)},
		"tls":          map[string]any{"secretName": "veil-tls"},
		"serve": map[string]any{
			"relayAllow":          []any{"10.20.0.0/16", "192.0.2.7/32"},
			"relayClientCASecret": "relay-ca",
			"extraArgs":           []any{"--k-anonymity=20"},
		},
		"secret":        map[string]any{"name": "veil-prod", "migrationDatabaseURL": false},
		"service":       map[string]any{"type": "LoadBalancer", "annotations": map[string]any{"lb.example/internal": "false"}},
		"networkPolicy": map[string]any{"public": map[string]any{"from": []any{map[string]any{"ipBlock": map[string]any{"cidr": "10.20.0.0/16"}}}}},
	},
	"five replicas, no network policy, custom scheduling": {
		"replicaCount":        5,
		"fullnameOverride":    "collector",
		"image":               map[string]any{"tag": "1.2.3"},
		"networkPolicy":       map[string]any{"enabled": false},
		"podDisruptionBudget": map[string]any{"maxUnavailable": 2},
		"extraEnv":            []any{map[string]any{"name": "VEIL_KEY_ROTATION", "value": "720h"}},
		"nodeSelector":        map[string]any{"kubernetes.io/arch": "amd64"},
		"tolerations":         []any{map[string]any{"key": "dedicated", "operator": "Equal", "value": "telemetry", "effect": "NoSchedule"}},
		"resources":           map[string]any{"requests": map[string]any{"cpu": "2", "memory": "512Mi"}, "limits": map[string]any{"memory": "1Gi"}},
		"imagePullSecrets":    []any{"regcred"},
		"podAnnotations":      map[string]any{"example/scrape": "true"},
	},
}

func TestVeilChart(t *testing.T) {
	for name, vals := range veilValueSets {
		t.Run(name, func(t *testing.T) {
			m := mustRender(t, veilChart, vals)
			checkVeil(t, m, vals)
		})
	}
}

// get reads a nested value of a value set (nil when absent).
func get(vals map[string]any, path ...string) any {
	var v any = vals
	for _, p := range path {
		mv, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = mv[p]
	}
	return v
}

func checkVeil(t *testing.T, m *manifests, vals map[string]any) {
	t.Helper()
	if len(m.deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(m.deployments))
	}
	d := m.deployments[0]
	replicas := 2
	if r, ok := get(vals, "replicaCount").(int); ok {
		replicas = r
	}
	if d.Spec.Replicas == nil || int(*d.Spec.Replicas) != replicas {
		t.Errorf("replicas %v, want %d", d.Spec.Replicas, replicas)
	}
	pod := d.Spec.Template.Spec
	checkPodHardening(t, &pod)
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	args := strings.Join(c.Args, " ")
	for _, want := range []string{
		"serve", "--listen=0.0.0.0:8080", "--admin-listen=0.0.0.0:8081",
		"--database-url-file=/secrets/database_url", "--master-key-file=/secrets/master_key",
		"--admin-token-file=/secrets/admin_tokens",
	} {
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	}
	migrate := get(vals, "secret", "migrationDatabaseURL") != false
	if got := slices.Contains(c.Args, "--migration-database-url-file=/secrets/migration_database_url"); got != migrate {
		t.Errorf("migration URL flag present %v, want %v", got, migrate)
	}
	if allow, ok := get(vals, "serve", "relayAllow").([]any); ok {
		want := "--relay-allow=" + fmt.Sprint(allow[0]) + "," + fmt.Sprint(allow[1])
		if !slices.Contains(c.Args, want) {
			t.Errorf("args %q lack %q", args, want)
		}
	} else if strings.Contains(args, "--relay-allow") {
		t.Errorf("args %q: --relay-allow without serve.relayAllow", args)
	}
	if !strings.Contains(m.notes, "WARNING") == (get(vals, "serve", "relayAllow") == nil) {
		t.Errorf("NOTES warn about an open gateway: %v, want %v", strings.Contains(m.notes, "WARNING"), get(vals, "serve", "relayAllow") == nil)
	}

	// The Secret: every documented key mounted, group-readable only.
	var secretVol *corev1.SecretVolumeSource
	for _, v := range pod.Volumes {
		if v.Name == "secrets" {
			secretVol = v.Secret
		}
	}
	if secretVol == nil {
		t.Fatal("no secrets volume")
	}
	wantSecret := "veil"
	if n, ok := get(vals, "secret", "name").(string); ok {
		wantSecret = n
	}
	if secretVol.SecretName != wantSecret {
		t.Errorf("secret %q, want %q", secretVol.SecretName, wantSecret)
	}
	if secretVol.DefaultMode == nil || *secretVol.DefaultMode&0o037 != 0 {
		t.Errorf("secret mode %v: group write or other access", secretVol.DefaultMode)
	}
	var keys []string
	for _, it := range secretVol.Items {
		keys = append(keys, it.Key)
	}
	wantKeys := []string{"database_url", "master_key", "admin_tokens"}
	if migrate {
		wantKeys = append(wantKeys, "migration_database_url")
	}
	if !slices.Equal(keys, wantKeys) {
		t.Errorf("secret keys %v, want %v", keys, wantKeys)
	}

	// Probes on the public port: /readyz for readiness, /healthz otherwise.
	scheme := corev1.URISchemeHTTP
	if get(vals, "tls", "secretName") != nil {
		scheme = corev1.URISchemeHTTPS
	}
	for _, p := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startup", c.StartupProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}, {"liveness", c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil {
			t.Errorf("%s probe missing", p.name)
			continue
		}
		g := p.probe.HTTPGet
		if g.Path != p.path || g.Port.String() != "public" || g.Scheme != scheme {
			t.Errorf("%s probe %s %s %s, want %s public %s", p.name, g.Path, g.Port.String(), g.Scheme, p.path, scheme)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("no memory limit")
	}
	if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
		t.Error("no CPU request")
	}
	if d.Spec.Template.Spec.TerminationGracePeriodSeconds == nil || *d.Spec.Template.Spec.TerminationGracePeriodSeconds <= 30 {
		t.Error("termination grace period not above veil's 30s shutdown timeout")
	}

	// Services: the public one never carries the admin port; the admin
	// one is ClusterIP whatever service.type says.
	if len(m.services) != 2 {
		t.Fatalf("%d Services, want 2", len(m.services))
	}
	var public, adminSvc *corev1.Service
	for _, s := range m.services {
		if strings.HasSuffix(s.Name, "-admin") {
			adminSvc = s
		} else {
			public = s
		}
	}
	if public == nil || adminSvc == nil {
		t.Fatal("want a public and an admin Service")
	}
	for _, s := range m.services {
		if !selects(s.Spec.Selector, d.Spec.Template.Labels) {
			t.Errorf("Service %s selects %v, not the pods %v", s.Name, s.Spec.Selector, d.Spec.Template.Labels)
		}
	}
	if len(public.Spec.Ports) != 1 || public.Spec.Ports[0].TargetPort.String() != "public" {
		t.Errorf("public Service ports %+v, want only the public port", public.Spec.Ports)
	}
	if public.Spec.Type != corev1.ServiceTypeClusterIP && public.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyLocal {
		t.Errorf("public %s Service with externalTrafficPolicy %q: the gateway would see node addresses, not the relays'", public.Spec.Type, public.Spec.ExternalTrafficPolicy)
	}
	if adminSvc.Spec.Type != corev1.ServiceTypeClusterIP || len(adminSvc.Spec.Ports) != 1 || adminSvc.Spec.Ports[0].TargetPort.String() != "admin" {
		t.Errorf("admin Service %s %+v, want ClusterIP on the admin port", adminSvc.Spec.Type, adminSvc.Spec.Ports)
	}

	// PodDisruptionBudget with more than one replica.
	if want := replicas > 1; (len(m.pdbs) == 1) != want {
		t.Errorf("%d PodDisruptionBudgets with %d replicas", len(m.pdbs), replicas)
	} else if want && !selects(m.pdbs[0].Spec.Selector.MatchLabels, d.Spec.Template.Labels) {
		t.Error("PodDisruptionBudget does not select the pods")
	}

	// NetworkPolicy: the admin port only from listed peers.
	if get(vals, "networkPolicy", "enabled") == false {
		if len(m.netpols) != 0 {
			t.Error("NetworkPolicy rendered while disabled")
		}
		return
	}
	if len(m.netpols) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(m.netpols))
	}
	np := m.netpols[0]
	if !selects(np.Spec.PodSelector.MatchLabels, d.Spec.Template.Labels) {
		t.Error("NetworkPolicy does not select the pods")
	}
	if !slices.Equal(np.Spec.PolicyTypes, []networkingv1.PolicyType{networkingv1.PolicyTypeIngress}) {
		t.Errorf("policy types %v", np.Spec.PolicyTypes)
	}
	adminRules := 0
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port != nil && p.Port.String() == "admin" {
				adminRules++
				if len(r.From) == 0 {
					t.Error("NetworkPolicy opens the admin port to every peer")
				}
				if len(r.Ports) != 1 {
					t.Error("the admin rule opens other ports too")
				}
			}
		}
	}
	if adminRules != 1 {
		t.Errorf("%d ingress rules for the admin port, want 1", adminRules)
	}
}

// checkPodHardening checks what both charts' pods must hold: a numeric
// non-root user, a read-only root filesystem with writable emptyDir
// scratch space, no service account token, a pinned image.
func checkPodHardening(t *testing.T, pod *corev1.PodSpec) {
	t.Helper()
	sc := pod.SecurityContext
	if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
		t.Errorf("pod security context %+v: want runAsNonRoot with a numeric non-zero runAsUser", sc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("service account token mounted")
	}
	emptyDirs := map[string]bool{}
	for _, v := range pod.Volumes {
		if v.EmptyDir != nil {
			emptyDirs[v.Name] = true
		}
	}
	for _, c := range pod.Containers {
		cs := c.SecurityContext
		if cs == nil || cs.ReadOnlyRootFilesystem == nil || !*cs.ReadOnlyRootFilesystem {
			t.Errorf("%s: root filesystem not read-only", c.Name)
		}
		if cs == nil || cs.AllowPrivilegeEscalation == nil || *cs.AllowPrivilegeEscalation {
			t.Errorf("%s: privilege escalation allowed", c.Name)
		}
		if cs == nil || cs.Capabilities == nil || !slices.Contains(cs.Capabilities.Drop, "ALL") {
			t.Errorf("%s: capabilities not dropped", c.Name)
		}
		tmp := false
		for _, vm := range c.VolumeMounts {
			if vm.MountPath == "/tmp" && emptyDirs[vm.Name] && !vm.ReadOnly {
				tmp = true
			}
		}
		if !tmp {
			t.Errorf("%s: no writable emptyDir at /tmp", c.Name)
		}
		if strings.HasSuffix(c.Image, ":latest") || !strings.ContainsAny(c.Image, ":@") {
			t.Errorf("%s: image %q is not pinned", c.Name, c.Image)
		}
		if c.ImagePullPolicy == corev1.PullAlways {
			t.Errorf("%s: pull policy Always", c.Name)
		}
	}
}

// selects reports whether a selector's labels all appear on the pod.
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func TestVeilChartRefusals(t *testing.T) {
	for name, vals := range map[string]map[string]any{
		"latest tag":            {"image": map[string]any{"tag": "latest"}},
		"client CA without TLS": {"serve": map[string]any{"relayClientCASecret": "relay-ca"}},
		// values.schema.json: typos and unsafe values fail at install.
		"unknown value":            {"replicas": 3},
		"unknown nested value":     {"serve": map[string]any{"relayAllowed": []any{"10.0.0.0/8"}}},
		"no replicas":              {"replicaCount": 0},
		"pull always":              {"image": map[string]any{"pullPolicy": "Always"}},
		"world-readable secrets":   {"secret": map[string]any{"defaultMode": 0o644}},
		"writable root filesystem": {"securityContext": map[string]any{"readOnlyRootFilesystem": false, "allowPrivilegeEscalation": false}},
		"root user":                {"podSecurityContext": map[string]any{"runAsNonRoot": true, "runAsUser": 0}},
		"admin port open to all":   {"networkPolicy": map[string]any{"admin": map[string]any{"from": []any{}}}},
	} {
		if _, err := render(t, veilChart, vals); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
}

func TestVeilChartDigestAndAdminDataDir(t *testing.T) {
	m := mustRender(t, veilChart, veilValueSets["single replica, TLS, relays restricted"])
	c := m.deployments[0].Spec.Template.Spec.Containers[0]
	if want := "registry.example/veil@sha256:" + strings.Repeat("ab", 32); c.Image != want {
		t.Errorf("image %q, want %q", c.Image, want)
	}
	if !slices.Contains(c.Args, "--relay-client-ca=/relay-ca/ca.crt") || !slices.Contains(c.Args, "--tls-cert=/tls/tls.crt") {
		t.Errorf("args %q lack the TLS and relay CA flags", c.Args)
	}
	// The data directory is writable scratch space.
	found := false
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == "/var/lib/veil" && !vm.ReadOnly {
			found = true
		}
	}
	if !found {
		t.Error("no writable /var/lib/veil")
	}
}

// TestVeilChartStageKeys: the staging keys live on a ReadWriteMany claim
// that every replica mounts and names with --stage-key-dir (a lost key
// loses the requests it sealed; the mixer opens every replica's keys);
// the chart creates the claim, kept on uninstall, unless one is named.
func TestVeilChartStageKeys(t *testing.T) {
	for _, tc := range []struct {
		vals  map[string]any
		claim string
		made  bool
	}{
		{nil, "telemetry-veil-stage-keys", true},
		{map[string]any{"stageKeys": map[string]any{"existingClaim": "shared-keys"}}, "shared-keys", false},
	} {
		m := mustRender(t, veilChart, tc.vals)
		pod := m.deployments[0].Spec.Template.Spec
		var claim string
		for _, v := range pod.Volumes {
			if v.Name == "stage-keys" && v.PersistentVolumeClaim != nil {
				claim = v.PersistentVolumeClaim.ClaimName
			}
		}
		if claim != tc.claim {
			t.Errorf("stage-keys claim %q, want %q", claim, tc.claim)
		}
		c := pod.Containers[0]
		mounted := false
		for _, vm := range c.VolumeMounts {
			mounted = mounted || vm.Name == "stage-keys" && vm.MountPath == "/var/lib/veil-stage-keys" && !vm.ReadOnly
		}
		if !mounted || !slices.Contains(c.Args, "--stage-key-dir=/var/lib/veil-stage-keys") {
			t.Errorf("stage keys not mounted writable or not passed: %q", c.Args)
		}
		if tc.made != (len(m.pvcs) == 1) {
			t.Fatalf("%d claims rendered, want one: %v", len(m.pvcs), tc.made)
		}
		if tc.made {
			pvc := m.pvcs[0]
			if pvc.Name != tc.claim || len(pvc.Spec.AccessModes) != 1 || pvc.Spec.AccessModes[0] != corev1.ReadWriteMany ||
				pvc.Annotations["helm.sh/resource-policy"] != "keep" {
				t.Errorf("claim %s: modes %v, annotations %v", pvc.Name, pvc.Spec.AccessModes, pvc.Annotations)
			}
		}
	}
}

// relayValueSets: the relay has no usable defaults (it needs a gateway),
// so its sets start from the one required value.
var relayValueSets = map[string]map[string]any{
	"minimal": {"relay": map[string]any{"gateways": []any{"https://collector.example/gateway"}}},
	"behind a load balancer, three gateways, client certificate": {
		"replicaCount": 3,
		"relay": map[string]any{
			"gateways":         []any{"https://gw1.example/gateway", "https://gw2.example/gateway", "https://gw3.example/gateway"},
			"tlsSecretName":    "relay-tls",
			"gatewayCASecret":  "collector-ca",
			"clientCertSecret": "relay-client",
			"trustedProxies":   []any{"10.0.0.0/8"},
			"rate":             5,
		},
		"service": map[string]any{"type": "LoadBalancer", "externalTrafficPolicy": "Local"},
	},
}

func TestRelayChart(t *testing.T) {
	if _, err := render(t, relayChart, nil); err == nil || !strings.Contains(err.Error(), "relay.gateways is required") {
		t.Errorf("defaults without a gateway: %v, want the required-gateway error", err)
	}
	gw := []any{"https://collector.example/gateway"}
	for name, relay := range map[string]map[string]any{
		"misspelt value": {"gateways": gw, "trustedProxy": []any{"10.0.0.0/8"}},
		"zero rate":      {"gateways": gw, "rate": 0},
		"not a URL":      {"gateways": []any{"collector.example"}},
	} {
		if _, err := render(t, relayChart, map[string]any{"relay": relay}); err == nil {
			t.Errorf("%s: rendered", name)
		}
	}
	for name, vals := range relayValueSets {
		t.Run(name, func(t *testing.T) {
			m := mustRender(t, relayChart, vals)
			if len(m.deployments) != 1 || len(m.services) != 1 || len(m.netpols) != 1 {
				t.Fatalf("%d Deployments, %d Services, %d NetworkPolicies", len(m.deployments), len(m.services), len(m.netpols))
			}
			d := m.deployments[0]
			pod := d.Spec.Template.Spec
			checkPodHardening(t, &pod)
			c := pod.Containers[0]
			var gateways []string
			for _, a := range c.Args {
				if g, ok := strings.CutPrefix(a, "--gateway="); ok {
					gateways = append(gateways, g)
				}
			}
			want := []string{}
			for _, g := range get(vals, "relay", "gateways").([]any) {
				want = append(want, g.(string))
			}
			if !slices.Equal(gateways, want) {
				t.Errorf("gateways %v, want %v", gateways, want)
			}
			if c.Args[0] != "relay" {
				t.Errorf("args %q do not run the relay", c.Args)
			}
			if !strings.Contains(m.notes, "organisation other than the collector's") {
				t.Error("NOTES do not say who should run the relay")
			}
			tls := get(vals, "relay", "tlsSecretName") != nil
			if got := slices.Contains(c.Args, "--tls-cert=/tls/tls.crt"); got != tls {
				t.Errorf("TLS flag %v, want %v", got, tls)
			}
			if tp := get(vals, "relay", "trustedProxies"); tp != nil && !slices.Contains(c.Args, "--trusted-proxies=10.0.0.0/8") {
				t.Errorf("args %q lack --trusted-proxies", c.Args)
			}
			if !selects(m.services[0].Spec.Selector, d.Spec.Template.Labels) {
				t.Error("Service does not select the pods")
			}
			if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/healthz" {
				t.Error("no readiness probe on /healthz")
			}
		})
	}
}

// The rendered bytes are stable: rendering twice gives the same objects
// (no random names or timestamps that would churn every upgrade).
func TestRenderIsDeterministic(t *testing.T) {
	a, err := render(t, veilChart, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := render(t, veilChart, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k := range a {
		if !bytes.Equal([]byte(a[k]), []byte(b[k])) {
			t.Errorf("%s differs between two renderings", k)
		}
	}
}
