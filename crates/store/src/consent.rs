//! Recording consent answers: the latest answer per participant wins.

use chrono::{DateTime, Utc};
use sqlx::Row;

use crate::time::ts;
use crate::{Result, Store, StoreError};

/// One participant's answer. The participant is their anonymous token when they sent one (so
/// every browser is its own participant even where everyone shares a user id), else their user id.
#[derive(Debug, Clone)]
pub struct ConsentVote<'a> {
    pub meeting_id: &'a str,
    pub user_id: Option<&'a str>,
    pub participant_token: Option<&'a str>,
    pub consent_given: bool,
    pub at: DateTime<Utc>,
}

impl Store {
    /// Records the answer, replacing this participant's earlier one; returns the consent id, or
    /// `None` when this would be a new participant and the meeting already has `max_voters`.
    /// An answer needs someone to recognise later: a participant token or a user id.
    pub async fn record_consent(
        &self,
        vote: &ConsentVote<'_>,
        max_voters: i64,
    ) -> Result<Option<String>> {
        let voter = match (vote.participant_token, vote.user_id) {
            (Some(token), _) => format!("token:{token}"),
            (None, Some(user)) => format!("user:{user}"),
            (None, None) => {
                return Err(StoreError::Corrupt(
                    "a consent answer needs a participant token or a user".into(),
                ));
            }
        };
        let id = uuid::Uuid::new_v4().to_string();
        // A new participant is inserted only below the cap; an existing one is always updated.
        // (Concurrent new participants may pass the count together: the cap holds within them.)
        sqlx::query(
            "INSERT INTO meeting_consent (id, meeting_id, voter, user_id, participant_token, \
             consent_given, consent_timestamp) \
             SELECT $1, $2, $3, $4, $5, $6, $7 \
             WHERE (SELECT COUNT(*) FROM meeting_consent WHERE meeting_id = $2) < $8 \
             OR EXISTS (SELECT 1 FROM meeting_consent WHERE meeting_id = $2 AND voter = $3) \
             ON CONFLICT (meeting_id, voter) DO UPDATE SET consent_given = excluded.consent_given, \
             consent_timestamp = excluded.consent_timestamp, user_id = excluded.user_id",
        )
        .bind(&id)
        .bind(vote.meeting_id)
        .bind(&voter)
        .bind(vote.user_id)
        .bind(vote.participant_token)
        .bind(vote.consent_given)
        .bind(ts(vote.at))
        .bind(max_voters)
        .execute(&self.pool)
        .await?;
        let stored =
            sqlx::query("SELECT id FROM meeting_consent WHERE meeting_id = $1 AND voter = $2")
                .bind(vote.meeting_id)
                .bind(&voter)
                .fetch_optional(&self.pool)
                .await?
                .map(|row| row.try_get("id"))
                .transpose()?;
        Ok(stored)
    }

    /// How many participants answered for the meeting.
    pub async fn consent_count(&self, meeting_id: &str) -> Result<i64> {
        Ok(
            sqlx::query("SELECT COUNT(*) AS n FROM meeting_consent WHERE meeting_id = $1")
                .bind(meeting_id)
                .fetch_one(&self.pool)
                .await?
                .try_get("n")?,
        )
    }

    /// Whether any participant's latest answer for the meeting is "no".
    pub async fn anyone_declined(&self, meeting_id: &str) -> Result<bool> {
        let n: i64 = sqlx::query(
            "SELECT COUNT(*) AS n FROM meeting_consent WHERE meeting_id = $1 AND consent_given = $2",
        )
        .bind(meeting_id)
        .bind(false)
        .fetch_one(&self.pool)
        .await?
        .try_get("n")?;
        Ok(n > 0)
    }
}
