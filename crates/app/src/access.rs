//! Who may do what: the one owner check every service and route uses.

use reflector_core::Room;

use crate::{AppError, AppResult};

/// Who is asking: a user id, or nobody (an anonymous visitor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor {
    pub user_id: Option<String>,
    /// The display name the sign-in gave (a JWT's `name` claim), for providers that show one.
    pub name: Option<String>,
}

impl Actor {
    pub fn anonymous() -> Self {
        Self {
            user_id: None,
            name: None,
        }
    }

    pub fn user(id: impl Into<String>) -> Self {
        Self {
            user_id: Some(id.into()),
            name: None,
        }
    }

    /// This actor with the display name `name`.
    #[must_use]
    pub fn named(self, name: Option<String>) -> Self {
        Self { name, ..self }
    }

    /// The user id, or `Unauthenticated` for anonymous callers.
    pub fn require(&self) -> AppResult<&str> {
        self.user_id.as_deref().ok_or(AppError::Unauthenticated)
    }

    /// Whether this actor owns `room`.
    pub fn owns(&self, room: &Room) -> bool {
        self.user_id.as_deref() == Some(room.user_id.as_str())
    }

    /// Whether this actor joins a locked room's meeting without knocking: its owner, and
    /// signed-in users when the room is shared (shared rooms are the team's). Everyone else
    /// knocks and waits for someone inside to let them in.
    pub fn may_skip_lobby(&self, room: &Room) -> bool {
        self.owns(room) || (room.is_shared && self.user_id.is_some())
    }

    /// Whether this actor may start another meeting beside the room's open one
    /// (`allow_duplicated`): its owner, and signed-in users in a shared calendar room, where
    /// overlapping events need meetings of their own. Anyone else would only scatter visitors
    /// over empty calls.
    pub fn may_start_another_meeting(&self, room: &Room) -> bool {
        self.owns(room) || (room.is_shared && room.ics_enabled && self.user_id.is_some())
    }

    /// Signed in and the owner of `room`; otherwise `Unauthenticated` or `Forbidden` with `why`.
    pub fn require_owner(&self, room: &Room, why: &str) -> AppResult<()> {
        self.require()?;
        if self.owns(room) {
            Ok(())
        } else {
            Err(AppError::Forbidden(why.to_owned()))
        }
    }
}

/// The refusal of an owner-only room action.
pub const OWNER_ONLY: &str = "Only the room's owner may do this";
