// Package targets serves target and namespace lists from client-go
// informers, so an IDE's picker opens from a warm cache instead of a round
// of list calls, and pushes a change notice to the clients that listed a
// namespace when its targets change.
//
// Caches are kept per cluster identity (kubeconfig, context, server and
// credentials, recomputed from the kubeconfig on every call so that an
// edited kubeconfig or a switched context is picked up) and, inside a
// cluster, per namespace: a namespace-scoped informer factory needs only
// namespace-level RBAC and holds only what the user looks at. Each kind's
// informer starts on the first list that asks for it; a namespace's
// informers stop after an idle period with no list.
package targets

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

// Target is one listed target.
type Target struct {
	Path      string
	Kind      string
	Available bool
}

// ListResult is a namespace's targets.
type ListResult struct {
	Targets          []Target
	Namespace        string
	Namespaces       []string
	KubeContext      string
	ClusterKey       string
	NamespacesCached bool
}

// Change says that the targets of a namespace changed.
type Change struct {
	Namespace   string
	KubeContext string
}

// Options configure a Cache.
type Options struct {
	// NewClient builds a cluster client; nil means kube.NewClient.
	NewClient func(*schema.Config) (*kube.Client, error)
	// Idle is how long a namespace's informers live without a list; 0
	// means 10 minutes.
	Idle time.Duration
	// Debounce groups bursts of events into one notice; 0 means 200 ms.
	Debounce time.Duration
	// SyncTimeout bounds the first sync of an informer; 0 means 30 s.
	SyncTimeout time.Duration
	// Notify is called (from the namespace's own goroutine) for each
	// subscriber of a namespace whose listing changed.
	Notify func(subscriber string, c Change)
}

// Cache holds the informers. Run owns the janitor that stops idle ones;
// Close stops everything.
type Cache struct {
	opts Options

	mu       sync.Mutex
	clusters map[string]*cluster
	clients  map[string]clientEntry
	closed   bool
}

// New returns an empty cache.
func New(opts Options) *Cache {
	if opts.NewClient == nil {
		opts.NewClient = kube.NewClient
	}
	if opts.Idle == 0 {
		opts.Idle = 10 * time.Minute
	}
	if opts.Debounce == 0 {
		opts.Debounce = 200 * time.Millisecond
	}
	if opts.SyncTimeout == 0 {
		opts.SyncTimeout = 30 * time.Second
	}
	if opts.Notify == nil {
		opts.Notify = func(string, Change) {}
	}
	return &Cache{opts: opts, clusters: map[string]*cluster{}, clients: map[string]clientEntry{}}
}

// Run stops idle namespaces until ctx is done, then stops everything.
func (c *Cache) Run(ctx context.Context) {
	tick := time.NewTicker(min(c.opts.Idle/4, 30*time.Second))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.Close()
			return
		case now := <-tick.C:
			c.reap(now)
		}
	}
}

// Close stops every informer.
func (c *Cache) Close() {
	c.mu.Lock()
	c.closed = true
	cls := c.clusters
	c.clusters = map[string]*cluster{}
	c.mu.Unlock()
	for _, cl := range cls {
		cl.stop()
	}
}

func (c *Cache) reap(now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for key, cl := range c.clusters {
		if cl.reap(now, c.opts.Idle) {
			delete(c.clusters, key)
		}
	}
}

// Unsubscribe forgets a subscriber (a client that disconnected).
func (c *Cache) Unsubscribe(sub string) {
	c.mu.Lock()
	cls := make([]*cluster, 0, len(c.clusters))
	for _, cl := range c.clusters {
		cls = append(cls, cl)
	}
	c.mu.Unlock()
	for _, cl := range cls {
		cl.unsubscribe(sub)
	}
}

// Stats counts the live caches, for status and tests.
func (c *Cache) Stats() (clusters, namespaces int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, cl := range c.clusters {
		clusters++
		namespaces += cl.namespaceCount()
	}
	return clusters, namespaces
}

// clusterFor returns the cache of the cluster the config points at. The
// client is rebuilt whenever a kubeconfig file it reads changed (size,
// mtime or inode) or the settings that choose it did, so an edited
// kubeconfig or a switched context yields a new cluster key.
func (c *Cache) clusterFor(cfg *schema.Config) (*cluster, error) {
	kc, err := c.client(cfg)
	if err != nil {
		return nil, err
	}
	key := clusterKey(kc)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("the daemon is shutting down")
	}
	cl, ok := c.clusters[key]
	if !ok {
		cl = newCluster(key, kc, c.opts)
		c.clusters[key] = cl
	}
	return cl, nil
}

// client returns a cached client while its kubeconfig files are unchanged.
func (c *Cache) client(cfg *schema.Config) (*kube.Client, error) {
	insecure := cfg.AcceptInvalidCertificates != nil && *cfg.AcceptInvalidCertificates
	settings := fmt.Sprintf("%s\x00%s\x00%t\x00%t", cfg.Kubeconfig, cfg.KubeContext, insecure, cfg.UseProxy)
	stamp := kubeconfigStamp(cfg.Kubeconfig)
	c.mu.Lock()
	e, ok := c.clients[settings]
	c.mu.Unlock()
	if ok && e.stamp == stamp {
		return e.client, nil
	}
	kc, err := c.opts.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.clients[settings] = clientEntry{stamp: stamp, client: kc}
	c.mu.Unlock()
	return kc, nil
}

type clientEntry struct {
	stamp  string
	client *kube.Client
}

// kubeconfigStamp identifies the current version of the kubeconfig files
// client-go would read for this setting.
func kubeconfigStamp(setting string) string {
	files := setting
	if files == "" {
		files = os.Getenv("KUBECONFIG")
	}
	if files == "" {
		if home, err := os.UserHomeDir(); err == nil {
			files = filepath.Join(home, ".kube", "config")
		}
	}
	var b strings.Builder
	for _, f := range filepath.SplitList(files) {
		if strings.HasPrefix(f, "~/") {
			if home, err := os.UserHomeDir(); err == nil {
				f = filepath.Join(home, f[2:])
			}
		}
		st, err := os.Stat(f)
		if err != nil {
			fmt.Fprintf(&b, "%s:none;", f)
			continue
		}
		var ino uint64
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			ino = sys.Ino
		}
		fmt.Fprintf(&b, "%s:%d:%d:%d;", f, st.Size(), st.ModTime().UnixNano(), ino)
	}
	return b.String()
}

// clusterKey identifies a cluster and the identity used to reach it.
func clusterKey(kc *kube.Client) string {
	rc := kc.Config
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%s\x00%t\x00%s\x00%s\x00%s\x00",
		kc.Context, kc.Namespace, rc.Host, rc.APIPath, rc.Username, rc.Password, rc.BearerToken, rc.Insecure,
		rc.BearerTokenFile, rc.CertFile, rc.KeyFile)
	h.Write(rc.CAData)
	h.Write(rc.CertData)
	h.Write(rc.KeyData)
	if rc.ExecProvider != nil {
		fmt.Fprintf(h, "%s %v %v", rc.ExecProvider.Command, rc.ExecProvider.Args, rc.ExecProvider.Env)
	}
	if rc.AuthProvider != nil {
		fmt.Fprintf(h, "%s %v", rc.AuthProvider.Name, rc.AuthProvider.Config)
	}
	return hex.EncodeToString(h.Sum(nil)[:8])
}

// List returns the targets of ns ("" = the config's target.namespace, else
// the context's) of the given kinds (nil = pod, deployment, rollout), and
// subscribes sub (if not "") to changes of that namespace.
func (c *Cache) List(ctx context.Context, cfg *schema.Config, ns string, kinds []string, includeUnavailable bool, sub string) (*ListResult, error) {
	if kinds == nil {
		kinds = kube.DefaultListTypes
	}
	if err := kube.CheckListTypes(kinds); err != nil {
		return nil, err
	}
	cl, err := c.clusterFor(cfg)
	if err != nil {
		return nil, err
	}
	if ns == "" {
		ns = cfg.Target.Namespace
	}
	if ns == "" {
		ns = cl.client.Namespace
	}
	nc := cl.namespace(ns)
	sctx, cancel := context.WithTimeout(ctx, c.opts.SyncTimeout)
	defer cancel()
	if err := nc.ensure(sctx, kinds); err != nil {
		if sctx.Err() != nil && ctx.Err() == nil {
			return nil, fmt.Errorf("listing targets in namespace %s: the API server at %s did not answer within %s: %w", ns, cl.client.Config.Host, c.opts.SyncTimeout, err)
		}
		return nil, err
	}
	targets := nc.list(kinds, includeUnavailable)
	if sub != "" {
		nc.subscribe(sub)
	}
	namespaces, cached, err := cl.namespaces(sctx)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(namespaces, ns) && !cached {
		namespaces = append(namespaces, ns)
		sort.Strings(namespaces)
	}
	return &ListResult{Targets: targets, Namespace: ns, Namespaces: namespaces, KubeContext: cl.client.Context, ClusterKey: cl.key, NamespacesCached: cached}, nil
}

// Namespaces lists the cluster's namespaces, and the current one.
func (c *Cache) Namespaces(ctx context.Context, cfg *schema.Config) ([]string, string, string, error) {
	cl, err := c.clusterFor(cfg)
	if err != nil {
		return nil, "", "", err
	}
	ns := cfg.Target.Namespace
	if ns == "" {
		ns = cl.client.Namespace
	}
	sctx, cancel := context.WithTimeout(ctx, c.opts.SyncTimeout)
	defer cancel()
	names, _, err := cl.namespaces(sctx)
	if err != nil {
		return nil, "", "", err
	}
	return names, ns, cl.client.Context, nil
}

// kindOf is the kind part of a target path.
func kindOf(path string) string {
	k, _, _ := strings.Cut(path, "/")
	return k
}

// clusterErr wraps an API error with where it happened.
func clusterErr(err error, what, ns string) error {
	switch {
	case apierrors.IsForbidden(err):
		return fmt.Errorf("listing %s in namespace %s: forbidden by RBAC: ask for list and watch permission there, or pick another namespace: %w", what, ns, err)
	case apierrors.IsNotFound(err):
		return fmt.Errorf("listing %s in namespace %s: %w", what, ns, err)
	}
	return fmt.Errorf("listing %s in namespace %s: %w", what, ns, err)
}

func shortSum(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:8])
}
