package providers

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// hangGuard fails a test that waits on a channel for much too long; no
// test depends on how long anything takes.
const hangGuard = 10 * time.Second

// checkBound runs n jobs that each hold their slot until the test lets it
// go. It waits until `want` run at once (a limit never reached hangs, which
// hangGuard catches), then holds them while the other jobs, if nothing
// stopped them, would start (one that does fails the test), then lets one
// go at a time: the peak must be exactly want and every job run once.
func checkBound(t *testing.T, n, limit, want int) {
	t.Helper()
	var running, peak atomic.Int32
	ran := make([]atomic.Int32, n)
	started := make(chan int, n)
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Parallel(n, limit, func(i int) error {
			r := running.Add(1)
			for p := peak.Load(); r > p && !peak.CompareAndSwap(p, r); p = peak.Load() {
			}
			ran[i].Add(1)
			started <- i
			<-release
			running.Add(-1)
			return nil
		})
	}()
	released := 0
	for k := range n {
		select {
		case <-started:
		case <-time.After(hangGuard):
			t.Fatalf("limit %d: only %d jobs started, want %d at once", limit, k, want)
		}
		if k == want-1 && want < n {
			// A grace period, not a measurement: correct code passes
			// however long it is; a missing bound lets a job start in it.
			select {
			case i := <-started:
				t.Fatalf("limit %d: job %d started while %d held their slots", limit, i, want)
			case <-time.After(20 * time.Millisecond):
			}
		}
		if k >= want-1 {
			release <- struct{}{}
			released++
		}
	}
	for ; released < n; released++ {
		release <- struct{}{}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if p := peak.Load(); p != int32(want) {
		t.Errorf("limit %d: %d ran at once, want %d", limit, p, want)
	}
	for i := range ran {
		if c := ran[i].Load(); c != 1 {
			t.Errorf("limit %d: job %d ran %d times", limit, i, c)
		}
	}
}

func TestParallelRunsUpToTheLimitAtOnce(t *testing.T) {
	checkBound(t, 10, 3, 3)
	checkBound(t, 2, 5, 2)
}

func TestParallelLimitBelowOneRunsOneAtATime(t *testing.T) {
	checkBound(t, 4, 0, 1)
	checkBound(t, 4, -2, 1)
}

func TestParallelNoJobsRunsNothing(t *testing.T) {
	var calls atomic.Int32
	if err := Parallel(0, 3, func(int) error { calls.Add(1); return errors.New("x") }); err != nil || calls.Load() != 0 {
		t.Fatalf("no jobs: err %v, %d calls", err, calls.Load())
	}
}

// Errors come back joined in index order, not in the order jobs finish:
// job 2 fails only after job 7 has failed.
func TestParallelJoinsErrorsInIndexOrder(t *testing.T) {
	errs := map[int]error{2: errors.New("job 2"), 7: errors.New("job 7")}
	sevenDone := make(chan struct{})
	var mu sync.Mutex
	var finished []int
	err := Parallel(10, 3, func(i int) error {
		if i == 2 {
			select {
			case <-sevenDone:
			case <-time.After(hangGuard):
				return fmt.Errorf("job 7 never finished while job 2 held a slot")
			}
		}
		mu.Lock()
		finished = append(finished, i)
		mu.Unlock()
		if i == 7 {
			close(sevenDone)
		}
		return errs[i]
	})
	if err == nil || err.Error() != "job 2\njob 7" {
		t.Fatalf("err = %v, want job 2 then job 7", err)
	}
	if !errors.Is(err, errs[2]) || !errors.Is(err, errs[7]) {
		t.Errorf("the joined error does not wrap both: %v", err)
	}
	if len(finished) != 10 || slices.Index(finished, 7) > slices.Index(finished, 2) {
		t.Fatalf("finished %v: want all 10, job 7 before job 2", finished)
	}
}
