package provision

import (
	"crypto/sha256"
	"runtime"
	"sync"
	"weak"
)

// A fleet's nodes mostly get the same files: 1,000 nodes with ten 80 KB
// files from the defaults were 800 MB held at once. The hosts in flight
// share one copy of each content, and its hash (the plan compares it
// with the host's). The cache holds the copies weakly: once no host in
// flight has a content, it goes.

// sharedContent is one distinct content and its SHA-256.
type sharedContent struct {
	data []byte
	sum  [32]byte
}

type contentCache struct {
	mu sync.Mutex
	m  map[[32]byte]weak.Pointer[sharedContent]
}

// shareAll makes steps' file contents the cache's copies.
func (c *contentCache) shareAll(steps []Step) []Step {
	for _, s := range steps {
		if f, ok := s.(*FileStep); ok && len(f.Content) > 0 {
			f.shared = c.share(f.Content)
			f.Content = f.shared.data
		}
	}
	return steps
}

func (c *contentCache) share(b []byte) *sharedContent {
	sum := sha256.Sum256(b)
	c.mu.Lock()
	defer c.mu.Unlock()
	if p := c.m[sum].Value(); p != nil {
		return p
	}
	p := &sharedContent{data: b, sum: sum}
	wp := weak.Make(p)
	if c.m == nil {
		c.m = map[[32]byte]weak.Pointer[sharedContent]{}
	}
	c.m[sum] = wp
	runtime.AddCleanup(p, c.forget, cacheEntry{sum, wp})
	return p
}

type cacheEntry struct {
	sum [32]byte
	wp  weak.Pointer[sharedContent]
}

// forget drops a content no host holds any more (unless it came back).
func (c *contentCache) forget(e cacheEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m[e.sum] == e.wp {
		delete(c.m, e.sum)
	}
}

// contentSum is s.Content's SHA-256, shared when the content is.
func (s *FileStep) contentSum() [32]byte {
	if p := s.shared; p != nil && len(p.data) == len(s.Content) && &p.data[0] == &s.Content[0] {
		return p.sum
	}
	return sha256.Sum256(s.Content)
}
