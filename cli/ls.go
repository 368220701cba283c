package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"

	"github.com/spf13/cobra"

	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/client"
	"github.com/mirrord-go/mirrord/kube"
	"github.com/mirrord-go/mirrord/schema"
)

// lsKubeClient builds the cluster client of `ls`; tests replace it with a
// fake clientset.
var lsKubeClient = kube.NewClient

// lsTimeout bounds the API calls of `ls`: the IDEs wait for it without a
// timeout of their own, so a cluster that does not answer must not hang
// the launch.
const lsTimeout = 30 * time.Second

// lsRich is upstream's rich output shape; VS Code treats the output as rich
// only when all three keys are present.
type lsRich struct {
	Targets          []kube.ListedTarget `json:"targets"`
	CurrentNamespace string              `json:"current_namespace"`
	Namespaces       []string            `json:"namespaces"`
}

func newLsCmd() *cobra.Command {
	var (
		output, namespace, configFile string
		types                         []string
	)
	cmd := &cobra.Command{
		Use:   "ls [-n namespace] [-t type]... [-f config]",
		Short: "List the targets of a namespace as JSON",
		Long: `List the pods, deployments and rollouts of a namespace that mirrord can
target, as one JSON array of target paths such as "deployment/web" or
"pod/web-7d9/container/app" (a pod with several containers is listed once per
container; mesh sidecars and mirrord's own agents are left out). Only running,
ready pods and deployments with an available replica are listed.

  -t/--type (repeatable) or MIRRORD_LS_TARGET_TYPES (a JSON array such as
  ["deployment","pod"], or a comma list) choose the types, in that order:
  pod, deployment, rollout, job, cronjob, statefulset, service, replicaset.

With MIRRORD_LS_RICH_OUTPUT=true the output is an object:
  {"targets":[{"path":"deployment/web","available":true}],
   "current_namespace":"default","namespaces":["default",...]}

The namespace is -n, else the config's target.namespace (or
MIRRORD_TARGET_NAMESPACE), else the kube context's. The config file (-f or
MIRRORD_CONFIG_FILE) also sets kubeconfig, kube_context and
accept_invalid_certificates.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "json" {
				return fmt.Errorf("-o/--output %q is not supported: json is the only output format", output)
			}
			kinds, err := lsTypes(types, cmd.Flags().Changed("type"))
			if err != nil {
				return err
			}
			if configFile == "" {
				configFile = os.Getenv("MIRRORD_CONFIG_FILE")
			}
			if out, ok, err := lsViaDaemon(cmd.Context(), configFile, namespace, kinds); ok {
				if err != nil {
					return err
				}
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetEscapeHTML(false)
				return enc.Encode(out)
			}
			res := schema.Load(configFile, schema.Options{IDE: true, Stdin: cmd.InOrStdin()})
			if err := res.Err(); err != nil {
				return err
			}
			kc, err := lsKubeClient(res.Config)
			if err != nil {
				return err
			}
			ns := namespace
			if ns == "" {
				ns = res.Config.Target.Namespace
			}
			if ns == "" {
				ns = kc.Namespace
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), lsTimeout)
			defer cancel()
			out, err := listTargets(ctx, kc, ns, kinds, lsRichOutput())
			if err != nil {
				if ctx.Err() != nil {
					return fmt.Errorf("listing targets: the API server at %s did not answer within %s: %w", kc.Config.Host, lsTimeout, err)
				}
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			return enc.Encode(out)
		},
	}
	f := cmd.Flags()
	f.StringVarP(&output, "output", "o", "json", "output format (json is the only one)")
	f.StringVarP(&namespace, "namespace", "n", "", "namespace to list (default: target.namespace, else the kube context's)")
	f.StringVarP(&configFile, "config-file", "f", "", "config file (JSON, TOML or YAML) for kubeconfig, kube_context and target.namespace")
	f.StringArrayVarP(&types, "type", "t", nil, "target type to list (repeatable): pod, deployment, rollout, job, cronjob, statefulset, service, replicaset")
	cmd.Annotations = map[string]string{"ide": "true"}
	return cmd
}

// listTargets returns the plain array of paths, or the rich object.
func listTargets(ctx context.Context, kc *kube.Client, ns string, kinds []string, rich bool) (any, error) {
	targets, err := kc.ListTargets(ctx, kube.ListOptions{Namespace: ns, Types: kinds})
	if err != nil {
		return nil, err
	}
	if !rich {
		paths := make([]string, len(targets))
		for i, t := range targets {
			paths[i] = t.Path
		}
		return paths, nil
	}
	namespaces, err := kc.ListNamespaces(ctx)
	if err != nil {
		if !apierrors.IsForbidden(err) {
			return nil, err
		}
		// Users limited to their own namespace still get a usable picker.
		namespaces = []string{ns}
	}
	return lsRich{Targets: targets, CurrentNamespace: ns, Namespaces: namespaces}, nil
}

// lsViaDaemon lists through this build's daemon when one is running (its
// informers are warm); ok is false when there is none, or it could not be
// reached, and ls lists by itself. It never starts a daemon.
func lsViaDaemon(ctx context.Context, configFile, namespace string, kinds []string) (any, bool, error) {
	if configFile == "-" || (kinds != nil && len(kinds) == 0) {
		return nil, false, nil // stdin is this process's; no kind means no call
	}
	dctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := client.Dial(dctx, client.Options{Name: "mirrord-ls"})
	if err != nil {
		return nil, false, nil
	}
	defer c.Close()
	if configFile != "" {
		if abs, err := filepath.Abs(configFile); err == nil {
			configFile = abs
		}
	}
	env := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			env[k] = v
		}
	}
	lctx, cancel := context.WithTimeout(ctx, lsTimeout)
	defer cancel()
	r, err := client.Call(lctx, c, api.TargetsList, api.TargetsListParams{
		ClusterParams: api.ClusterParams{ConfigPath: configFile, Env: env},
		Namespace:     namespace,
		Types:         kinds,
	})
	var de *client.Error
	if err != nil && !errors.As(err, &de) {
		slog.Debug("listing through the daemon failed; listing directly", "err", err)
		return nil, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	targets := make([]kube.ListedTarget, len(r.Targets))
	for i, t := range r.Targets {
		targets[i] = kube.ListedTarget{Path: t.Path, Available: t.Available}
	}
	if !lsRichOutput() {
		paths := make([]string, len(targets))
		for i, t := range targets {
			paths[i] = t.Path
		}
		return paths, true, nil
	}
	return lsRich{Targets: targets, CurrentNamespace: r.CurrentNamespace, Namespaces: r.Namespaces}, true, nil
}

// lsTypes reads the types from -t, else MIRRORD_LS_TARGET_TYPES; nil means
// the default set.
func lsTypes(flag []string, changed bool) ([]string, error) {
	source := "-t/--type"
	var kinds []string
	if changed {
		for _, f := range flag {
			kinds = append(kinds, splitList(f)...)
		}
	} else if v := strings.TrimSpace(os.Getenv("MIRRORD_LS_TARGET_TYPES")); v != "" {
		source = "MIRRORD_LS_TARGET_TYPES"
		if strings.HasPrefix(v, "[") {
			if err := json.Unmarshal([]byte(v), &kinds); err != nil {
				return nil, fmt.Errorf("MIRRORD_LS_TARGET_TYPES=%s: expected a JSON array of type names such as [\"deployment\",\"pod\"]: %w", v, err)
			}
		} else {
			kinds = splitList(v)
		}
	} else {
		return nil, nil
	}
	for i, k := range kinds {
		kinds[i] = strings.ToLower(strings.TrimSpace(k))
	}
	if err := kube.CheckListTypes(kinds); err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if kinds == nil {
		kinds = []string{}
	}
	return kinds, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// lsRichOutput reads MIRRORD_LS_RICH_OUTPUT; anything but a true value
// means the plain array.
func lsRichOutput() bool {
	v, err := strconv.ParseBool(strings.TrimSpace(os.Getenv("MIRRORD_LS_RICH_OUTPUT")))
	return err == nil && v
}
