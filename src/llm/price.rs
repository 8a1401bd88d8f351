//! Token prices and the cost of a call.

use super::provider::ProviderKind;
use super::types::Usage;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// USD per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Price {
    pub input: f64,
    pub output: f64,
    pub cache_write: f64,
    pub cache_read: f64,
}

impl Price {
    pub const fn new(input: f64, output: f64, cache_write: f64, cache_read: f64) -> Price {
        Price {
            input,
            output,
            cache_write,
            cache_read,
        }
    }

    pub fn cost(&self, usage: &Usage) -> f64 {
        (usage.input_tokens as f64 * self.input
            + usage.output_tokens as f64 * self.output
            + usage.cache_write_tokens as f64 * self.cache_write
            + usage.cache_read_tokens as f64 * self.cache_read)
            / 1_000_000.0
    }
}

/// The models git-agent knows, one table: list prices by model-name prefix (the longest
/// matching prefix wins, so `claude-sonnet-4-5-20250929` finds `claude-sonnet-4`), context
/// windows, and the model each provider uses when none is configured. Anthropic cache writes
/// are the 5-minute ones (1.25x input, what the breakpoints we send ask for); OpenAI caches
/// automatically and charges no write. An unknown model of a known family falls to the
/// family's oldest (dearest) entry, so a budget errs on the side of stopping early.
///
/// Checked 2026-11-28 against:
/// - Anthropic: <https://platform.claude.com/docs/en/about-claude/pricing> ("Model pricing",
///   "Long context pricing"), and the model pages under
///   <https://platform.claude.com/docs/en/models/>. Sonnet 5.5 cache reads are $0.10 since
///   2026-10-07 (the price cut is in the changelogs; the model page still says $0.20).
/// - OpenAI: <https://developers.openai.com/api/docs/pricing> (standard tier, text tokens);
///   that page could not be read from here, so its figures are taken from reports quoting it
///   in November 2026 and cross-checked between them.
///
/// Defaults and context windows checked 2026-12-07 against the vendors' model pages:
/// - <https://platform.claude.com/docs/en/models/overview> and the pages of each model
///   (`…/models/opus-5-5/overview`, `…/opus-4-6/overview`, `…/opus-4-8/overview`): "If you're
///   unsure which model to use, start with Claude Opus 5.5", described as "for long-running
///   agentic coding and knowledge work"; Fable 5.1, Opus 5.5, Sonnet 5.5 and Haiku 5.5 (and
///   Opus 5, 4.8, 4.6) have a 1M-token window, Haiku 4.5 200K.
/// - <https://developers.openai.com/docs/models>: "If you're not sure where to start, use
///   gpt-5.5, our flagship model for complex reasoning and coding" (1M window); gpt-5.4 1M,
///   gpt-5.4-mini 400K. Resellers list a GPT-5.6 family (Sol, Terra, Luna) from July 2026;
///   no OpenAI page said so here, so it is not in the table.
///
/// Not modelled: batch (-50%), 1-hour cache writes (2x input), data-residency and fast-mode
/// multipliers.
const BUILTIN: &[Entry] = &[
    Entry::new("claude-fable-5", Price::new(10.0, 50.0, 12.50, 1.0)).window(M),
    Entry::new("claude-fable-5-1", Price::new(10.0, 50.0, 12.50, 0.25)).window(M),
    Entry::new("claude-mythos-5", Price::new(10.0, 50.0, 12.50, 1.0)),
    Entry::new("claude-mythos-5-1", Price::new(10.0, 50.0, 12.50, 0.25)),
    Entry::new("claude-opus-5", Price::new(5.0, 25.0, 6.25, 0.50)).window(M),
    Entry::new("claude-opus-5-5", Price::new(4.0, 20.0, 5.0, 0.20))
        .window(M)
        .default_for(ProviderKind::Anthropic),
    Entry::new("claude-opus-4", Price::new(15.0, 75.0, 18.75, 1.50)).window(200 * K),
    Entry::new("claude-opus-4-5", Price::new(5.0, 25.0, 6.25, 0.50)).window(200 * K),
    Entry::new("claude-opus-4-6", Price::new(5.0, 25.0, 6.25, 0.50)).window(M),
    Entry::new("claude-opus-4-7", Price::new(5.0, 25.0, 6.25, 0.50)),
    Entry::new("claude-opus-4-8", Price::new(5.0, 25.0, 6.25, 0.50)).window(M),
    Entry::new("claude-3-opus", Price::new(15.0, 75.0, 18.75, 1.50)).window(200 * K),
    Entry::new("claude-sonnet-5", Price::new(2.0, 10.0, 2.50, 0.20)).window(M),
    Entry::new("claude-sonnet-5-5", Price::new(2.0, 10.0, 2.50, 0.10)).window(M),
    // Sonnet 4 and 4.5 with a prompt over 200K tokens (the 1M context window) cost more;
    // Sonnet 4.6 does not.
    Entry::new("claude-sonnet-4", Price::new(3.0, 15.0, 3.75, 0.30))
        .above(200_000, Price::new(6.0, 22.50, 7.50, 0.60))
        .window(200 * K),
    Entry::new("claude-sonnet-4-6", Price::new(3.0, 15.0, 3.75, 0.30)).window(M),
    Entry::new("claude-3-7-sonnet", Price::new(3.0, 15.0, 3.75, 0.30)).window(200 * K),
    Entry::new("claude-3-5-sonnet", Price::new(3.0, 15.0, 3.75, 0.30)).window(200 * K),
    Entry::new("claude-haiku-5-5", Price::new(0.10, 0.50, 0.125, 0.01))
        .above(100_000, Price::new(0.50, 2.50, 0.625, 0.05))
        .window(M),
    Entry::new("claude-haiku-4-5", Price::new(1.0, 5.0, 1.25, 0.10)).window(200 * K),
    Entry::new("claude-3-5-haiku", Price::new(0.80, 4.0, 1.0, 0.08)).window(200 * K),
    Entry::new("claude-3-haiku", Price::new(0.25, 1.25, 0.30, 0.03)).window(200 * K),
    Entry::new("gpt-4o", Price::new(2.50, 10.0, 0.0, 1.25)).window(128 * K),
    Entry::new("gpt-4o-mini", Price::new(0.15, 0.60, 0.0, 0.075)).window(128 * K),
    Entry::new("gpt-4.1", Price::new(2.0, 8.0, 0.0, 0.50)).window(1_047_576),
    Entry::new("gpt-4.1-mini", Price::new(0.40, 1.60, 0.0, 0.10)).window(1_047_576),
    Entry::new("gpt-4.1-nano", Price::new(0.10, 0.40, 0.0, 0.025)).window(1_047_576),
    Entry::new("gpt-5", Price::new(1.25, 10.0, 0.0, 0.125)).window(400 * K),
    Entry::new("gpt-5-mini", Price::new(0.25, 2.0, 0.0, 0.025)).window(400 * K),
    Entry::new("gpt-5-nano", Price::new(0.05, 0.40, 0.0, 0.005)).window(400 * K),
    Entry::new("gpt-5.1", Price::new(1.25, 10.0, 0.0, 0.125)).window(400 * K),
    Entry::new("gpt-5.2", Price::new(1.75, 14.0, 0.0, 0.175)).window(400 * K),
    // GPT-5.4 with a prompt over 272K tokens: input at 2x, output at 1.5x.
    Entry::new("gpt-5.4", Price::new(2.50, 15.0, 0.0, 0.25))
        .above(272_000, Price::new(5.0, 22.50, 0.0, 0.50))
        .window(1_050_000),
    Entry::new("gpt-5.4-mini", Price::new(0.75, 4.50, 0.0, 0.075)).window(400 * K),
    Entry::new("gpt-5.4-nano", Price::new(0.20, 1.25, 0.0, 0.02)),
    Entry::new("gpt-5.5", Price::new(5.0, 30.0, 0.0, 0.50))
        .window(M)
        .default_for(ProviderKind::Openai),
    Entry::new("o1", Price::new(15.0, 60.0, 0.0, 7.50)).window(200 * K),
    Entry::new("o1-mini", Price::new(1.10, 4.40, 0.0, 0.55)).window(128 * K),
    Entry::new("o3", Price::new(2.0, 8.0, 0.0, 0.50)).window(200 * K),
    Entry::new("o3-mini", Price::new(1.10, 4.40, 0.0, 0.55)).window(200 * K),
    Entry::new("o4-mini", Price::new(1.10, 4.40, 0.0, 0.275)).window(200 * K),
];

/// Tokens, for the windows above.
const K: u64 = 1_000;
const M: u64 = 1_000_000;

/// A model of the built-in table.
struct Entry {
    prefix: &'static str,
    price: Price,
    /// (prompt tokens, price): a request whose prompt (input, cache reads and cache writes)
    /// is longer pays this price for all its tokens.
    long: Option<(u64, Price)>,
    /// The context window in tokens, where the vendor's page was read.
    window: Option<u64>,
    /// The provider whose default model this is (for the planner and the executor both).
    default_for: Option<ProviderKind>,
}

impl Entry {
    const fn new(prefix: &'static str, price: Price) -> Entry {
        Entry {
            prefix,
            price,
            long: None,
            window: None,
            default_for: None,
        }
    }

    const fn above(mut self, prompt_tokens: u64, price: Price) -> Entry {
        self.long = Some((prompt_tokens, price));
        self
    }

    const fn window(mut self, tokens: u64) -> Entry {
        self.window = Some(tokens);
        self
    }

    const fn default_for(mut self, provider: ProviderKind) -> Entry {
        self.default_for = Some(provider);
        self
    }

    fn known(&self) -> KnownModel {
        KnownModel {
            name: self.prefix,
            provider: vendor_of(self.prefix),
            price: self.price,
            long_context: self.long.map(|(above_tokens, price)| LongContext {
                above_tokens,
                price,
            }),
            context_window: self.window,
            default: self.default_for.is_some(),
        }
    }
}

/// A model of the built-in table, as `git agent models` lists it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct KnownModel {
    /// The name, which also covers the names that start with it and a `-`, `@` or `:`
    /// (`claude-sonnet-4` covers `claude-sonnet-4-20250514`).
    pub name: &'static str,
    /// The provider that speaks to the vendor's own API.
    pub provider: ProviderKind,
    /// USD per million tokens.
    pub price: Price,
    pub long_context: Option<LongContext>,
    /// Tokens; `None` where no vendor page was read for it.
    pub context_window: Option<u64>,
    /// Its provider's model when none is configured.
    pub default: bool,
}

/// The price every token of a request pays once its prompt is longer than `above_tokens`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LongContext {
    pub above_tokens: u64,
    pub price: Price,
}

/// Every model of the built-in table, in its order.
pub fn known_models() -> Vec<KnownModel> {
    BUILTIN.iter().map(Entry::known).collect()
}

/// The table's model for `name` (the longest prefix that covers it, a router prefix such as
/// `openai/` ignored), if any.
pub fn known_model(name: &str) -> Option<KnownModel> {
    builtin_entry(name).map(Entry::known)
}

/// The model `provider` uses when none is configured; the replay provider plays recordings of
/// the default provider's.
pub fn default_model(provider: ProviderKind) -> &'static str {
    let provider = match provider {
        ProviderKind::Replay => ProviderKind::Anthropic,
        other => other,
    };
    BUILTIN
        .iter()
        .find(|e| e.default_for == Some(provider))
        .map_or("", |e| e.prefix)
}

/// Claude models are Anthropic's; the rest of the table is OpenAI's.
fn vendor_of(name: &str) -> ProviderKind {
    if name.starts_with("claude-") {
        ProviderKind::Anthropic
    } else {
        ProviderKind::Openai
    }
}

fn builtin_entry(model: &str) -> Option<&'static Entry> {
    let bare = model.rsplit_once('/').map_or(model, |(_, m)| m);
    let bare = vendor_spelling(bare);
    longest_prefix(BUILTIN.iter().map(|e| (e.prefix, e)), &bare).map(|(_, e)| e)
}

/// The built-in table with the configuration's overrides on top.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PriceTable {
    overrides: HashMap<String, Price>,
}

/// What a call cost; `known == false` means the model had no price and `usd` is 0.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Cost {
    pub usd: f64,
    pub known: bool,
}

impl PriceTable {
    pub fn new(overrides: HashMap<String, Price>) -> Self {
        PriceTable { overrides }
    }

    /// The price of `model` for a request of ordinary length: an override by exact name or
    /// longest prefix, else the built-in table. A router prefix such as `anthropic/` or
    /// `openai/` is ignored.
    pub fn price(&self, model: &str) -> Option<Price> {
        self.price_for(model, 0)
    }

    /// The price of one request of `model` whose prompt is `prompt_tokens` long.
    fn price_for(&self, model: &str, prompt_tokens: u64) -> Option<Price> {
        let bare = model.rsplit_once('/').map_or(model, |(_, m)| m);
        for name in [model, bare] {
            if let Some((_, price)) =
                longest_prefix(self.overrides.iter().map(|(k, v)| (k.as_str(), v)), name)
            {
                return Some(*price);
            }
        }
        let entry = builtin_entry(model)?;
        Some(match entry.long {
            Some((threshold, long)) if prompt_tokens > threshold => long,
            _ => entry.price,
        })
    }

    /// What one request cost.
    pub fn cost(&self, model: &str, usage: &Usage) -> Cost {
        let prompt = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens;
        match self.price_for(model, prompt) {
            Some(price) => Cost {
                usd: price.cost(usage),
                known: true,
            },
            None => Cost {
                usd: 0.0,
                known: false,
            },
        }
    }
}

/// A model name as its vendor spells it: routers such as OpenRouter write Claude versions with
/// dots (`claude-sonnet-4.5`), Anthropic with dashes (`claude-sonnet-4-5`).
fn vendor_spelling(bare: &str) -> std::borrow::Cow<'_, str> {
    if bare.starts_with("claude-") && bare.contains('.') {
        std::borrow::Cow::Owned(bare.replace('.', "-"))
    } else {
        std::borrow::Cow::Borrowed(bare)
    }
}

/// The entry whose prefix is the longest one `model` starts with, the prefix ending where a
/// name part ends (`claude-sonnet-4` matches `claude-sonnet-4-5`, not `claude-sonnet-40`).
pub(super) fn longest_prefix<'a, T>(
    entries: impl Iterator<Item = (&'a str, T)>,
    model: &str,
) -> Option<(&'a str, T)> {
    entries
        .filter(|(prefix, _)| {
            model.starts_with(prefix)
                && matches!(
                    model.as_bytes().get(prefix.len()),
                    None | Some(b'-' | b'@' | b':')
                )
        })
        .max_by_key(|(prefix, _)| prefix.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn finds_families_by_longest_prefix() {
        let table = PriceTable::default();
        let names = [
            "claude-sonnet-4-5-20250929",
            "claude-opus-4-1-20250805",
            "claude-opus-4-5",
            "claude-haiku-4-5",
            "claude-3-5-haiku-20241022",
            "anthropic/claude-sonnet-4",
            "gpt-4o-2024-08-06",
            "gpt-4o-mini",
            "gpt-4.1-mini-2025-04-14",
            "openai/o4-mini",
            "o3",
            "o3-mini",
            "o30",
            "llama3.1:8b",
            "claude-opus-4-6",
            "claude-opus-5-5",
            "claude-sonnet-5-5",
            "claude-haiku-5-5",
            "gpt-5.4-mini",
            "gpt-5.4",
            "gpt-5.3",
            "anthropic/claude-sonnet-4.5",
            "anthropic/claude-opus-4.1",
        ];
        let got: Vec<(&str, Option<f64>)> = names
            .iter()
            .map(|n| (*n, table.price(n).map(|p| p.input)))
            .collect();
        assert_eq!(
            got,
            vec![
                ("claude-sonnet-4-5-20250929", Some(3.0)),
                ("claude-opus-4-1-20250805", Some(15.0)),
                ("claude-opus-4-5", Some(5.0)),
                ("claude-haiku-4-5", Some(1.0)),
                ("claude-3-5-haiku-20241022", Some(0.80)),
                ("anthropic/claude-sonnet-4", Some(3.0)),
                ("gpt-4o-2024-08-06", Some(2.50)),
                ("gpt-4o-mini", Some(0.15)),
                ("gpt-4.1-mini-2025-04-14", Some(0.40)),
                ("openai/o4-mini", Some(1.10)),
                ("o3", Some(2.0)),
                ("o3-mini", Some(1.10)),
                ("o30", None),
                ("llama3.1:8b", None),
                ("claude-opus-4-6", Some(5.0)),
                ("claude-opus-5-5", Some(4.0)),
                ("claude-sonnet-5-5", Some(2.0)),
                ("claude-haiku-5-5", Some(0.10)),
                ("gpt-5.4-mini", Some(0.75)),
                ("gpt-5.4", Some(2.50)),
                ("gpt-5.3", None),
                ("anthropic/claude-sonnet-4.5", Some(3.0)),
                ("anthropic/claude-opus-4.1", Some(15.0)),
            ]
        );
    }

    #[test]
    fn a_long_prompt_pays_the_long_context_price_where_there_is_one() {
        let table = PriceTable::default();
        let prompt = |input: u64, cache_read: u64| Usage {
            input_tokens: input,
            output_tokens: 1_000,
            cache_read_tokens: cache_read,
            cache_write_tokens: 0,
            reasoning_tokens: 0,
        };
        let usd = |model: &str, usage: Usage| (table.cost(model, &usage).usd * 1e6).round() / 1e6;
        assert_eq!(
            [
                usd("claude-sonnet-4-5", prompt(150_000, 50_000)),
                usd("claude-sonnet-4-5", prompt(150_000, 50_001)),
                usd("claude-sonnet-4-6", prompt(150_000, 50_001)),
                usd("claude-haiku-5-5", prompt(100_001, 0)),
            ],
            [
                // 0.45 + 0.015 + 0.015
                0.48,     // 0.9 + 0.0300006 + 0.0225
                0.952501, // 0.45 + 0.0150003 + 0.015
                0.48,     // 0.0500005 + 0.0025
                0.052501,
            ]
        );
    }

    #[test]
    fn costs_every_kind_of_token() {
        let usage = Usage {
            input_tokens: 1_000_000,
            output_tokens: 100_000,
            cache_read_tokens: 2_000_000,
            cache_write_tokens: 400_000,
            reasoning_tokens: 0,
        };
        // A model without a long-context price: 3.4M prompt tokens at the list price.
        let cost = PriceTable::default().cost("claude-sonnet-4-6", &usage);
        // 3.00 + 1.50 + 0.60 + 1.50
        assert_eq!(cost.known, true);
        assert!((cost.usd - 6.60).abs() < 1e-9, "{}", cost.usd);
    }

    #[test]
    fn unknown_models_cost_nothing_and_say_so_until_configured() {
        let usage = Usage {
            input_tokens: 1_000_000,
            ..Usage::default()
        };
        let plain = PriceTable::default();
        let configured = PriceTable::new(HashMap::from([
            ("llama3.1".to_string(), Price::new(0.5, 0.0, 0.0, 0.0)),
            ("gpt-4o".to_string(), Price::new(9.0, 0.0, 0.0, 0.0)),
        ]));
        assert_eq!(
            [
                plain.cost("llama3.1:8b", &usage),
                configured.cost("llama3.1:8b", &usage),
                configured.cost("gpt-4o-2024-08-06", &usage),
            ],
            [
                Cost {
                    usd: 0.0,
                    known: false
                },
                Cost {
                    usd: 0.5,
                    known: true
                },
                Cost {
                    usd: 9.0,
                    known: true
                },
            ]
        );
    }

    #[test]
    fn each_network_provider_has_one_default_model_in_the_table() {
        let defaults: Vec<(ProviderKind, &str)> = known_models()
            .into_iter()
            .filter(|m| m.default)
            .map(|m| (m.provider, m.name))
            .collect();
        assert_eq!(
            (
                defaults,
                default_model(ProviderKind::Anthropic),
                default_model(ProviderKind::Openai),
                default_model(ProviderKind::Replay),
            ),
            (
                vec![
                    (ProviderKind::Anthropic, "claude-opus-5-5"),
                    (ProviderKind::Openai, "gpt-5.5"),
                ],
                "claude-opus-5-5",
                "gpt-5.5",
                "claude-opus-5-5",
            )
        );
    }

    #[test]
    fn a_name_finds_its_entry_as_the_price_does() {
        let name = |model: &str| known_model(model).map(|m| (m.name, m.context_window));
        assert_eq!(
            [
                name("claude-sonnet-4-5-20250929"),
                name("anthropic/claude-opus-4.6"),
                name("openai/gpt-5.4-mini"),
                name("llama3.1:8b"),
            ],
            [
                Some(("claude-sonnet-4", Some(200_000))),
                Some(("claude-opus-4-6", Some(1_000_000))),
                Some(("gpt-5.4-mini", Some(400_000))),
                None,
            ]
        );
    }
}
