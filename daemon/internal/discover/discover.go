// Package discover finds the mirrord config file that applies to an IDE
// workspace and watches the candidates for changes. IDE plugins used to
// reimplement these rules each in their own way; the daemon owns them so that
// VS Code and JetBrains pick the same file and see the same changes.
package discover

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Sources of the config that applies, in the order the rules try them.
const (
	SourceActive    = "active"    // the user picked it in the IDE
	SourceEnv       = "env"       // MIRRORD_CONFIG_FILE of the launch env
	SourceWorkspace = "workspace" // the first .mirrord/*mirrord.<ext>
	SourceNone      = "none"
)

// EnvConfigFile is the variable the CLI reads its config path from (-f).
const EnvConfigFile = "MIRRORD_CONFIG_FILE"

// DirName is the folder of a workspace that holds its mirrord configs.
const DirName = ".mirrord"

// extensions are the config syntaxes the loader reads.
var extensions = []string{".json", ".toml", ".yml", ".yaml"}

// Result is the outcome of Discover.
type Result struct {
	Default    string   `json:"default"`    // absolute path of the config that applies, "" if none
	Source     string   `json:"source"`     // "active" | "env" | "workspace" | "none"
	Candidates []string `json:"candidates"` // every config file of the workspace, sorted
}

// Discover applies upstream's rules: 1) the active config, 2)
// MIRRORD_CONFIG_FILE from env, 3) the lexicographically first
// .mirrord/*mirrord.{json,toml,yml,yaml} of the workspace. Relative paths of
// rules 1 and 2 are taken relative to the workspace (VS Code misparses
// them; resolving them is kinder). env nil means no launch env. Candidates
// lists what the IDE offers for "select active config": files in .mirrord
// with a config extension, and *mirrord.<ext> at the workspace root.
func Discover(workspace, active string, env func(string) (string, bool)) (Result, error) {
	ws, err := workspaceDir(workspace)
	if err != nil {
		return Result{}, err
	}
	cands, err := Candidates(ws)
	if err != nil {
		return Result{}, err
	}
	res := Result{Source: SourceNone, Candidates: cands}
	if res.Candidates == nil {
		res.Candidates = []string{}
	}
	if active != "" {
		res.Default, res.Source = absIn(ws, active), SourceActive
		return res, nil
	}
	if env != nil {
		if v, ok := env(EnvConfigFile); ok && strings.TrimSpace(v) != "" {
			res.Default, res.Source = absIn(ws, strings.TrimSpace(v)), SourceEnv
			return res, nil
		}
	}
	for _, c := range cands {
		if IsDefaultCandidate(ws, c) {
			res.Default, res.Source = c, SourceWorkspace
			break
		}
	}
	return res, nil
}

// workspaceDir checks and cleans the workspace folder.
func workspaceDir(workspace string) (string, error) {
	if workspace == "" {
		return "", errors.New("no workspace folder given: pass the IDE's workspace folder (an absolute path)")
	}
	ws, err := filepath.Abs(workspace)
	if err != nil {
		return "", fmt.Errorf("workspace folder %s: %w", workspace, err)
	}
	st, err := os.Stat(ws)
	if err != nil {
		return "", fmt.Errorf("workspace folder %s: %w", ws, err)
	}
	if !st.IsDir() {
		return "", fmt.Errorf("workspace folder %s is not a directory", ws)
	}
	return ws, nil
}

func absIn(ws, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(ws, p)
}

// Candidates lists the config files of a workspace, sorted: every
// .mirrord/*.{json,toml,yml,yaml} (IntelliJ's rule, and VS Code's
// `**/*.mirrord/*.<ext>`) and every *mirrord.<ext> at the root (VS Code's
// `**/*mirrord.<ext>`, without the recursion, which would walk node_modules
// and the like on every change).
func Candidates(workspace string) ([]string, error) {
	var out []string
	for _, dir := range []string{filepath.Join(workspace, DirName), workspace} {
		entries, err := os.ReadDir(dir)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrPermission) {
				continue
			}
			return nil, fmt.Errorf("listing mirrord configs in %s: %w", dir, err)
		}
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if isCandidate(workspace, p) && isFile(e, p) {
				out = append(out, p)
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

// isFile follows symlinks: a linked config is still a config.
func isFile(e fs.DirEntry, p string) bool {
	if e.Type().IsRegular() {
		return true
	}
	if e.Type()&fs.ModeSymlink != 0 {
		st, err := os.Stat(p)
		return err == nil && st.Mode().IsRegular()
	}
	return false
}

// isCandidate tells by name alone whether p is a config file of workspace.
func isCandidate(workspace, p string) bool {
	name := filepath.Base(p)
	if !hasConfigExt(name) || strings.HasPrefix(name, ".") {
		return false
	}
	switch filepath.Dir(p) {
	case filepath.Join(workspace, DirName):
		return true
	case workspace:
		return strings.HasSuffix(strings.TrimSuffix(name, filepath.Ext(name)), "mirrord")
	}
	return false
}

// IsDefaultCandidate tells whether p may be the workspace's default config:
// .mirrord/*mirrord.<ext>.
func IsDefaultCandidate(workspace, p string) bool {
	name := filepath.Base(p)
	return filepath.Dir(p) == filepath.Join(workspace, DirName) && hasConfigExt(name) &&
		strings.HasSuffix(strings.TrimSuffix(name, filepath.Ext(name)), "mirrord")
}

func hasConfigExt(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range extensions {
		if ext == e {
			return true
		}
	}
	return false
}
