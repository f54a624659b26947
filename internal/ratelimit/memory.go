package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Memory is a Store in process memory, for tests of the budget and for
// embedders without a database. It is unbounded; Prune keeps it small.
type Memory struct {
	mu sync.Mutex
	m  map[string]Counter
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{m: map[string]Counter{}} }

// UpdateLoginCounters implements Store under one mutex.
func (s *Memory) UpdateLoginCounters(_ context.Context, keys []string, update func([]Counter) []Counter) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := make([]Counter, len(keys))
	for i, k := range keys {
		cur[i] = s.m[k]
	}
	for i, c := range update(cur) {
		if c == (Counter{}) {
			delete(s.m, keys[i])
		} else {
			s.m[keys[i]] = c
		}
	}
	return nil
}

// PruneLoginCounters implements Store.
func (s *Memory) PruneLoginCounters(_ context.Context, cutoff time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for k, c := range s.m {
		if c.First.Before(cutoff) {
			delete(s.m, k)
			n++
		}
	}
	return n, nil
}

// Len returns how many counters are held.
func (s *Memory) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}
