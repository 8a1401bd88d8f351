//! What a provider needs to start: which one, where, with which key, and how patient.

use super::price::Price;
use super::retry::RetryPolicy;
use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

pub use super::provider::ProviderKind;

/// An API key. It has no `Display`, its `Debug` prints `***`, and it is sent only as a
/// header marked sensitive.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKey(String);

impl ApiKey {
    pub fn new(key: impl Into<String>) -> ApiKey {
        ApiKey(key.into())
    }

    /// The key from the provider's environment variable, if set and not empty.
    pub fn from_env(kind: ProviderKind) -> Option<ApiKey> {
        Self::from_lookup(kind, crate::policy::credentials::var)
    }

    /// Like [`ApiKey::from_env`] with the environment given as a function.
    pub fn from_lookup(
        kind: ProviderKind,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Option<ApiKey> {
        let name = env_names(kind)?.0;
        lookup(name)
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty())
            .map(ApiKey)
    }

    /// The key itself, to put in a request header and nowhere else.
    pub fn expose_secret(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The (key, base URL) environment variables of a provider.
pub fn env_names(kind: ProviderKind) -> Option<(&'static str, &'static str)> {
    match kind {
        ProviderKind::Anthropic => Some(("ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL")),
        ProviderKind::Openai => Some(("OPENAI_API_KEY", "OPENAI_BASE_URL")),
        ProviderKind::Replay => None,
    }
}

#[derive(Debug, Clone)]
pub struct ProviderConfig {
    pub kind: ProviderKind,
    /// Without it: `https://api.anthropic.com` or `https://api.openai.com/v1`.
    pub base_url: Option<String>,
    pub api_key: Option<ApiKey>,
    /// The recording the replay provider plays.
    pub replay_file: Option<PathBuf>,
    /// Where to record every response of the provider, in the replay format.
    pub record_file: Option<PathBuf>,
    pub retry: RetryPolicy,
    /// Prices by model name (or name prefix) over the built-in table.
    pub prices: HashMap<String, Price>,
    pub connect_timeout: Duration,
    /// How long to wait for the response headers.
    pub request_timeout: Duration,
    /// How long a stream may go without a byte (pings count).
    pub idle_timeout: Duration,
}

impl ProviderConfig {
    pub fn new(kind: ProviderKind) -> ProviderConfig {
        ProviderConfig {
            kind,
            base_url: None,
            api_key: None,
            replay_file: None,
            record_file: None,
            retry: RetryPolicy::default(),
            prices: HashMap::new(),
            connect_timeout: Duration::from_secs(15),
            request_timeout: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(90),
        }
    }

    /// [`ProviderConfig::new`] with the key and base URL from the environment.
    pub fn from_env(kind: ProviderKind) -> ProviderConfig {
        Self::from_lookup(kind, crate::policy::credentials::var)
    }

    /// Like [`ProviderConfig::from_env`] with the environment given as a function.
    pub fn from_lookup(
        kind: ProviderKind,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> ProviderConfig {
        let mut config = ProviderConfig::new(kind);
        config.api_key = ApiKey::from_lookup(kind, &lookup);
        if let Some((_, base_env)) = env_names(kind) {
            config.base_url = lookup(base_env).filter(|b| !b.trim().is_empty());
        }
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn debug_never_shows_the_key() {
        let mut config = ProviderConfig::new(ProviderKind::Anthropic);
        config.api_key = Some(ApiKey::new("sk-ant-secret-123"));
        let shown = format!("{config:?} {config:#?}");
        assert!(!shown.contains("sk-ant-secret-123"), "{shown}");
        assert!(shown.contains("api_key: Some(***)"), "{shown}");
    }

    #[test]
    fn reads_key_and_base_url_from_the_given_environment() {
        let env = |name: &str| match name {
            "OPENAI_API_KEY" => Some(" sk-1 ".to_string()),
            "OPENAI_BASE_URL" => Some("http://localhost:11434/v1".to_string()),
            "ANTHROPIC_API_KEY" => Some(String::new()),
            _ => None,
        };
        let openai = ProviderConfig::from_lookup(ProviderKind::Openai, env);
        let anthropic = ProviderConfig::from_lookup(ProviderKind::Anthropic, env);
        assert_eq!(
            (
                openai.api_key,
                openai.base_url,
                anthropic.api_key,
                anthropic.base_url
            ),
            (
                Some(ApiKey::new("sk-1")),
                Some("http://localhost:11434/v1".to_string()),
                None,
                None
            )
        );
    }
}
