//! The durable job queue and named leases, portable across both engines: claiming is a
//! compare-and-set `UPDATE`, never `SELECT … FOR UPDATE SKIP LOCKED`, which SQLite lacks.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::Row;
use sqlx::any::AnyRow;

use crate::time::ts;
use crate::{Result, Store};

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub kind: String,
    /// JSON.
    pub payload: String,
    /// Jobs with the same key never run at the same time (e.g. `meeting:{id}`).
    pub lock_key: Option<String>,
    /// While a job with this key is queued or running, enqueueing another is a no-op.
    pub dedupe_key: Option<String>,
    /// The dedupe key holds only while the job is queued: claiming it frees the key, so work
    /// that arrives while it runs queues the next job (which then waits for its lock key).
    pub dedupe_until_claimed: bool,
    pub run_at: DateTime<Utc>,
    pub max_attempts: i64,
}

/// A job this worker holds until it completes, fails, or its lease runs out.
#[derive(Debug, Clone, PartialEq)]
pub struct ClaimedJob {
    pub id: String,
    pub kind: String,
    pub payload: String,
    pub lock_key: Option<String>,
    /// Including this one.
    pub attempts: i64,
    pub max_attempts: i64,
    pub holder: String,
    /// When the job was due; `claimed - run_at` is how long it waited in the queue.
    pub run_at: DateTime<Utc>,
}

/// How many jobs are in each state (for tests, benchmarks and operators).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JobCounts {
    pub queued: i64,
    pub running: i64,
    pub done: i64,
    pub failed: i64,
}

/// A job's state and lease, as [`Store::job_leases`] lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLease {
    pub id: String,
    pub status: String,
    pub attempts: i64,
    pub locked_until: Option<DateTime<Utc>>,
}

/// The live jobs of one kind, for the metrics page.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KindBacklog {
    pub kind: String,
    /// Queued and due now.
    pub due: i64,
    /// Queued for later (retries, delayed checks).
    pub scheduled: i64,
    pub running: i64,
    /// The `run_at` of the oldest due job.
    pub oldest_due: Option<DateTime<Utc>>,
}

const CLAIMABLE: &str =
    "((status = 'queued' AND run_at <= $1) OR (status = 'running' AND locked_until < $1))";

/// Jobs whose lock key is held by a running job are left out of the scan, so a backlog for one
/// busy meeting never hides other work.
const KEY_FREE: &str = "(lock_key IS NULL OR NOT EXISTS (SELECT 1 FROM lease \
    WHERE lease.name = 'key:' || job.lock_key AND lease.expires_at >= $1))";

fn key_lease(lock_key: &str) -> String {
    format!("key:{lock_key}")
}

impl Store {
    /// Enqueues a job; `false` when a live job with the same dedupe key exists.
    pub async fn enqueue(&self, job: &NewJob, now: DateTime<Utc>) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        enqueue_on(&mut conn, job, now).await
    }

    /// Claims the next runnable job whose lock key is free, for `lease` from `now`.
    pub async fn claim_job(
        &self,
        worker: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<Option<ClaimedJob>> {
        // Jobs whose worker died (their lease ran out) first, then due jobs in order: two
        // indexed scans, where one `OR` would sort the whole backlog on every claim.
        let candidates = sqlx::query(&format!(
            "SELECT id, lock_key FROM (SELECT id, lock_key FROM job \
             WHERE status = 'running' AND locked_until < $1 AND {KEY_FREE} LIMIT 8) AS expired \
             UNION ALL \
             SELECT id, lock_key FROM (SELECT id, lock_key FROM job \
             WHERE status = 'queued' AND run_at <= $1 AND {KEY_FREE} \
             ORDER BY run_at, created_at LIMIT 32) AS due"
        ))
        .bind(ts(now))
        // On a reader: most claims find nothing (a runner looks whenever work may have been
        // queued, after every ingest batch under webhook load), and on SQLite the writer
        // connection is the one every write waits for. A candidate another worker took since
        // is skipped by the compare-and-set below.
        .fetch_all(&self.reads)
        .await?;
        let mut busy_keys = HashSet::new();
        for row in candidates {
            let id: String = row.try_get("id")?;
            let lock_key: Option<String> = row.try_get("lock_key")?;
            if lock_key.as_ref().is_some_and(|key| busy_keys.contains(key)) {
                continue;
            }
            // Unique per claim: a worker that re-claims its own lost job is a different holder.
            let holder = format!("{worker}/{id}/{}", uuid::Uuid::new_v4().simple());
            // The key's lease and the job are taken in one transaction (one commit), or neither.
            let mut tx = self.pool.begin().await?;
            if let Some(key) = &lock_key
                && !try_lease_on(&mut tx, &key_lease(key), &holder, now, until).await?
            {
                tx.rollback().await?;
                busy_keys.insert(key.clone());
                continue;
            }
            match take_job_on(&mut tx, &id, &holder, now, until).await? {
                Some(job) => {
                    tx.commit().await?;
                    return Ok(Some(job));
                }
                // Another worker was quicker: the key's lease goes back with the rollback.
                None => tx.rollback().await?,
            }
        }
        Ok(None)
    }

    /// Extends a running job's lease and its key's; `false` if either is no longer ours (then
    /// the job must stop: another worker may have it, or another job its key).
    pub async fn heartbeat_job(&self, job: &ClaimedJob, until: DateTime<Utc>) -> Result<bool> {
        let ours = sqlx::query(
            "UPDATE job SET locked_until = $3 WHERE id = $1 AND locked_by = $2 AND status = 'running'",
        )
        .bind(&job.id)
        .bind(&job.holder)
        .bind(ts(until))
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        match (&job.lock_key, ours) {
            (Some(key), true) => self.renew_lease(&key_lease(key), &job.holder, until).await,
            _ => Ok(ours),
        }
    }

    pub async fn complete_job(&self, job: &ClaimedJob, now: DateTime<Utc>) -> Result<()> {
        // The job and its key's lease in one transaction (one commit).
        let mut tx = self.pool.begin().await?;
        sqlx::query(
            "UPDATE job SET status = 'done', finished_at = $3, locked_by = NULL, \
             locked_until = NULL, dedupe_key = NULL WHERE id = $1 AND locked_by = $2",
        )
        .bind(&job.id)
        .bind(&job.holder)
        .bind(ts(now))
        .execute(&mut *tx)
        .await?;
        if let Some(key) = &job.lock_key {
            release_lease_on(&mut tx, &key_lease(key), &job.holder).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Records a failure: the job runs again at `retry_at`, or fails for good without one.
    /// `false` if the job was no longer this claim's (another worker has it now).
    pub async fn fail_job(
        &self,
        job: &ClaimedJob,
        error: &str,
        now: DateTime<Utc>,
        retry_at: Option<DateTime<Utc>>,
    ) -> Result<bool> {
        let error: String = error.chars().take(2000).collect();
        let update = match retry_at {
            Some(at) => sqlx::query(
                "UPDATE job SET status = 'queued', run_at = $3, last_error = $4, \
                 locked_by = NULL, locked_until = NULL WHERE id = $1 AND locked_by = $2",
            )
            .bind(&job.id)
            .bind(&job.holder)
            .bind(ts(at)),
            None => sqlx::query(
                "UPDATE job SET status = 'failed', finished_at = $3, last_error = $4, \
                 locked_by = NULL, locked_until = NULL, dedupe_key = NULL \
                 WHERE id = $1 AND locked_by = $2",
            )
            .bind(&job.id)
            .bind(&job.holder)
            .bind(ts(now)),
        };
        let ours = update
            .bind(&error)
            .execute(&self.pool)
            .await?
            .rows_affected()
            == 1;
        self.release_job_key(job).await?;
        Ok(ours)
    }

    /// Puts a job back in the queue to run at `run_at` as planned work, not as a failure: its
    /// attempt count starts again.
    pub async fn reschedule_job(&self, job: &ClaimedJob, run_at: DateTime<Utc>) -> Result<()> {
        sqlx::query(
            "UPDATE job SET status = 'queued', run_at = $3, attempts = 0, last_error = NULL, \
             locked_by = NULL, locked_until = NULL WHERE id = $1 AND locked_by = $2",
        )
        .bind(&job.id)
        .bind(&job.holder)
        .bind(ts(run_at))
        .execute(&self.pool)
        .await?;
        self.release_job_key(job).await
    }

    /// Hands a claimed job back, claimable by any worker at once, without counting this
    /// attempt (the worker stopped it, e.g. at shutdown; the job did not fail). `false` if it
    /// was no longer this claim's.
    pub async fn release_job(&self, job: &ClaimedJob, now: DateTime<Utc>) -> Result<bool> {
        let ours = sqlx::query(
            "UPDATE job SET status = 'queued', run_at = $3, \
             attempts = CASE WHEN attempts > 0 THEN attempts - 1 ELSE 0 END, \
             locked_by = NULL, locked_until = NULL WHERE id = $1 AND locked_by = $2 \
             AND status = 'running'",
        )
        .bind(&job.id)
        .bind(&job.holder)
        .bind(ts(now.min(job.run_at)))
        .execute(&self.pool)
        .await?
        .rows_affected()
            == 1;
        self.release_job_key(job).await?;
        Ok(ours)
    }

    /// The live jobs by kind (one grouped scan of the unfinished jobs).
    pub async fn job_backlog(&self, now: DateTime<Utc>) -> Result<Vec<KindBacklog>> {
        let rows = sqlx::query(
            "SELECT kind, \
             COUNT(CASE WHEN status = 'queued' AND run_at <= $1 THEN 1 END) AS due, \
             COUNT(CASE WHEN status = 'queued' AND run_at > $1 THEN 1 END) AS scheduled, \
             COUNT(CASE WHEN status = 'running' THEN 1 END) AS running, \
             MIN(CASE WHEN status = 'queued' AND run_at <= $1 THEN run_at END) AS oldest_due \
             FROM job WHERE status IN ('queued', 'running') GROUP BY kind ORDER BY kind",
        )
        .bind(ts(now))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(KindBacklog {
                    kind: row.try_get("kind")?,
                    due: row.try_get("due")?,
                    scheduled: row.try_get("scheduled")?,
                    running: row.try_get("running")?,
                    oldest_due: crate::time::parse_opt_ts(row.try_get("oldest_due")?)?,
                })
            })
            .collect()
    }

    /// The database's own clock, to compare with this process's (lease times are written by
    /// every worker's clock and compared by every other's).
    pub async fn database_time(&self) -> Result<DateTime<Utc>> {
        let sql = match self.backend {
            crate::Backend::Sqlite => "SELECT strftime('%Y-%m-%dT%H:%M:%fZ', 'now') AS now",
            crate::Backend::Postgres => {
                "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', \
                 'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"') AS now"
            }
        };
        let row = sqlx::query(sql).fetch_one(&self.pool).await?;
        crate::time::parse_ts(&row.try_get::<String, _>("now")?)
    }

    async fn release_job_key(&self, job: &ClaimedJob) -> Result<()> {
        if let Some(key) = &job.lock_key {
            self.release_lease(&key_lease(key), &job.holder).await?;
        }
        Ok(())
    }

    /// Deletes finished jobs that ended before `before`.
    pub async fn prune_jobs(&self, before: DateTime<Utc>) -> Result<u64> {
        Ok(
            sqlx::query("DELETE FROM job WHERE status IN ('done', 'failed') AND finished_at < $1")
                .bind(ts(before))
                .execute(&self.pool)
                .await?
                .rows_affected(),
        )
    }

    pub async fn job_counts(&self) -> Result<JobCounts> {
        let rows = sqlx::query("SELECT status, COUNT(*) AS n FROM job GROUP BY status")
            .fetch_all(&self.pool)
            .await?;
        let mut counts = JobCounts::default();
        for row in rows {
            let n: i64 = row.try_get("n")?;
            match row.try_get::<String, _>("status")?.as_str() {
                "queued" => counts.queued = n,
                "running" => counts.running = n,
                "done" => counts.done = n,
                _ => counts.failed += n,
            }
        }
        Ok(counts)
    }

    /// Every job's id, status, attempts and lease end, oldest first (diagnostics and tests).
    pub async fn job_leases(&self) -> Result<Vec<JobLease>> {
        let rows = sqlx::query(
            "SELECT id, status, attempts, locked_until FROM job ORDER BY created_at, id",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(JobLease {
                    id: row.try_get("id")?,
                    status: row.try_get("status")?,
                    attempts: row.try_get("attempts")?,
                    locked_until: crate::time::parse_opt_ts(row.try_get("locked_until")?)?,
                })
            })
            .collect()
    }

    /// The last error of a job, for diagnostics and tests.
    pub async fn job_error(&self, id: &str) -> Result<Option<String>> {
        let row = sqlx::query("SELECT last_error FROM job WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.try_get("last_error")).transpose()?.flatten())
    }

    /// Takes the named lease for `holder` if it is free or expired.
    pub async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        let mut conn = self.pool.acquire().await?;
        try_lease_on(&mut conn, name, holder, now, until).await
    }

    pub async fn renew_lease(
        &self,
        name: &str,
        holder: &str,
        until: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(
            sqlx::query("UPDATE lease SET expires_at = $3 WHERE name = $1 AND holder = $2")
                .bind(name)
                .bind(holder)
                .bind(ts(until))
                .execute(&self.pool)
                .await?
                .rows_affected()
                > 0,
        )
    }

    pub async fn release_lease(&self, name: &str, holder: &str) -> Result<()> {
        let mut conn = self.pool.acquire().await?;
        release_lease_on(&mut conn, name, holder).await
    }

    /// Whether the periodic task `name` is due at `now`; if so, moves its next run to `next`.
    /// Compare-and-set, so across any number of schedulers each period is claimed once.
    pub async fn claim_periodic(
        &self,
        name: &str,
        now: DateTime<Utc>,
        next: DateTime<Utc>,
    ) -> Result<bool> {
        Ok(sqlx::query(
            "INSERT INTO periodic_task (name, next_run_at) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET next_run_at = excluded.next_run_at \
             WHERE periodic_task.next_run_at <= $3",
        )
        .bind(name)
        .bind(ts(next))
        .bind(ts(now))
        .execute(&self.pool)
        .await?
        .rows_affected()
            > 0)
    }
}

/// Enqueues on a given connection, so callers can make it part of a transaction.
pub(crate) async fn enqueue_on(
    conn: &mut sqlx::AnyConnection,
    job: &NewJob,
    now: DateTime<Utc>,
) -> Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO job (id, kind, payload, lock_key, dedupe_key, status, attempts, \
         max_attempts, run_at, created_at, dedupe_until_claimed) \
         VALUES ($1, $2, $3, $4, $5, 'queued', 0, $6, $7, $8, $9) \
         ON CONFLICT (dedupe_key) DO NOTHING",
    )
    // Time-ordered, so new jobs go to the end of the primary-key index.
    .bind(uuid::Uuid::now_v7().to_string())
    .bind(&job.kind)
    .bind(&job.payload)
    .bind(&job.lock_key)
    .bind(&job.dedupe_key)
    .bind(job.max_attempts)
    .bind(ts(job.run_at))
    .bind(ts(now))
    .bind(i64::from(job.dedupe_until_claimed))
    .execute(&mut *conn)
    .await?;
    Ok(inserted.rows_affected() > 0)
}

/// Takes the job if it is still claimable (another worker may have been quicker).
async fn take_job_on(
    conn: &mut sqlx::AnyConnection,
    id: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<Option<ClaimedJob>> {
    let row = sqlx::query(&format!(
        "UPDATE job SET status = 'running', locked_by = $2, locked_until = $3, \
         attempts = attempts + 1, dedupe_key = CASE WHEN dedupe_until_claimed = 1 \
         THEN NULL ELSE dedupe_key END WHERE id = $4 AND {CLAIMABLE} \
         RETURNING id, kind, payload, lock_key, attempts, max_attempts, run_at"
    ))
    .bind(ts(now))
    .bind(holder)
    .bind(ts(until))
    .bind(id)
    .fetch_optional(&mut *conn)
    .await?;
    row.map(|row| claimed_from_row(&row, holder.to_owned()))
        .transpose()
}

/// Takes the named lease for `holder` if it is free or expired, on the caller's connection.
async fn try_lease_on(
    conn: &mut sqlx::AnyConnection,
    name: &str,
    holder: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
) -> Result<bool> {
    Ok(sqlx::query(
        "INSERT INTO lease (name, holder, expires_at) VALUES ($1, $2, $3) \
         ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, \
         expires_at = excluded.expires_at WHERE lease.expires_at < $4 OR lease.holder = $2",
    )
    .bind(name)
    .bind(holder)
    .bind(ts(until))
    .bind(ts(now))
    .execute(&mut *conn)
    .await?
    .rows_affected()
        > 0)
}

async fn release_lease_on(conn: &mut sqlx::AnyConnection, name: &str, holder: &str) -> Result<()> {
    sqlx::query("DELETE FROM lease WHERE name = $1 AND holder = $2")
        .bind(name)
        .bind(holder)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

fn claimed_from_row(row: &AnyRow, holder: String) -> Result<ClaimedJob> {
    Ok(ClaimedJob {
        id: row.try_get("id")?,
        kind: row.try_get("kind")?,
        payload: row.try_get("payload")?,
        lock_key: row.try_get("lock_key")?,
        attempts: row.try_get("attempts")?,
        max_attempts: row.try_get("max_attempts")?,
        holder,
        run_at: crate::time::parse_ts(&row.try_get::<String, _>("run_at")?)?,
    })
}
