//go:build linux

package cluster

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/mirrord-go/mirrord/e2e/apps/sample"
	"github.com/mirrord-go/mirrord/schema"
)

// testData is a confData with fixed images, as Up would compute it.
func testData(dir string) confData {
	d := confData{
		Dir: dir, NodeName: NodeName, NodeIP: "192.0.2.2",
		PodCIDR: PodCIDR, ClusterCIDR: ClusterCIDR, DNSServiceIP: DNSServiceIP,
		Bridge: Bridge, Runc: "/usr/sbin/runc", SandboxImage: PauseImage, Namespace: Namespace,
		ContainerdSock: ContainerdSocket,
		Images:         map[string]string{}, ImageKeys: map[string]string{}, Sample: sampleDefaults,
	}
	for _, img := range Images("1.2.3") {
		d.Images[img.Name] = img.Ref
		d.ImageKeys[img.Name] = "0123456789abcdef"
	}
	return d
}

func TestRenderConfigs(t *testing.T) {
	dir := t.TempDir()
	changed, err := renderConfigs(testData("/srv/e2e"), dir)
	if err != nil || len(changed) != len(renderedConfigs) {
		t.Fatalf("renderConfigs = %v, %v; want every file written", changed, err)
	}
	if changed, err := renderConfigs(testData("/srv/e2e"), dir); err != nil || len(changed) != 0 {
		t.Errorf("second renderConfigs = %v, %v; want nothing changed", changed, err)
	}
	tests := []struct {
		file string
		want []string
	}{
		{"containerd.toml", []string{`address = "/run/containerd/containerd.sock"`, `sandbox_image = "registry.k8s.io/pause:3.10"`, "restrict_oom_score_adj = true", `BinaryName = "/usr/sbin/runc"`, `conf_dir = "/srv/e2e/run/conf/cni"`}},
		{"kubelet.yaml", []string{"failCgroupV1: false", "clusterDNS: [10.96.0.10]", "containerRuntimeEndpoint: unix:///run/containerd/containerd.sock", "volumePluginDir: /srv/e2e/state/kubelet-plugins"}},
		{"kube-proxy.yaml", []string{"hostnameOverride: " + NodeName, "kubeconfig: /srv/e2e/pki/kube-proxy.kubeconfig"}},
		{"cni/10-mirrord-e2e.conflist", []string{`"bridge": "cni0"`, `"subnet": "10.244.0.0/24"`}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(data), w) {
					t.Errorf("%s lacks %q:\n%s", tt.file, w, data)
				}
			}
		})
	}
	var conflist map[string]any
	data, _ := os.ReadFile(filepath.Join(dir, "cni/10-mirrord-e2e.conflist"))
	if err := json.Unmarshal(data, &conflist); err != nil {
		t.Errorf("conflist is not JSON: %v", err)
	}
}

func TestRenderRejectsPlaceholders(t *testing.T) {
	for _, text := range []string{"a: {{.Missing}}", "a: ${CLUSTER_DIR}", "a: {{`{{`}}"} {
		if _, err := render("t", text, testData("/d")); err == nil {
			t.Errorf("render(%q) succeeded", text)
		}
	}
}

func find(objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	return nil
}

func TestManifests(t *testing.T) {
	objs, err := renderManifests(testData("/d"))
	if err != nil {
		t.Fatalf("renderManifests: %v", err)
	}
	want := []struct{ kind, name, ns string }{
		{"Namespace", Namespace, ""},
		{"Deployment", "coredns", "kube-system"},
		{"Service", "kube-dns", "kube-system"},
		{"ConfigMap", "web-env", Namespace},
		{"Deployment", "web", Namespace}, {"Service", "web", Namespace},
		{"Deployment", "web-multi", Namespace}, {"Service", "web-multi", Namespace},
		{"Deployment", "tcp-echo", Namespace}, {"Service", "tcp-echo", Namespace},
		{"Deployment", "udp-logger", Namespace}, {"Service", "udp-logger", Namespace},
		{"Pod", "sidecar-pod", Namespace},
		{"Deployment", "internal-only", Namespace}, {"Service", "internal-only", Namespace},
		{"StatefulSet", "web-sts", Namespace},
		{"CronJob", "web-cron", Namespace},
		{"Job", "web-job", Namespace},
	}
	for _, w := range want {
		o := find(objs, w.kind, w.name)
		if o == nil {
			t.Errorf("no %s %s", w.kind, w.name)
			continue
		}
		if o.GetNamespace() != w.ns {
			t.Errorf("%s %s in namespace %q, want %q", w.kind, w.name, o.GetNamespace(), w.ns)
		}
	}

	web := find(objs, "Deployment", "web")
	containers, _, _ := unstructured.NestedSlice(web.Object, "spec", "template", "spec", "containers")
	if len(containers) != 1 {
		t.Fatalf("web has %d containers", len(containers))
	}
	c := containers[0].(map[string]any)
	if c["image"] != SampleAppImage || c["imagePullPolicy"] != "Never" {
		t.Errorf("web image %v policy %v", c["image"], c["imagePullPolicy"])
	}
	env := map[string]string{}
	for _, e := range c["env"].([]any) {
		m := e.(map[string]any)
		env[m["name"].(string)] = m["value"].(string)
	}
	if env[sample.EnvFirst] != sample.EnvFirstValue || env[sample.EnvSecond] != sample.EnvSecondValue {
		t.Errorf("web env = %v", env)
	}
	cm := find(objs, "ConfigMap", "web-env")
	if v, _, _ := unstructured.NestedString(cm.Object, "data", sample.EnvThird); v != sample.EnvThirdValue {
		t.Errorf("configmap %s = %q, want %q", sample.EnvThird, v, sample.EnvThirdValue)
	}

	pod := find(objs, "Pod", "sidecar-pod")
	pcs, _, _ := unstructured.NestedSlice(pod.Object, "spec", "containers")
	if len(pcs) != 2 || pcs[0].(map[string]any)["name"] != "web" || pcs[1].(map[string]any)["name"] != "istio-proxy" {
		t.Errorf("sidecar-pod containers = %v, want web then istio-proxy", pcs)
	}
	// Every pod template runs with a readiness probe, so Ready means serving.
	for _, o := range objs {
		var cs []any
		switch o.GetKind() {
		case "Deployment", "StatefulSet", "Job":
			cs, _, _ = unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
		case "Pod":
			cs, _, _ = unstructured.NestedSlice(o.Object, "spec", "containers")
		default:
			continue
		}
		for _, c := range cs {
			if _, ok := c.(map[string]any)["readinessProbe"]; !ok {
				t.Errorf("%s %s container %v has no readiness probe", o.GetKind(), o.GetName(), c.(map[string]any)["name"])
			}
		}
	}
}

func TestIptablesCleanup(t *testing.T) {
	saved := `# Generated by iptables-save
*nat
:PREROUTING ACCEPT [0:0]
:POSTROUTING ACCEPT [0:0]
:DOCKER - [0:0]
:KUBE-SERVICES - [0:0]
:CNI-abc123 - [0:0]
-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-A POSTROUTING -s 10.244.0.5/32 -m comment --comment "name: \"mirrord-e2e\" id: \"x\"" -j CNI-abc123
-A POSTROUTING -j DOCKER
-A KUBE-SERVICES -j RETURN
COMMIT
`
	got := iptablesCleanup("nat", saved)
	want := `*nat
-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES
-D POSTROUTING -s 10.244.0.5/32 -m comment --comment "name: \"mirrord-e2e\" id: \"x\"" -j CNI-abc123
-F KUBE-SERVICES
-F CNI-abc123
-X KUBE-SERVICES
-X CNI-abc123
COMMIT
`
	if got != want {
		t.Errorf("cleanup script:\n%s\nwant:\n%s", got, want)
	}
	if s := iptablesCleanup("filter", "*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j DOCKER\nCOMMIT\n"); s != "" {
		t.Errorf("nothing to clean, got %q", s)
	}
}

func TestPKI(t *testing.T) {
	dir := t.TempDir()
	c, err := New(dir)
	if err != nil {
		t.Fatal(err)
	}
	c.NodeIP = "192.0.2.7"
	for _, d := range []string{"pki"} {
		if err := os.MkdirAll(c.path(d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.ensurePKI(); err != nil {
		t.Fatalf("ensurePKI: %v", err)
	}
	api, err := readCert(c.pki("apiserver.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := api.VerifyHostname("192.0.2.7"); err != nil {
		t.Errorf("apiserver cert lacks the node IP: %v", err)
	}
	if err := api.VerifyHostname("kubernetes.default.svc"); err != nil {
		t.Errorf("apiserver cert lacks the service name: %v", err)
	}
	admin, _ := readCert(c.pki("admin.crt"))
	if admin.Subject.Organization[0] != "system:masters" || admin.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("admin cert subject %v usage %v", admin.Subject, admin.ExtKeyUsage)
	}
	laptop, err := clientcmd.LoadFromFile(c.LaptopKubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	if got := laptop.Clusters[laptop.Contexts[laptop.CurrentContext].Cluster].Server; got != "https://192.0.2.7:6443" {
		t.Errorf("laptop kubeconfig server = %s", got)
	}
	if _, err := clientcmd.BuildConfigFromFlags("", c.Kubeconfig()); err != nil {
		t.Errorf("admin kubeconfig: %v", err)
	}

	// Same node IP: nothing is reissued. New node IP: the server certs are.
	before, _ := os.ReadFile(c.pki("apiserver.crt"))
	adminBefore, _ := os.ReadFile(c.pki("admin.crt"))
	if err := c.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(c.pki("apiserver.crt")); string(after) != string(before) {
		t.Error("apiserver cert reissued without a reason")
	}
	c.NodeIP = "192.0.2.8"
	if err := c.ensurePKI(); err != nil {
		t.Fatal(err)
	}
	api, _ = readCert(c.pki("apiserver.crt"))
	if !api.IPAddresses[len(api.IPAddresses)-1].Equal(net.ParseIP("192.0.2.8")) {
		t.Errorf("apiserver cert IPs %v lack the new node IP", api.IPAddresses)
	}
	if after, _ := os.ReadFile(c.pki("admin.crt")); string(after) != string(adminBefore) {
		t.Error("client cert reissued on a node IP change")
	}
}

func TestModuleStamp(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"go.mod": "module x\n", "go.sum": "", "main.go": "package main\n"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	a, err := moduleStamp(dir, "go1.26.8", "-s")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := moduleStamp(dir, "go1.26.8", "-s")
	if a != b {
		t.Error("stamp is not stable")
	}
	if c, _ := moduleStamp(dir, "go1.26.9", "-s"); c == a {
		t.Error("stamp ignores the Go version")
	}
	if c, _ := moduleStamp(dir, "go1.26.8", "-s -w"); c == a {
		t.Error("stamp ignores ldflags")
	}
	os.WriteFile(filepath.Join(dir, "main.go"), []byte("package main // changed\n"), 0o644)
	if c, _ := moduleStamp(dir, "go1.26.8", "-s"); c == a {
		t.Error("stamp ignores a source change")
	}
}

func TestSmallHelpers(t *testing.T) {
	if got := unescapeMount(`/var/tmp/a\040b`); got != "/var/tmp/a b" {
		t.Errorf("unescapeMount = %q", got)
	}
	if !hasCgroups("cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n") || hasCgroups("proc /proc proc rw 0 0\n") {
		t.Error("hasCgroups")
	}
	st, state, err := procStat(os.Getpid())
	if err != nil || st == "" || state != "R" && state != "S" {
		t.Errorf("procStat(self) = %q, %q, %v", st, state, err)
	}
	if !alive(os.Getpid(), st) || alive(os.Getpid(), st+"1") {
		t.Error("alive does not check the start time")
	}
	if !strings.HasPrefix(laptopResolvConf(), "# mirrord e2e laptop netns") || strings.Contains(laptopResolvConf(), "cluster.local") {
		t.Errorf("laptop resolv.conf:\n%s", laptopResolvConf())
	}
}

func TestAgentImage(t *testing.T) {
	var agent *Image
	for _, img := range Images("1.2.3") {
		if img.Name == "agent" {
			agent = &img
		}
	}
	if agent == nil {
		t.Fatal("Images has no agent image")
	}
	// The CLI's default image must be the one the cluster imports.
	if want := schema.DefaultAgentRegistry + ":1.2.3"; agent.Ref != want {
		t.Errorf("agent ref = %s; want %s", agent.Ref, want)
	}
	if len(agent.Config.Entrypoint) != 1 || agent.Config.Entrypoint[0] != "/mirrord-agent" {
		t.Errorf("agent entrypoint = %v", agent.Config.Entrypoint)
	}
	if got := rootLDFlags("1.2.3"); !strings.Contains(got, "-X github.com/mirrord-go/mirrord/internal/buildinfo.Version=1.2.3") {
		t.Errorf("rootLDFlags = %q; want the version stamped", got)
	}
}

func TestRepoVersion(t *testing.T) {
	tests := []struct {
		content, want, err string
	}{
		{"0.1.0\n", "0.1.0", ""},
		{"", "", "not a usable image tag"},
		{"1.0 beta", "", "not a usable image tag"},
	}
	for _, tt := range tests {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "VERSION"), []byte(tt.content), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := RepoVersion(dir)
		if got != tt.want || (tt.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tt.err)) {
			t.Errorf("RepoVersion(%q) = %q, %v; want %q, %q", tt.content, got, err, tt.want, tt.err)
		}
	}
	if _, err := RepoVersion(t.TempDir()); err == nil {
		t.Error("RepoVersion without a VERSION file succeeded")
	}
}

func TestSocketInodes(t *testing.T) {
	listing := `Num       RefCount Protocol Flags    Type St Inode Path
0000000000000000: 00000002 00000000 00010000 0001 01 4711 /run/containerd/containerd.sock
0000000000000000: 00000003 00000000 00000000 0001 03 4712 /run/containerd/containerd.sock
0000000000000000: 00000002 00000000 00010000 0001 01 4713 /run/containerd/containerd.sock.ttrpc
0000000000000000: 00000003 00000000 00000000 0001 03 4714
0000000000000000: 00000002 00000000 00010000 0001 01 4715 @/containerd-shim/abc.sock@
`
	got := socketInodes(listing, ContainerdSocket)
	if len(got) != 2 || !got["4711"] || !got["4712"] {
		t.Errorf("socketInodes = %v; want the listener and its accepted connection", got)
	}
}

func TestContainerdSocketOwnership(t *testing.T) {
	c := &Cluster{Dir: "/nonexistent-state-dir", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	sock := filepath.Join(t.TempDir(), "containerd.sock")

	// Nothing there: claimed, nothing left.
	if err := c.claimSocket(sock); err != nil || c.socketLeft(sock) != "" {
		t.Fatalf("no socket: claim %v, left %q", err, c.socketLeft(sock))
	}
	// Served by another program (this test process stands for it).
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	err = c.claimSocket(sock)
	if err == nil || !strings.Contains(err.Error(), "another program already serves "+sock) || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Errorf("claim of a served socket = %v; want a refusal naming the owner", err)
	}
	if left := c.socketLeft(sock); left != "" {
		t.Errorf("a socket of another program is reported as left: %q", left)
	}
	// Its server died without removing it: stale, reported, then removed.
	ln.Close()
	if left := c.socketLeft(sock); !strings.Contains(left, "stale") {
		t.Errorf("left = %q; want the stale socket", left)
	}
	if err := c.claimSocket(sock); err != nil {
		t.Fatalf("claim of a stale socket: %v", err)
	}
	if _, err := os.Lstat(sock); !os.IsNotExist(err) {
		t.Errorf("the stale socket is still there: %v", err)
	}
}
