//! Which provider speaks to the model: a leaf that the configuration and the model table both
//! name, so neither has to import the other for it.

/// Which provider speaks to the model. The command line offers these by [`ProviderKind::name`]
/// (its `clap` binding lives in `cli`, so this module knows nothing of the command line).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    Anthropic,
    Openai,
    Replay,
}

impl ProviderKind {
    pub const ALL: [ProviderKind; 3] = [
        ProviderKind::Anthropic,
        ProviderKind::Openai,
        ProviderKind::Replay,
    ];

    /// The name configuration and the command line use.
    pub fn name(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::Openai => "openai",
            ProviderKind::Replay => "replay",
        }
    }

    /// The provider of a name, as configuration spells it.
    pub fn from_name(name: &str) -> Option<ProviderKind> {
        ProviderKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}
