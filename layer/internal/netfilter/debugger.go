package netfilter

// Debugger ports: the loopback ports a debugger and the program it runs
// talk over (js-debug's watchdog to the Node inspector, debugpy to its
// adapter, a JVM to the JDWP client, dlv to the editor). They stay local
// whatever feature.network.outgoing says, or the debug session never gets
// going: sent through the pod they reach the pod's loopback.
//
// The ports come from the connecting process itself, as upstream's layer
// takes them from its own process:
//   - MIRRORD_IGNORE_DEBUGGER_PORTS: `<port>` or `<lo>-<hi>`, comma
//     separated (the IDEs set 45000-65535 or 35000-65535);
//   - the debugger's command line or env, for the debuggers named by
//     MIRRORD_DETECT_DEBUGGER_PORT (debugpy, pydevd, resharper, javaagent,
//     nodeinspector, and dlv here), comma separated.
//
// One difference: without MIRRORD_DETECT_DEBUGGER_PORT every known
// debugger is detected. Upstream's LD_PRELOAD layer only loads into
// processes whose env names it, but the seccomp filter is inherited by
// every child, including those a debugger starts with an env of its own
// (js-debug's watchdog gets only NODE_INSPECTOR_INFO), so a process with no
// mirrord variables at all must still be recognised. The patterns are
// specific (the interpreter and the debugger's own argument names), and
// only loopback destinations are affected.
//
// Ports 50000 and 50001 are never debugger ports: as upstream, they are
// kept for sidecar containers that programs reach on the pod's loopback.

import (
	"bytes"
	"encoding/json"
	"net"
	"net/netip"
	"net/url"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
)

// The variables that configure debugger ports.
const (
	DetectDebuggerPortEnv  = "MIRRORD_DETECT_DEBUGGER_PORT"
	IgnoreDebuggerPortsEnv = "MIRRORD_IGNORE_DEBUGGER_PORTS"
)

// NodeInspectorDefaultPort is the port of a bare `--inspect`.
const NodeInspectorDefaultPort = 9229

// Debugger is a debugger whose port can be read from a command line.
type Debugger string

// The debuggers detected.
const (
	DebugPy       Debugger = "debugpy"       // VS Code Python: `python …/debugpy --connect 127.0.0.1:N`, `…/debugpy/launcher N`
	PyDevD        Debugger = "pydevd"        // PyCharm: `python …/pydevd.py --client 127.0.0.1 --port N`
	ReSharper     Debugger = "resharper"     // Rider: `dotnet exec …Debugger.Worker.exe --frontend-port=N`
	JavaAgent     Debugger = "javaagent"     // JDWP: `java -agentlib:jdwp=transport=dt_socket,…,address=host:N`
	NodeInspector Debugger = "nodeinspector" // NODE_OPTIONS/argv --inspect[-brk|-wait][=[host:]N], NODE_INSPECTOR_INFO
	Delve         Debugger = "dlv"           // Go: `dlv … --listen=host:N`, `--client-addr=host:N`, `dlv connect host:N`
)

// Debuggers lists every debugger detected, in detection order.
var Debuggers = []Debugger{DebugPy, PyDevD, ReSharper, JavaAgent, NodeInspector, Delve}

// PortRange is an inclusive range of ports.
type PortRange struct{ Lo, Hi uint16 }

// Ports is a set of port ranges.
type Ports []PortRange

// ParsePorts parses MIRRORD_IGNORE_DEBUGGER_PORTS: comma-separated
// `<port>` or `<lo>-<hi>` entries (lo <= hi). Like upstream it skips
// malformed entries; it returns them so the caller can warn.
func ParsePorts(s string) (Ports, []string) {
	var out Ports
	var bad []string
	for _, e := range strings.Split(s, ",") {
		e = strings.TrimSpace(e)
		if e == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(e, "-")
		a, err1 := strconv.ParseUint(strings.TrimSpace(lo), 10, 16)
		b, err2 := a, error(nil)
		if isRange {
			b, err2 = strconv.ParseUint(strings.TrimSpace(hi), 10, 16)
		}
		if err1 != nil || err2 != nil || a > b {
			bad = append(bad, e)
			continue
		}
		out = append(out, PortRange{uint16(a), uint16(b)})
	}
	return out, bad
}

// Contains reports whether port is in the set.
func (p Ports) Contains(port uint16) bool {
	for _, r := range p {
		if r.Lo <= port && port <= r.Hi {
			return true
		}
	}
	return false
}

// String formats the set the way ParsePorts reads it.
func (p Ports) String() string {
	parts := make([]string, len(p))
	for i, r := range p {
		if r.Lo == r.Hi {
			parts[i] = strconv.Itoa(int(r.Lo))
		} else {
			parts[i] = strconv.Itoa(int(r.Lo)) + "-" + strconv.Itoa(int(r.Hi))
		}
	}
	return strings.Join(parts, ",")
}

// Env is a process's environment as `KEY=value` strings.
type Env []string

// Get returns the value of the last KEY= entry, as getenv does.
func (e Env) Get(key string) (string, bool) {
	for i := len(e) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(e[i], key+"="); ok {
			return v, true
		}
	}
	return "", false
}

// portOf reads the port of `N`, `host:N` or `[v6]:N`; 0 when there is none.
func portOf(s string) uint16 {
	s = strings.TrimSpace(s)
	if n, err := strconv.ParseUint(s, 10, 16); err == nil {
		return uint16(n)
	}
	if _, p, err := net.SplitHostPort(s); err == nil {
		if n, err := strconv.ParseUint(p, 10, 16); err == nil {
			return uint16(n)
		}
	}
	return 0
}

// optValue returns the value of `--name value` or `--name=value` in args.
func optValue(args []string, names ...string) (string, bool) {
	for i, a := range args {
		for _, n := range names {
			if a == n && i+1 < len(args) {
				return args[i+1], true
			}
			if v, ok := strings.CutPrefix(a, n+"="); ok {
				return v, true
			}
		}
	}
	return "", false
}

func base(argv []string) string {
	if len(argv) == 0 {
		return ""
	}
	return path.Base(argv[0])
}

// pythonScript returns the index of the script (or `-m` module) a Python
// command line runs, skipping the interpreter's own options.
func pythonScript(argv []string) int {
	for i := 1; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "-m" && i+1 < len(argv):
			return i + 1
		case a == "-X" || a == "-W" || a == "-Q":
			i++ // the option's value
		case strings.HasPrefix(a, "-"):
		default:
			return i
		}
	}
	return -1
}

// Ports returns the ports this debugger uses in a process with argv and
// env; nil when its command line does not match.
func (d Debugger) Ports(argv []string, env Env) []uint16 {
	var out []uint16
	add := func(p uint16) {
		if p != 0 && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	switch d {
	case DebugPy:
		if !strings.HasPrefix(base(argv), "py") {
			return nil
		}
		i := pythonScript(argv)
		if i < 0 {
			return nil
		}
		script, rest := strings.TrimSuffix(argv[i], "/"), argv[i+1:]
		switch {
		case strings.HasSuffix(script, "debugpy/launcher"):
			// the launcher connects to the adapter: `launcher [host:]N -- prog`
			if len(rest) > 0 {
				add(portOf(rest[0]))
			}
		case script == "debugpy" || strings.HasSuffix(script, "/debugpy"):
			for _, o := range []string{"--connect", "--listen"} {
				if v, ok := optValue(rest, o); ok {
					add(portOf(v))
				}
			}
		}
	case PyDevD:
		if !strings.HasPrefix(base(argv), "py") {
			return nil
		}
		i := pythonScript(argv)
		if i < 0 || !strings.Contains(path.Base(argv[i]), "pydevd") {
			return nil
		}
		if v, ok := optValue(argv[i+1:], "--port"); ok {
			add(portOf(v))
		}
	case ReSharper:
		if !strings.HasSuffix(base(argv), "dotnet") || len(argv) < 3 || !strings.Contains(argv[2], "Debugger") {
			return nil
		}
		if v, ok := optValue(argv[3:], "--frontend-port"); ok {
			add(portOf(v))
		}
	case JavaAgent:
		if !strings.HasSuffix(base(argv), "java") {
			return nil
		}
		for _, a := range argv[1:] {
			opts, ok := strings.CutPrefix(a, "-agentlib:jdwp=")
			if !ok {
				opts, ok = strings.CutPrefix(a, "-Xrunjdwp:")
			}
			if !ok {
				continue
			}
			for _, o := range strings.Split(opts, ",") {
				if addr, ok := strings.CutPrefix(o, "address="); ok {
					add(portOf(addr[strings.LastIndex(addr, ":")+1:]))
				}
			}
		}
	case NodeInspector:
		flags := func(args []string) {
			for _, a := range args {
				name, val, hasVal := strings.Cut(a, "=")
				switch name {
				case "--inspect", "--inspect-brk", "--inspect-wait", "--inspect-port", "--debug-port":
					if hasVal {
						add(portOf(val))
					} else if name != "--inspect-port" && name != "--debug-port" {
						add(NodeInspectorDefaultPort)
					}
				}
			}
		}
		if v, ok := env.Get("NODE_OPTIONS"); ok {
			flags(strings.Fields(v))
		}
		if strings.HasPrefix(base(argv), "node") {
			// node's own options come before the script
			end := len(argv)
			for i := 1; i < len(argv); i++ {
				if !strings.HasPrefix(argv[i], "-") {
					end = i
					break
				}
			}
			flags(argv[1:end])
		}
		// js-debug's watchdog (and other inspector clients) get the URL.
		if v, ok := env.Get("NODE_INSPECTOR_INFO"); ok {
			var info struct {
				InspectorURL string `json:"inspectorURL"`
			}
			if json.Unmarshal([]byte(v), &info) == nil {
				if u, err := url.Parse(info.InspectorURL); err == nil {
					add(portOf(u.Port()))
				}
			}
		}
	case Delve:
		if base(argv) != "dlv" {
			return nil
		}
		for _, o := range []string{"--listen", "-l", "--client-addr"} {
			if v, ok := optValue(argv[1:], o); ok {
				add(portOf(v))
			}
		}
		if len(argv) > 2 && argv[1] == "connect" {
			add(portOf(argv[2]))
		}
	}
	return out
}

// detectable returns the debuggers MIRRORD_DETECT_DEBUGGER_PORT names, or
// all of them when it names none.
func detectable(env Env) []Debugger {
	v, _ := env.Get(DetectDebuggerPortEnv)
	var out []Debugger
	for _, s := range strings.Split(v, ",") {
		d := Debugger(strings.ToLower(strings.TrimSpace(s)))
		if slices.Contains(Debuggers, d) && !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		return Debuggers
	}
	return out
}

// DebuggerPort says whether port is a debugger port of the process with
// argv and env, and by which rule.
func DebuggerPort(argv []string, env Env, port uint16) (bool, string) {
	if v, ok := env.Get(IgnoreDebuggerPortsEnv); ok {
		if ps, _ := ParsePorts(v); ps.Contains(port) {
			return true, IgnoreDebuggerPortsEnv + "=" + v
		}
	}
	for _, d := range detectable(env) {
		if slices.Contains(d.Ports(argv, env), port) {
			return true, "the " + string(d) + " debugger's port"
		}
	}
	return false, ""
}

// DebuggerCandidate reports whether a connection to ap could be to a
// debugger port: a loopback (or unspecified, which Linux connects to
// loopback) address, on a port other than 0, 50000 and 50001.
func DebuggerCandidate(ap netip.AddrPort) bool {
	ip := ap.Addr().Unmap()
	if !ip.IsLoopback() && !ip.IsUnspecified() {
		return false
	}
	switch ap.Port() {
	case 0, 50000, 50001:
		return false
	}
	return true
}

// ProcDebuggerConn says whether a connection of process (or thread) pid
// to ap is to one of its debugger ports; it reads the process's command
// line and initial environment from procRoot ("/proc"). A process that
// is gone, or whose files cannot be read, has no debugger ports.
func ProcDebuggerConn(procRoot string, pid int, ap netip.AddrPort) (bool, string) {
	if !DebuggerCandidate(ap) {
		return false, ""
	}
	dir := procRoot + "/" + strconv.Itoa(pid)
	cmdline, err := os.ReadFile(dir + "/cmdline")
	if err != nil {
		return false, ""
	}
	environ, _ := os.ReadFile(dir + "/environ")
	return DebuggerPort(splitNUL(cmdline), Env(splitNUL(environ)), ap.Port())
}

func splitNUL(b []byte) []string {
	b = bytes.TrimRight(b, "\x00")
	if len(b) == 0 {
		return nil
	}
	return strings.Split(string(b), "\x00")
}
