package progress

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestModes(t *testing.T) {
	tests := []struct {
		name string
		mode Mode
		tty  bool
		want []string
	}{
		{"std on a terminal", Std, true, []string{"mirrord: ✓ step one", "mirrord: ✗ step two", "mirrord: warning: careful"}},
		{"std without a terminal shows only warnings", Std, false, []string{"mirrord: warning: careful"}},
		{"dumb without a terminal", Dumb, false, []string{"mirrord: ✓ step one"}},
		{"json", JSON, false, []string{`{"name":"step one","parent":"root","type":"NewTask"}`,
			`{"message":null,"name":"step one","success":true,"type":"FinishedTask"}`,
			`{"message":"boom","name":"step two","success":false,"type":"FinishedTask"}`,
			`{"message":"careful","type":"Warning"}`}},
		{"off", Off, true, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := New(&buf, tt.mode, tt.tty, "root")
			p.Task("step one")(nil)
			done := p.Task("step two")
			done(errors.New("boom"))
			done(nil) // a second end is ignored
			p.Warn("careful")
			out := buf.String()
			if tt.want == nil && out != "" {
				t.Fatalf("want silence, got %q", out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("missing %q in:\n%s", w, out)
				}
			}
			if !tt.tty && tt.mode == Std && strings.Contains(out, "step") {
				t.Errorf("steps shown without a terminal:\n%s", out)
			}
			if strings.Count(out, "step two") > 2 {
				t.Errorf("step two ended twice:\n%s", out)
			}
		})
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Std, "standard": Std, "simple": Dumb, "JSON": JSON, "off": Off} {
		if got, err := ParseMode(in); err != nil || got != want {
			t.Errorf("ParseMode(%q) = %v, %v", in, got, err)
		}
	}
	if _, err := ParseMode("loud"); err == nil || !strings.Contains(err.Error(), "MIRRORD_PROGRESS_MODE") {
		t.Errorf("bad mode err = %v", err)
	}
}

func TestErrorShowsInEveryMode(t *testing.T) {
	tests := []struct {
		mode Mode
		want string
	}{
		{Off, "mirrord: error: port 80 taken\n"},
		{Std, "mirrord: error: port 80 taken\n"},
		{Dumb, "mirrord: error: port 80 taken\n"},
		{JSON, `{"message":"port 80 taken","type":"Warning"}` + "\n"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.mode), func(t *testing.T) {
			var buf bytes.Buffer
			New(&buf, tt.mode, false, "root").Error("port 80 taken")
			if buf.String() != tt.want {
				t.Fatalf("got %q, want %q", buf.String(), tt.want)
			}
		})
	}
}
