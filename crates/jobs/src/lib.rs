//! Durable background work on the project's own database: a job runner that any number of worker
//! processes share, a periodic scheduler with one active leader, and the jobs themselves —
//! provider webhook processing, presence reconciliation, the meeting lifecycle, and delivery of
//! outgoing room webhooks.
//!
//! The queue is our own (`reflector_store`'s `job` table) rather than a library's: the Rust job
//! queues that persist to a database (sqlxmq, graphile_worker, ishikari, pgboss, simple-queue)
//! are PostgreSQL-only, while Reflector's laptop default is SQLite; and none keeps two jobs for
//! the same meeting from running at once, which presence and lifecycle jobs need.

mod context;
mod handlers;
mod ingest;
mod job;
pub mod notify;
pub mod outgoing;
mod runner;
mod scheduler;

pub use context::{JobContext, JobSettings};
pub use handlers::end_meeting;
pub use ingest::{consume_provider_events, ingest_event};
pub use job::Job;
pub use runner::{JobError, Outcome, Runner};
pub use scheduler::Scheduler;
