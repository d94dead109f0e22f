//! Builds the providers from configuration and answers "which platform, and is it usable?".

use std::collections::BTreeMap;
use std::sync::Arc;

use reflector_core::{ConfigError, Env, PlatformName, Rollout};

use crate::{
    PlatformError, ProviderEvent, RetryPolicy, VideoPlatform, daily, livekit, mock, whereby,
};

/// Every provider compiled in, in order of preference for the default platform: the first
/// configured one becomes the default unless `DEFAULT_VIDEO_PLATFORM` says otherwise. `mock`
/// needs no account, so it is always configured and comes last.
pub const PROVIDERS: &[Provider] = &[
    daily::PROVIDER,
    whereby::PROVIDER,
    livekit::PROVIDER,
    mock::PROVIDER,
];

/// A provider's registration: its name and how to build it from the environment.
#[derive(Clone, Copy)]
pub struct Provider {
    pub name: &'static str,
    pub setup: fn(&ProviderSetup<'_>) -> Result<Configured, ConfigError>,
}

/// What a provider's setup gets: the environment and the shared HTTP settings.
pub struct ProviderSetup<'a> {
    pub env: &'a Env,
    pub retry: RetryPolicy,
    /// Public URL of this server's API (`BASE_URL`).
    pub base_url: &'a str,
    /// Where a provider that runs inside Reflector (the mock) delivers its events; real
    /// providers deliver theirs as webhooks.
    pub events: Option<EventSink>,
}

/// A channel of `(provider name, event)` into the same processing as verified webhooks.
pub type EventSink = tokio::sync::mpsc::Sender<(&'static str, ProviderEvent)>;

pub enum Configured {
    Ready {
        platform: Arc<dyn VideoPlatform>,
        /// Rooms (by id or name) whose new meetings go to this provider whatever their setting.
        rollout_rooms: Vec<String>,
    },
    /// The provider can't be used until this setting is given.
    Missing { setting: &'static str },
}

/// One provider's state, for the API and the UI's platform choice.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PlatformStatus {
    pub name: &'static str,
    pub configured: bool,
    /// The setting that would make it usable, when it is not.
    pub missing_setting: Option<&'static str>,
    pub is_default: bool,
}

pub struct Registry {
    order: Vec<&'static str>,
    ready: BTreeMap<&'static str, Arc<dyn VideoPlatform>>,
    missing: BTreeMap<&'static str, &'static str>,
    default: PlatformName,
    rollouts: Vec<Rollout>,
}

impl Registry {
    pub fn from_env(
        env: &Env,
        retry: RetryPolicy,
        base_url: &str,
        events: Option<EventSink>,
    ) -> Result<Self, ConfigError> {
        Self::build(
            &ProviderSetup {
                env,
                retry,
                base_url,
                events,
            },
            PROVIDERS,
        )
    }

    pub fn build(setup: &ProviderSetup<'_>, providers: &[Provider]) -> Result<Self, ConfigError> {
        let mut registry = Registry {
            order: Vec::new(),
            ready: BTreeMap::new(),
            missing: BTreeMap::new(),
            default: PlatformName::new(""),
            rollouts: Vec::new(),
        };
        for provider in providers {
            registry.order.push(provider.name);
            match (provider.setup)(setup)? {
                Configured::Ready {
                    platform,
                    rollout_rooms,
                } => {
                    if !rollout_rooms.is_empty() {
                        registry.rollouts.push(Rollout {
                            platform: PlatformName::new(provider.name),
                            rooms: rollout_rooms,
                        });
                    }
                    registry.ready.insert(provider.name, platform);
                }
                Configured::Missing { setting } => {
                    registry.missing.insert(provider.name, setting);
                }
            }
        }
        registry.default = registry.choose_default(setup.env)?;
        Ok(registry)
    }

    fn choose_default(&self, env: &Env) -> Result<PlatformName, ConfigError> {
        const VAR: &str = "DEFAULT_VIDEO_PLATFORM";
        if let Some(wanted) = env.get(VAR) {
            return match self.get(wanted) {
                Ok(_) => Ok(PlatformName::new(wanted)),
                Err(e) => Err(ConfigError::new(VAR, e.to_string())),
            };
        }
        self.order
            .iter()
            .find(|name| self.ready.contains_key(*name))
            .map(|name| PlatformName::new(*name))
            .ok_or_else(|| ConfigError::new(VAR, "no video platform is configured"))
    }

    /// The provider behind `name`, or a typed error naming what is missing.
    pub fn get(&self, name: &str) -> Result<Arc<dyn VideoPlatform>, PlatformError> {
        if let Some(platform) = self.ready.get(name) {
            return Ok(platform.clone());
        }
        match self.order.iter().find(|known| **known == name) {
            Some(known) => Err(PlatformError::NotConfigured {
                platform: known,
                setting: self.missing.get(known).copied().unwrap_or("its settings"),
            }),
            None => Err(PlatformError::InvalidRequest {
                platform: "reflector",
                detail: format!(
                    "unknown video platform {name:?}; expected one of: {}",
                    self.order.join(", ")
                ),
            }),
        }
    }

    /// Every platform name compiled in, configured or not.
    pub fn known(&self) -> &[&'static str] {
        &self.order
    }

    pub fn is_known(&self, name: &str) -> bool {
        self.order.contains(&name)
    }

    pub fn default_platform(&self) -> &PlatformName {
        &self.default
    }

    pub fn rollouts(&self) -> &[Rollout] {
        &self.rollouts
    }

    pub fn statuses(&self) -> Vec<PlatformStatus> {
        self.order
            .iter()
            .map(|name| PlatformStatus {
                name,
                configured: self.ready.contains_key(name),
                missing_setting: self.missing.get(name).copied(),
                is_default: self.default == **name,
            })
            .collect()
    }

    /// The pages of every configured provider that serves some, each under its
    /// [`VideoPlatform::page_prefix`].
    pub fn pages(&self) -> axum::Router {
        self.ready
            .values()
            .filter_map(|p| Some((p.page_prefix()?, p.pages()?)))
            .fold(axum::Router::new(), |all, (prefix, pages)| {
                all.nest(&format!("/{prefix}"), pages)
            })
    }

    /// The first path segments of the configured providers' pages (see [`Self::pages`]).
    pub fn page_prefixes(&self) -> Vec<&'static str> {
        self.ready
            .values()
            .filter_map(|p| p.page_prefix())
            .collect()
    }

    /// Every configured provider that sends webhooks, with the path (under `/v1`) it sends to.
    pub fn webhook_receivers(&self) -> Vec<(&'static str, Arc<dyn VideoPlatform>)> {
        self.ready
            .values()
            .filter_map(|p| p.webhook_path().map(|path| (path, p.clone())))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(pairs: &[(&str, &str)]) -> Result<Registry, ConfigError> {
        Registry::from_env(
            &Env::from_pairs(pairs.iter().copied()),
            RetryPolicy::default(),
            "http://localhost:1250",
            None,
        )
    }

    #[test]
    fn mock_is_the_default_without_provider_accounts() {
        let r = registry(&[]).unwrap();
        assert_eq!(r.default_platform().as_str(), "mock");
        assert_eq!(r.known(), ["daily", "whereby", "livekit", "mock"]);
        let err = r.get("daily").err().unwrap();
        assert_eq!(
            err.to_string(),
            "video platform 'daily' is not configured: set DAILY_API_KEY"
        );
        assert!(r.get("zoom").is_err());
    }

    #[test]
    fn first_configured_provider_is_the_default() {
        let r = registry(&[("WHEREBY_API_KEY", "w")]).unwrap();
        assert_eq!(r.default_platform().as_str(), "whereby");
        let r = registry(&[("WHEREBY_API_KEY", "w"), ("DAILY_API_KEY", "d")]).unwrap();
        assert_eq!(r.default_platform().as_str(), "daily");
    }

    #[test]
    fn explicit_default_must_be_configured() {
        let err = registry(&[("DEFAULT_VIDEO_PLATFORM", "whereby")])
            .err()
            .unwrap();
        assert_eq!(err.variable, "DEFAULT_VIDEO_PLATFORM");
        assert!(err.message.contains("WHEREBY_API_KEY"), "{err}");
        let err = registry(&[("DEFAULT_VIDEO_PLATFORM", "zoom")])
            .err()
            .unwrap();
        assert!(err.message.contains("unknown video platform"), "{err}");
        let r = registry(&[("DEFAULT_VIDEO_PLATFORM", "mock"), ("DAILY_API_KEY", "d")]).unwrap();
        assert_eq!(r.default_platform().as_str(), "mock");
    }

    /// A room's page is `/{room name}`, so a room named like a provider's page prefix would be
    /// shadowed by the provider's pages.
    #[test]
    fn every_page_prefix_is_a_reserved_room_name() {
        let all = registry(&[
            ("DAILY_API_KEY", "d"),
            ("WHEREBY_API_KEY", "w"),
            ("LIVEKIT_URL", "http://livekit.local:7880"),
            ("LIVEKIT_API_KEY", "k"),
            ("LIVEKIT_API_SECRET", "s"),
        ])
        .unwrap();
        assert_eq!(
            all.statuses().iter().filter(|s| s.configured).count(),
            PROVIDERS.len()
        );
        let prefixes = all.page_prefixes();
        assert_eq!(prefixes, [mock::PAGE_PREFIX]);
        for prefix in prefixes {
            assert_eq!(
                reflector_core::RoomName::parse(prefix),
                Err(reflector_core::RoomNameError::Reserved(prefix.to_owned())),
                "add {prefix:?} to reflector_core::room::RESERVED_ROOM_NAMES"
            );
        }
        // Pages without a prefix would never be mounted.
        for name in all.known() {
            let platform = all.get(name).unwrap();
            assert_eq!(
                platform.pages().is_some(),
                platform.page_prefix().is_some(),
                "{name}"
            );
        }
    }

    #[test]
    fn daily_rollout_list_is_read_only_when_enabled() {
        let off = registry(&[("DAILY_API_KEY", "d"), ("DAILY_MIGRATION_ROOM_IDS", "a,b")]).unwrap();
        assert!(off.rollouts().is_empty());
        let on = registry(&[
            ("DAILY_API_KEY", "d"),
            ("DAILY_MIGRATION_ENABLED", "true"),
            ("DAILY_MIGRATION_ROOM_IDS", r#"["a","b"]"#),
        ])
        .unwrap();
        assert_eq!(on.rollouts()[0].platform.as_str(), "daily");
        assert_eq!(on.rollouts()[0].rooms, ["a", "b"]);
    }
}
