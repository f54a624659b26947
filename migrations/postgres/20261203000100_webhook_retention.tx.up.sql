-- Retention deletes finished webhook deliveries (delivered or failed) once
-- they were created longer ago than the ended-session retention; the purge
-- walks this index from its oldest end, a small batch at a time. Pending
-- deliveries are not in it: they are still owed.
CREATE INDEX webhook_deliveries_finished_idx ON webhook_deliveries (created_at) WHERE status <> 'PENDING';
