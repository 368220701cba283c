// Command k8s is a multi-call Kubernetes binary for the local e2e cluster:
// kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
// kube-proxy and kubectl, plus cri-rmp (the one crictl call the harness
// needs; cri-tools is not served by the module proxy). One binary links the
// shared Kubernetes packages once, which keeps the cold build and the disk
// footprint small. It dispatches on the base name of argv[0] (bin/kubectl is
// a symlink to it) or, when called as "k8s", on the first argument.
//
// It lives in its own Go module so that k8s.io/kubernetes never enters the
// root go.mod.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	_ "time/tzdata"

	"github.com/spf13/cobra"
	_ "k8s.io/client-go/plugin/pkg/client/auth"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	_ "k8s.io/component-base/logs/json/register"
	_ "k8s.io/component-base/metrics/prometheus/clientgo"
	_ "k8s.io/component-base/metrics/prometheus/version"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	kcm "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	proxy "k8s.io/kubernetes/cmd/kube-proxy/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
	kubelet "k8s.io/kubernetes/cmd/kubelet/app"
)

const usage = "usage: k8s {kube-apiserver|kube-controller-manager|kube-scheduler|kubelet|kube-proxy|kubectl|cri-rmp} [args...]"

func main() {
	name, args := filepath.Base(os.Args[0]), os.Args[1:]
	if name == "k8s" {
		if len(args) == 0 {
			fmt.Fprintln(os.Stderr, usage)
			os.Exit(2)
		}
		name, args = args[0], args[1:]
	}
	os.Exit(run(name, args))
}

func run(name string, args []string) int {
	var c *cobra.Command
	switch name {
	case "kube-apiserver":
		c = apiserver.NewAPIServerCommand()
	case "kube-controller-manager":
		c = kcm.NewControllerManagerCommand()
	case "kube-scheduler":
		c = scheduler.NewSchedulerCommand()
	case "kubelet":
		c = kubelet.NewKubeletCommand(context.Background())
	case "kube-proxy":
		c = proxy.NewProxyCommand()
	case "cri-rmp":
		return criRmp(args)
	case "kubectl":
		// As upstream cmd/kubectl: verbosity is applied before the command is built.
		_, _ = logs.GlogSetter(kubectlcmd.GetLogVerbosity(append([]string{name}, args...)))
		c = kubectlcmd.NewDefaultKubectlCommand()
		c.SetArgs(args)
		if err := cli.RunNoErrOutput(c); err != nil {
			kubectlutil.CheckErr(err) // prints the error and exits non-zero
		}
		return 0
	default:
		fmt.Fprintf(os.Stderr, "unknown component %q\n%s\n", name, usage)
		return 2
	}
	c.SetArgs(args)
	return cli.Run(c)
}
