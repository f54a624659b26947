package retention

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"
)

func TestNextBatchKeepsEachTransactionNearItsTime(t *testing.T) {
	const target = 10 * time.Millisecond // any target; the rule is proportional
	for _, c := range []struct {
		name  string
		n, lo int
		took  time.Duration
		want  int
	}{
		{"a slow batch shrinks to what fits the time", 200, 10, 180 * time.Millisecond, 11},
		{"a quick batch at most doubles", 100, 10, time.Millisecond, 200},
		{"a batch on time stays", 300, 10, 10 * time.Millisecond, 300},
		{"never below the floor", 100, 100, time.Second, 100},
		{"never above the ceiling", 800, 10, time.Millisecond, 1000},
		{"an unmeasurably quick batch doubles", 50, 10, 0, 100},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := nextBatch(c.n, c.took, target, c.lo, 1000); got != c.want {
				t.Fatalf("nextBatch(%d, %v) = %d, want %d", c.n, c.took, got, c.want)
			}
		})
	}
}

// rowsStore deletes from a pile of rows at a real cost per row; while busy,
// someone else writes all the time.
type rowsStore struct {
	Store
	left    int
	perRow  time.Duration
	busy    bool
	writes  atomic.Uint64
	batches []int
}

func (s *rowsStore) PurgeEndedSessions(_ context.Context, _ time.Time, limit int) (int, error) {
	n := min(limit, s.left)
	s.left -= n
	time.Sleep(time.Duration(n) * s.perRow)
	s.batches = append(s.batches, n)
	return n, nil
}

func (s *rowsStore) Writes() uint64 {
	if s.busy {
		return s.writes.Add(1) // another write happened since the last look
	}
	return s.writes.Load()
}

func TestBatchesStaySmallWhileOthersWrite(t *testing.T) {
	biggest := func(busy bool) int {
		st := &rowsStore{left: 3000, perRow: 100 * time.Microsecond, busy: busy}
		svc := New(st, nil, nil, Config{Batch: 1000, Pause: time.Millisecond, Yield: 0.01})
		if _, err := svc.batches(context.Background(), "sessions", func(ctx context.Context, limit int) (int, error) {
			return st.PurgeEndedSessions(ctx, time.Time{}, limit)
		}); err != nil {
			t.Fatal(err)
		}
		return slices.Max(st.batches)
	}
	busy, quiet := biggest(true), biggest(false)
	// 2 ms and 50 ms of 0.1 ms rows: ~20 and ~500 rows, whatever the
	// machine's speed, the ratio holds.
	if quiet < 4*busy {
		t.Fatalf("largest batch %d rows while others write, %d while nobody does; want the quiet one at least 4× larger", busy, quiet)
	}
	if busy > 100 {
		t.Fatalf("a batch of %d rows while others write, want batches near 2 ms (~20 rows of 0.1 ms)", busy)
	}
}
