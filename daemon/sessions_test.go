package daemon_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mirrord-go/mirrord/daemon/api"
	"github.com/mirrord-go/mirrord/daemon/client"
)

// fakeRunnerEnv makes the test binary act as `mirrord runner` (the
// session runner the daemon spawns): "ok" prints progress and a result,
// then serves until stdin closes or SIGTERM; "fail" reports an IDE error.
// The real runner is tested on the cluster (e2e/daemon, e2e/runner).
const fakeRunnerEnv = "MIRRORD_DAEMON_TEST_RUNNER"

func testExe() string {
	exe, _ := os.Executable()
	return exe
}

func fakeRunner(mode string, args []string) int {
	if mode == "fail" {
		fmt.Fprintln(os.Stderr, `{"type":"NewTask","name":"resolving the target","parent":"mirrord runner"}`)
		fmt.Fprintln(os.Stderr, `Error: {"message":"deployment \"nope\" not found in namespace \"apps\"","help":"list the targets with mirrord ls","severity":"error"}`)
		return 1
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	in := bufio.NewReader(os.Stdin)
	launch, err := in.ReadBytes('\n')
	if err != nil {
		return 3
	}
	var env map[string]string
	if json.Unmarshal(launch, &env) != nil {
		return 4
	}
	fmt.Fprintln(os.Stderr, `{"type":"NewTask","name":"creating agent Job mirrord-agent-fake in namespace apps","parent":"mirrord runner"}`)
	fmt.Fprintln(os.Stderr, `{"type":"FinishedTask","name":"creating agent Job mirrord-agent-fake in namespace apps","success":true,"message":null}`)
	res := api.RunnerResult{Env: map[string]string{"FROM_RUNNER": strings.Join(args, " "), "LAUNCH_SEEN": env["SEEN"], "MIRRORD_LAYER_SOCKET": fmt.Sprint("/fake/", os.Getpid())},
		Unset: []string{"GONE"}, Target: "deployment/web", Warnings: []string{}}
	b, _ := json.Marshal(res)
	fmt.Printf("%s\n", b)
	// As if a program had joined and exited already: the session is idle
	// by the time the start returns (before Ready, so no test races it).
	fmt.Fprintln(os.Stderr, `{"type":"SessionState","live":1}`)
	fmt.Fprintln(os.Stderr, `{"type":"SessionState","live":0}`)
	fmt.Fprintln(os.Stderr, `{"type":"Ready"}`)
	eof := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, in); close(eof) }()
	select {
	case <-eof:
	case <-term:
	}
	return 0
}

func TestSessionsWithFakeRunner(t *testing.T) {
	t.Setenv(fakeRunnerEnv, "ok")
	f := pipeFixture(t, testOptions(nil))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	p := api.SessionsStartParams{Target: "deploy/web", Namespace: "apps", LaunchEnv: map[string]string{"SEEN": "yes"}, WorkDoneToken: "tok-1"}
	r, err := client.Call(ctx, f.c, api.SessionsStart, p)
	if err != nil {
		t.Fatalf("sessions/start: %v", err)
	}
	if r.Reused || r.Target != "deployment/web" || r.Env["LAUNCH_SEEN"] != "yes" || len(r.Unset) != 1 ||
		!strings.Contains(r.Env["FROM_RUNNER"], "-t deploy/web -n apps") || !strings.Contains(r.Env["FROM_RUNNER"], "--stdin-lifetime") {
		t.Fatalf("sessions/start result %+v", r)
	}
	var kinds []string
	for len(kinds) == 0 || kinds[len(kinds)-1] != "end" {
		raw := f.waitNote(t, api.Progress.Name, 5*time.Second, nil)
		var pp api.ProgressParams
		_ = json.Unmarshal(raw, &pp)
		if pp.Token != "tok-1" {
			t.Fatalf("progress token %q, want tok-1", pp.Token)
		}
		kinds = append(kinds, pp.Value.Kind)
	}
	if len(kinds) < 3 || kinds[0] != "begin" {
		t.Fatalf("progress kinds %v", kinds)
	}

	tests := []struct {
		name  string
		check func(t *testing.T)
	}{
		{"list shows it warm once its program exited", func(t *testing.T) {
			l, err := client.Call(ctx, f.c, api.SessionsList, api.Empty{})
			if err != nil || len(l.Sessions) != 1 || l.Sessions[0].State != "warm" || l.Sessions[0].SessionID != r.SessionID {
				t.Fatalf("sessions/list %+v, %v", l, err)
			}
		}},
		{"stop keeps it warm; a restart reuses it", func(t *testing.T) {
			if _, err := client.Call(ctx, f.c, api.SessionsStop, api.SessionsStopParams{SessionID: r.SessionID}); err != nil {
				t.Fatal(err)
			}
			r2, err := client.Call(ctx, f.c, api.SessionsStart, p)
			if err != nil || !r2.Reused || r2.SessionID == r.SessionID || r2.Env["MIRRORD_LAYER_SOCKET"] != r.Env["MIRRORD_LAYER_SOCKET"] {
				t.Fatalf("restart %+v, %v", r2, err)
			}
			r = r2
		}},
		{"another launch env gets its own runner", func(t *testing.T) {
			q := p
			q.LaunchEnv = map[string]string{"SEEN": "other"}
			r3, err := client.Call(ctx, f.c, api.SessionsStart, q)
			if err != nil || r3.Reused || r3.Env["LAUNCH_SEEN"] != "other" {
				t.Fatalf("start %+v, %v", r3, err)
			}
			if _, err := client.Call(ctx, f.c, api.SessionsStop, api.SessionsStopParams{SessionID: r3.SessionID}); err != nil {
				t.Fatal(err)
			}
		}},
		{"the warm TTL ends a stopped session", func(t *testing.T) {
			if _, err := client.Call(ctx, f.c, api.SessionsStop, api.SessionsStopParams{SessionID: r.SessionID}); err != nil {
				t.Fatal(err)
			}
			raw := f.waitNote(t, api.SessionEnded.Name, 10*time.Second, func(m json.RawMessage) bool { return strings.Contains(string(m), r.SessionID) })
			var e api.SessionEndedParams
			_ = json.Unmarshal(raw, &e)
			if e.Reason != "stopped" {
				t.Fatalf("session/ended %+v", e)
			}
		}},
		{"unknown session", func(t *testing.T) {
			ce := callErr(t, f, api.SessionsStop, api.SessionsStopParams{SessionID: "s-nope"})
			if ce.Code != api.CodeUser || !strings.Contains(ce.Error(), `"s-nope"`) {
				t.Fatalf("stop of an unknown session: %v", ce)
			}
		}},
		{"a failing runner's error is the start's error", func(t *testing.T) {
			t.Setenv(fakeRunnerEnv, "fail")
			_, err := client.Call(ctx, f.c, api.SessionsStart, api.SessionsStartParams{Target: "deploy/nope"})
			if err == nil || !strings.Contains(err.Error(), `deployment "nope" not found`) || !strings.Contains(err.Error(), "mirrord ls") {
				t.Fatalf("start with a failing runner: %v", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, tt.check)
	}
}

// sessionsCase is the sessions part of the table both suites run.
func sessionsCase(t *testing.T, f *fixture) {
	p := api.SessionsStartParams{Target: "pod/web-1", LaunchEnv: map[string]string{"SEEN": t.Name()}}
	r := call(t, f, api.SessionsStart, p)
	if r.Reused || r.Env["LAUNCH_SEEN"] != t.Name() || r.SessionID == "" {
		t.Fatalf("sessions/start: %+v", r)
	}
	// The fake runner's program has joined and exited: the session is idle.
	if l := call(t, f, api.SessionsList, api.Empty{}); len(l.Sessions) != 1 || l.Sessions[0].State != "warm" || l.Sessions[0].Pid <= 0 {
		t.Fatalf("sessions/list: %+v", l)
	}
	call(t, f, api.SessionsStop, api.SessionsStopParams{SessionID: r.SessionID})
	if l := call(t, f, api.SessionsList, api.Empty{}); len(l.Sessions) != 1 || l.Sessions[0].State != "warm" {
		t.Fatalf("sessions/list after stop: %+v", l)
	}
	if r2 := call(t, f, api.SessionsStart, p); !r2.Reused {
		t.Fatalf("restart: %+v, want the warm runner", r2)
	}
	bad := api.SessionsStartParams{LaunchEnv: map[string]string{fakeRunnerEnv: "fail"}}
	if e := callErr(t, f, api.SessionsStart, bad); !strings.Contains(e.Message, `deployment "nope" not found`) {
		t.Fatalf("failing runner: %v", e)
	}
}
