-- Claiming scans due jobs in order; pruning finds old finished jobs and webhook history; the
-- sweeps list active meetings. Each without a full scan or a sort.
DROP INDEX job_ready;
CREATE INDEX job_claim ON job (status, run_at, created_at);
CREATE INDEX job_finished ON job (status, finished_at);
CREATE INDEX webhook_delivery_attempted ON webhook_delivery (attempted_at);
CREATE INDEX webhook_outbox_status_created ON webhook_outbox (status, created_at);
CREATE INDEX meeting_active_end ON meeting (is_active, end_date);
