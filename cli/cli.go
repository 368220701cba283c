// Package cli implements the mirrord command line. It is a drop-in for
// upstream mirrord's CLI: the same subcommands, flags, environment variables
// and, for the commands IDE plugins call, the same output contracts.
package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/mirrord-go/mirrord/internal/buildinfo"
	"github.com/mirrord-go/mirrord/layer"
	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// Main runs the CLI and returns the process exit code.
func Main(args []string) int {
	// mirrord exec re-executes this binary as the layer's trampoline,
	// which must run before anything else (no cobra, no config).
	if len(args) > 0 && args[0] == layer.TrampolineMarker {
		return layer.TrampolineMain(args[1:])
	}
	return run(args, os.Stdin, os.Stdout, os.Stderr)
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(bareConfigFlag(args))
	cmd, err := root.ExecuteC()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err == nil {
			return ee.code
		}
		err = ee.err
	}
	reportError(stderr, cmd, err)
	if ee != nil {
		return ee.code
	}
	return 1
}

// exitError carries an exit code, e.g. the exit code of a launched program.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

// reportError writes a fatal error. The IDE plugins scan stderr for
// "Error: " followed by JSON, so that exact prefix is only ever followed by
// JSON; people at a terminal get a plain line.
func reportError(w io.Writer, cmd *cobra.Command, err error) {
	help := ""
	var he interface{ Help() string }
	if errors.As(err, &he) {
		help = he.Help()
	}
	if jsonErrors(cmd) {
		b, _ := json.Marshal(map[string]any{"message": err.Error(), "help": help, "severity": "error", "causes": []string{}, "labels": []string{}, "related": []string{}})
		fmt.Fprintf(w, "Error: %s\n", b)
		return
	}
	fmt.Fprintf(w, "mirrord: %v\n", err)
	if help != "" {
		fmt.Fprintf(w, "help: %s\n", help)
	}
}

// jsonErrors reports whether errors must use the IDE's JSON form: for the
// IDE-facing commands, in JSON progress mode, or when stderr is no terminal
// and an IDE asked for JSON.
func jsonErrors(cmd *cobra.Command) bool {
	if cmd != nil && cmd.Annotations["ide"] == "true" {
		return true
	}
	if os.Getenv("MIRRORD_PROGRESS_MODE") == "json" {
		return true
	}
	return !term.IsTerminal(int(os.Stderr.Fd())) && os.Getenv("MIRRORD_IDE_NAME") != ""
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:   "mirrord",
		Short: "Run a local process in the context of a Kubernetes pod",
		Long: `mirrord runs a local program as if it were inside a pod of your cluster:
it sees the pod's environment variables and files, makes its outgoing
connections and DNS lookups from the pod, and receives the pod's incoming
traffic (mirrored or stolen). No image is built and nothing is deployed.

Configuration comes from a file given with -f (JSON, TOML or YAML), from
MIRRORD_* environment variables, and from flags; flags win over the
environment, which wins over the file.`,
		Version:       buildinfo.Version,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.SetVersionTemplate("mirrord {{.Version}}\n")
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(newVersionCmd(), newSchemaCmd(), newVerifyConfigCmd())
	root.AddCommand(newExecCmd(), newPortForwardCmd())
	root.AddCommand(newLsCmd())
	root.AddCommand(newDaemonCmd())
	root.AddCommand(newRunnerCmd(), newExtCmd())
	return root
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the mirrord version",
		Long:  "Print the version as \"mirrord X.Y.Z\", the form the IDE plugins parse.",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintf(cmd.OutOrStdout(), "mirrord %s\n", buildinfo.Version)
			return nil
		},
	}
}
