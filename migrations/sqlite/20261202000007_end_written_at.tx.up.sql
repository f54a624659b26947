-- When a session's end was written. A session ends at its deadline
-- (ended_at) even when that passed while no instance ran or before the
-- sweep reached it, so ended_at can be long before the write: the event
-- bus catches up on ends by when they were written.
ALTER TABLE sessions ADD COLUMN end_written_at INTEGER;

--bun:split

UPDATE sessions SET end_written_at = ended_at WHERE ended_at IS NOT NULL;

--bun:split

DROP INDEX sessions_ended_idx;

--bun:split

CREATE INDEX sessions_end_written_idx ON sessions (end_written_at) WHERE end_written_at IS NOT NULL;
