package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/mirrord-go/mirrord/cli/internal/progress"
	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/client"
)

// extRoot is the root task the upstream IDE plugins wait for.
const extRoot = "mirrord preparing to launch"

// extExecution is the final message's JSON, upstream's MirrordExecution.
type extExecution struct {
	Environment  map[string]string `json:"environment"`
	EnvToUnset   []string          `json:"env_to_unset"`
	PatchedPath  *string           `json:"patched_path"`
	UsesOperator bool              `json:"uses_operator"`
}

func newExtCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ext [-t <target> | -t targetless] [-f <config>] [-e <executable>]",
		Short: "Start a session for an IDE launch and print the environment that joins it (upstream plugins' contract)",
		Long: `Start a session through the per-user daemon (starting the daemon if needed)
and print, in MIRRORD_PROGRESS_MODE (json by default), progress lines ending
with the task "mirrord preparing to launch", whose message holds the
environment a launched process needs to join the session. Then exit: the
session belongs to the daemon, so it survives an IDE that kills ext's process
tree. It ends when every process that joined has exited, or when no process
joined within 60 s.

The launch environment is ext's own environment, as the upstream IDE plugins
set it. -f wins over MIRRORD_CONFIG_FILE; no -t (or -t targetless) with no
target in the config means targetless; MIRRORD_TARGET_NAMESPACE selects the
namespace.`,
		Hidden:      true,
		Args:        cobra.NoArgs,
		Annotations: map[string]string{"ide": "true"},
		RunE:        runExt,
	}
	fs := cmd.Flags()
	fs.StringP("target", "t", "", "target path, or targetless")
	fs.StringP("config-file", "f", "", "config file (JSON, TOML or YAML)")
	fs.StringP("executable", "e", "", "the program to be launched (macOS SIP only; accepted and ignored on Linux)")
	fs.StringP("target-namespace", "n", "", "namespace of the target (default MIRRORD_TARGET_NAMESPACE)")
	return cmd
}

// extOut writes ext's stdout: one JSON object per line in JSON mode, and
// nothing else, ever (the plugins' parsers stop at a blank or non-JSON
// line). Other modes get plain lines; the final message is always JSON.
type extOut struct {
	mu   sync.Mutex
	w    io.Writer
	json bool
}

func (o *extOut) emit(obj map[string]any, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.json {
		b, err := json.Marshal(obj)
		if err == nil {
			fmt.Fprintf(o.w, "%s\n", b)
		}
		return
	}
	if text != "" {
		fmt.Fprintf(o.w, "mirrord: %s\n", strings.ReplaceAll(text, "\n", " "))
	}
}

// progress turns the daemon's $/progress reports into the upstream
// NewTask/FinishedTask lines under the root task.
func (o *extOut) progress(raw json.RawMessage) {
	var p api.ProgressParams
	if json.Unmarshal(raw, &p) != nil || p.Value.Kind != "report" || p.Value.Message == "" {
		return
	}
	msg := p.Value.Message
	if name, ok := strings.CutSuffix(msg, " done"); ok {
		o.emit(map[string]any{"type": "FinishedTask", "name": name, "success": true, "message": nil}, "✓ "+name)
		return
	}
	if name, ok := strings.CutSuffix(msg, " failed"); ok {
		o.emit(map[string]any{"type": "FinishedTask", "name": name, "success": false, "message": nil}, "✗ "+name)
		return
	}
	o.emit(map[string]any{"type": "NewTask", "name": msg, "parent": extRoot}, "")
}

func runExt(cmd *cobra.Command, _ []string) error {
	mode := progress.JSON
	if v := os.Getenv("MIRRORD_PROGRESS_MODE"); v != "" {
		m, err := progress.ParseMode(v)
		if err != nil {
			return err
		}
		mode = m
	}
	out := &extOut{w: cmd.OutOrStdout(), json: mode == progress.JSON}
	fs := cmd.Flags()
	target, _ := fs.GetString("target")
	cfg, _ := fs.GetString("config-file")
	if cfg == "" {
		cfg = os.Getenv("MIRRORD_CONFIG_FILE")
	}
	if cfg != "" {
		abs, err := filepath.Abs(cfg)
		if err != nil {
			return fmt.Errorf("-f %s: %w", cfg, err)
		}
		if _, err := os.Stat(abs); err != nil {
			return fmt.Errorf("the config file (-f or MIRRORD_CONFIG_FILE) %s cannot be read: %w", cfg, err)
		}
		cfg = abs
	}
	ns, _ := fs.GetString("target-namespace")
	launch := map[string]string{}
	for _, kv := range os.Environ() {
		if k, v, ok := strings.Cut(kv, "="); ok {
			launch[k] = v
		}
	}
	// The runner reads its settings from the launch env: keep the one
	// the IDE passed, but not ext's own config file over -f.
	if cfg != "" {
		launch["MIRRORD_CONFIG_FILE"] = cfg
	}
	cwd, _ := os.Getwd()

	out.emit(map[string]any{"type": "NewTask", "name": extRoot, "parent": nil}, "")
	ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, client.Options{AutoStart: true, Name: "mirrord ext", OnNotify: func(m string, p json.RawMessage) {
		if m == api.Progress.Name {
			out.progress(p)
		}
	}})
	if err != nil {
		return fmt.Errorf("reaching the mirrord daemon: %w", err)
	}
	defer c.Close()
	r, err := client.Call(ctx, c, api.SessionsStart, api.SessionsStartParams{
		ConfigPath: cfg, Target: target, Namespace: ns, LaunchEnv: launch, Cwd: cwd, WorkDoneToken: "ext",
	})
	if err != nil {
		return err
	}
	for _, w := range r.Warnings {
		out.emit(map[string]any{"type": "Warning", "message": w}, "warning: "+w)
	}
	env := r.Env
	if env == nil {
		env = map[string]string{}
	}
	unset := r.Unset
	if unset == nil {
		unset = []string{}
	}
	msg, err := json.Marshal(extExecution{Environment: env, EnvToUnset: unset})
	if err != nil {
		return fmt.Errorf("encoding the launch environment: %w", err)
	}
	final := map[string]any{"type": "FinishedTask", "name": extRoot, "success": true, "message": string(msg)}
	if out.json {
		out.emit(final, "")
	} else {
		b, _ := json.Marshal(final)
		fmt.Fprintf(out.w, "%s\n", b)
	}
	return nil
}
