-- The login budget's failure counters (see internal/ratelimit), kept in the
-- database so they survive a restart. key is a SHA-256 of the counter's
-- kind and its email and/or client address; times are Unix microseconds.
CREATE TABLE login_counters (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    not_before   INTEGER NOT NULL
);

--bun:split

CREATE INDEX login_counters_window_idx ON login_counters (window_start);
