package helmchart_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// checkHTTPCheck: with httpCheck.enabled the HTTP check listener is
// configured (check_addr on ports.check), the container and the headless
// Service expose it as "check", readiness stays /readyz on the ops port,
// and the NetworkPolicy admits networkPolicy.checkFrom to it and nobody
// else (not the gateway's or Prometheus' peers, not extauthz's own pods).
// Disabled: no listener, no port, and no peer reaches ports.check.
func checkHTTPCheck(t *testing.T, v obj, k map[string][]obj) {
	t.Helper()
	on := get(v, "httpCheck", "enabled") == true
	port, _ := strconv.Atoi(str(get(v, "ports", "check")))
	dep := one(t, k, "Deployment")
	c := get(dep, "spec", "template", "spec", "containers", 0)
	podLabels := labelsOf(get(dep, "spec", "template", "metadata", "labels"))
	cport := namedPort(get(c, "ports"), "check")
	sport := namedPort(get(one(t, k, "Service"), "spec", "ports"), "check")
	conf := renderedConfig(t, k)
	var np obj
	if len(k["NetworkPolicy"]) == 1 {
		np = k["NetworkPolicy"][0]
	}
	others := append(append([]any{}, peersOf(v, "grpcFrom")...), peersOf(v, "metricsFrom")...)
	if !on {
		if cport != nil || sport != nil || conf["check_addr"] != nil {
			t.Errorf("httpCheck off: container port %v, Service port %v, check_addr %v; want none", cport, sport, conf["check_addr"])
		}
		if np != nil {
			for _, p := range others {
				if admits(np, sample(get(p, "podSelector")), sample(get(p, "namespaceSelector")), "elsewhere", port) {
					t.Errorf("httpCheck off: NetworkPolicy admits peer %v to port %d", p, port)
				}
			}
		}
		return
	}
	if str(get(cport, "containerPort")) != strconv.Itoa(port) {
		t.Errorf("container port check = %v, want containerPort %d", cport, port)
	}
	if str(get(sport, "port")) != strconv.Itoa(port) || str(get(sport, "targetPort")) != "check" {
		t.Errorf("Service port check = %v, want port %d to targetPort check", sport, port)
	}
	if str(conf["check_addr"]) != ":"+strconv.Itoa(port) {
		t.Errorf("config check_addr %v, want :%d", conf["check_addr"], port)
	}
	if str(get(c, "readinessProbe", "httpGet", "port")) != "http-metrics" {
		t.Errorf("readinessProbe = %v, want /readyz on the ops port, as without the HTTP check", get(c, "readinessProbe"))
	}
	if get(v, "networkPolicy", "enabled") != true {
		return
	}
	if np == nil {
		t.Fatal("networkPolicy on but no NetworkPolicy")
	}
	checkFrom := peersOf(v, "checkFrom")
	checkPeers(t, np, checkFrom, port, podLabels)
	for _, p := range others {
		named := false
		for _, cp := range checkFrom {
			named = named || reflect.DeepEqual(p, cp)
		}
		pod, ns := sample(get(p, "podSelector")), sample(get(p, "namespaceSelector"))
		if !named && admits(np, pod, ns, "elsewhere", port) {
			t.Errorf("NetworkPolicy admits %v (namespace %v), which checkFrom does not name, to the HTTP check port %d", pod, ns, port)
		}
	}
}

// namedPort returns the entry of a ports list with that name, or nil.
func namedPort(ports any, name string) any {
	l, _ := ports.([]any)
	for _, p := range l {
		if str(get(p, "name")) == name {
			return p
		}
	}
	return nil
}

// renderedConfig parses extauthz.yaml of the *-config ConfigMap.
func renderedConfig(t *testing.T, k map[string][]obj) obj {
	t.Helper()
	for _, o := range k["ConfigMap"] {
		if strings.HasSuffix(str(get(o, "metadata", "name")), "-config") {
			var conf obj
			if err := yaml.Unmarshal([]byte(str(get(o, "data", "extauthz.yaml"))), &conf); err != nil {
				t.Fatalf("ConfigMap extauthz.yaml: %v", err)
			}
			return conf
		}
	}
	t.Fatal("no ConfigMap *-config")
	return nil
}

// renderFails runs helm template with the value overrides and returns its
// error output; the test fails when the chart renders.
func renderFails(t *testing.T, set ...string) string {
	t.Helper()
	args := []string{"template", chart, filepath.Join(root(), "deploy/helm/extauthz"),
		"--namespace", namespace, "--kube-version", "1.30.0"}
	for _, s := range set {
		args = append(args, "--set", s)
	}
	cmd := exec.Command(helm(t), args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatalf("helm template with %v rendered; want a refusal", set)
	}
	return stderr.String()
}

// An empty peer list is refused, never rendered: a NetworkPolicy rule
// with `from: []` admits every source. The HTTP check's peers are
// required; grpcFrom may be empty only when the HTTP check is the front
// end's way in, and then no rule opens the gRPC port.
func TestNetworkPolicyRefusesEmptyPeers(t *testing.T) {
	for _, c := range []struct {
		set  []string
		want string
	}{
		{[]string{"httpCheck.enabled=true"}, "networkPolicy.checkFrom"},
		{[]string{"httpCheck.enabled=true", "networkPolicy.checkFrom=null"}, "networkPolicy.checkFrom"},
		{[]string{"networkPolicy.grpcFrom=null"}, "networkPolicy.grpcFrom"},
	} {
		if out := renderFails(t, c.set...); !strings.Contains(out, c.want) {
			t.Errorf("%v: error %q does not name %s", c.set, out, c.want)
		}
	}
	k := byKind(render(t, "", "httpCheck.enabled=true", "networkPolicy.grpcFrom=null",
		"networkPolicy.checkFrom[0].podSelector.matchLabels.app\\.kubernetes\\.io/name=traefik"))
	np := one(t, k, "NetworkPolicy")
	for _, r := range get(np, "spec", "ingress").([]any) {
		if n, _ := strconv.Atoi(str(get(r, "ports", 0, "port"))); n == 9191 {
			t.Errorf("grpcFrom empty: a rule still opens the gRPC port: %v", r)
		}
	}
	if !admits(np, map[string]string{"app.kubernetes.io/name": "traefik"}, nil, namespace, 9092) {
		t.Errorf("the checkFrom peer is not admitted to the HTTP check")
	}
}

// check_addr is the chart's, like grpc_addr and http_addr: a value in
// config would open a listener the Service and the NetworkPolicy know
// nothing of.
func TestChartOwnsCheckAddr(t *testing.T) {
	if out := renderFails(t, "config.check_addr=:9999"); !strings.Contains(out, "config.check_addr is set by the chart") {
		t.Errorf("config.check_addr: error %q", out)
	}
}
