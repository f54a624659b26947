-- The login budget's failure counters (see internal/ratelimit), shared by
-- every instance on this database so a budget holds across the cluster.
-- key is a SHA-256 of the counter's kind and its email and/or client
-- address; times are Unix microseconds.
CREATE TABLE login_counters (
    key          TEXT PRIMARY KEY,
    failures     INTEGER NOT NULL,
    window_start BIGINT NOT NULL,
    not_before   BIGINT NOT NULL
);

--bun:split

CREATE INDEX login_counters_window_idx ON login_counters (window_start);
