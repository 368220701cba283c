package kube

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"

	"github.com/mirrord-go/mirrord/schema"
)

// Client is a connection to one cluster, built from the config's kubeconfig,
// kube_context and accept_invalid_certificates (client-go clientcmd: honours
// KUBECONFIG, exec plugins, ...).
type Client struct {
	Config    *rest.Config
	Clientset kubernetes.Interface
	// Namespace is the kube context's default namespace ("default" when unset).
	Namespace string
	// Dynamic reads the custom resources mirrord knows (Argo Rollouts). It
	// may be nil, in which case rollouts are reported as not installed.
	Dynamic dynamic.Interface
	// Context is the kube context in use ("" for in-cluster).
	Context string

	// newDialer builds the port-forward dialer; tests replace it.
	newDialer dialerFactory
}

// NewClient builds a Client from the config. It only reads the kubeconfig:
// no request is sent, so an unreachable cluster shows up at the first call.
func NewClient(cfg *schema.Config) (*Client, error) {
	routeKlog()
	if cfg == nil {
		cfg = schema.Default()
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if cfg.Kubeconfig != "" {
		paths, err := kubeconfigPaths(cfg.Kubeconfig)
		if err != nil {
			return nil, err
		}
		if len(paths) == 1 {
			rules.ExplicitPath = paths[0]
		} else {
			rules.Precedence = paths
		}
	}
	overrides := &clientcmd.ConfigOverrides{CurrentContext: cfg.KubeContext}
	cc := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, overrides)
	rc, err := cc.ClientConfig()
	if err != nil {
		return nil, kubeconfigErr(cfg, err)
	}
	ns, _, err := cc.Namespace()
	if err != nil {
		return nil, kubeconfigErr(cfg, err)
	}
	if ns == "" {
		ns = "default"
	}
	raw, err := cc.RawConfig()
	if err != nil {
		return nil, kubeconfigErr(cfg, err)
	}
	current := raw.CurrentContext
	if cfg.KubeContext != "" {
		current = cfg.KubeContext
	}
	if cfg.AcceptInvalidCertificates != nil && *cfg.AcceptInvalidCertificates {
		// Insecure and a CA are mutually exclusive in client-go.
		rc.Insecure = true
		rc.CAData, rc.CAFile = nil, ""
	}
	if !cfg.UseProxy {
		rc.Proxy = func(*http.Request) (*url.URL, error) { return nil, nil }
	}
	// client-go's default of 5 QPS delays a session start by whole seconds
	// once a few calls queue up; mirrord makes short bursts of calls.
	rc.QPS, rc.Burst = 50, 100
	rc.UserAgent = "mirrord-go"
	rc.WarningHandlerWithContext = slogWarnings{}
	return newClient(rc, ns, current)
}

// NewClientFromREST wraps an existing rest.Config (tests, in-cluster callers).
func NewClientFromREST(rc *rest.Config, namespace string) (*Client, error) {
	routeKlog()
	if namespace == "" {
		namespace = "default"
	}
	return newClient(rc, namespace, "")
}

func newClient(rc *rest.Config, ns, kubeContext string) (*Client, error) {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes client for %s: %w", rc.Host, err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("creating the Kubernetes dynamic client for %s: %w", rc.Host, err)
	}
	return &Client{Config: rc, Clientset: cs, Dynamic: dyn, Namespace: ns, Context: kubeContext}, nil
}

// kubeconfigPaths splits a `:`-separated kubeconfig value and expands `~`.
func kubeconfigPaths(v string) ([]string, error) {
	var out []string
	for _, p := range filepath.SplitList(v) {
		if p == "" {
			continue
		}
		if p == "~" || strings.HasPrefix(p, "~/") {
			home, err := os.UserHomeDir()
			if err != nil {
				return nil, fmt.Errorf("kubeconfig %q: expanding ~: %w", p, err)
			}
			p = filepath.Join(home, strings.TrimPrefix(p, "~"))
		}
		out = append(out, p)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("kubeconfig %q names no file", v)
	}
	return out, nil
}

// kubeconfigErr says which setting led to the kubeconfig error and what to
// change.
func kubeconfigErr(cfg *schema.Config, err error) error {
	switch {
	case clientcmd.IsEmptyConfig(err):
		return fmt.Errorf("no Kubernetes cluster configured: set kubeconfig in the mirrord config (or MIRRORD_KUBECONFIG), set KUBECONFIG, or create ~/.kube/config")
	case cfg.KubeContext != "" && (clientcmd.IsContextNotFound(err) || strings.Contains(err.Error(), fmt.Sprintf("context %q does not exist", cfg.KubeContext))):
		return fmt.Errorf("kube_context %q is not in the kubeconfig: list the contexts with 'kubectl config get-contexts' and fix kube_context (or --context)", cfg.KubeContext)
	case cfg.Kubeconfig != "":
		return fmt.Errorf("loading kubeconfig %s (the config's kubeconfig key): %w", cfg.Kubeconfig, err)
	}
	return fmt.Errorf("loading the kubeconfig (KUBECONFIG or ~/.kube/config): %w", err)
}

var klogOnce sync.Once

// routeKlog sends client-go's own logging to slog. Left alone, klog writes
// to stderr, and a stray line there breaks the IDE-facing commands, whose
// stderr must be exactly one "Error: <json>" line on failure.
func routeKlog() {
	klogOnce.Do(func() { klog.SetLogger(logr.FromSlogHandler(defaultHandler{})) })
}

// defaultHandler forwards to whatever slog.Default is at the time of each
// record, so a logger configured after NewClient still receives client-go's
// messages.
type defaultHandler struct {
	attrs []slog.Attr
	group string
}

func (h defaultHandler) handler() slog.Handler {
	d := slog.Default().Handler()
	if h.group != "" {
		d = d.WithGroup(h.group)
	}
	if len(h.attrs) > 0 {
		d = d.WithAttrs(h.attrs)
	}
	return d
}

func (h defaultHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.handler().Enabled(ctx, l)
}

func (h defaultHandler) Handle(ctx context.Context, r slog.Record) error {
	r.AddAttrs(slog.String("source", "client-go"))
	return h.handler().Handle(ctx, r)
}

func (h defaultHandler) WithAttrs(as []slog.Attr) slog.Handler {
	h.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return h
}

func (h defaultHandler) WithGroup(name string) slog.Handler {
	if h.group != "" {
		name = h.group + "." + name
	}
	h.group = name
	return h
}

// slogWarnings logs the API server's warnings (deprecations and the like)
// instead of printing them to stderr.
type slogWarnings struct{}

func (slogWarnings) HandleWarningHeaderWithContext(ctx context.Context, code int, agent, text string) {
	slog.WarnContext(ctx, "Kubernetes API warning", "code", code, "agent", agent, "text", text)
}
