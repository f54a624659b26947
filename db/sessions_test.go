package db_test

import (
	"context"
	"testing"
	"time"

	"github.com/sessiond/sessiond/internal/apperr"
	"github.com/sessiond/sessiond/internal/model"
	"github.com/sessiond/sessiond/internal/policy"
)

// TestEndOverdue: a session asked to end after its deadline passed (but
// before the sweep) was over at the deadline; the store records that.
func TestEndOverdue(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		tn := e.tenant(t, "overdue")
		u := e.user(t, tn, "overdue@example.com")
		e.setPolicy(t, tn, policy.Input{Idle: minutes(30)})
		overdue, _ := e.session(t, u, tn) // due t0+30m
		e.Clock.Advance(20 * time.Minute)
		live, _ := e.session(t, u, tn) // due t0+50m
		e.Clock.Advance(25 * time.Minute)
		now := e.Clock.Now()
		user := model.Actor{Kind: model.ActorUser, ID: u}

		t.Run("revoking ends an overdue session at its deadline, a live one now", func(t *testing.T) {
			ended, err := e.EndSessions(ctx, []model.SessionEnd{{ID: overdue.ID, Reason: model.EndRevokedByUser}, {ID: live.ID, Reason: model.EndRevokedByUser}}, user, now)
			if err != nil {
				t.Fatal(err)
			}
			if len(ended) != 2 {
				t.Fatalf("ended %v, want both", ids(ended))
			}
			o, l := e.get(t, overdue.ID), e.get(t, live.ID)
			if o.EndReason != model.EndIdleTimeout || !o.EndedAt.Equal(overdue.ExpiresAt) || o.EndedBy.Kind != model.ActorSystem {
				t.Fatalf("overdue session: %s at %v by %+v, want IDLE_TIMEOUT at %v by the system", o.EndReason, o.EndedAt, o.EndedBy, overdue.ExpiresAt)
			}
			if l.EndReason != model.EndRevokedByUser || !l.EndedAt.Equal(now) || *l.EndedBy != user {
				t.Fatalf("live session: %s at %v by %+v, want REVOKED_BY_USER now by the user", l.EndReason, l.EndedAt, l.EndedBy)
			}
			entries, _, err := e.AuditEntries(ctx, tn, "", 50)
			if err != nil {
				t.Fatal(err)
			}
			for _, a := range entries {
				if a.Action == "session.ended" && a.TargetID == overdue.ID && a.Actor.Kind != model.ActorSystem {
					t.Fatalf("overdue end audited as %+v's", a.Actor)
				}
			}
		})

		t.Run("without a cut-off the reason asked is recorded", func(t *testing.T) {
			s, _ := e.session(t, u, tn)
			e.Clock.Advance(time.Hour)
			ended, err := e.EndSessions(ctx, []model.SessionEnd{{ID: s.ID, Reason: model.EndLogout}}, user, time.Time{})
			if err != nil || len(ended) != 1 || ended[0].EndReason != model.EndLogout || !ended[0].EndedAt.Equal(e.Clock.Now()) {
				t.Fatalf("ended %+v, %v; want LOGOUT now", ended, err)
			}
		})

		t.Run("signing out ends overdue sessions at their deadline too", func(t *testing.T) {
			a, _ := e.session(t, u, tn)
			e.Clock.Advance(10 * time.Minute)
			b, _ := e.session(t, u, tn)
			keep, _ := e.session(t, u, tn)
			e.Clock.Advance(25 * time.Minute) // a is past its deadline, b not
			ended, err := e.EndUserSessions(ctx, u, tn, keep.ID, model.EndRevokedByAdmin, e.admin, e.Clock.Now())
			if err != nil || len(ended) != 2 {
				t.Fatalf("ended %v, %v; want two", ids(ended), err)
			}
			if g := e.get(t, a.ID); g.EndReason != model.EndIdleTimeout || !g.EndedAt.Equal(a.ExpiresAt) {
				t.Fatalf("overdue: %s at %v, want IDLE_TIMEOUT at %v", g.EndReason, g.EndedAt, a.ExpiresAt)
			}
			if g := e.get(t, b.ID); g.EndReason != model.EndRevokedByAdmin || !g.EndedAt.Equal(e.Clock.Now()) {
				t.Fatalf("live: %s at %v, want REVOKED_BY_ADMIN now", g.EndReason, g.EndedAt)
			}
			if g := e.get(t, keep.ID); g.Ended() {
				t.Fatal("the kept session ended")
			}
		})
	})
}

// TestDeletesEndSessions: removing a membership, a user or a tenant ends
// the sessions it covers with USER_REMOVED, and the sessions stay on record.
func TestDeletesEndSessions(t *testing.T) {
	eachDB(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		t1, t2 := e.tenant(t, "one"), e.tenant(t, "two")
		u := e.user(t, t1, "removed@example.com")
		if _, err := e.SetUserRoles(ctx, e.admin, u, t2, nil); err != nil {
			t.Fatal(err)
		}
		bystander := e.user(t, t2, "bystander@example.com")
		in1, _ := e.session(t, u, t1)
		in2, _ := e.session(t, u, t2)
		other, _ := e.session(t, bystander, t2)
		removed := func(t *testing.T, id string) {
			t.Helper()
			s, err := e.SessionByTokenHash(ctx, e.get(t, id).TokenHash)
			if err != nil {
				t.Fatalf("the session is no longer on record: %v", err)
			}
			if s.EndReason != model.EndUserRemoved || s.EndedBy == nil || s.EndedBy.Kind != model.ActorAdmin || !s.EndedAt.Equal(e.Clock.Now()) {
				t.Fatalf("session %s ended %q at %v by %+v, want USER_REMOVED now by the admin", id, s.EndReason, s.EndedAt, s.EndedBy)
			}
		}
		alive := func(t *testing.T, id string) {
			t.Helper()
			if s := e.get(t, id); s.Ended() {
				t.Fatalf("session %s ended", id)
			}
		}

		t.Run("removing a membership ends the sessions in that tenant only", func(t *testing.T) {
			ended, err := e.RemoveMembership(ctx, e.admin, u, t1, time.Time{})
			if err != nil || len(ended) != 1 || ended[0].ID != in1.ID {
				t.Fatalf("ended %v, %v; want [%s]", ids(ended), err, in1.ID)
			}
			removed(t, in1.ID)
			alive(t, in2.ID)
			if _, err := e.RemoveMembership(ctx, e.admin, u, t1, time.Time{}); apperr.CodeOf(err) != apperr.NotFound {
				t.Fatalf("removing again: %v, want NOT_FOUND", err)
			}
			if _, _, err := e.CreateSession(ctx, e.admin, u, t1, planSession); apperr.CodeOf(err) != apperr.NotFound {
				t.Fatalf("a session for a removed member: %v, want NOT_FOUND", err)
			}
		})

		t.Run("deleting a user ends all its sessions", func(t *testing.T) {
			ended, err := e.DeleteUser(ctx, e.admin, u, time.Time{})
			if err != nil || len(ended) != 1 || ended[0].ID != in2.ID {
				t.Fatalf("ended %v, %v; want [%s]", ids(ended), err, in2.ID)
			}
			removed(t, in2.ID)
			alive(t, other.ID)
			if _, err := e.DeleteUser(ctx, e.admin, u, time.Time{}); apperr.CodeOf(err) != apperr.NotFound {
				t.Fatalf("deleting again: %v, want NOT_FOUND", err)
			}
		})

		t.Run("deleting a tenant ends its members' sessions", func(t *testing.T) {
			ended, err := e.DeleteTenant(ctx, e.admin, t2, time.Time{})
			if err != nil || len(ended) != 1 || ended[0].ID != other.ID {
				t.Fatalf("ended %v, %v; want [%s]", ids(ended), err, other.ID)
			}
			removed(t, other.ID)
			if _, err := e.DeleteTenant(ctx, e.admin, t2, time.Time{}); apperr.CodeOf(err) != apperr.NotFound {
				t.Fatalf("deleting again: %v, want NOT_FOUND", err)
			}
		})
	})
}

// A session already over when its user is removed (its deadline passed
// and the scheduler has not come by yet) ends at its deadline with the
// deadline's reason, by the system, not with USER_REMOVED now: on every
// removal (membership, user, tenant).
func TestRemovalEndsOverdueSessionsAtTheirDeadline(t *testing.T) {
	for name, remove := range map[string]func(e *env, u, tn string) ([]model.Session, error){
		"membership": func(e *env, u, tn string) ([]model.Session, error) {
			return e.RemoveMembership(context.Background(), e.admin, u, tn, e.Clock.Now())
		},
		"user": func(e *env, u, _ string) ([]model.Session, error) {
			return e.DeleteUser(context.Background(), e.admin, u, e.Clock.Now())
		},
		"tenant": func(e *env, _, tn string) ([]model.Session, error) {
			return e.DeleteTenant(context.Background(), e.admin, tn, e.Clock.Now())
		},
	} {
		t.Run(name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, e *env) {
				tn := e.tenant(t, "overdue")
				u := e.user(t, tn, "overdue@example.com")
				over, _ := e.session(t, u, tn)
				e.Clock.Advance(25 * time.Hour) // past the default 24 h idle deadline
				fresh, _ := e.session(t, u, tn)
				ended, err := remove(e, u, tn)
				if err != nil || len(ended) != 2 {
					t.Fatalf("ended %v, %v; want both sessions", ids(ended), err)
				}
				for _, s := range ended {
					switch s.ID {
					case over.ID:
						if s.EndReason != model.EndIdleTimeout || s.EndedBy == nil || s.EndedBy.Kind != model.ActorSystem || s.EndedAt == nil || !s.EndedAt.Equal(over.ExpiresAt) {
							t.Fatalf("the overdue session ended %q at %v by %+v, want IDLE_TIMEOUT at its deadline %v by the system", s.EndReason, s.EndedAt, s.EndedBy, over.ExpiresAt)
						}
					case fresh.ID:
						if s.EndReason != model.EndUserRemoved || s.EndedBy == nil || s.EndedBy.Kind != model.ActorAdmin || s.EndedAt == nil || !s.EndedAt.Equal(e.Clock.Now()) {
							t.Fatalf("the live session ended %q at %v by %+v, want USER_REMOVED now by the admin", s.EndReason, s.EndedAt, s.EndedBy)
						}
					default:
						t.Fatalf("ended an unknown session %s", s.ID)
					}
				}
			})
		})
	}
}
