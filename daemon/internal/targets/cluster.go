package targets

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

// cluster is the cache of one cluster identity.
type cluster struct {
	key    string
	client *kube.Client
	opts   Options

	mu         sync.Mutex
	spaces     map[string]*nsCache
	nsFactory  informers.SharedInformerFactory
	nsInformer cache.SharedIndexInformer
	nsStop     chan struct{}
	nsDenied   time.Time // when listing namespaces was last forbidden
	rollouts   *bool
}

func newCluster(key string, kc *kube.Client, opts Options) *cluster {
	return &cluster{key: key, client: kc, opts: opts, spaces: map[string]*nsCache{}}
}

func (cl *cluster) namespace(ns string) *nsCache {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	nc, ok := cl.spaces[ns]
	if !ok {
		nc = newNsCache(cl, ns)
		cl.spaces[ns] = nc
	}
	nc.touch()
	return nc
}

func (cl *cluster) namespaceCount() int {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return len(cl.spaces)
}

func (cl *cluster) unsubscribe(sub string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, nc := range cl.spaces {
		nc.unsubscribe(sub)
	}
}

// reap stops idle namespaces and reports whether the cluster is empty.
func (cl *cluster) reap(now time.Time, idle time.Duration) bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for ns, nc := range cl.spaces {
		if now.Sub(nc.used()) > idle {
			slog.Info("stopping idle target informers", "namespace", ns, "context", cl.client.Context)
			nc.stop()
			delete(cl.spaces, ns)
		}
	}
	if len(cl.spaces) == 0 {
		cl.stopNamespacesLocked()
		return true
	}
	return false
}

func (cl *cluster) stop() {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	for _, nc := range cl.spaces {
		nc.stop()
	}
	cl.spaces = map[string]*nsCache{}
	cl.stopNamespacesLocked()
}

func (cl *cluster) stopNamespacesLocked() {
	if cl.nsStop != nil {
		close(cl.nsStop)
		cl.nsFactory.Shutdown()
		cl.nsStop, cl.nsFactory, cl.nsInformer = nil, nil, nil
	}
}

// namespaces lists the cluster's namespaces from an informer. A user who
// may not list namespaces gets an empty list and cached=false, so the
// caller offers at least the current one; the permission is asked again
// after a minute.
func (cl *cluster) namespaces(ctx context.Context) ([]string, bool, error) {
	cl.mu.Lock()
	inf := cl.nsInformer
	denied := !cl.nsDenied.IsZero() && time.Since(cl.nsDenied) < time.Minute
	cl.mu.Unlock()
	if denied {
		return nil, false, nil
	}
	if inf == nil {
		// One small list first: an informer on a forbidden resource
		// would retry forever instead of failing.
		_, err := cl.client.Clientset.CoreV1().Namespaces().List(ctx, metav1.ListOptions{Limit: 1})
		if apierrors.IsForbidden(err) {
			cl.mu.Lock()
			cl.nsDenied = time.Now()
			cl.mu.Unlock()
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("listing namespaces at %s: %w", cl.client.Config.Host, err)
		}
		cl.mu.Lock()
		if cl.nsInformer == nil {
			cl.nsStop = make(chan struct{})
			cl.nsFactory = informers.NewSharedInformerFactoryWithOptions(cl.client.Clientset, 0, informers.WithTransform(stripObject))
			cl.nsInformer = cl.nsFactory.Core().V1().Namespaces().Informer()
			cl.nsFactory.Start(cl.nsStop)
		}
		inf = cl.nsInformer
		cl.mu.Unlock()
	}
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		return nil, false, fmt.Errorf("listing namespaces at %s: %w", cl.client.Config.Host, ctx.Err())
	}
	var names []string
	for _, obj := range inf.GetStore().List() {
		if m, err := meta.Accessor(obj); err == nil {
			names = append(names, m.GetName())
		}
	}
	sort.Strings(names)
	return names, true, nil
}

// rolloutsInstalled asks discovery once per cluster.
func (cl *cluster) rolloutsInstalled() bool {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.rollouts == nil {
		ok := cl.client.Dynamic != nil && cl.client.RolloutsInstalled()
		cl.rollouts = &ok
	}
	return *cl.rollouts
}

// nsCache holds the informers of one namespace. Its loop goroutine owns
// the debounce timer and sends the change notices.
type nsCache struct {
	cl *cluster
	ns string

	mu        sync.Mutex
	factory   informers.SharedInformerFactory
	dynamic   dynamicinformer.DynamicSharedInformerFactory
	informers map[string]cache.SharedIndexInformer
	subs      map[string]bool
	lastUsed  time.Time
	lastFP    string
	stopCh    chan struct{}
	done      chan struct{}
	dirty     chan struct{}
}

func newNsCache(cl *cluster, ns string) *nsCache {
	tweak := func(o *metav1.ListOptions) { o.LabelSelector = kube.ListSelector }
	nc := &nsCache{
		cl: cl, ns: ns,
		factory: informers.NewSharedInformerFactoryWithOptions(cl.client.Clientset, 0,
			informers.WithNamespace(ns), informers.WithTweakListOptions(tweak), informers.WithTransform(stripObject)),
		informers: map[string]cache.SharedIndexInformer{},
		subs:      map[string]bool{},
		stopCh:    make(chan struct{}),
		done:      make(chan struct{}),
		dirty:     make(chan struct{}, 1),
	}
	if cl.client.Dynamic != nil {
		nc.dynamic = dynamicinformer.NewFilteredDynamicSharedInformerFactory(cl.client.Dynamic, 0, ns, tweak)
	}
	go nc.loop()
	return nc
}

func (nc *nsCache) touch() {
	nc.mu.Lock()
	nc.lastUsed = time.Now()
	nc.mu.Unlock()
}

func (nc *nsCache) used() time.Time {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	return nc.lastUsed
}

func (nc *nsCache) subscribe(sub string) {
	nc.mu.Lock()
	nc.subs[sub] = true
	nc.mu.Unlock()
}

func (nc *nsCache) unsubscribe(sub string) {
	nc.mu.Lock()
	delete(nc.subs, sub)
	nc.mu.Unlock()
}

func (nc *nsCache) stop() {
	nc.mu.Lock()
	select {
	case <-nc.stopCh:
		nc.mu.Unlock()
		return
	default:
	}
	close(nc.stopCh)
	nc.mu.Unlock()
	<-nc.done
	nc.factory.Shutdown()
	if nc.dynamic != nil {
		nc.dynamic.Shutdown()
	}
}

// informerFor creates (not starts) the informer of a kind; nil when the
// kind cannot be listed here (no Rollouts CRD).
func (nc *nsCache) informerFor(kind string) cache.SharedIndexInformer {
	f := nc.factory
	switch kind {
	case schema.KindPod:
		return f.Core().V1().Pods().Informer()
	case schema.KindDeployment:
		return f.Apps().V1().Deployments().Informer()
	case schema.KindStatefulSet:
		return f.Apps().V1().StatefulSets().Informer()
	case schema.KindReplicaSet:
		return f.Apps().V1().ReplicaSets().Informer()
	case schema.KindJob:
		return f.Batch().V1().Jobs().Informer()
	case schema.KindCronJob:
		return f.Batch().V1().CronJobs().Informer()
	case schema.KindService:
		return f.Core().V1().Services().Informer()
	case schema.KindRollout:
		if nc.dynamic == nil || !nc.cl.rolloutsInstalled() {
			return nil
		}
		return nc.dynamic.ForResource(kube.RolloutGVR).Informer()
	}
	return nil
}

// ensure starts the informers of the kinds and waits for their first sync.
func (nc *nsCache) ensure(ctx context.Context, kinds []string) error {
	var waits []cache.InformerSynced
	var started []string
	nc.mu.Lock()
	for _, k := range kinds {
		inf, ok := nc.informers[k]
		if !ok {
			inf = nc.informerFor(k)
			nc.informers[k] = inf
			if inf != nil {
				started = append(started, k)
				if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
					AddFunc:    func(any) { nc.markDirty() },
					UpdateFunc: func(any, any) { nc.markDirty() },
					DeleteFunc: func(any) { nc.markDirty() },
				}); err != nil {
					nc.mu.Unlock()
					return fmt.Errorf("watching %ss in namespace %s: %w", k, nc.ns, err)
				}
				if err := inf.SetWatchErrorHandlerWithContext(nc.watchError(k)); err != nil {
					slog.Debug("informer already started", "kind", k, "err", err)
				}
			}
		}
		if inf != nil {
			waits = append(waits, inf.HasSynced)
		}
	}
	if len(started) > 0 {
		nc.factory.Start(nc.stopCh)
		if nc.dynamic != nil {
			nc.dynamic.Start(nc.stopCh)
		}
		slog.Info("started target informers", "namespace", nc.ns, "kinds", started, "context", nc.cl.client.Context)
	}
	nc.mu.Unlock()
	if !cache.WaitForCacheSync(ctx.Done(), waits...) {
		if err := nc.lastWatchError(); err != nil {
			return err
		}
		return fmt.Errorf("listing targets in namespace %s: waiting for the first list: %w", nc.ns, ctx.Err())
	}
	return nil
}

// watchErrors remembers the latest list/watch error per kind so that a
// sync that never completes (RBAC, a deleted CRD) reports why.
var watchErrors sync.Map // key: *nsCache+kind → error

func (nc *nsCache) watchError(kind string) cache.WatchErrorHandlerWithContext {
	return func(ctx context.Context, r *cache.Reflector, err error) {
		watchErrors.Store(nc.key(kind), clusterErr(err, kind+"s", nc.ns))
		cache.DefaultWatchErrorHandler(ctx, r, err)
	}
}

func (nc *nsCache) key(kind string) string { return fmt.Sprintf("%p/%s", nc, kind) }

func (nc *nsCache) lastWatchError() error {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	for k := range nc.informers {
		if v, ok := watchErrors.LoadAndDelete(nc.key(k)); ok {
			return v.(error)
		}
	}
	return nil
}

func (nc *nsCache) markDirty() {
	select {
	case nc.dirty <- struct{}{}:
	default:
	}
}

// loop turns bursts of informer events into at most one notice per
// debounce period, and only when the listing really changed (a pod's
// status churn that changes no path or availability is not news).
func (nc *nsCache) loop() {
	defer close(nc.done)
	var timer *time.Timer
	var fire <-chan time.Time
	for {
		select {
		case <-nc.stopCh:
			if timer != nil {
				timer.Stop()
			}
			return
		case <-nc.dirty:
			if timer == nil {
				timer = time.NewTimer(nc.cl.opts.Debounce)
				fire = timer.C
			}
		case <-fire:
			timer, fire = nil, nil
			nc.maybeNotify()
		}
	}
}

func (nc *nsCache) maybeNotify() {
	fp := nc.fingerprint()
	nc.mu.Lock()
	changed := fp != nc.lastFP
	first := nc.lastFP == ""
	nc.lastFP = fp
	subs := make([]string, 0, len(nc.subs))
	for s := range nc.subs {
		subs = append(subs, s)
	}
	nc.mu.Unlock()
	if !changed || first {
		return
	}
	sort.Strings(subs)
	for _, s := range subs {
		nc.cl.opts.Notify(s, Change{Namespace: nc.ns, KubeContext: nc.cl.client.Context})
	}
}

// fingerprint summarises every cached kind's listing.
func (nc *nsCache) fingerprint() string {
	nc.mu.Lock()
	kinds := make([]string, 0, len(nc.informers))
	for k, inf := range nc.informers {
		if inf != nil && inf.HasSynced() {
			kinds = append(kinds, k)
		}
	}
	nc.mu.Unlock()
	sort.Strings(kinds)
	var b strings.Builder
	for _, t := range nc.list(kinds, true) {
		b.WriteString(t.Path)
		if t.Available {
			b.WriteString("+")
		}
		b.WriteByte('\n')
	}
	return fmt.Sprintf("%x", b.Len()) + ":" + shortSum(b.String())
}

// list reads the cached objects of the kinds, in the kinds' order and by
// path within a kind.
func (nc *nsCache) list(kinds []string, includeUnavailable bool) []Target {
	nc.mu.Lock()
	infs := make([]cache.SharedIndexInformer, len(kinds))
	for i, k := range kinds {
		infs[i] = nc.informers[k]
	}
	// Whatever was listed last sets the baseline for change notices.
	nc.mu.Unlock()
	out := []Target{}
	for i, k := range kinds {
		if infs[i] == nil {
			continue
		}
		start := len(out)
		for _, obj := range infs[i].GetStore().List() {
			ro, ok := obj.(runtime.Object)
			if !ok {
				continue
			}
			paths, avail := kube.TargetPaths(k, ro)
			if !avail && !includeUnavailable {
				continue
			}
			for _, p := range paths {
				out = append(out, Target{Path: p, Kind: k, Available: avail})
			}
		}
		part := out[start:]
		slices.SortFunc(part, func(a, b Target) int { return strings.Compare(a.Path, b.Path) })
	}
	return out
}

// stripObject drops what the listing never reads (managed fields, the
// last-applied annotation), which is most of a cached object's memory.
func stripObject(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
		if a := m.GetAnnotations(); a != nil {
			delete(a, "kubectl.kubernetes.io/last-applied-configuration")
		}
	}
	return obj, nil
}
