pub mod calendar;
pub mod keys;
pub mod meetings;
pub mod rooms;
pub mod system;
pub mod transcripts;
pub mod webhooks;
