package db

import (
	"context"
	"path/filepath"
	"testing"
)

func TestSQLiteSynchronous(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		setting string
		want    int // PRAGMA synchronous: 1 NORMAL, 2 FULL, 3 EXTRA
	}{{"", 2}, {"FULL", 2}, {"normal", 1}, {"EXTRA", 3}} {
		t.Run("setting "+c.setting, func(t *testing.T) {
			d, err := Open(ctx, Config{DSN: filepath.Join(t.TempDir(), "s.db"), SQLiteSynchronous: c.setting})
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var got, wal string
			if err := d.bun.NewRaw("PRAGMA synchronous").Scan(ctx, &got); err != nil {
				t.Fatal(err)
			}
			if err := d.bun.NewRaw("PRAGMA journal_mode").Scan(ctx, &wal); err != nil {
				t.Fatal(err)
			}
			if got != string(rune('0'+c.want)) || wal != "wal" {
				t.Fatalf("synchronous = %s, journal_mode = %s; want %d and wal", got, wal, c.want)
			}
		})
	}
	t.Run("an unknown setting is refused", func(t *testing.T) {
		if _, err := Open(ctx, Config{DSN: filepath.Join(t.TempDir(), "s.db"), SQLiteSynchronous: "OFF"}); err == nil {
			t.Fatal("synchronous OFF was accepted; it loses commits on a crash")
		}
	})
}
