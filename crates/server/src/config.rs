//! The HTTP layer's own settings (SPEC §1): who may call (auth, CORS), what anonymous callers see,
//! and where the web app's files are. The process-wide values (listen address, public URLs,
//! database) are parsed once by the binary's configuration.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey};
use reflector_core::{ConfigError, Env};

#[derive(Clone)]
pub struct HttpSettings {
    /// Allowed CORS origins; `None` allows any (with `AUTH_BACKEND=jwt` only: single-user mode
    /// never sends permissive CORS, see [`crate::single_user`]).
    pub cors_origins: Option<Vec<String>>,
    /// The host names of `BASE_URL` and `UI_BASE_URL`: in single-user mode the only ones served
    /// (besides localhost and loopback addresses).
    pub public_hosts: Vec<String>,
    pub auth: AuthSettings,
    pub public_mode: bool,
    /// The built web app (`WEB_DIST_DIR`, default `web/dist`), served for every path the API
    /// does not answer.
    pub web_dist_dir: PathBuf,
    pub limits: ConnectionLimits,
    pub metrics: MetricsSettings,
}

/// What keeps slow or idle clients from holding the server (SPEC §11).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// A request's headers must arrive within this (`HEADER_READ_TIMEOUT_SECONDS`, 10). It is
    /// also how long an idle keep-alive connection stays open between requests.
    pub header_read_timeout: Duration,
    /// A request must be answered within this, or gets 503 (`REQUEST_TIMEOUT_SECONDS`, 90:
    /// above a provider call's worst case with its retries, about a minute).
    pub request_timeout: Duration,
    /// Connections served at once (`MAX_CONNECTIONS`, 1000); more wait to be accepted.
    pub max_connections: usize,
    /// At shutdown, how long in-flight requests may take before their connections are closed
    /// (`SHUTDOWN_GRACE_SECONDS`, 20, read by the binary's configuration).
    pub shutdown_grace: Duration,
    /// The largest chunk of an upload (`UPLOAD_CHUNK_MAX_BYTES`, 64 MiB): the upload route's own
    /// body limit, in place of the API's 1 MiB.
    pub upload_chunk_max_bytes: u64,
    /// The largest file one upload may assemble (`UPLOAD_MAX_BYTES`, 4 GiB), so that no upload
    /// fills the disk.
    pub upload_max_bytes: u64,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(90),
            max_connections: 1000,
            shutdown_grace: Duration::from_secs(20),
            upload_chunk_max_bytes: 64 << 20,
            upload_max_bytes: 4 << 30,
        }
    }
}

/// Who may read `/metrics`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `METRICS_TOKEN`: when set, `/metrics` needs `Authorization: Bearer <token>`.
    pub token: Option<String>,
    /// `METRICS_LISTEN`: when set, `/metrics` is served on this address only (not on the API's
    /// port); `reflector worker` serves it there too.
    pub listen: Option<SocketAddr>,
}

#[derive(Clone)]
pub enum AuthSettings {
    /// Single-user mode: every request acts as user `local`.
    None,
    Jwt(JwtSettings),
}

#[derive(Clone)]
pub struct JwtSettings {
    pub key: DecodingKey,
    pub algorithm: Algorithm,
    pub audience: Option<String>,
    /// The identity provider the web UI signs in with; unset means the UI cannot sign in (API
    /// clients still send JWTs or API keys).
    pub oidc: Option<OidcSettings>,
}

/// `OIDC_ISSUER` / `OIDC_CLIENT_ID`: public values the web page needs to run the authorization-code
/// flow with PKCE in the browser (a public client, so there is no client secret).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OidcSettings {
    /// Kept exactly as configured: an issuer is compared byte for byte with the provider's
    /// discovery document and the tokens' `iss`, trailing slash included.
    pub issuer: String,
    pub client_id: String,
}

/// The user every request acts as when `AUTH_BACKEND=none`.
pub const LOCAL_USER: &str = "local";

impl HttpSettings {
    /// `public_urls`: `BASE_URL` and `UI_BASE_URL`, parsed with the other process-wide values.
    pub fn from_env(env: &Env, public_urls: &[&str]) -> Result<Self, ConfigError> {
        let cors = env.list("CORS_ORIGIN")?;
        let cors_origins = if cors.is_empty() || cors.iter().any(|o| o == "*") {
            None
        } else {
            Some(cors)
        };
        Ok(Self {
            cors_origins,
            public_hosts: public_urls
                .iter()
                .filter_map(|u| crate::single_user::host_of(u))
                .collect(),
            auth: AuthSettings::from_env(env)?,
            public_mode: env.bool_or("PUBLIC_MODE", false)?,
            web_dist_dir: PathBuf::from(env.string_or("WEB_DIST_DIR", "web/dist")),
            limits: ConnectionLimits::from_env(env)?,
            metrics: MetricsSettings {
                token: env.get("METRICS_TOKEN").map(str::to_owned),
                listen: env
                    .get("METRICS_LISTEN")
                    .map(|v| {
                        v.parse().map_err(|_| {
                            ConfigError::new(
                                "METRICS_LISTEN",
                                format!("{v:?} is not an address such as 127.0.0.1:9090"),
                            )
                        })
                    })
                    .transpose()?,
            },
        })
    }
}

impl ConnectionLimits {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let d = Self::default();
        let seconds = |name: &str, default: Duration| -> Result<Duration, ConfigError> {
            let value: u64 = env.parse_or(name, default.as_secs())?;
            if value == 0 {
                return Err(ConfigError::new(name, "must be at least 1"));
            }
            Ok(Duration::from_secs(value))
        };
        let bytes = |name: &str, default: u64| -> Result<u64, ConfigError> {
            let value: u64 = env.parse_or(name, default)?;
            if !(1024..=(1 << 40)).contains(&value) {
                return Err(ConfigError::new(
                    name,
                    "must be between 1024 and 1099511627776 (1 TiB)",
                ));
            }
            Ok(value)
        };
        let max_connections: usize = env.parse_or("MAX_CONNECTIONS", d.max_connections)?;
        if max_connections == 0 {
            return Err(ConfigError::new("MAX_CONNECTIONS", "must be at least 1"));
        }
        Ok(Self {
            header_read_timeout: seconds("HEADER_READ_TIMEOUT_SECONDS", d.header_read_timeout)?,
            request_timeout: seconds("REQUEST_TIMEOUT_SECONDS", d.request_timeout)?,
            max_connections,
            shutdown_grace: d.shutdown_grace,
            upload_chunk_max_bytes: bytes("UPLOAD_CHUNK_MAX_BYTES", d.upload_chunk_max_bytes)?,
            upload_max_bytes: bytes("UPLOAD_MAX_BYTES", d.upload_max_bytes)?,
        })
    }
}

impl AuthSettings {
    fn from_env(env: &Env) -> Result<Self, ConfigError> {
        match env.string_or("AUTH_BACKEND", "none").as_str() {
            "none" => Ok(Self::None),
            "jwt" => {
                let path = env.require("AUTH_JWT_PUBLIC_KEY")?;
                let pem = std::fs::read(path).map_err(|e| {
                    ConfigError::new("AUTH_JWT_PUBLIC_KEY", format!("cannot read {path}: {e}"))
                })?;
                let algorithm: Algorithm = env.parse_or("AUTH_JWT_ALGORITHM", Algorithm::RS256)?;
                let key = match algorithm {
                    Algorithm::RS256
                    | Algorithm::RS384
                    | Algorithm::RS512
                    | Algorithm::PS256
                    | Algorithm::PS384
                    | Algorithm::PS512 => DecodingKey::from_rsa_pem(&pem),
                    Algorithm::ES256 | Algorithm::ES384 => DecodingKey::from_ec_pem(&pem),
                    Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
                    Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => {
                        return Err(ConfigError::new(
                            "AUTH_JWT_ALGORITHM",
                            "use a public-key algorithm (RS256, ES256, EdDSA …)",
                        ));
                    }
                }
                .map_err(|e| {
                    ConfigError::new(
                        "AUTH_JWT_PUBLIC_KEY",
                        format!("not a {algorithm:?} public key in PEM form: {e}"),
                    )
                })?;
                Ok(Self::Jwt(JwtSettings {
                    key,
                    algorithm,
                    audience: env.get("AUTH_JWT_AUDIENCE").map(str::to_owned),
                    oidc: OidcSettings::from_env(env)?,
                }))
            }
            other => Err(ConfigError::new(
                "AUTH_BACKEND",
                format!("{other:?} is not one of: none, jwt"),
            )),
        }
    }
}

impl OidcSettings {
    /// Both or neither: one without the other is a half-done setup that would only fail in the
    /// browser, so it stops start-up instead.
    fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        match (env.get("OIDC_ISSUER"), env.get("OIDC_CLIENT_ID")) {
            (None, None) => Ok(None),
            (Some(_), None) => Err(ConfigError::new(
                "OIDC_CLIENT_ID",
                "must be set when OIDC_ISSUER is set",
            )),
            (None, Some(_)) => Err(ConfigError::new(
                "OIDC_ISSUER",
                "must be set when OIDC_CLIENT_ID is set",
            )),
            (Some(issuer), Some(client_id)) => {
                let absolute = url::Url::parse(issuer)
                    .ok()
                    .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host());
                if absolute.is_none() {
                    return Err(ConfigError::new(
                        "OIDC_ISSUER",
                        format!("{issuer:?} must be an absolute http(s) URL"),
                    ));
                }
                Ok(Some(Self {
                    issuer: issuer.to_owned(),
                    client_id: client_id.to_owned(),
                }))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<HttpSettings, ConfigError> {
        HttpSettings::from_env(
            &Env::from_pairs(pairs.iter().copied()),
            &["http://localhost:1250"],
        )
    }

    #[test]
    fn defaults_run_on_a_laptop() {
        let s = settings(&[]).unwrap();
        assert!(s.cors_origins.is_none());
        assert_eq!(s.public_hosts, ["localhost"]);
        assert!(matches!(s.auth, AuthSettings::None));
        assert_eq!(s.web_dist_dir, PathBuf::from("web/dist"));
        assert_eq!(s.limits, ConnectionLimits::default());
        assert_eq!(s.metrics, MetricsSettings::default());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (var, value) in [
            ("AUTH_BACKEND", "ldap"),
            ("PUBLIC_MODE", "sometimes"),
            ("MAX_CONNECTIONS", "0"),
            ("HEADER_READ_TIMEOUT_SECONDS", "soon"),
            ("REQUEST_TIMEOUT_SECONDS", "0"),
            ("METRICS_LISTEN", "9090"),
        ] {
            let err = settings(&[(var, value)]).err().unwrap();
            assert_eq!(err.variable, var, "{err}");
        }
        let err = settings(&[("AUTH_BACKEND", "jwt")]).err().unwrap();
        assert_eq!(err.variable, "AUTH_JWT_PUBLIC_KEY");
        let err = settings(&[
            ("AUTH_BACKEND", "jwt"),
            ("AUTH_JWT_PUBLIC_KEY", "/nonexistent.pem"),
        ])
        .err()
        .unwrap();
        assert!(err.message.contains("cannot read"), "{err}");
    }

    fn oidc(pairs: &[(&str, &str)]) -> Result<Option<OidcSettings>, ConfigError> {
        OidcSettings::from_env(&Env::from_pairs(pairs.iter().copied()))
    }

    #[test]
    fn oidc_needs_an_absolute_issuer_and_a_client_id() {
        assert_eq!(oidc(&[]), Ok(None));
        let ok = oidc(&[
            ("OIDC_ISSUER", "https://id.example.org/realms/team/"),
            ("OIDC_CLIENT_ID", "reflector-web"),
        ]);
        assert_eq!(
            ok,
            Ok(Some(OidcSettings {
                issuer: "https://id.example.org/realms/team/".into(),
                client_id: "reflector-web".into(),
            }))
        );
        for (pairs, var) in [
            (
                &[("OIDC_ISSUER", "https://id.example.org")][..],
                "OIDC_CLIENT_ID",
            ),
            (&[("OIDC_CLIENT_ID", "web")][..], "OIDC_ISSUER"),
            (
                &[("OIDC_ISSUER", "id.example.org"), ("OIDC_CLIENT_ID", "web")][..],
                "OIDC_ISSUER",
            ),
            (
                &[
                    ("OIDC_ISSUER", "ftp://id.example.org"),
                    ("OIDC_CLIENT_ID", "web"),
                ][..],
                "OIDC_ISSUER",
            ),
        ] {
            assert_eq!(oidc(pairs).unwrap_err().variable, var);
        }
    }
}
