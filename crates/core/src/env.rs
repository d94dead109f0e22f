//! A snapshot of configuration variables with typed accessors whose errors name the variable.

use std::collections::BTreeMap;
use std::fmt::Display;
use std::str::FromStr;

/// A configuration value that cannot be used; the message names the variable so that start-up can
/// stop with one clear line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid configuration: {variable}: {message}")]
pub struct ConfigError {
    pub variable: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(variable: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            variable: variable.into(),
            message: message.into(),
        }
    }
}

/// Configuration variables, read once. An empty value counts as unset, as in most `.env` tooling.
#[derive(Clone, Default)]
pub struct Env {
    vars: BTreeMap<String, String>,
}

/// Lists variable names only: values include secrets, which are never logged.
impl std::fmt::Debug for Env {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.vars.keys()).finish()
    }
}

impl Env {
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    pub fn from_pairs<K: Into<String>, V: Into<String>>(
        pairs: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        Self {
            vars: pairs
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        }
    }

    /// Returns a copy with `name` set (tests and derived defaults).
    pub fn with(mut self, name: &str, value: impl Into<String>) -> Self {
        self.vars.insert(name.to_owned(), value.into());
        self
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    pub fn string_or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or(default).to_owned()
    }

    pub fn require(&self, name: &str) -> Result<&str, ConfigError> {
        self.get(name)
            .ok_or_else(|| ConfigError::new(name, "must be set"))
    }

    pub fn parse<T>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        self.get(name)
            .map(|raw| {
                raw.parse::<T>()
                    .map_err(|e| ConfigError::new(name, format!("{raw:?}: {e}")))
            })
            .transpose()
    }

    pub fn parse_or<T>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T: FromStr,
        T::Err: Display,
    {
        Ok(self.parse(name)?.unwrap_or(default))
    }

    pub fn bool_or(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default),
            Some("true" | "1" | "yes" | "on") => Ok(true),
            Some("false" | "0" | "no" | "off") => Ok(false),
            Some(other) => Err(ConfigError::new(
                name,
                format!("{other:?} is not a boolean (use true or false)"),
            )),
        }
    }

    /// A list given either as a JSON array of strings or as a comma-separated list.
    pub fn list(&self, name: &str) -> Result<Vec<String>, ConfigError> {
        let Some(raw) = self.get(name) else {
            return Ok(Vec::new());
        };
        if raw.starts_with('[') {
            return serde_json::from_str::<Vec<String>>(raw)
                .map_err(|e| ConfigError::new(name, format!("not a JSON array of strings: {e}")));
        }
        Ok(raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect())
    }

    /// An http(s) URL without a trailing slash.
    pub fn url_or(&self, name: &str, default: &str) -> Result<String, ConfigError> {
        let raw = self.get(name).unwrap_or(default);
        if !(raw.starts_with("http://") || raw.starts_with("https://")) {
            return Err(ConfigError::new(
                name,
                format!("{raw:?} is not an http(s) URL"),
            ));
        }
        Ok(raw.trim_end_matches('/').to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_values() {
        let env = Env::from_pairs([("DAILY_API_KEY", "very-secret")]);
        let shown = format!("{env:?}");
        assert!(
            shown.contains("DAILY_API_KEY") && !shown.contains("very-secret"),
            "{shown}"
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let env = Env::from_pairs([("A", ""), ("B", "  x ")]);
        assert_eq!(env.get("A"), None);
        assert_eq!(env.get("B"), Some("x"));
    }

    #[test]
    fn errors_name_the_variable() {
        let env = Env::from_pairs([("PORT", "eighty"), ("FLAG", "maybe")]);
        let err = env.parse::<u16>("PORT").unwrap_err();
        assert_eq!(err.variable, "PORT");
        assert!(err.to_string().contains("PORT"));
        assert_eq!(env.bool_or("FLAG", false).unwrap_err().variable, "FLAG");
    }

    #[test]
    fn lists_accept_json_and_commas() {
        let env = Env::from_pairs([("J", r#"["a","b-1"]"#), ("C", "a, b-1,,"), ("BAD", "[1,")]);
        assert_eq!(env.list("J").unwrap(), vec!["a", "b-1"]);
        assert_eq!(env.list("C").unwrap(), vec!["a", "b-1"]);
        assert_eq!(env.list("NONE").unwrap(), Vec::<String>::new());
        assert_eq!(env.list("BAD").unwrap_err().variable, "BAD");
    }

    #[test]
    fn urls_must_be_http() {
        let env = Env::from_pairs([("U", "https://x.test/v1/"), ("V", "ftp://x")]);
        assert_eq!(env.url_or("U", "http://d").unwrap(), "https://x.test/v1");
        assert!(env.url_or("V", "http://d").is_err());
        assert_eq!(env.url_or("W", "http://d/").unwrap(), "http://d");
    }
}
