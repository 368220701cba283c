package graceful

import (
	"sync"
	"testing"
	"time"
)

func TestWait(t *testing.T) {
	tests := []struct {
		name    string
		work    time.Duration // how long the goroutine works unless cut
		grace   time.Duration
		wantCut bool // the goroutine ended because cut was called
	}{
		{"finishes within the grace", 0, time.Minute, false},
		{"cut after the grace", time.Minute, 10 * time.Millisecond, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stop := make(chan struct{})
			var cutFirst bool
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				select {
				case <-time.After(tt.work):
				case <-stop:
					cutFirst = true
				}
			}()
			start := time.Now()
			Wait(&wg, tt.grace, func() { close(stop) })
			if cutFirst != tt.wantCut {
				t.Errorf("ended by cut = %v, want %v", cutFirst, tt.wantCut)
			}
			if took := time.Since(start); took > tt.grace+5*time.Second {
				t.Errorf("Wait took %v, grace %v", took, tt.grace)
			}
		})
	}
}
