package providers

import (
	"errors"
	"sync"
)

// Parallel runs fn for 0..n-1, at most limit at once, and returns the
// errors joined in index order. Providers make, wait for and delete
// machines this way: each machine at its own pace, a failure its own.
func Parallel(n, limit int, fn func(i int) error) error {
	if limit < 1 {
		limit = 1
	}
	errs := make([]error, n)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = fn(i)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
