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

/// List prices of mid-2025, by model-name prefix; the longest matching prefix wins, so
/// `claude-sonnet-4-5-20250929` finds `claude-sonnet-4-5`. Anthropic cache writes are the
/// 5-minute ones (1.25x input); OpenAI caches automatically and charges no write.
const BUILTIN: &[(&str, Price)] = &[
    ("claude-opus-4-5", Price::new(5.0, 25.0, 6.25, 0.50)),
    ("claude-opus-4", Price::new(15.0, 75.0, 18.75, 1.50)),
    ("claude-3-opus", Price::new(15.0, 75.0, 18.75, 1.50)),
    ("claude-sonnet-4", Price::new(3.0, 15.0, 3.75, 0.30)),
    ("claude-3-7-sonnet", Price::new(3.0, 15.0, 3.75, 0.30)),
    ("claude-3-5-sonnet", Price::new(3.0, 15.0, 3.75, 0.30)),
    ("claude-haiku-4-5", Price::new(1.0, 5.0, 1.25, 0.10)),
    ("claude-3-5-haiku", Price::new(0.80, 4.0, 1.0, 0.08)),
    ("claude-3-haiku", Price::new(0.25, 1.25, 0.30, 0.03)),
    ("gpt-4o", Price::new(2.50, 10.0, 0.0, 1.25)),
    ("gpt-4o-mini", Price::new(0.15, 0.60, 0.0, 0.075)),
    ("gpt-4.1", Price::new(2.0, 8.0, 0.0, 0.50)),
    ("gpt-4.1-mini", Price::new(0.40, 1.60, 0.0, 0.10)),
    ("gpt-4.1-nano", Price::new(0.10, 0.40, 0.0, 0.025)),
    ("gpt-5", Price::new(1.25, 10.0, 0.0, 0.125)),
    ("gpt-5-mini", Price::new(0.25, 2.0, 0.0, 0.025)),
    ("gpt-5-nano", Price::new(0.05, 0.40, 0.0, 0.005)),
    ("o1", Price::new(15.0, 60.0, 0.0, 7.50)),
    ("o1-mini", Price::new(1.10, 4.40, 0.0, 0.55)),
    ("o3", Price::new(2.0, 8.0, 0.0, 0.50)),
    ("o3-mini", Price::new(1.10, 4.40, 0.0, 0.55)),
    ("o4-mini", Price::new(1.10, 4.40, 0.0, 0.275)),
];

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

    /// The price of `model`: an override by exact name or longest prefix, else the built-in
    /// table. A router prefix such as `anthropic/` or `openai/` is ignored.
    pub fn price(&self, model: &str) -> Option<Price> {
        let bare = model.rsplit_once('/').map_or(model, |(_, m)| m);
        for name in [model, bare] {
            if let Some(price) =
                longest_prefix(self.overrides.iter().map(|(k, v)| (k.as_str(), *v)), name)
            {
                return Some(price);
            }
        }
        longest_prefix(BUILTIN.iter().map(|(k, v)| (*k, *v)), bare)
    }

    pub fn cost(&self, model: &str, usage: &Usage) -> Cost {
        match self.price(model) {
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

fn longest_prefix<'a>(
    entries: impl Iterator<Item = (&'a str, Price)>,
    model: &str,
) -> Option<Price> {
    entries
        .filter(|(prefix, _)| {
            model.starts_with(prefix)
                && matches!(
                    model.as_bytes().get(prefix.len()),
                    None | Some(b'-' | b'@' | b':')
                )
        })
        .max_by_key(|(prefix, _)| prefix.len())
        .map(|(_, price)| price)
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
        let cost = PriceTable::default().cost("claude-sonnet-4-5", &usage);
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
