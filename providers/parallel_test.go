package providers

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestParallelBoundsAndJoinsErrorsInOrder(t *testing.T) {
	var now, peak atomic.Int32
	err := Parallel(10, 3, func(i int) error {
		if n := now.Add(1); n > peak.Load() {
			peak.Store(n)
		}
		time.Sleep(5 * time.Millisecond)
		now.Add(-1)
		if i == 7 || i == 2 {
			return errors.New("job " + string(rune('0'+i)))
		}
		return nil
	})
	if peak.Load() > 3 {
		t.Errorf("%d ran at once, limit 3", peak.Load())
	}
	if err == nil || err.Error() != "job 2\njob 7" {
		t.Errorf("err = %v", err)
	}
	if err := Parallel(0, 3, func(int) error { return errors.New("x") }); err != nil {
		t.Errorf("no jobs: %v", err)
	}
	if !strings.Contains(Parallel(1, 0, func(int) error { return errors.New("ran") }).Error(), "ran") {
		t.Error("limit 0 must still run")
	}
}
