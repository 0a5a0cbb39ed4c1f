// Package helmchart_test renders the Helm chart deploy/helm/extauthz with
// each value set `make deploy-check` uses and asserts what kubeconform
// cannot see: that the NetworkPolicy admits exactly the peers the values
// name (a rewrite of its peers once made every Check fail closed), that the
// HTTP check port exists only with httpCheck.enabled and admits only
// networkPolicy.checkFrom (httpcheck_test.go), that the
// replica count and the HPA never both exist, that the Service is headless,
// the PDB's maxUnavailable, the probes, the shutdown timings, the security
// context, the config checksum, the migration hook, and that the rendered
// configuration passes `extauthz serve --check-config`.
//
// helm comes from $EXTAUTHZ_HELM, else from scripts/tool.sh (built and
// cached on first use).
package helmchart_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

const (
	chart     = "extauthz"
	namespace = "extauthz"
)

type obj = map[string]any

// valueSets are the value files deploy-check renders, relative to the chart:
// the chart's CI sets and the values of the Traefik on Kubernetes example.
var valueSets = []string{"", "ci/fixed-replicas-monitoring-values.yaml", "ci/in-memory-custom-peers-values.yaml",
	"ci/http-check-traefik-values.yaml", "../../traefik/kubernetes/extauthz-values.yaml"}

var (
	helmOnce sync.Once
	helmPath string
	helmErr  error
)

func root() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func helm(t *testing.T) string {
	t.Helper()
	helmOnce.Do(func() {
		if p := os.Getenv("EXTAUTHZ_HELM"); p != "" {
			helmPath = p
			return
		}
		cmd := exec.Command("scripts/tool.sh", "--path", "helm")
		cmd.Dir = root()
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			helmErr = fmt.Errorf("scripts/tool.sh --path helm: %v\n%s", err, stderr.String())
			return
		}
		helmPath = strings.TrimSpace(string(out))
	})
	if helmErr != nil {
		t.Fatal(helmErr)
	}
	return helmPath
}

// render runs helm template and returns the objects.
func render(t *testing.T, values string, set ...string) []obj {
	t.Helper()
	args := []string{"template", chart, filepath.Join(root(), "deploy/helm/extauthz"),
		"--namespace", namespace, "--kube-version", "1.30.0"}
	if values != "" {
		args = append(args, "-f", filepath.Join(root(), "deploy/helm/extauthz", values))
	}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helm %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	dec := yaml.NewDecoder(bytes.NewReader(out))
	var objs []obj
	for {
		var o obj
		err := dec.Decode(&o)
		if errors.Is(err, io.EOF) {
			return objs
		}
		if err != nil {
			t.Fatalf("rendered YAML: %v", err)
		}
		if o != nil {
			objs = append(objs, o)
		}
	}
}

// values returns the chart's values.yaml with the value file laid over
// it (maps merged, lists replaced, as Helm does).
func values(t *testing.T, file string) obj {
	t.Helper()
	read := func(name string) obj {
		b, err := os.ReadFile(filepath.Join(root(), "deploy/helm/extauthz", name))
		if err != nil {
			t.Fatal(err)
		}
		var v obj
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := read("values.yaml")
	if file != "" {
		merge(v, read(file))
	}
	return v
}

func merge(dst, src obj) {
	for k, sv := range src {
		if sm, ok := sv.(obj); ok {
			if dm, ok := dst[k].(obj); ok {
				merge(dm, sm)
				continue
			}
		}
		dst[k] = sv
	}
}

// get walks a path of map keys and list indexes.
func get(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(obj)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func labelsOf(v any) map[string]string {
	out := map[string]string{}
	if m, ok := v.(obj); ok {
		for k, x := range m {
			out[k] = str(x)
		}
	}
	return out
}

// byKind indexes the rendered objects.
func byKind(objs []obj) map[string][]obj {
	m := map[string][]obj{}
	for _, o := range objs {
		m[str(o["kind"])] = append(m[str(o["kind"])], o)
	}
	return m
}

func one(t *testing.T, k map[string][]obj, kind string) obj {
	t.Helper()
	if len(k[kind]) != 1 {
		t.Fatalf("want one %s, got %d", kind, len(k[kind]))
	}
	return k[kind][0]
}

// selects implements a Kubernetes LabelSelector (nil or {} selects all).
func selects(sel any, labels map[string]string) bool {
	for k, v := range labelsOf(get(sel, "matchLabels")) {
		if labels[k] != v {
			return false
		}
	}
	exprs, _ := get(sel, "matchExpressions").([]any)
	for _, e := range exprs {
		key, op := str(get(e, "key")), str(get(e, "operator"))
		val, has := labels[key]
		in := false
		vals, _ := get(e, "values").([]any)
		for _, x := range vals {
			if str(x) == val {
				in = true
			}
		}
		ok := map[string]bool{"In": has && in, "NotIn": !has || !in, "Exists": has, "DoesNotExist": !has}[op]
		if !ok {
			return false
		}
	}
	return true
}

// sample builds labels a selector selects (In: the first value).
func sample(sel any) map[string]string {
	l := labelsOf(get(sel, "matchLabels"))
	exprs, _ := get(sel, "matchExpressions").([]any)
	for _, e := range exprs {
		switch str(get(e, "operator")) {
		case "In":
			l[str(get(e, "key"))] = str(get(e, "values", 0))
		case "Exists":
			l[str(get(e, "key"))] = "x"
		}
	}
	return l
}

// admits says whether a NetworkPolicy lets a pod (its labels, its
// namespace and that namespace's labels) reach port on the selected pods.
func admits(np obj, pod, ns map[string]string, podNS string, port int) bool {
	rules, _ := get(np, "spec", "ingress").([]any)
	for _, r := range rules {
		portOK := false
		ports, _ := get(r, "ports").([]any)
		for _, p := range ports {
			if n, _ := strconv.Atoi(str(get(p, "port"))); n == port {
				portOK = true
			}
		}
		if len(ports) == 0 {
			portOK = true
		}
		if !portOK {
			continue
		}
		peers, _ := get(r, "from").([]any)
		for _, p := range peers {
			nsSel, podSel := get(p, "namespaceSelector"), get(p, "podSelector")
			nsOK := podNS == namespace
			if nsSel != nil {
				nsOK = selects(nsSel, ns)
			}
			podOK := podSel == nil || selects(podSel, pod)
			if nsOK && podOK {
				return true
			}
		}
	}
	return false
}

// checkPeers asserts that the policy's rule for port has exactly the
// values' peers and admits a pod of each of them, and nothing else: not
// extauthz's own pods, not an unlabelled pod in the peers' namespaces.
// No peers in the values: no rule for the port (a rule with an empty
// from would admit every source).
func checkPeers(t *testing.T, np obj, peers []any, port int, serverPod map[string]string) {
	t.Helper()
	var from []any
	rules, _ := get(np, "spec", "ingress").([]any)
	for _, r := range rules {
		if n, _ := strconv.Atoi(str(get(r, "ports", 0, "port"))); n == port {
			from, _ = get(r, "from").([]any)
			if len(from) == 0 {
				t.Errorf("NetworkPolicy port %d: a rule without peers admits every source", port)
			}
		}
	}
	if len(peers) == 0 {
		peers = nil
	}
	if !reflect.DeepEqual(from, peers) {
		t.Errorf("NetworkPolicy port %d peers:\n got  %v\n want %v (the values, as given)", port, from, peers)
	}
	for _, p := range peers {
		pod, ns := sample(get(p, "podSelector")), sample(get(p, "namespaceSelector"))
		if !admits(np, pod, ns, "elsewhere", port) {
			t.Errorf("NetworkPolicy does not admit a pod with labels %v in a namespace with labels %v to port %d", pod, ns, port)
		}
		if admits(np, map[string]string{"app.kubernetes.io/name": "someone-else"}, ns, "elsewhere", port) {
			t.Errorf("NetworkPolicy admits an unrelated pod of namespace %v to port %d", ns, port)
		}
	}
	if admits(np, serverPod, map[string]string{"kubernetes.io/metadata.name": namespace}, namespace, port) {
		t.Errorf("NetworkPolicy admits extauthz's own pods to port %d: its peers were rewritten to the server's labels", port)
	}
}

// peersOf returns networkPolicy.<key> of the values (nil when empty).
func peersOf(v obj, key string) []any {
	l, _ := get(v, "networkPolicy", key).([]any)
	return l
}

func TestChartRendersWhatTheValuesSay(t *testing.T) {
	for _, vs := range valueSets {
		name := "default"
		if vs != "" {
			name = strings.TrimSuffix(strings.TrimPrefix(vs, "../../"), "-values.yaml")
		}
		t.Run(name, func(t *testing.T) {
			v := values(t, vs)
			k := byKind(render(t, vs))
			checkObjects(t, v, k)
		})
	}
}

func checkObjects(t *testing.T, v obj, k map[string][]obj) {
	dep := one(t, k, "Deployment")
	var cm, dashboard obj
	for _, o := range k["ConfigMap"] {
		switch name := str(get(o, "metadata", "name")); {
		case strings.HasSuffix(name, "-config"):
			cm = o
		case strings.HasSuffix(name, "-dashboard"):
			dashboard = o
		}
	}
	if cm == nil {
		t.Fatalf("no ConfigMap *-config")
	}
	if (dashboard != nil) != (get(v, "metrics", "grafanaDashboard", "enabled") == true) {
		t.Errorf("dashboard ConfigMap rendered: %v, grafanaDashboard.enabled: %v", dashboard != nil, get(v, "metrics", "grafanaDashboard", "enabled"))
	}
	if dashboard != nil {
		for lk, lv := range labelsOf(get(v, "metrics", "grafanaDashboard", "labels")) {
			if labelsOf(get(dashboard, "metadata", "labels"))[lk] != lv {
				t.Errorf("dashboard ConfigMap lacks label %s=%s", lk, lv)
			}
		}
		if !json.Valid([]byte(str(get(dashboard, "data", "extauthz.json")))) {
			t.Errorf("dashboard ConfigMap holds no valid JSON")
		}
	}
	svc := one(t, k, "Service")
	pod := get(dep, "spec", "template")
	podLabels := labelsOf(get(pod, "metadata", "labels"))
	if !selects(get(dep, "spec", "selector"), podLabels) {
		t.Fatalf("Deployment selector does not select its pods")
	}
	for kind, list := range k {
		for _, o := range list {
			if ns := str(get(o, "metadata", "namespace")); ns != namespace {
				t.Errorf("%s %s in namespace %q, want the release's %q", kind, get(o, "metadata", "name"), ns, namespace)
			}
		}
	}

	// Replicas or HPA, never both.
	hpas := k["HorizontalPodAutoscaler"]
	replicas, hasReplicas := get(dep, "spec").(obj)["replicas"]
	if get(v, "autoscaling", "enabled") == true {
		if len(hpas) != 1 || hasReplicas {
			t.Errorf("autoscaling on: want an HPA and no Deployment replicas, got %d HPAs, replicas %v", len(hpas), replicas)
		}
		if len(hpas) == 1 && str(get(hpas[0], "spec", "scaleTargetRef", "name")) != str(get(dep, "metadata", "name")) {
			t.Errorf("HPA targets %v", get(hpas[0], "spec", "scaleTargetRef"))
		}
	} else if len(hpas) != 0 || str(replicas) != str(get(v, "replicaCount")) {
		t.Errorf("autoscaling off: want no HPA and replicas %v, got %d HPAs, replicas %v", get(v, "replicaCount"), len(hpas), replicas)
	}

	// Headless Service selecting the pods, the gRPC port by name.
	if str(get(svc, "spec", "clusterIP")) != "None" {
		t.Errorf("Service clusterIP = %v, want None (headless: Envoy resolves every pod)", get(svc, "spec", "clusterIP"))
	}
	if !selects(obj{"matchLabels": get(svc, "spec", "selector")}, podLabels) {
		t.Errorf("Service selector %v does not select the pods %v", get(svc, "spec", "selector"), podLabels)
	}

	// PDB.
	if get(v, "podDisruptionBudget", "enabled") == true {
		pdb := one(t, k, "PodDisruptionBudget")
		spec := get(pdb, "spec").(obj)
		if str(spec["maxUnavailable"]) != "1" || spec["minAvailable"] != nil {
			t.Errorf("PDB spec %v, want maxUnavailable 1 and no minAvailable", spec)
		}
		if !selects(spec["selector"], podLabels) {
			t.Errorf("PDB selector does not select the pods")
		}
	}

	// NetworkPolicy: the peers are the values', and admit what they name.
	if get(v, "networkPolicy", "enabled") == true {
		np := one(t, k, "NetworkPolicy")
		if !selects(get(np, "spec", "podSelector"), podLabels) {
			t.Errorf("NetworkPolicy does not select the server pods")
		}
		grpcPort, _ := strconv.Atoi(str(get(v, "ports", "grpc")))
		httpPort, _ := strconv.Atoi(str(get(v, "ports", "http")))
		checkPeers(t, np, peersOf(v, "grpcFrom"), grpcPort, podLabels)
		checkPeers(t, np, peersOf(v, "metricsFrom"), httpPort, podLabels)
	}
	checkHTTPCheck(t, v, k)

	// The container: probes, shutdown, security.
	c := get(pod, "spec", "containers", 0)
	grpcPort := str(get(c, "ports", 0, "containerPort"))
	if str(get(c, "ports", 0, "name")) != "grpc" {
		t.Fatalf("first container port is %v, want grpc", get(c, "ports", 0))
	}
	for _, probe := range []string{"livenessProbe", "startupProbe"} {
		g := get(c, probe, "grpc")
		if g == nil || str(get(g, "port")) != grpcPort || str(get(g, "service")) != "" {
			t.Errorf("%s = %v, want gRPC health of \"\" on %s (the process, never the database)", probe, get(c, probe), grpcPort)
		}
	}
	if str(get(c, "readinessProbe", "httpGet", "path")) != "/readyz" {
		t.Errorf("readinessProbe = %v, want GET /readyz", get(c, "readinessProbe"))
	}
	var conf obj
	if err := yaml.Unmarshal([]byte(str(get(cm, "data", "extauthz.yaml"))), &conf); err != nil {
		t.Fatalf("ConfigMap extauthz.yaml: %v", err)
	}
	delay, timeout := seconds(t, conf["shutdown_delay"]), seconds(t, conf["shutdown_timeout"])
	preStop, _ := strconv.Atoi(str(get(c, "lifecycle", "preStop", "sleep", "seconds")))
	if preStop != delay {
		t.Errorf("preStop sleep %ds, want shutdown_delay's %ds", preStop, delay)
	}
	grace, _ := strconv.Atoi(str(get(pod, "spec", "terminationGracePeriodSeconds")))
	if grace <= preStop+delay+timeout {
		t.Errorf("terminationGracePeriodSeconds %d, want above preStop %d + shutdown_delay %d + shutdown_timeout %d", grace, preStop, delay, timeout)
	}
	if str(conf["grpc_addr"]) != ":"+grpcPort {
		t.Errorf("config grpc_addr %v, container port %s", conf["grpc_addr"], grpcPort)
	}
	psc, sc := get(pod, "spec", "securityContext"), get(c, "securityContext")
	if get(psc, "runAsNonRoot") != true || str(get(psc, "seccompProfile", "type")) != "RuntimeDefault" ||
		get(sc, "readOnlyRootFilesystem") != true || get(sc, "allowPrivilegeEscalation") != false ||
		!reflect.DeepEqual(get(sc, "capabilities", "drop"), []any{"ALL"}) {
		t.Errorf("security context: pod %v, container %v", psc, sc)
	}
	tsc, _ := get(pod, "spec", "topologySpreadConstraints").([]any)
	for _, ts := range tsc {
		if !selects(get(ts, "labelSelector"), podLabels) {
			t.Errorf("topology spread %v does not select the pods", ts)
		}
	}
	if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(str(get(pod, "metadata", "annotations", "checksum/config"))) {
		t.Errorf("pod template lacks the checksum/config annotation")
	}

	// Secrets stay out of the ConfigMap; they come from Secrets.
	text := str(get(cm, "data", "extauthz.yaml"))
	if regexp.MustCompile(`://[^/@\s]*:[^/@\s]*@|password|database_url: postgres://[^@]*$`).MatchString(text) {
		t.Errorf("ConfigMap holds a password:\n%s", text)
	}
	env := map[string]any{}
	envList, _ := get(c, "env").([]any)
	for _, e := range envList {
		env[str(get(e, "name"))] = e
	}
	db := str(get(v, "database", "existingSecret"))
	jobs := k["Job"]
	if db != "" {
		if str(get(env["EXTAUTHZ_DATABASE_URL"], "valueFrom", "secretKeyRef", "name")) != db {
			t.Errorf("EXTAUTHZ_DATABASE_URL = %v, want from Secret %s", env["EXTAUTHZ_DATABASE_URL"], db)
		}
		if len(jobs) != 1 || !strings.Contains(str(get(jobs[0], "metadata", "annotations", "helm.sh/hook")), "pre-upgrade") {
			t.Errorf("want one pre-install/pre-upgrade migration Job, got %d", len(jobs))
		}
	} else if env["EXTAUTHZ_DATABASE_URL"] != nil || len(jobs) != 0 {
		t.Errorf("no database: want no EXTAUTHZ_DATABASE_URL and no migration Job")
	}
	if pg := str(get(v, "pgpass", "existingSecret")); pg != "" {
		if env["PGPASSFILE"] == nil {
			t.Errorf("pgpass.existingSecret set but no PGPASSFILE")
		}
		found := false
		vols, _ := get(pod, "spec", "volumes").([]any)
		for _, vol := range vols {
			found = found || str(get(vol, "secret", "secretName")) == pg
		}
		if !found {
			t.Errorf("no volume from Secret %s", pg)
		}
	}

	// prometheus-operator objects select the pods and carry the extra labels.
	for _, m := range []struct{ kind, key string }{{"ServiceMonitor", "serviceMonitor"}, {"PodMonitor", "podMonitor"}, {"PrometheusRule", "prometheusRule"}} {
		if get(v, "metrics", m.key, "enabled") != true {
			if len(k[m.kind]) != 0 {
				t.Errorf("%s rendered though disabled", m.kind)
			}
			continue
		}
		o := one(t, k, m.kind)
		got := labelsOf(get(o, "metadata", "labels"))
		for lk, lv := range labelsOf(get(v, "metrics", m.key, "labels")) {
			if got[lk] != lv {
				t.Errorf("%s lacks label %s=%s", m.kind, lk, lv)
			}
		}
		if m.kind == "PodMonitor" && !selects(get(o, "spec", "selector"), podLabels) {
			t.Errorf("PodMonitor does not select the pods")
		}
		if m.kind == "ServiceMonitor" && !selects(get(o, "spec", "selector"), labelsOf(get(svc, "metadata", "labels"))) {
			t.Errorf("ServiceMonitor does not select the Service")
		}
		if m.kind == "PrometheusRule" {
			want := fmt.Sprintf("vector(%g)", float64(duration(t, conf["envoy_timeout"]))/float64(time.Second))
			if r := fmt.Sprint(get(o, "spec")); !strings.Contains(r, want) {
				t.Errorf("PrometheusRule lacks %s (envoy_timeout %v)", want, conf["envoy_timeout"])
			}
		}
	}

	checkConfig(t, text)
}

func duration(t *testing.T, v any) time.Duration {
	t.Helper()
	d, err := time.ParseDuration(str(v))
	if err != nil {
		t.Fatalf("duration %v: %v", v, err)
	}
	return d
}

func seconds(t *testing.T, v any) int { return int(duration(t, v) / time.Second) }

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// checkConfig runs `extauthz serve --check-config` on the rendered file.
func checkConfig(t *testing.T, text string) {
	t.Helper()
	binOnce.Do(func() {
		if p := os.Getenv("EXTAUTHZ_BIN"); p != "" {
			binPath = p
			return
		}
		dir, err := os.MkdirTemp("", "extauthz-chart-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "extauthz")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/extauthz")
		cmd.Dir = root()
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	f := filepath.Join(t.TempDir(), "extauthz.yaml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binPath, "serve", "--check-config", "--config", f)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("extauthz serve --check-config on the rendered ConfigMap: %v\n%s\n%s", err, out, text)
	}
}

// The checks above would have caught the kustomize includeSelectors bug:
// the same policy with its peers' pod selectors rewritten to the server's
// labels admits neither Envoy nor Prometheus.
func TestPeerCheckCatchesRewrittenSelectors(t *testing.T) {
	k := byKind(render(t, ""))
	np := one(t, k, "NetworkPolicy")
	peers := get(values(t, ""), "networkPolicy", "grpcFrom").([]any)
	gateway := sample(get(peers[0], "podSelector"))
	gwNS := sample(get(peers[0], "namespaceSelector"))
	if !admits(np, gateway, gwNS, "gateway", 9191) {
		t.Fatalf("the rendered policy does not admit the gateway %v", gateway)
	}
	for _, r := range get(np, "spec", "ingress").([]any) {
		for _, p := range get(r, "from").([]any) {
			p.(obj)["podSelector"] = obj{"matchLabels": obj{"app.kubernetes.io/name": "extauthz"}}
		}
	}
	if admits(np, gateway, gwNS, "gateway", 9191) {
		t.Fatalf("a policy whose peers were rewritten still admits the gateway: the check is blind")
	}
}

// A change of configuration changes the pod template (the pods roll); a
// new image gives the migration Job a new name (kubectl apply cannot
// change a Job's pod template).
func TestConfigChecksumAndJobName(t *testing.T) {
	base := byKind(render(t, ""))
	changed := byKind(render(t, "", "config.log.level=debug", "image.tag=v9.9.9"))
	sum := func(k map[string][]obj) string {
		return str(get(one(t, k, "Deployment"), "spec", "template", "metadata", "annotations", "checksum/config"))
	}
	if sum(base) == sum(changed) {
		t.Errorf("checksum/config did not change with the configuration")
	}
	if str(get(one(t, base, "Job"), "metadata", "name")) == str(get(one(t, changed, "Job"), "metadata", "name")) {
		t.Errorf("the migration Job keeps its name across images")
	}
}
