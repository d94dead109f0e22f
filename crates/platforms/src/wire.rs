//! Helpers for reading and addressing provider APIs, shared by the provider modules: path
//! encoding, lenient decoding of what providers send (ids, numbers and times in whatever form),
//! paging through list endpoints, and JSON re-serialised in the order it was sent.

use std::future::Future;

use chrono::{DateTime, Utc};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::de::{DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::{PlatformError, WebhookRejection};

/// A verified webhook body as JSON; anything else is `Malformed`.
pub(crate) fn json_body(body: &[u8]) -> Result<serde_json::Value, WebhookRejection> {
    serde_json::from_slice(body)
        .map_err(|e| WebhookRejection::Malformed(format!("body is not JSON: {e}")))
}

/// A verified webhook body as the inbox keeps it: its text as received (a body that parsed as
/// JSON is UTF-8), not a re-serialisation of the parse.
pub(crate) fn body_text(body: &[u8]) -> String {
    String::from_utf8_lossy(body).into_owned()
}

/// A webhook's envelope, read from its parsed body, which must be a JSON object: the one shape
/// check every provider's parser starts with (a known type lacking a field it needs is the
/// parser's business, not a rejection).
pub(crate) fn webhook_envelope<T: DeserializeOwned>(
    payload: &serde_json::Value,
) -> Result<T, WebhookRejection> {
    if !payload.is_object() {
        return Err(WebhookRejection::Malformed(
            "body is not a JSON object".into(),
        ));
    }
    T::deserialize(payload)
        .map_err(|e| WebhookRejection::Malformed(format!("unexpected event shape: {e}")))
}

/// The provider's id for an event, else the SHA-256 of its body (so redeliveries of one body
/// are one event).
pub(crate) fn event_id(id: Option<&str>, body: &[u8]) -> String {
    use sha2::Digest;
    id.map_or_else(|| hex::encode(sha2::Sha256::digest(body)), str::to_owned)
}

/// Everything but RFC 3986's unreserved characters is encoded.
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// A name or id made safe to place in a URL path segment.
pub(crate) fn path_segment(raw: &str) -> String {
    utf8_percent_encode(raw, PATH_SEGMENT).to_string()
}

/// A string, or a number taken as its text; anything else (or "") counts as absent. Providers
/// are not consistent about sending ids as strings or numbers.
pub(crate) fn lenient_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::String(s) if !s.is_empty() => Some(s),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A number, also from a numeric string; anything else (null included) counts as absent.
pub(crate) fn lenient_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_f64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// An integer, also from a float (truncated) or an integer string; anything else counts as absent.
pub(crate) fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    })
}

/// A list; a missing or non-list value is an empty one, and entries that do not read as `T` are
/// skipped, so one odd entry does not cost the rest.
pub(crate) fn lenient_vec<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: DeserializeOwned,
{
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => items
            .into_iter()
            .filter_map(|item| serde_json::from_value(item).ok())
            .collect(),
        _ => Vec::new(),
    })
}

/// Unix seconds, whole or fractional, as a time; `None` when out of range or not finite.
pub(crate) fn unix_time(seconds: f64) -> Option<DateTime<Utc>> {
    if !seconds.is_finite() {
        return None;
    }
    let whole = seconds.floor();
    let nanos = ((seconds - whole) * 1e9).round().min(999_999_999.0) as u32;
    DateTime::from_timestamp(whole as i64, nanos)
}

/// An RFC 3339 time in any offset, as UTC; `None` when it does not parse.
pub(crate) fn rfc3339_time(raw: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(raw)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// One page of a list endpoint: its items, and where the next page starts (`None` on the last).
pub(crate) struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// Every item of a paged list endpoint. `fetch` gets where to start (`None` for the first page;
/// then a page's `next`, sent as the provider's cursor or `starting_after`). A `next` equal to
/// the one just fetched, or more than `max_pages` pages, is a [`PlatformError::BadResponse`]:
/// callers decide from the whole list (a partial one could make a live meeting look finished),
/// so a provider that loops gets an error, not a truncated answer.
pub(crate) async fn collect_pages<T, F, Fut>(
    platform: &'static str,
    what: &str,
    max_pages: usize,
    mut fetch: F,
) -> Result<Vec<T>, PlatformError>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = Result<Page<T>, PlatformError>>,
{
    let mut items = Vec::new();
    let mut start: Option<String> = None;
    for _ in 0..max_pages {
        let page = fetch(start.clone()).await?;
        items.extend(page.items);
        match page.next {
            None => return Ok(items),
            Some(next) if start.as_deref() == Some(next.as_str()) => {
                return Err(PlatformError::BadResponse {
                    platform,
                    detail: format!("{what}: the page did not advance"),
                });
            }
            Some(next) => start = Some(next),
        }
    }
    Err(PlatformError::BadResponse {
        platform,
        detail: format!("{what}: more than {max_pages} pages"),
    })
}

/// `body` re-serialised compactly the way `JSON.stringify` writes it (no whitespace, object keys
/// in the order they were sent), or `None` if it is not JSON. For signatures computed over that
/// form rather than over the bytes sent.
pub(crate) fn compact_json(body: &[u8]) -> Option<Vec<u8>> {
    let json: OrderedJson = serde_json::from_slice(body).ok()?;
    serde_json::to_vec(&json).ok()
}

/// A JSON value that keeps object keys in the order they were sent. `serde_json::Value` sorts
/// keys unless the `preserve_order` feature is on, and turning that on would change key order
/// for every crate in the workspace (features are unified), so this small ordered form is ours.
enum OrderedJson {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    String(String),
    Array(Vec<OrderedJson>),
    Object(Vec<(String, OrderedJson)>),
}

impl<'de> Deserialize<'de> for OrderedJson {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OrderedVisitor;

        impl<'de> Visitor<'de> for OrderedVisitor {
            type Value = OrderedJson;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_unit<E>(self) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Null)
            }
            fn visit_none<E>(self) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Null)
            }
            fn visit_bool<E>(self, v: bool) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Number(v.into()))
            }
            fn visit_u64<E>(self, v: u64) -> Result<OrderedJson, E> {
                Ok(OrderedJson::Number(v.into()))
            }
            fn visit_f64<E>(self, v: f64) -> Result<OrderedJson, E> {
                Ok(serde_json::Number::from_f64(v).map_or(OrderedJson::Null, OrderedJson::Number))
            }
            fn visit_str<E>(self, v: &str) -> Result<OrderedJson, E> {
                Ok(OrderedJson::String(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<OrderedJson, E> {
                Ok(OrderedJson::String(v))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OrderedJson, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OrderedJson::Array(items))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<OrderedJson, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(OrderedJson::Object(entries))
            }
        }

        deserializer.deserialize_any(OrderedVisitor)
    }
}

impl Serialize for OrderedJson {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::{SerializeMap, SerializeSeq};
        match self {
            OrderedJson::Null => serializer.serialize_unit(),
            OrderedJson::Bool(b) => serializer.serialize_bool(*b),
            OrderedJson::Number(n) => n.serialize(serializer),
            OrderedJson::String(s) => serializer.serialize_str(s),
            OrderedJson::Array(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            OrderedJson::Object(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (key, value) in entries {
                    map.serialize_entry(key, value)?;
                }
                map.end()
            }
        }
    }
}

/// A call address from a provider's answer, which our pages embed: an absolute http(s) URL, or
/// the answer counts as malformed (its room then expires at the provider on its own).
pub(crate) fn call_url(
    platform: &'static str,
    field: &str,
    value: String,
) -> Result<String, PlatformError> {
    match url::Url::parse(&value) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.has_host() => Ok(value),
        _ => Err(PlatformError::BadResponse {
            platform,
            detail: format!("{field} {value:?} is not an absolute http(s) URL"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn call_urls_must_be_absolute_http() {
        assert!(call_url("p", "url", "https://acme.daily.co/r".into()).is_ok());
        for bad in ["not a url/r", "/r", "javascript:alert(1)", "ftp://x/r"] {
            let err = call_url("p", "url", bad.into()).unwrap_err();
            assert!(
                err.to_string().contains("not an absolute http(s) URL"),
                "{err}"
            );
        }
    }

    #[test]
    fn path_segments_are_encoded() {
        assert_eq!(path_segment("abc-1_2.x~"), "abc-1_2.x~");
        assert_eq!(path_segment("a/b c"), "a%2Fb%20c");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[derive(Deserialize)]
    struct Numbers {
        #[serde(default, deserialize_with = "lenient_f64")]
        f: Option<f64>,
        #[serde(default, deserialize_with = "lenient_i64")]
        i: Option<i64>,
    }

    fn numbers(json: &str) -> (Option<f64>, Option<i64>) {
        let n: Numbers = serde_json::from_str(json).unwrap();
        (n.f, n.i)
    }

    #[test]
    fn numbers_may_be_strings_floats_or_absent() {
        assert_eq!(numbers(r#"{"f":1.5,"i":3}"#), (Some(1.5), Some(3)));
        assert_eq!(numbers(r#"{"f":2,"i":3.9}"#), (Some(2.0), Some(3)));
        assert_eq!(
            numbers(r#"{"f":" 1.25 ","i":" 42 "}"#),
            (Some(1.25), Some(42))
        );
        assert_eq!(numbers(r#"{"f":null,"i":null}"#), (None, None));
        assert_eq!(numbers(r#"{"f":"soon","i":"3.5"}"#), (None, None));
        assert_eq!(numbers(r#"{"f":[1],"i":{"n":1}}"#), (None, None));
        assert_eq!(numbers(r#"{}"#), (None, None));
    }

    #[test]
    fn lists_skip_unreadable_entries() {
        #[derive(Deserialize, Debug, PartialEq)]
        struct Item {
            key: String,
        }
        #[derive(Deserialize)]
        struct W {
            #[serde(default, deserialize_with = "lenient_vec")]
            items: Vec<Item>,
        }
        let items = |json: &str| serde_json::from_str::<W>(json).unwrap().items;
        assert_eq!(
            items(r#"{"items":[{"key":"a"},{"key":7},"x",{"key":"b","more":1}]}"#),
            [Item { key: "a".into() }, Item { key: "b".into() }]
        );
        assert_eq!(items(r#"{"items":null}"#), []);
        assert_eq!(items(r#"{"items":{"key":"a"}}"#), []);
        assert_eq!(items(r#"{}"#), []);
    }

    #[test]
    fn unix_times_may_be_fractional() {
        let t = unix_time(1_700_000_000.25).unwrap();
        assert_eq!(t.timestamp(), 1_700_000_000);
        assert_eq!(t.timestamp_subsec_millis(), 250);
        assert_eq!(
            unix_time(1_700_000_000.0).unwrap().timestamp_subsec_nanos(),
            0
        );
        assert!(unix_time(f64::NAN).is_none());
        assert!(unix_time(f64::INFINITY).is_none());
        assert!(unix_time(1e300).is_none());
    }

    #[test]
    fn rfc3339_times_in_any_offset_become_utc() {
        let utc = rfc3339_time("2026-01-01T07:00:00Z").unwrap();
        assert_eq!(rfc3339_time("2026-01-01T08:00:00.000+01:00"), Some(utc));
        assert_eq!(utc.timestamp(), 1_767_250_800);
        assert_eq!(rfc3339_time("2026-01-01 07:00"), None);
        assert_eq!(rfc3339_time(""), None);
    }

    /// Pages `pages[i]` as `(items, next)`, recording where each fetch started.
    async fn page_through(
        pages: &[(&[u32], Option<&str>)],
        max_pages: usize,
    ) -> (Result<Vec<u32>, PlatformError>, Vec<Option<String>>) {
        let mut starts = Vec::new();
        let mut remaining = pages.iter();
        let result = collect_pages("p", "things", max_pages, |start| {
            starts.push(start);
            let page = remaining.next().map(|(items, next)| Page {
                items: items.to_vec(),
                next: next.map(str::to_owned),
            });
            async move {
                page.ok_or(PlatformError::Unavailable {
                    platform: "p",
                    detail: "no such page".into(),
                })
            }
        })
        .await;
        (result, starts)
    }

    #[tokio::test]
    async fn pages_are_followed_until_there_is_no_next() {
        let (items, starts) =
            page_through(&[(&[1, 2], Some("c2")), (&[], Some("c3")), (&[3], None)], 5).await;
        assert_eq!(items.unwrap(), [1, 2, 3]);
        assert_eq!(starts, [None, Some("c2".into()), Some("c3".into())]);
        let (items, starts) = page_through(&[(&[], None)], 5).await;
        assert_eq!(items.unwrap(), Vec::<u32>::new());
        assert_eq!(starts.len(), 1);
    }

    #[tokio::test]
    async fn a_page_chain_that_loops_or_never_ends_is_an_error() {
        let (result, starts) = page_through(&[(&[1], Some("a")), (&[2], Some("a"))], 5).await;
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            "p sent an unexpected response: things: the page did not advance"
        );
        assert_eq!(starts.len(), 2);

        let (result, starts) = page_through(
            &[(&[1], Some("a")), (&[2], Some("b")), (&[3], Some("c"))],
            2,
        )
        .await;
        let err = result.unwrap_err();
        assert_eq!(
            err.to_string(),
            "p sent an unexpected response: things: more than 2 pages"
        );
        assert_eq!(starts.len(), 2);

        // A failed fetch ends the listing with its error, however far it got.
        let (result, _) = page_through(&[(&[1], Some("a"))], 5).await;
        assert!(
            matches!(result, Err(PlatformError::Unavailable { .. })),
            "{result:?}"
        );
    }

    #[test]
    fn compact_json_keeps_key_order_and_drops_whitespace() {
        let body = br#"{ "b" : 1, "a" : [ true, null, 2.5, "x y", -3, 18446744073709551615 ], "c": {"z":{}, "y": []} }"#;
        assert_eq!(
            String::from_utf8(compact_json(body).unwrap()).unwrap(),
            r#"{"b":1,"a":[true,null,2.5,"x y",-3,18446744073709551615],"c":{"z":{},"y":[]}}"#
        );
        // Escapes are written as `JSON.stringify` writes them: only where JSON needs one.
        assert_eq!(
            String::from_utf8(compact_json(br#" "caf\u00e9\n" "#).unwrap()).unwrap(),
            "\"café\\n\""
        );
        assert_eq!(compact_json(b"{\"a\":"), None);
        assert_eq!(compact_json(b"not json"), None);
    }

    #[test]
    fn ids_may_be_strings_or_numbers() {
        #[derive(Deserialize)]
        struct W {
            #[serde(default, deserialize_with = "lenient_string")]
            id: Option<String>,
        }
        let id = |json: &str| serde_json::from_str::<W>(json).map(|w| w.id).ok().flatten();
        assert_eq!(id(r#"{"id":"a"}"#), Some("a".into()));
        assert_eq!(id(r#"{"id":42}"#), Some("42".into()));
        assert_eq!(id(r#"{"id":""}"#), None);
        assert_eq!(id(r#"{"id":null}"#), None);
        assert_eq!(id(r#"{}"#), None);
    }
}
