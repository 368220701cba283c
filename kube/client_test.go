package kube

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/schema"
)

const testKubeconfig = `apiVersion: v1
kind: Config
current-context: one
clusters:
- name: c1
  cluster: {server: "https://one.example:6443", certificate-authority-data: "%s"}
- name: c2
  cluster: {server: "https://two.example:6443"}
contexts:
- name: one
  context: {cluster: c1, user: u, namespace: team-a}
- name: two
  context: {cluster: c2, user: u}
users:
- name: u
  user: {token: abc}
`

func TestNewClient(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(testKubeconfig, testCA(t))), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "other")
	if err := os.WriteFile(other, []byte("apiVersion: v1\nkind: Config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	yes := true
	tests := []struct {
		name     string
		cfg      func(*schema.Config)
		env      string // KUBECONFIG
		host, ns string
		insecure bool
		wantErr  string
	}{
		{name: "kubeconfig key", cfg: func(c *schema.Config) { c.Kubeconfig = path }, host: "https://one.example:6443", ns: "team-a"},
		{name: "KUBECONFIG", env: path, host: "https://one.example:6443", ns: "team-a"},
		{name: "kube_context", cfg: func(c *schema.Config) { c.Kubeconfig = path; c.KubeContext = "two" }, host: "https://two.example:6443", ns: "default"},
		{name: "list of files", cfg: func(c *schema.Config) { c.Kubeconfig = other + ":" + path }, host: "https://one.example:6443", ns: "team-a"},
		{name: "accept invalid certificates", cfg: func(c *schema.Config) { c.Kubeconfig = path; c.AcceptInvalidCertificates = &yes }, host: "https://one.example:6443", ns: "team-a", insecure: true},
		{name: "unknown context", cfg: func(c *schema.Config) { c.Kubeconfig = path; c.KubeContext = "three" }, wantErr: `kube_context "three" is not in the kubeconfig`},
		{name: "missing file", cfg: func(c *schema.Config) { c.Kubeconfig = filepath.Join(dir, "nope") }, wantErr: "(the config's kubeconfig key)"},
		{name: "nothing configured", env: other, wantErr: "no Kubernetes cluster configured"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("KUBECONFIG", tt.env)
			t.Setenv("HOME", dir)
			t.Setenv("KUBERNETES_SERVICE_HOST", "")
			cfg := schema.Default()
			if tt.cfg != nil {
				tt.cfg(cfg)
			}
			c, err := NewClient(cfg)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Config.Host != tt.host || c.Namespace != tt.ns || c.Config.Insecure != tt.insecure {
				t.Errorf("host %q namespace %q insecure %v", c.Config.Host, c.Namespace, c.Config.Insecure)
			}
			if tt.insecure && len(c.Config.CAData) != 0 {
				t.Error("CA data kept with accept_invalid_certificates")
			}
		})
	}
}

// testCA returns a self-signed CA certificate, PEM in base64, as a
// kubeconfig's certificate-authority-data holds it.
func testCA(t *testing.T) string {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test-ca"},
		NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return base64.StdEncoding.EncodeToString(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

func TestKubeconfigPaths(t *testing.T) {
	home, _ := os.UserHomeDir()
	got, err := kubeconfigPaths("~/a:/b::~")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(home, "a"), "/b", home}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %q, want %q", got, want)
	}
}
