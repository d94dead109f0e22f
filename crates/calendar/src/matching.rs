//! Which events belong to a room (SPEC §7): those whose LOCATION or DESCRIPTION mentions the
//! room's URL, `{UI_BASE_URL}/{room.name}`, on a boundary.

/// Whether `text` mentions `room_url`, compared without regard to ASCII case, followed by the
/// end of the text or a character that cannot continue a room name (`[a-z0-9-]`): the URL of
/// room `team` is mentioned by "…/team." or "…/team?x" but not by "…/team-2" or "…/teams".
pub fn mentions_room(text: &str, room_url: &str) -> bool {
    let needle = room_url.trim_end_matches('/').as_bytes();
    let hay = text.as_bytes();
    if needle.is_empty() || hay.len() < needle.len() {
        return false;
    }
    (0..=hay.len() - needle.len()).any(|i| {
        hay[i..i + needle.len()].eq_ignore_ascii_case(needle)
            && hay
                .get(i + needle.len())
                .is_none_or(|&next| !continues_name(next))
    })
}

fn continues_name(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    const URL: &str = "https://reflector.example.com/team";

    #[test]
    fn the_room_url_matches_on_a_boundary_only() {
        for yes in [
            "https://reflector.example.com/team",
            "Join at https://reflector.example.com/team.",
            "HTTPS://Reflector.Example.com/TEAM",
            "https://reflector.example.com/team/",
            "https://reflector.example.com/team?x=1",
            "(https://reflector.example.com/team)",
            "https://reflector.example.com/team-2 or https://reflector.example.com/team",
            "https://reflector.example.com/team\nnext line",
        ] {
            assert!(mentions_room(yes, URL), "{yes}");
        }
        for no in [
            "https://reflector.example.com/team-2",
            "https://reflector.example.com/teams",
            "https://reflector.example.com/team2",
            "https://reflector.example.com/TEAM-B",
            "https://reflector.example.com/tea",
            "https://other.example.com/team",
            "",
        ] {
            assert!(!mentions_room(no, URL), "{no}");
        }
    }

    #[test]
    fn non_ascii_text_around_the_url_is_fine() {
        assert!(mentions_room(
            "Réunion d’équipe → https://reflector.example.com/team ✓",
            URL
        ));
        assert!(!mentions_room("Ünïcödé only", URL));
    }
}
