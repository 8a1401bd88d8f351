//! Token prices and the cost of a call.

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

/// List prices by model-name prefix; the longest matching prefix wins, so
/// `claude-sonnet-4-5-20250929` finds `claude-sonnet-4`. Anthropic cache writes are the
/// 5-minute ones (1.25x input, what the breakpoints we send ask for); OpenAI caches
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
/// Not modelled: batch (-50%), 1-hour cache writes (2x input), data-residency and fast-mode
/// multipliers.
const BUILTIN: &[Entry] = &[
    Entry::new("claude-fable-5", Price::new(10.0, 50.0, 12.50, 1.0)),
    Entry::new("claude-fable-5-1", Price::new(10.0, 50.0, 12.50, 0.25)),
    Entry::new("claude-mythos-5", Price::new(10.0, 50.0, 12.50, 1.0)),
    Entry::new("claude-mythos-5-1", Price::new(10.0, 50.0, 12.50, 0.25)),
    Entry::new("claude-opus-5", Price::new(5.0, 25.0, 6.25, 0.50)),
    Entry::new("claude-opus-5-5", Price::new(4.0, 20.0, 5.0, 0.20)),
    Entry::new("claude-opus-4", Price::new(15.0, 75.0, 18.75, 1.50)),
    Entry::new("claude-opus-4-5", Price::new(5.0, 25.0, 6.25, 0.50)),
    Entry::new("claude-opus-4-6", Price::new(5.0, 25.0, 6.25, 0.50)),
    Entry::new("claude-opus-4-7", Price::new(5.0, 25.0, 6.25, 0.50)),
    Entry::new("claude-opus-4-8", Price::new(5.0, 25.0, 6.25, 0.50)),
    Entry::new("claude-3-opus", Price::new(15.0, 75.0, 18.75, 1.50)),
    Entry::new("claude-sonnet-5", Price::new(2.0, 10.0, 2.50, 0.20)),
    Entry::new("claude-sonnet-5-5", Price::new(2.0, 10.0, 2.50, 0.10)),
    // Sonnet 4 and 4.5 with a prompt over 200K tokens (the 1M context window) cost more;
    // Sonnet 4.6 does not.
    Entry::new("claude-sonnet-4", Price::new(3.0, 15.0, 3.75, 0.30))
        .above(200_000, Price::new(6.0, 22.50, 7.50, 0.60)),
    Entry::new("claude-sonnet-4-6", Price::new(3.0, 15.0, 3.75, 0.30)),
    Entry::new("claude-3-7-sonnet", Price::new(3.0, 15.0, 3.75, 0.30)),
    Entry::new("claude-3-5-sonnet", Price::new(3.0, 15.0, 3.75, 0.30)),
    Entry::new("claude-haiku-5-5", Price::new(0.10, 0.50, 0.125, 0.01))
        .above(100_000, Price::new(0.50, 2.50, 0.625, 0.05)),
    Entry::new("claude-haiku-4-5", Price::new(1.0, 5.0, 1.25, 0.10)),
    Entry::new("claude-3-5-haiku", Price::new(0.80, 4.0, 1.0, 0.08)),
    Entry::new("claude-3-haiku", Price::new(0.25, 1.25, 0.30, 0.03)),
    Entry::new("gpt-4o", Price::new(2.50, 10.0, 0.0, 1.25)),
    Entry::new("gpt-4o-mini", Price::new(0.15, 0.60, 0.0, 0.075)),
    Entry::new("gpt-4.1", Price::new(2.0, 8.0, 0.0, 0.50)),
    Entry::new("gpt-4.1-mini", Price::new(0.40, 1.60, 0.0, 0.10)),
    Entry::new("gpt-4.1-nano", Price::new(0.10, 0.40, 0.0, 0.025)),
    Entry::new("gpt-5", Price::new(1.25, 10.0, 0.0, 0.125)),
    Entry::new("gpt-5-mini", Price::new(0.25, 2.0, 0.0, 0.025)),
    Entry::new("gpt-5-nano", Price::new(0.05, 0.40, 0.0, 0.005)),
    Entry::new("gpt-5.1", Price::new(1.25, 10.0, 0.0, 0.125)),
    Entry::new("gpt-5.2", Price::new(1.75, 14.0, 0.0, 0.175)),
    // GPT-5.4 with a prompt over 272K tokens: input at 2x, output at 1.5x.
    Entry::new("gpt-5.4", Price::new(2.50, 15.0, 0.0, 0.25))
        .above(272_000, Price::new(5.0, 22.50, 0.0, 0.50)),
    Entry::new("gpt-5.4-mini", Price::new(0.75, 4.50, 0.0, 0.075)),
    Entry::new("gpt-5.4-nano", Price::new(0.20, 1.25, 0.0, 0.02)),
    Entry::new("gpt-5.5", Price::new(5.0, 30.0, 0.0, 0.50)),
    Entry::new("o1", Price::new(15.0, 60.0, 0.0, 7.50)),
    Entry::new("o1-mini", Price::new(1.10, 4.40, 0.0, 0.55)),
    Entry::new("o3", Price::new(2.0, 8.0, 0.0, 0.50)),
    Entry::new("o3-mini", Price::new(1.10, 4.40, 0.0, 0.55)),
    Entry::new("o4-mini", Price::new(1.10, 4.40, 0.0, 0.275)),
];

/// A built-in price, with the price of a request whose prompt is longer than a threshold.
struct Entry {
    prefix: &'static str,
    price: Price,
    /// (prompt tokens, price): a request whose prompt (input, cache reads and cache writes)
    /// is longer pays this price for all its tokens.
    long: Option<(u64, Price)>,
}

impl Entry {
    const fn new(prefix: &'static str, price: Price) -> Entry {
        Entry {
            prefix,
            price,
            long: None,
        }
    }

    const fn above(mut self, prompt_tokens: u64, price: Price) -> Entry {
        self.long = Some((prompt_tokens, price));
        self
    }
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
        let bare = vendor_spelling(bare);
        let (_, entry) = longest_prefix(BUILTIN.iter().map(|e| (e.prefix, e)), &bare)?;
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

fn longest_prefix<'a, T>(
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
}
