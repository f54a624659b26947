-- Finding recently ended sessions: the PostgreSQL event bus catches up on
-- terminations whose notification was lost.
CREATE INDEX sessions_ended_idx ON sessions (ended_at) WHERE ended_at IS NOT NULL;
