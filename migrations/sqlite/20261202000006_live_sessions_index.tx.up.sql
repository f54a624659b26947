-- A user's sessions in a tenant by end (live ones, ended_at NULL, first)
-- and creation: the concurrency limit picks the oldest live sessions beyond
-- the limit by walking the live part from the newest (reading limit+1
-- entries), and live-session counts read only live entries, so creating a
-- session costs the same however many sessions the user has or had. It
-- replaces sessions_user_idx, whose listings it serves too.
DROP INDEX sessions_user_idx;

--bun:split

CREATE INDEX sessions_user_live_idx ON sessions (user_id, tenant_id, ended_at, created_at, id);
