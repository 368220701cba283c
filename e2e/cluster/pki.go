//go:build linux

package cluster

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// certSpec describes one leaf certificate signed by the cluster CA.
type certSpec struct {
	name   string // file base name in pki/
	cn     string
	org    []string
	server bool // adds serverAuth and the SANs below
	dns    []string
	ips    []string
}

// certSpecs lists every certificate the components use. Client identities
// follow the Kubernetes conventions (system:masters, system:node:<name>, ...)
// so RBAC and the Node authorizer work unchanged.
func (c *Cluster) certSpecs() []certSpec {
	return []certSpec{
		{name: "apiserver", cn: "kube-apiserver", server: true,
			dns: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", NodeName},
			ips: []string{"127.0.0.1", APIServiceIP, c.NodeIP}},
		{name: "admin", cn: "kubernetes-admin", org: []string{"system:masters"}},
		{name: "apiserver-kubelet-client", cn: "kube-apiserver-kubelet-client", org: []string{"system:masters"}},
		{name: "controller-manager", cn: "system:kube-controller-manager"},
		{name: "scheduler", cn: "system:kube-scheduler"},
		{name: "kubelet", cn: "system:node:" + NodeName, org: []string{"system:nodes"}},
		{name: "kubelet-serving", cn: NodeName, server: true,
			dns: []string{NodeName, "localhost"}, ips: []string{"127.0.0.1", c.NodeIP}},
		{name: "kube-proxy", cn: "system:kube-proxy"},
	}
}

// kubeconfigSpec is a kubeconfig written next to the certificates.
type kubeconfigSpec struct {
	path, user, cert, server string
}

func (c *Cluster) kubeconfigSpecs() []kubeconfigSpec {
	local := fmt.Sprintf("https://127.0.0.1:%d", APIPort)
	return []kubeconfigSpec{
		{c.Kubeconfig(), "admin", "admin", local},
		{c.LaptopKubeconfig(), "admin", "admin", fmt.Sprintf("https://%s", net.JoinHostPort(c.NodeIP, fmt.Sprint(APIPort)))},
		{c.pki("controller-manager.kubeconfig"), "system:kube-controller-manager", "controller-manager", local},
		{c.pki("scheduler.kubeconfig"), "system:kube-scheduler", "scheduler", local},
		{c.pki("kubelet.kubeconfig"), "system:node:" + NodeName, "kubelet", local},
		{c.pki("kube-proxy.kubeconfig"), "system:kube-proxy", "kube-proxy", local},
	}
}

func (c *Cluster) pki(name string) string { return c.path("pki", name) }

// ensurePKI creates the CA, the service-account key pair, every leaf
// certificate and the kubeconfigs. Existing files are kept, except server
// certificates whose SANs lack the current node IP (the host's address
// changed), which are reissued.
func (c *Cluster) ensurePKI() error {
	if c.NodeIP == "" {
		return errors.New("pki: node IP unknown")
	}
	caKey, caCert, err := loadOrCreateCA(c.pki("ca.key"), c.pki("ca.crt"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(c.pki("sa.key")); err != nil {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return fmt.Errorf("pki: sa key: %w", err)
		}
		pub, err := x509.MarshalPKIXPublicKey(key.Public())
		if err != nil {
			return fmt.Errorf("pki: sa key: %w", err)
		}
		if err := writeKey(c.pki("sa.key"), key); err != nil {
			return err
		}
		if err := writePEM(c.pki("sa.pub"), "PUBLIC KEY", pub, 0o644); err != nil {
			return err
		}
	}
	for _, s := range c.certSpecs() {
		if certValid(c.pki(s.name+".crt"), c.pki(s.name+".key"), caCert, s) {
			continue
		}
		if err := issue(c.pki(s.name), caKey, caCert, s); err != nil {
			return err
		}
		c.Log.Info("issued certificate", "name", s.name)
	}
	caPEM, err := os.ReadFile(c.pki("ca.crt"))
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	for _, k := range c.kubeconfigSpecs() {
		if err := writeKubeconfig(k, caPEM, c.pki(k.cert+".crt"), c.pki(k.cert+".key")); err != nil {
			return err
		}
	}
	return nil
}

func loadOrCreateCA(keyPath, certPath string) (crypto.Signer, *x509.Certificate, error) {
	if key, err := readKey(keyPath); err == nil {
		cert, err := readCert(certPath)
		if err != nil {
			return nil, nil, err
		}
		return key, cert, nil
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: ca key: %w", err)
	}
	sn, err := serial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          sn,
		Subject:               pkix.Name{CommonName: "mirrord-e2e-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.AddDate(10, 0, 0),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: ca cert: %w", err)
	}
	if err := writeKey(keyPath, key); err != nil {
		return nil, nil, err
	}
	if err := writePEM(certPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, nil, err
	}
	cert, err := x509.ParseCertificate(der)
	return key, cert, err
}

func issue(base string, caKey crypto.Signer, ca *x509.Certificate, s certSpec) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return fmt.Errorf("pki: %s key: %w", s.name, err)
	}
	sn, err := serial()
	if err != nil {
		return err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: sn,
		Subject:      pkix.Name{CommonName: s.cn, Organization: s.org},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.AddDate(10, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		DNSNames:     s.dns,
	}
	if s.server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	for _, ip := range s.ips {
		parsed := net.ParseIP(ip)
		if parsed == nil {
			return fmt.Errorf("pki: %s: bad IP SAN %q", s.name, ip)
		}
		tmpl.IPAddresses = append(tmpl.IPAddresses, parsed)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, key.Public(), caKey)
	if err != nil {
		return fmt.Errorf("pki: %s cert: %w", s.name, err)
	}
	if err := writeKey(base+".key", key); err != nil {
		return err
	}
	return writePEM(base+".crt", "CERTIFICATE", der, 0o644)
}

// certValid reports whether the certificate exists, is signed by ca, has
// its key next to it, lives for at least another day and carries every
// SAN of the spec.
func certValid(certPath, keyPath string, ca *x509.Certificate, s certSpec) bool {
	cert, err := readCert(certPath)
	if err != nil {
		return false
	}
	if _, err := readKey(keyPath); err != nil {
		return false
	}
	if cert.CheckSignatureFrom(ca) != nil || time.Until(cert.NotAfter) < 24*time.Hour {
		return false
	}
	for _, ip := range s.ips {
		if !slices.ContainsFunc(cert.IPAddresses, func(have net.IP) bool { return have.Equal(net.ParseIP(ip)) }) {
			return false
		}
	}
	for _, d := range s.dns {
		if !slices.Contains(cert.DNSNames, d) {
			return false
		}
	}
	return true
}

func writeKubeconfig(k kubeconfigSpec, caPEM []byte, certPath, keyPath string) error {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", k.path, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", k.path, err)
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["mirrord-e2e"] = &clientcmdapi.Cluster{Server: k.server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos[k.user] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["mirrord-e2e"] = &clientcmdapi.Context{Cluster: "mirrord-e2e", AuthInfo: k.user}
	cfg.CurrentContext = "mirrord-e2e"
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("kubeconfig %s: %w", k.path, err)
	}
	return writeIfChanged(k.path, data, 0o600)
}

// writeIfChanged writes data atomically unless the file already holds it.
func writeIfChanged(path string, data []byte, mode os.FileMode) error {
	if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func serial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: serial number: %w", err)
	}
	return n, nil
}

func writeKey(path string, key *ecdsa.PrivateKey) error {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return fmt.Errorf("pki: marshal %s: %w", path, err)
	}
	return writePEM(path, "PRIVATE KEY", der, 0o600)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	return writeIfChanged(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode)
}

// readPEM returns the DER bytes of the first PEM block in path.
func readPEM(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	b, _ := pem.Decode(data)
	if b == nil {
		return nil, fmt.Errorf("pki: %s: no PEM block", path)
	}
	return b.Bytes, nil
}

func readKey(path string) (crypto.Signer, error) {
	der, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, fmt.Errorf("pki: %s: %w", path, err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("pki: %s: not a signing key", path)
	}
	return signer, nil
}

func readCert(path string) (*x509.Certificate, error) {
	der, err := readPEM(path)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}
