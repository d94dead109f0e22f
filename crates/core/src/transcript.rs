//! Transcripts: their statuses and kinds, the words a transcription backend returns, and the pure
//! rules that turn words into what people read — tracks merged by time, segments per speaker,
//! WebVTT and the text formats of `GET /v1/transcripts/{id}`, and the chunk plan for long audio.

use std::fmt::Write as _;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

// `$text` is a `tt`, not a `literal`: a `literal` fragment reaches the derives wrapped in an
// invisible group, which serde reads but utoipa's `ToSchema` does not (the OpenAPI document then
// named the Rust variants, `Idle`, instead of what the API sends, `idle`).
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:tt),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            pub const fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text),+
                }
            }
        }

        impl FromStr for $name {
            type Err = String;

            fn from_str(raw: &str) -> Result<Self, String> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == raw)
                    .ok_or_else(|| {
                        let all: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                        format!("{raw:?} is not one of {}", all.join(", "))
                    })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(
    /// `idle → processing → ended | error`; `uploaded` once an upload is complete.
    TranscriptStatus {
        Idle => "idle",
        Uploaded => "uploaded",
        Processing => "processing",
        Ended => "ended",
        Error => "error",
    }
);

text_enum!(
    /// Where a transcript's audio came from.
    SourceKind {
        Room => "room",
        Live => "live",
        File => "file",
    }
);

text_enum!(
    /// Who may read a transcript besides its owner (and members of a shared room).
    ShareMode {
        Private => "private",
        SemiPrivate => "semi-private",
        Public => "public",
    }
);

/// One recognised word, times in seconds from the start of the recording.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Word {
    /// The word as the backend wrote it (leading space and punctuation included).
    pub text: String,
    pub start: f64,
    pub end: f64,
    /// The track (participant) that spoke it; 0 for a single-file recording.
    #[serde(default)]
    pub speaker: u32,
}

impl Word {
    /// The same word `offset` seconds later (a chunk's or a track's start).
    pub fn shifted(mut self, offset: f64) -> Self {
        self.start += offset;
        self.end += offset;
        self
    }
}

/// Consecutive words of one speaker.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Segment {
    pub speaker: u32,
    pub start: f64,
    pub end: f64,
    pub text: String,
}

/// A named part of the meeting (from the LLM, when one is configured).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Topic {
    pub id: String,
    pub title: String,
    pub summary: String,
    /// Seconds from the start.
    pub timestamp: f64,
    /// Seconds.
    pub duration: f64,
    pub transcript: String,
}

/// A speaker of the transcript: `speaker` is the track index.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Participant {
    pub id: String,
    pub speaker: Option<u32>,
    pub name: String,
    pub user_id: Option<String>,
}

/// Merges the words of every track into one time-ordered list, each track first moved by its start
/// offset (seconds after the earliest track began) and labelled with its index as the speaker.
pub fn merge_tracks(tracks: Vec<(f64, Vec<Word>)>) -> Vec<Word> {
    let mut words: Vec<Word> = tracks
        .into_iter()
        .enumerate()
        .flat_map(|(index, (offset, words))| {
            let speaker = u32::try_from(index).unwrap_or(u32::MAX);
            words.into_iter().map(move |w| Word {
                speaker,
                ..w.shifted(offset)
            })
        })
        .collect();
    // Stable: words of one track starting at the same instant keep their order.
    words.sort_by(|a, b| a.start.total_cmp(&b.start).then(a.speaker.cmp(&b.speaker)));
    words
}

/// A pause longer than this starts a new segment even when the speaker does not change.
const SEGMENT_PAUSE: f64 = 2.0;
/// A segment closes at the end of a sentence once it is this long.
const SEGMENT_MAX: f64 = 30.0;

/// Groups time-ordered words into segments: a new one when the speaker changes, after a long
/// pause, or at a sentence end once a segment is long.
pub fn segments(words: &[Word]) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    for word in words {
        let text = word.text.trim();
        if text.is_empty() {
            continue;
        }
        let continues = out.last().is_some_and(|s: &Segment| {
            s.speaker == word.speaker
                && word.start - s.end <= SEGMENT_PAUSE
                && !(s.end - s.start >= SEGMENT_MAX && s.text.ends_with(['.', '?', '!']))
        });
        match out.last_mut() {
            Some(segment) if continues => {
                segment.text.push(' ');
                segment.text.push_str(text);
                segment.end = segment.end.max(word.end);
            }
            _ => out.push(Segment {
                speaker: word.speaker,
                start: word.start,
                end: word.end,
                text: text.to_owned(),
            }),
        }
    }
    out
}

/// The name shown for `speaker`: the participant's, else "Speaker N".
pub fn speaker_name(participants: &[Participant], speaker: u32) -> String {
    participants
        .iter()
        .find(|p| p.speaker == Some(speaker))
        .map(|p| p.name.clone())
        .unwrap_or_else(|| format!("Speaker {speaker}"))
}

fn vtt_time(seconds: f64) -> String {
    let ms = (seconds.max(0.0) * 1000.0).round() as u64;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        ms / 3_600_000,
        ms / 60_000 % 60,
        ms / 1000 % 60,
        ms % 1000
    )
}

fn clock_time(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// WebVTT with one cue per segment, voiced by the speaker's name (`<v Name>`).
pub fn webvtt(segments: &[Segment], participants: &[Participant]) -> String {
    let mut out = String::from("WEBVTT\n");
    for s in segments {
        let name = speaker_name(participants, s.speaker).replace(['<', '>', '\n'], " ");
        let _ = write!(
            out,
            "\n{} --> {}\n<v {name}>{}\n",
            vtt_time(s.start),
            vtt_time(s.end),
            s.text.replace("-->", "->")
        );
    }
    out
}

/// `text`: the segments' text, one speaker turn a line, `Name: text`.
pub fn plain_text(segments: &[Segment], participants: &[Participant]) -> String {
    segments
        .iter()
        .map(|s| format!("{}: {}", speaker_name(participants, s.speaker), s.text))
        .collect::<Vec<_>>()
        .join("\n")
}

/// `text-timestamped`: as [`plain_text`], each line starting with `[hh:mm:ss]`.
pub fn timestamped_text(segments: &[Segment], participants: &[Participant]) -> String {
    segments
        .iter()
        .map(|s| {
            format!(
                "[{}] {}: {}",
                clock_time(s.start),
                speaker_name(participants, s.speaker),
                s.text
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The (start, length) windows, in seconds, that cover `duration` in pieces of at most `max`.
pub fn chunk_plan(duration: f64, max: f64) -> Vec<(f64, f64)> {
    // NaN and non-positive values alike: one window of what there is.
    if duration.is_nan() || max.is_nan() || duration <= 0.0 || max <= 0.0 {
        return vec![(0.0, duration.max(0.0))];
    }
    let mut out = Vec::new();
    let mut start = 0.0;
    while start < duration {
        out.push((start, max.min(duration - start)));
        start += max;
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// The OpenAPI schema of each text enum lists exactly the words the API sends.
    #[test]
    fn schemas_name_the_wire_values() {
        fn values<T: utoipa::PartialSchema>() -> serde_json::Value {
            serde_json::to_value(T::schema()).unwrap()["enum"].clone()
        }
        let wire = |all: Vec<&str>| serde_json::json!(all);
        assert_eq!(
            values::<TranscriptStatus>(),
            wire(TranscriptStatus::ALL.iter().map(|s| s.as_str()).collect())
        );
        assert_eq!(
            values::<SourceKind>(),
            wire(SourceKind::ALL.iter().map(|s| s.as_str()).collect())
        );
        assert_eq!(
            values::<ShareMode>(),
            wire(ShareMode::ALL.iter().map(|s| s.as_str()).collect())
        );
        assert_eq!(
            serde_json::to_value(TranscriptStatus::Processing).unwrap(),
            "processing"
        );
    }

    fn w(text: &str, start: f64, end: f64) -> Word {
        Word {
            text: text.into(),
            start,
            end,
            speaker: 0,
        }
    }

    #[test]
    fn tracks_are_aligned_on_their_offsets_and_merged_by_time() {
        let alice = vec![w(" Hello", 0.0, 0.5), w(" Bob.", 0.5, 1.0)];
        let bob = vec![w(" Hi", 0.0, 0.4), w(" Alice.", 0.4, 0.9)];
        // Bob's track began 1.5 s after Alice's.
        let merged = merge_tracks(vec![(0.0, alice), (1.5, bob)]);
        let order: Vec<(&str, u32, f64)> = merged
            .iter()
            .map(|w| (w.text.as_str(), w.speaker, w.start))
            .collect();
        assert_eq!(
            order,
            vec![
                (" Hello", 0, 0.0),
                (" Bob.", 0, 0.5),
                (" Hi", 1, 1.5),
                (" Alice.", 1, 1.9)
            ]
        );
        let segs = segments(&merged);
        assert_eq!(segs.len(), 2);
        assert_eq!(segs[0].text, "Hello Bob.");
        assert_eq!((segs[1].speaker, segs[1].start, segs[1].end), (1, 1.5, 2.4));
    }

    #[test]
    fn webvtt_and_text_name_the_speakers() {
        let segs = segments(&[w(" Hello", 1.0, 1.5), w(" there.", 3661.5, 3662.25)]);
        assert_eq!(segs.len(), 2, "a long pause starts a new segment");
        let people = vec![Participant {
            id: "p0".into(),
            speaker: Some(0),
            name: "Alice".into(),
            user_id: None,
        }];
        assert_eq!(
            webvtt(&segs, &people),
            "WEBVTT\n\n00:00:01.000 --> 00:00:01.500\n<v Alice>Hello\n\n\
             01:01:01.500 --> 01:01:02.250\n<v Alice>there.\n"
        );
        assert_eq!(
            timestamped_text(&segs, &[]),
            "[00:00:01] Speaker 0: Hello\n[01:01:01] Speaker 0: there."
        );
        assert_eq!(plain_text(&segs, &people), "Alice: Hello\nAlice: there.");
    }

    #[test]
    fn long_audio_is_planned_in_windows_the_backend_accepts() {
        assert_eq!(
            chunk_plan(1300.0, 600.0),
            vec![(0.0, 600.0), (600.0, 600.0), (1200.0, 100.0)]
        );
        assert_eq!(chunk_plan(10.0, 600.0), vec![(0.0, 10.0)]);
        assert_eq!(w("x", 1.0, 2.0).shifted(600.0), w("x", 601.0, 602.0));
    }

    #[test]
    fn statuses_round_trip_and_unknown_ones_are_named() {
        for s in TranscriptStatus::ALL {
            assert_eq!(s.as_str().parse::<TranscriptStatus>().unwrap(), *s);
        }
        assert!(
            "secret"
                .parse::<ShareMode>()
                .unwrap_err()
                .contains("semi-private")
        );
    }
}
