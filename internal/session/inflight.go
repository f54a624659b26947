package session

import (
	"sync"

	"github.com/sessiond/sessiond/internal/ratelimit"
)

// loginBudget is the cluster-wide limiter plus this instance's record of
// attempts whose password is being checked, so that an attempt refused
// only because of them can wait for their outcome (see Service.reserve).
type loginBudget struct {
	*ratelimit.Limiter
	inflight inflight
}

// inflight counts attempts in progress per email; each completion wakes
// the attempts waiting on that email.
type inflight struct {
	mu  sync.Mutex
	m   map[string]*flight
	seq uint64 // counts begins and ends, for any key
}

type flight struct {
	n    int
	done chan struct{} // closed at the next completion
}

// watch returns a channel closed when an in-flight attempt for key
// completes (nil when none is in flight), and the change count.
func (f *inflight) watch(key string) (<-chan struct{}, uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fl := f.m[key]; fl != nil {
		return fl.done, f.seq
	}
	return nil, f.seq
}

func (f *inflight) begin(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]*flight{}
	}
	fl := f.m[key]
	if fl == nil {
		fl = &flight{done: make(chan struct{})}
		f.m[key] = fl
	}
	fl.n++
	f.seq++
}

func (f *inflight) end(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl := f.m[key]
	if fl == nil {
		return
	}
	close(fl.done)
	f.seq++
	fl.n--
	if fl.n == 0 {
		delete(f.m, key)
		return
	}
	fl.done = make(chan struct{})
}

// cancel takes back a begin whose reservation was refused: that attempt
// checked no password, so it wakes no one, except when it was the last
// mark for key, so that an attempt that saw it and waits is not left
// waiting for a completion that will never come.
func (f *inflight) cancel(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fl := f.m[key]
	if fl == nil {
		return
	}
	fl.n--
	if fl.n == 0 {
		close(fl.done)
		delete(f.m, key)
	}
}
