-- The deadline an EXPIRING_SOON event was last sent for. Activity moves
-- expires_at away from it, which re-arms the warning.
ALTER TABLE sessions ADD COLUMN warned_expires_at BIGINT;
