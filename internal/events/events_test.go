package events

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/model"
)

// patience bounds every wait for another goroutine; reaching it is a failure,
// never a pass.
const patience = 5 * time.Second

func ev(kind Kind, id, user, tenant string) Event {
	return Event{Kind: kind, Session: model.Session{ID: id, UserID: user, TenantID: tenant}}
}

func subscribe(t *testing.T, m *Memory, f Filter, buffer int) *Subscription {
	t.Helper()
	s, err := m.Subscribe(context.Background(), f, buffer)
	if err != nil {
		t.Fatalf("Subscribe: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// drain returns what is buffered for s without waiting.
func drain(s *Subscription) (got []string, closed bool) {
	for {
		select {
		case e, ok := <-s.C:
			if !ok {
				return got, true
			}
			got = append(got, e.Session.ID)
		default:
			return got, false
		}
	}
}

// waitClosed reads s until C is closed and returns what it read.
func waitClosed(t *testing.T, s *Subscription) []string {
	t.Helper()
	var got []string
	deadline := time.After(patience)
	for {
		select {
		case e, ok := <-s.C:
			if !ok {
				return got
			}
			got = append(got, e.Session.ID)
		case <-deadline:
			t.Fatalf("subscription not closed after %v (read %q)", patience, got)
		}
	}
}

func equal(a, b []string) bool { return fmt.Sprint(a) == fmt.Sprint(b) }

func TestFilter(t *testing.T) {
	all := []Event{
		ev(Created, "s1", "alice", "acme"),
		ev(Created, "s2", "alice", "globex"),
		ev(Created, "s3", "bob", "acme"),
		ev(Terminated, "s1", "alice", "acme"),
	}
	cases := []struct {
		name   string
		filter Filter
		want   []string
	}{
		{"empty filter gets all", Filter{}, []string{"s1", "s2", "s3", "s1"}},
		{"by session", Filter{SessionID: "s1"}, []string{"s1", "s1"}},
		{"by user", Filter{UserID: "alice"}, []string{"s1", "s2", "s1"}},
		{"by tenant", Filter{TenantID: "acme"}, []string{"s1", "s3", "s1"}},
		{"user and tenant together", Filter{UserID: "alice", TenantID: "globex"}, []string{"s2"}},
		{"session of another user gets nothing", Filter{SessionID: "s1", UserID: "bob"}, nil},
		{"unknown tenant gets nothing", Filter{TenantID: "initech"}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := NewMemory()
			s := subscribe(t, m, c.filter, 10)
			if err := m.Publish(context.Background(), all...); err != nil {
				t.Fatalf("Publish: %v", err)
			}
			got, closed := drain(s)
			if closed {
				t.Fatalf("subscription closed (err %v), want open", s.Err())
			}
			if !equal(got, c.want) {
				t.Fatalf("received %q, want %q", got, c.want)
			}
		})
	}
}

func TestDeliveredInOrder(t *testing.T) {
	m := NewMemory()
	s := subscribe(t, m, Filter{}, 100)
	var want []string
	for i := range 50 {
		id := fmt.Sprintf("s%02d", i)
		want = append(want, id)
		// Both one event per call and several per call keep their order.
		if i%2 == 0 {
			_ = m.Publish(context.Background(), ev(Created, id, "u", "t"))
		} else {
			_ = m.Publish(context.Background(), ev(Created, id, "u", "t"), ev(Terminated, id+"-end", "u", "t"))
			want = append(want, id+"-end")
		}
	}
	got, _ := drain(s)
	if !equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

func TestSlowSubscriber(t *testing.T) {
	t.Run("full buffer ends the subscriber and publish does not block", func(t *testing.T) {
		m := NewMemory()
		const buffer = 4
		slow := subscribe(t, m, Filter{}, buffer)
		other := subscribe(t, m, Filter{}, 1000)
		done := make(chan struct{})
		go func() {
			defer close(done)
			// Buffer and backlog full, one event in the pump's hands, then more.
			for i := range buffer*(backlogFactor+1) + 10 {
				_ = m.Publish(context.Background(), ev(Created, fmt.Sprint(i), "u", "t"))
			}
		}()
		select {
		case <-done:
		case <-time.After(patience):
			t.Fatalf("Publish blocked on a subscriber nobody reads")
		}
		got := waitClosed(t, slow)
		if !errors.Is(slow.Err(), ErrSlowSubscriber) {
			t.Fatalf("slow subscriber Err() = %v, want %v", slow.Err(), ErrSlowSubscriber)
		}
		// What fitted in the buffer is still delivered, in order.
		if len(got) < buffer || got[0] != "0" || got[buffer-1] != fmt.Sprint(buffer-1) {
			t.Fatalf("slow subscriber received %q, want the first %d in order", got, buffer)
		}
		// Others are not affected.
		got, closed := drain(other)
		if n := buffer*(backlogFactor+1) + 10; closed || len(got) != n {
			t.Fatalf("other subscriber received %d events (closed %v), want %d and open", len(got), closed, n)
		}
	})

	t.Run("overflow within one publish ends the subscriber", func(t *testing.T) {
		m := NewMemory()
		s := subscribe(t, m, Filter{}, 2)
		evs := []Event{ev(Created, "a", "u", "t"), ev(Created, "b", "u", "t")}
		for i := range 2*backlogFactor + 10 {
			evs = append(evs, ev(Created, fmt.Sprint(i), "u", "t"))
		}
		_ = m.Publish(context.Background(), evs...)
		got := waitClosed(t, s)
		if !errors.Is(s.Err(), ErrSlowSubscriber) {
			t.Fatalf("Err() = %v, want %v", s.Err(), ErrSlowSubscriber)
		}
		if len(got) < 2 || got[0] != "a" || got[1] != "b" {
			t.Fatalf("received %q, want a and b first", got)
		}
	})

	t.Run("filtered-out events do not fill the buffer", func(t *testing.T) {
		m := NewMemory()
		s := subscribe(t, m, Filter{TenantID: "acme"}, 1)
		for i := range 10 {
			_ = m.Publish(context.Background(), ev(Created, fmt.Sprint(i), "u", "globex"))
		}
		if got, closed := drain(s); closed || len(got) != 0 {
			t.Fatalf("received %q (closed %v, err %v), want nothing and open", got, closed, s.Err())
		}
	})

	t.Run("buffer below one is one", func(t *testing.T) {
		m := NewMemory()
		s := subscribe(t, m, Filter{}, 0)
		_ = m.Publish(context.Background(), ev(Created, "a", "u", "t"))
		if got, closed := drain(s); closed || !equal(got, []string{"a"}) {
			t.Fatalf("received %q (closed %v, err %v), want [a] and open", got, closed, s.Err())
		}
	})
}

func TestSubscriptionEnd(t *testing.T) {
	t.Run("Close closes C with Err nil", func(t *testing.T) {
		m := NewMemory()
		s := subscribe(t, m, Filter{}, 1)
		s.Close()
		waitClosed(t, s)
		if err := s.Err(); err != nil {
			t.Fatalf("Err() = %v, want nil", err)
		}
		if n := subscribers(m); n != 0 {
			t.Fatalf("bus holds %d subscribers after Close, want 0", n)
		}
		// Publishing afterwards neither panics nor reaches s.
		_ = m.Publish(context.Background(), ev(Created, "a", "u", "t"))
		s.Close()
	})

	t.Run("context cancellation closes C with Err nil", func(t *testing.T) {
		m := NewMemory()
		ctx, cancel := context.WithCancel(context.Background())
		s, err := m.Subscribe(ctx, Filter{}, 1)
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		cancel()
		waitClosed(t, s)
		if err := s.Err(); err != nil {
			t.Fatalf("Err() = %v, want nil", err)
		}
		if n := subscribers(m); n != 0 {
			t.Fatalf("bus holds %d subscribers after cancel, want 0", n)
		}
	})

	t.Run("already cancelled context closes C", func(t *testing.T) {
		m := NewMemory()
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		s, err := m.Subscribe(ctx, Filter{}, 1)
		if err != nil {
			t.Fatalf("Subscribe: %v", err)
		}
		waitClosed(t, s)
		if err := s.Err(); err != nil {
			t.Fatalf("Err() = %v, want nil", err)
		}
	})

	t.Run("bus Close ends every subscription with ErrClosed", func(t *testing.T) {
		m := NewMemory()
		a := subscribe(t, m, Filter{}, 1)
		b := subscribe(t, m, Filter{UserID: "bob"}, 1)
		m.Close()
		for name, s := range map[string]*Subscription{"a": a, "b": b} {
			waitClosed(t, s)
			if !errors.Is(s.Err(), ErrClosed) {
				t.Fatalf("subscription %s Err() = %v, want %v", name, s.Err(), ErrClosed)
			}
		}
		// A later Close of the subscription keeps the bus's reason.
		a.Close()
		if !errors.Is(a.Err(), ErrClosed) {
			t.Fatalf("Err() after Close = %v, want %v", a.Err(), ErrClosed)
		}
		if s, err := m.Subscribe(context.Background(), Filter{}, 1); !errors.Is(err, ErrClosed) || s != nil {
			t.Fatalf("Subscribe after Close = (%v, %v), want (nil, %v)", s, err, ErrClosed)
		}
		if err := m.Publish(context.Background(), ev(Created, "a", "u", "t")); err != nil {
			t.Fatalf("Publish after Close = %v, want nil", err)
		}
	})
}

func subscribers(m *Memory) int { return m.Subscribers() }

// TestConcurrent is for -race: publishers, subscribers reading, closing and
// cancelling, and a bus Close, all at once.
func TestConcurrent(t *testing.T) {
	m := NewMemory()
	const publishers, readers, events = 4, 8, 200
	var wg sync.WaitGroup
	start := make(chan struct{})
	for p := range publishers {
		wg.Go(func() {
			<-start
			for i := range events {
				_ = m.Publish(context.Background(), ev(Created, fmt.Sprintf("p%d-%d", p, i), fmt.Sprint("u", i%3), "t"))
			}
		})
	}
	for r := range readers {
		// Subscribe before anything starts, so that none is refused by
		// the bus's Close.
		ctx, cancel := context.WithCancel(context.Background())
		s, err := m.Subscribe(ctx, Filter{UserID: fmt.Sprint("u", r%4)}, 1+r%3)
		if err != nil {
			cancel()
			t.Fatalf("Subscribe: %v", err)
		}
		wg.Go(func() {
			defer cancel()
			<-start
			n := 0
			for range s.C {
				n++
				if r%2 == 0 && n == 5 {
					// Half the readers end early, one way or the other.
					if r%4 == 0 {
						s.Close()
					} else {
						cancel()
					}
				}
			}
			if err := s.Err(); err != nil && !errors.Is(err, ErrSlowSubscriber) && !errors.Is(err, ErrClosed) {
				t.Errorf("Err() = %v, want nil, ErrSlowSubscriber or ErrClosed", err)
			}
		})
	}
	close(start)
	// Close while the others may still be running: readers that have not
	// ended otherwise end now.
	wg.Go(m.Close)
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(patience):
		t.Fatalf("publishers and subscribers did not finish within %v", patience)
	}
}

func TestNoGoroutineLeak(t *testing.T) {
	m := NewMemory()
	// A long-lived parent, as a websocket connection's context is: ending a
	// subscription must free it without waiting for the parent to end.
	parent, cancelParent := context.WithCancel(context.Background())
	defer cancelParent()
	base := runtime.NumGoroutine()
	for i := range 500 {
		ctx, cancel := context.WithCancel(parent)
		if i%3 != 1 {
			// Only the cancellation case ends its own context.
			ctx = parent
		}
		s, err := m.Subscribe(ctx, Filter{SessionID: fmt.Sprint(i)}, 1)
		if err != nil {
			cancel()
			t.Fatalf("Subscribe: %v", err)
		}
		_ = m.Publish(ctx, ev(Created, fmt.Sprint(i), "u", "t"))
		// End each subscription a different way.
		switch i % 3 {
		case 0:
			s.Close()
		case 1:
			cancel()
		case 2:
			for range backlogFactor + 10 {
				_ = m.Publish(ctx, ev(Created, fmt.Sprint(i), "u", "t")) // overflows: slow
			}
		}
		for range s.C {
		}
		cancel()
	}
	if n := subscribers(m); n != 0 {
		t.Fatalf("bus holds %d subscribers after all ended, want 0", n)
	}
	deadline := time.Now().Add(patience)
	for {
		n := runtime.NumGoroutine()
		if n <= base {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after subscribe/close cycles, want at most %d as before", n, base)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestWatch(t *testing.T) {
	t.Run("calls fn for matching events only, until stopped", func(t *testing.T) {
		m := NewMemory()
		var got []string
		stop, err := m.Watch(context.Background(), Filter{SessionID: "a"}, func(e Event) { got = append(got, string(e.Kind)+":"+e.Session.ID) })
		if err != nil {
			t.Fatal(err)
		}
		_ = m.Publish(context.Background(), ev(Created, "a", "u", "t"), ev(Created, "b", "u", "t"), ev(Terminated, "a", "u", "t"))
		stop()
		_ = m.Publish(context.Background(), ev(ExpiringSoon, "a", "u", "t"))
		if want := []string{"CREATED:a", "TERMINATED:a"}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("watch saw %v, want %v", got, want)
		}
		if n := m.Subscribers(); n != 0 {
			t.Fatalf("subscribers after stop = %d, want 0", n)
		}
	})
	t.Run("ends with its context", func(t *testing.T) {
		m := NewMemory()
		ctx, cancel := context.WithCancel(context.Background())
		if _, err := m.Watch(ctx, Filter{}, func(Event) {}); err != nil {
			t.Fatal(err)
		}
		cancel()
		deadline := time.Now().Add(5 * time.Second)
		for m.Subscribers() != 0 {
			if time.Now().After(deadline) {
				t.Fatal("watch still registered after its context ended")
			}
			time.Sleep(time.Millisecond)
		}
	})
	t.Run("refused on a closed bus", func(t *testing.T) {
		m := NewMemory()
		m.Close()
		if _, err := m.Watch(context.Background(), Filter{}, func(Event) {}); err != ErrClosed {
			t.Fatalf("Watch on closed bus = %v, want ErrClosed", err)
		}
	})
}

func TestBurstLargerThanTheBufferReachesAReadingSubscriber(t *testing.T) {
	m := NewMemory()
	s := subscribe(t, m, Filter{UserID: "u"}, 100)
	const n = 5000
	burst := make([]Event, n)
	for i := range burst {
		burst[i] = ev(Terminated, fmt.Sprintf("s%05d", i), "u", "t")
	}
	if err := m.Publish(context.Background(), burst...); err != nil {
		t.Fatal(err)
	}
	// A later event must not overtake the burst.
	_ = m.Publish(context.Background(), ev(Created, "after", "u", "t"))
	deadline := time.After(patience)
	for i := 0; i <= n; i++ {
		select {
		case e, ok := <-s.C:
			if !ok {
				t.Fatalf("subscription ended after %d of %d events: %v", i, n+1, s.Err())
			}
			want := "after"
			if i < n {
				want = fmt.Sprintf("s%05d", i)
			}
			if e.Session.ID != want {
				t.Fatalf("event %d is %s, want %s (order lost)", i, e.Session.ID, want)
			}
		case <-deadline:
			t.Fatalf("only %d of %d events arrived", i, n+1)
		}
	}
}

func TestSubscriberThatNeverReadsIsDroppedAtItsBacklog(t *testing.T) {
	m := NewMemory()
	s := subscribe(t, m, Filter{UserID: "u"}, 1)
	for i := range 1 + backlogFactor + 10 {
		_ = m.Publish(context.Background(), ev(Created, fmt.Sprint(i), "u", "t"))
	}
	waitClosed(t, s)
	if !errors.Is(s.Err(), ErrSlowSubscriber) {
		t.Fatalf("Err = %v, want ErrSlowSubscriber", s.Err())
	}
}
