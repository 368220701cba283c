package netfilter

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParsePorts(t *testing.T) {
	tests := []struct {
		in      string
		want    string
		bad     []string
		in1, no []uint16
	}{
		{in: "45000-65535", want: "45000-65535", in1: []uint16{45000, 50002, 65535}, no: []uint16{44999, 80}},
		{in: "12233", want: "12233", in1: []uint16{12233}, no: []uint16{12232, 12234}},
		{in: "12233,13344, 14455-14460", want: "12233,13344,14455-14460", in1: []uint16{13344, 14457}, no: []uint16{14461}},
		{in: "", want: ""},
		{in: "x,5-4,70000,9229", want: "9229", bad: []string{"x", "5-4", "70000"}, in1: []uint16{9229}, no: []uint16{5}},
		{in: "1-2-3", want: "", bad: []string{"1-2-3"}},
	}
	for _, tt := range tests {
		got, bad := ParsePorts(tt.in)
		if got.String() != tt.want || !slices.Equal(bad, tt.bad) {
			t.Errorf("ParsePorts(%q) = %q, bad %q; want %q, bad %q", tt.in, got, bad, tt.want, tt.bad)
		}
		for _, p := range tt.in1 {
			if !got.Contains(p) {
				t.Errorf("ParsePorts(%q) does not contain %d", tt.in, p)
			}
		}
		for _, p := range tt.no {
			if got.Contains(p) {
				t.Errorf("ParsePorts(%q) contains %d", tt.in, p)
			}
		}
	}
}

func TestDebuggerPorts(t *testing.T) {
	tests := []struct {
		name string
		d    Debugger
		cmd  string
		env  Env
		want []uint16
	}{
		{"debugpy old layout", DebugPy, "/venv/bin/python /home/u/.vscode/extensions/ms-python.python-2023.6.1/pythonFiles/lib/python/debugpy/adapter/../../debugpy/launcher/../../debugpy --connect 127.0.0.1:57141 --configure-qt none --adapter-access-token c2d7 /home/u/script.py", nil, []uint16{57141}},
		{"debugpy -X layout", DebugPy, "/venv/bin/python -X frozen_modules=off /ext/debugpy/launcher/../../debugpy --connect 127.0.0.1:57141 /s.py", nil, []uint16{57141}},
		{"debugpy launcher", DebugPy, "/usr/bin/python3 /ext/ms-python.debugpy-2024.6.0/bundled/libs/debugpy/adapter/../../debugpy/launcher 36615 -- /w/app.py", nil, []uint16{36615}},
		{"debugpy -m listen", DebugPy, "python3 -m debugpy --listen localhost:5678 --wait-for-client app.py", nil, []uint16{5678}},
		{"debugpy connect=", DebugPy, "python3 -m debugpy --connect=[::1]:5679 app.py", nil, []uint16{5679}},
		{"debugpy not python", DebugPy, "/bin/sh /ext/debugpy --connect 127.0.0.1:57141", nil, nil},
		{"debugpy no debugger", DebugPy, "python /s.py --connect 127.0.0.1:57141", nil, nil},
		{"debugpy no socket", DebugPy, "python /ext/debugpy /s.py", nil, nil},
		{"pydevd", PyDevD, "/path/to/python /path/to/pycharm/plugins/pydevd.py --multiprocess --qt-support=auto --client 127.0.0.1 --port 32845 --file /path/to/script.py", nil, []uint16{32845}},
		{"pydevd not python", PyDevD, "/path/to/pycharm/plugins/pydevd.py --port 32845", nil, nil},
		{"pydevd no port", PyDevD, "python /p/pydevd.py --client 127.0.0.1 --file s.py", nil, nil},
		{"resharper", ReSharper, "/rider/lib/ReSharperHost/linux-x64/dotnet/dotnet exec /rider/lib/ReSharperHost/JetBrains.Debugger.Worker.exe --mode=client --frontend-port=40905 --backend-pid=2", nil, []uint16{40905}},
		{"resharper no dotnet", ReSharper, "/some/exe exec /r/JetBrains.Debugger.Worker.exe --frontend-port=40905", nil, nil},
		{"resharper no debugger", ReSharper, "/r/dotnet exec --mode=client --frontend-port=40905", nil, nil},
		{"jdwp idea", JavaAgent, "/jdk/bin/java -agentlib:jdwp=transport=dt_socket,address=127.0.0.1:54898,suspend=y,server=n -XX:TieredStopAtLevel=1 -cp x com.example.Demo", nil, []uint16{54898}},
		{"jdwp vscode", JavaAgent, "/jdk/bin/java -agentlib:jdwp=transport=dt_socket,server=n,suspend=y,address=localhost:54898 @/tmp/cp.argfile com.example.Demo", nil, []uint16{54898}},
		{"jdwp port only", JavaAgent, "java -agentlib:jdwp=transport=dt_socket,server=y,address=5005 -jar app.jar", nil, []uint16{5005}},
		{"jdwp legacy", JavaAgent, "java -Xdebug -Xrunjdwp:transport=dt_socket,server=y,address=*:8000 Main", nil, []uint16{8000}},
		{"jdwp not java", JavaAgent, "/bin/sh -agentlib:jdwp=transport=dt_socket,address=1", nil, nil},
		{"node options", NodeInspector, "/usr/bin/node app.js", Env{"NODE_OPTIONS=--require=/x --inspect-publish-uid=http --max-old-space-size=9216 --inspect=9994"}, []uint16{9994}},
		{"node options bare", NodeInspector, "node app.js", Env{"NODE_OPTIONS=--inspect-brk"}, []uint16{NodeInspectorDefaultPort}},
		{"node options host", NodeInspector, "node app.js", Env{"NODE_OPTIONS=--inspect-wait=127.0.0.1:9333"}, []uint16{9333}},
		{"node argv", NodeInspector, "/usr/bin/node --inspect=0.0.0.0:9230 app.js --inspect=1", nil, []uint16{9230}},
		{"node inspector info", NodeInspector, "/usr/bin/node /ext/ms-vscode.js-debug/src/watchdog.js", Env{`NODE_INSPECTOR_INFO={"ipcAddress":"/tmp/node-cdp.1.sock","pid":"75321","scriptName":"/w/app.js","inspectorURL":"ws://127.0.0.1:41234/8decd19b-8ea8-45f4-bf72-095ddbdad103","waitForDebugger":true}`}, []uint16{41234}},
		{"node publish uid only", NodeInspector, "node app.js", Env{"NODE_OPTIONS=--inspect-publish-uid=http --require /b.js"}, nil},
		{"node plain", NodeInspector, "node app.js", Env{"PATH=/bin"}, nil},
		{"dlv dap listen", Delve, "/go/bin/dlv dap --listen=127.0.0.1:38697 --log-dest=3", nil, []uint16{38697}},
		{"dlv client-addr", Delve, "/go/bin/dlv dap --client-addr=127.0.0.1:40001", nil, []uint16{40001}},
		{"dlv headless -l", Delve, "dlv debug --headless -l :2345 ./cmd", nil, []uint16{2345}},
		{"dlv connect", Delve, "dlv connect 127.0.0.1:2346", nil, []uint16{2346}},
		{"not dlv", Delve, "/usr/bin/app --listen=127.0.0.1:8080", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.d.Ports(strings.Fields(tt.cmd), tt.env)
			if !slices.Equal(got, tt.want) {
				t.Errorf("%s.Ports(%q, %q) = %v, want %v", tt.d, tt.cmd, tt.env, got, tt.want)
			}
		})
	}
}

func TestDebuggerPort(t *testing.T) {
	watchdog := Env{`NODE_INSPECTOR_INFO={"inspectorURL":"ws://127.0.0.1:41234/x"}`}
	tests := []struct {
		name string
		cmd  string
		env  Env
		port uint16
		want bool
		why  string
	}{
		{"explicit range", "node app.js", Env{"MIRRORD_IGNORE_DEBUGGER_PORTS=45000-65535"}, 45001, true, "MIRRORD_IGNORE_DEBUGGER_PORTS"},
		{"outside the range", "node app.js", Env{"MIRRORD_IGNORE_DEBUGGER_PORTS=45000-65535"}, 8080, false, ""},
		{"detected without the variable", "node watchdog.js", watchdog, 41234, true, "nodeinspector"},
		{"another port of that process", "node watchdog.js", watchdog, 41235, false, ""},
		{"detection limited by the variable", "node watchdog.js", append(Env{"MIRRORD_DETECT_DEBUGGER_PORT=debugpy"}, watchdog...), 41234, false, ""},
		{"detection named by the variable", "node watchdog.js", append(Env{"MIRRORD_DETECT_DEBUGGER_PORT=nodeinspector"}, watchdog...), 41234, true, "nodeinspector"},
		{"an unknown type detects everything", "node watchdog.js", append(Env{"MIRRORD_DETECT_DEBUGGER_PORT=gdb"}, watchdog...), 41234, true, "nodeinspector"},
		{"the last env entry wins", "node a.js", Env{"MIRRORD_IGNORE_DEBUGGER_PORTS=1", "MIRRORD_IGNORE_DEBUGGER_PORTS=2"}, 1, false, ""},
		{"python debugpy", "python3 /ext/debugpy --connect 127.0.0.1:57141 s.py", nil, 57141, true, "debugpy"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := DebuggerPort(strings.Fields(tt.cmd), tt.env, tt.port)
			if got != tt.want || !strings.Contains(why, tt.why) {
				t.Errorf("DebuggerPort(%q, %q, %d) = %v %q, want %v (%q)", tt.cmd, tt.env, tt.port, got, why, tt.want, tt.why)
			}
		})
	}
}

func TestDebuggerCandidate(t *testing.T) {
	tests := []struct {
		ap   string
		want bool
	}{
		{"127.0.0.1:41234", true},
		{"127.0.0.53:9229", true},
		{"[::1]:9229", true},
		{"[::ffff:127.0.0.1]:9229", true},
		{"0.0.0.0:9229", true},
		{"10.0.0.1:9229", false},
		{"[2001:db8::1]:9229", false},
		{"127.0.0.1:50000", false},
		{"127.0.0.1:50001", false},
		{"127.0.0.1:0", false},
	}
	for _, tt := range tests {
		if got := DebuggerCandidate(netip.MustParseAddrPort(tt.ap)); got != tt.want {
			t.Errorf("DebuggerCandidate(%s) = %v, want %v", tt.ap, got, tt.want)
		}
	}
}

// fakeProc writes a /proc/<pid> with a cmdline and an environ.
func fakeProc(t *testing.T, pid int, argv, env []string) string {
	t.Helper()
	root := t.TempDir()
	dir := filepath.Join(root, strconv.Itoa(pid))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	nul := func(s []string) []byte { return []byte(strings.Join(s, "\x00") + "\x00") }
	if err := os.WriteFile(filepath.Join(dir, "cmdline"), nul(argv), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "environ"), nul(env), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestProcDebuggerConn(t *testing.T) {
	root := fakeProc(t, 42, []string{"/usr/bin/node", "/ext/watchdog.js"},
		[]string{`NODE_INSPECTOR_INFO={"inspectorURL":"ws://127.0.0.1:41234/x"}`, "ELECTRON_RUN_AS_NODE=1"})
	tests := []struct {
		name string
		pid  int
		ap   string
		want bool
	}{
		{"the inspector on loopback", 42, "127.0.0.1:41234", true},
		{"the inspector's port elsewhere", 42, "10.1.2.3:41234", false},
		{"another loopback port", 42, "127.0.0.1:8080", false},
		{"a process that is gone", 43, "127.0.0.1:41234", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, why := ProcDebuggerConn(root, tt.pid, netip.MustParseAddrPort(tt.ap))
			if got != tt.want {
				t.Errorf("ProcDebuggerConn(%d, %s) = %v (%s), want %v", tt.pid, tt.ap, got, why, tt.want)
			}
		})
	}
	// The real /proc: this test process runs no debugger, but its own
	// MIRRORD_IGNORE_DEBUGGER_PORTS (read from /proc/self/environ, the env
	// at exec) would count; without it nothing is a debugger port.
	if _, set := os.LookupEnv(IgnoreDebuggerPortsEnv); !set {
		if got, why := ProcDebuggerConn("/proc", os.Getpid(), netip.MustParseAddrPort("127.0.0.1:41234")); got {
			t.Errorf("this test process has a debugger port: %s", why)
		}
	}
}
