package session

import "testing"

func TestInflight(t *testing.T) {
	var f inflight
	if done, _ := f.watch("ann"); done != nil {
		t.Fatal("nothing in flight, yet watch returned a channel")
	}
	_, seq0 := f.watch("ann")
	f.begin("ann")
	f.begin("ann")
	done, seq1 := f.watch("ann")
	if done == nil || seq1 == seq0 {
		t.Fatalf("two in flight: channel %v, seq %d→%d; want a channel and a changed count", done, seq0, seq1)
	}
	if other, _ := f.watch("bob"); other != nil {
		t.Fatal("another email shares the in-flight record")
	}
	f.end("ann")
	select {
	case <-done:
	default:
		t.Fatal("a completion did not wake the watchers")
	}
	next, _ := f.watch("ann")
	select {
	case <-next:
		t.Fatal("the next watcher is woken before the next completion")
	default:
	}
	f.end("ann")
	<-next
	if d, _ := f.watch("ann"); d != nil || len(f.m) != 0 {
		t.Fatalf("after all completions: channel %v, %d keys held; want none", d, len(f.m))
	}
	f.end("ann") // an unmatched end is harmless
}
