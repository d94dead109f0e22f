//! Small helpers for reading and addressing provider APIs, shared by the provider modules.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Deserializer};

use crate::PlatformError;

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
