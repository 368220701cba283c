//go:build linux

package cluster

import (
	"bytes"
	"embed"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

// conf holds the component config templates. containerd, kubelet,
// kube-proxy and libcni expand no variables, so they always read the
// rendered copies in run/conf/, never these files.
//
//go:embed conf/*
var conf embed.FS

// confData is what the templates in conf/ and manifests/ may use.
type confData struct {
	Dir, NodeName, NodeIP              string
	PodCIDR, ClusterCIDR, DNSServiceIP string
	Bridge, Runc, SandboxImage         string
	// ContainerdSock is containerd's API and CRI socket.
	ContainerdSock string
	Namespace      string
	// Images maps an image's short name to its reference; ImageKeys to its
	// content key, which pod templates carry as an annotation so that a
	// changed image rolls its pods.
	Images    map[string]string
	ImageKeys map[string]string
	Sample    sampleValues
}

func (c *Cluster) confData() (confData, error) {
	runc, err := findBinary("runc")
	if err != nil {
		return confData{}, err
	}
	d := confData{
		Dir: c.Dir, NodeName: NodeName, NodeIP: c.NodeIP,
		PodCIDR: PodCIDR, ClusterCIDR: ClusterCIDR, DNSServiceIP: DNSServiceIP,
		Bridge: Bridge, Runc: runc, SandboxImage: PauseImage, Namespace: Namespace,
		ContainerdSock: ContainerdSocket,
		Images:         map[string]string{}, ImageKeys: map[string]string{},
		Sample: sampleDefaults,
	}
	for _, img := range c.images() {
		d.Images[img.Name] = img.Ref
		key, err := c.imageKey(img)
		if err != nil {
			return confData{}, err
		}
		d.ImageKeys[img.Name] = key[:16]
	}
	return d, nil
}

// renderedConfigs maps a template in conf/ to its path under run/conf/.
var renderedConfigs = map[string]string{
	"containerd.toml": "containerd.toml",
	"kubelet.yaml":    "kubelet.yaml",
	"kube-proxy.yaml": "kube-proxy.yaml",
	"cni.conflist":    "cni/10-mirrord-e2e.conflist",
}

// renderConfigs writes run/conf/. A running component does not reread its
// config: after a change, `cluster down` and `up` apply it.
func (c *Cluster) renderConfigs() error {
	data, err := c.confData()
	if err != nil {
		return err
	}
	changed, err := renderConfigs(data, c.path("run", "conf"))
	if err != nil {
		return err
	}
	if len(changed) > 0 {
		if _, ok := c.running("kubelet"); ok {
			c.Log.Warn("configuration changed while the cluster runs; apply it with 'make cluster-down && make cluster'", "files", changed)
		}
	}
	return nil
}

// renderConfigs renders every template into dir and returns the files whose
// content changed.
func renderConfigs(data confData, dir string) (changed []string, err error) {
	for src, dst := range renderedConfigs {
		text, err := conf.ReadFile("conf/" + src)
		if err != nil {
			return nil, fmt.Errorf("config %s: %w", src, err)
		}
		out, err := render(src, string(text), data)
		if err != nil {
			return nil, err
		}
		path := filepath.Join(dir, dst)
		if old, err := os.ReadFile(path); err == nil && bytes.Equal(old, out) {
			continue
		}
		if err := writeIfChanged(path, out, 0o644); err != nil {
			return nil, err
		}
		changed = append(changed, path)
	}
	sort.Strings(changed)
	return changed, nil
}

// render executes a template and refuses output that still holds a
// placeholder, since the consumers would take it literally.
func render(name, text string, data any) ([]byte, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, data); err != nil {
		return nil, fmt.Errorf("template %s: %w", name, err)
	}
	for _, p := range []string{"{{", "${", "<no value>"} {
		if strings.Contains(buf.String(), p) {
			return nil, fmt.Errorf("template %s: rendered output still holds %q", name, p)
		}
	}
	return buf.Bytes(), nil
}
