//! Which video platform a meeting uses. Platforms are named by strings registered by the platform
//! layer, so adding a provider never touches this crate.

use serde::{Deserialize, Serialize};

use crate::room::Room;

/// The name of a video platform (`whereby`, `daily`, `mock`, …) as stored on rooms and meetings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct PlatformName(String);

impl PlatformName {
    pub fn new(name: impl Into<String>) -> Self {
        Self(name.into())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for PlatformName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl PartialEq<str> for PlatformName {
    fn eq(&self, other: &str) -> bool {
        self.0 == other
    }
}

/// A gradual rollout: rooms listed by id or name get their new meetings on `platform`, whatever
/// the room's own setting says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rollout {
    pub platform: PlatformName,
    pub rooms: Vec<String>,
}

/// The platform of a room's next meeting: the first rollout that lists the room, else the room's
/// own platform. A meeting keeps the platform it was created on.
pub fn meeting_platform(room: &Room, rollouts: &[Rollout]) -> PlatformName {
    rollouts
        .iter()
        .find(|r| r.rooms.iter().any(|x| *x == room.id || *x == room.name))
        .map(|r| r.platform.clone())
        .unwrap_or_else(|| room.platform.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::meeting::tests::room;

    #[test]
    fn rollout_list_overrides_the_room_platform() {
        let mut r = room();
        r.platform = PlatformName::new("whereby");
        let rollout = Rollout {
            platform: PlatformName::new("daily"),
            rooms: vec!["other".into(), r.name.clone()],
        };
        assert_eq!(meeting_platform(&r, &[]).as_str(), "whereby");
        assert_eq!(
            meeting_platform(&r, std::slice::from_ref(&rollout)).as_str(),
            "daily"
        );
        let by_id = Rollout {
            rooms: vec![r.id.clone()],
            ..rollout.clone()
        };
        assert_eq!(meeting_platform(&r, &[by_id]).as_str(), "daily");
        let elsewhere = Rollout {
            rooms: vec!["team-2".into()],
            ..rollout
        };
        assert_eq!(meeting_platform(&r, &[elsewhere]).as_str(), "whereby");
    }
}
