package fleet

import "testing"

// A kept pool whose listing failed is closed and dropped, so the next
// refresh opens it afresh; one that worked stays open.
func TestKeptPoolsDropAFailedPool(t *testing.T) {
	closed := 0
	fp := &Pool{Close: func() { closed++ }}
	k := &keptPools{pools: map[string]*Pool{"eu": fp}}
	k.release("eu", fp)(false)
	if closed != 0 || k.pools["eu"] != fp {
		t.Fatalf("a pool that worked: closed %d times, kept %v", closed, k.pools["eu"] != nil)
	}
	k.release("eu", fp)(true)
	if closed != 1 || k.pools["eu"] != nil {
		t.Fatalf("a failed pool: closed %d times, kept %v", closed, k.pools["eu"] != nil)
	}
	k.pools["eu"] = fp
	k.close()
	if closed != 2 || len(k.pools) != 0 {
		t.Fatalf("close: closed %d times, %d left", closed, len(k.pools))
	}
}
