package db_test

import (
	"context"
	"slices"
	"testing"

	"github.com/sessiond/sessiond/db"
	"github.com/sessiond/sessiond/internal/model"
)

func TestUserSearchFoldsCase(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "search")
		mk := func(email, name string) string {
			u, err := e.CreateUser(ctx, e.admin, model.NewUser{Email: email, Name: name, TenantID: tn})
			if err != nil {
				t.Fatalf("create %s: %v", email, err)
			}
			return u.ID
		}
		elodie := mk("e.durand@example.com", "Élodie Durand")
		bjorn := mk("BJÖRN@example.se", "Bjorn A")
		strasse := mk("anna@example.de", "Anna Straße")
		_ = mk("other@example.com", "Elodie Without Accent")
		search := func(s string) []string {
			page, err := e.Users(ctx, model.UserFilter{Search: s, Limit: 50})
			if err != nil {
				t.Fatalf("search %q: %v", s, err)
			}
			var ids []string
			for _, u := range page.Users {
				ids = append(ids, u.ID)
			}
			if page.TotalCount != len(ids) {
				t.Fatalf("search %q: totalCount %d, %d listed", s, page.TotalCount, len(ids))
			}
			return ids
		}
		for _, c := range []struct {
			name, search string
			want         []string
		}{
			{"lower-case accented finds the capital in a name", "élodie", []string{elodie}},
			{"upper-case accented finds the capital in a name", "ÉLODIE", []string{elodie}},
			{"an accented email is found in lower case", "björn@", []string{bjorn}},
			{"an email is found by its upper-case part", "BJÖRN", []string{bjorn}},
			{"full case folding matches ß and ss", "STRASSE", []string{strasse}},
			{"LIKE wildcards are literal", "%", nil},
		} {
			t.Run(c.name, func(t *testing.T) {
				if got := search(c.search); !slices.Equal(got, c.want) {
					t.Fatalf("search %q found %v, want %v", c.search, got, c.want)
				}
			})
		}
		t.Run("a renamed user is found by the new name only", func(t *testing.T) {
			name := "Ünal Öztürk"
			if _, err := e.UpdateUser(ctx, e.admin, elodie, model.UserUpdate{Name: &name}); err != nil {
				t.Fatal(err)
			}
			if got := search("ünal öz"); !slices.Equal(got, []string{elodie}) {
				t.Fatalf("found %v, want the renamed user", got)
			}
			if got := search("élodie"); len(got) != 0 {
				t.Fatalf("the old name still finds %v", got)
			}
		})
	})
}

// TestUserSearchBackfill: users stored before the search columns existed
// are folded when the store opens.
func TestUserSearchBackfill(t *testing.T) {
	for _, dialect := range dialects() {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			e := openEnv(t, dialect)
			tn := e.tenant(t, "backfill")
			id := e.user(t, tn, "chloe@example.fr")
			// As the migration leaves a row stored before it.
			if _, err := e.Bun().ExecContext(ctx, "UPDATE users SET name = ?, name_folded = NULL, email_folded = NULL WHERE id = ?", "Chloé Éric", id); err != nil {
				t.Fatal(err)
			}
			_ = e.Close()
			reopened, err := db.Open(ctx, db.Config{DSN: e.DSN})
			if err != nil {
				t.Fatal(err)
			}
			defer reopened.Close()
			page, err := reopened.Users(ctx, model.UserFilter{Search: "CHLOÉ ÉR", Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(page.Users) != 1 || page.Users[0].ID != id {
				t.Fatalf("found %+v, want the user stored before the search columns", page.Users)
			}
		})
	}
}
