//! `git agent models`: the models git-agent knows (its one table, `llm::known_models`), with
//! their prices and context windows, which each provider uses by default, and what the
//! configuration here uses — a model outside the table included, said to have no price.

use super::Context;
use crate::error::Exit;
use crate::llm::{KnownModel, Price, known_model, known_models};

/// The roles a configuration gives models, in the order they are shown.
const ROLES: [&str; 2] = ["planner", "executor"];

pub fn cmd_models(ctx: &Context) -> anyhow::Result<Exit> {
    let config = super::misc::config_here(ctx)?;
    let configured = [config.planner_model.as_str(), config.model.as_str()];
    // The table's entry each configured model is priced as.
    let entries = configured.map(|m| known_model(m).map(|k| k.name));
    let roles_of = |name: &str| -> Vec<&'static str> {
        ROLES
            .iter()
            .zip(&entries)
            .filter(|(_, entry)| **entry == Some(name))
            .map(|(role, _)| *role)
            .collect()
    };
    let unknown: Vec<(&'static str, &str)> = ROLES
        .iter()
        .zip(configured)
        .zip(&entries)
        .filter(|(_, entry)| entry.is_none())
        .map(|((role, model), _)| (*role, model))
        .collect();
    let provider = config.provider.name();
    if ctx.global.json {
        for model in known_models() {
            ctx.json(&serde_json::json!({"type": "model", "known": true, "name": model.name,
                "provider": model.provider.name(), "price": model.price, "long_context": model.long_context,
                "context_window": model.context_window, "default": model.default,
                "configured_as": roles_of(model.name)}));
        }
        for (name, roles) in group(&unknown) {
            ctx.json(
                &serde_json::json!({"type": "model", "known": false, "name": name,
                "provider": provider, "price": null, "long_context": null, "context_window": null,
                "default": false, "configured_as": roles}),
            );
        }
        return Ok(Exit::Done);
    }
    let rows: Vec<[String; 8]> = known_models()
        .into_iter()
        .map(|model| row(&model, &roles_of(model.name)))
        .collect();
    let header = [
        "model",
        "provider",
        "input",
        "output",
        "cache write",
        "cache read",
        "context",
        "use",
    ]
    .map(String::from);
    let widths: Vec<usize> = (0..header.len())
        .map(|i| {
            std::iter::once(&header)
                .chain(&rows)
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for cells in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = cells
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, &width))| match i {
                // Names on the left, figures on the right.
                0 | 1 | 6 | 7 => format!("{cell:<width$}"),
                _ => format!("{cell:>width$}"),
            })
            .collect();
        ctx.out(line.join("  ").trim_end());
    }
    ctx.out("");
    ctx.out(
        "USD per million tokens. A name covers the names that start with it (claude-sonnet-4 \
         covers claude-sonnet-4-20250514); a router's prefix (openai/, anthropic/) is ignored.",
    );
    for model in known_models() {
        if let Some(long) = model.long_context {
            ctx.out(format!(
                "{}: a prompt over {} tokens pays {} for every token.",
                model.name,
                tokens(long.above_tokens),
                prices(&long.price).join(" / ")
            ));
        }
    }
    let shown = |model: &str, entry: Option<&str>| match entry {
        Some(entry) if entry != model => format!("{model} (priced as {entry})"),
        _ => model.to_string(),
    };
    ctx.out(format!(
        "Configured here: provider {provider}, planner {}, executor {}.",
        shown(configured[0], entries[0]),
        shown(configured[1], entries[1])
    ));
    for (name, roles) in group(&unknown) {
        ctx.out(format!(
            "{name} ({}) has no known price: its calls are recorded at $0 (unless the server's \
             answers name a model that has one, as Azure's do), so max_cost may not stop a run; \
             max_turns and max_tokens still do.",
            roles.join(", ")
        ));
    }
    Ok(Exit::Done)
}

/// One line of the table.
fn row(model: &KnownModel, roles: &[&str]) -> [String; 8] {
    let [input, output, cache_write, cache_read] = prices(&model.price);
    let mut uses: Vec<&str> = Vec::new();
    if model.default {
        uses.push("default");
    }
    uses.extend(roles);
    [
        model.name.to_string(),
        model.provider.name().to_string(),
        input,
        output,
        cache_write,
        cache_read,
        model.context_window.map_or_else(|| "?".to_string(), tokens),
        uses.join(", "),
    ]
}

/// Input, output, cache write and cache read prices; a cache write OpenAI does not charge is
/// `-`.
fn prices(price: &Price) -> [String; 4] {
    let write = if price.cache_write == 0.0 {
        "-".to_string()
    } else {
        dollars(price.cache_write)
    };
    [
        dollars(price.input),
        dollars(price.output),
        write,
        dollars(price.cache_read),
    ]
}

/// Two decimals, three where the third is not 0 (0.125, 0.005).
fn dollars(usd: f64) -> String {
    let three = format!("{usd:.3}");
    match three.strip_suffix('0') {
        Some(two) => two.to_string(),
        None => three,
    }
}

/// 1M, 400K, 1.05M.
fn tokens(n: u64) -> String {
    const K: u64 = 1_000;
    const M: u64 = 1_000_000;
    if n.is_multiple_of(M) {
        format!("{}M", n / M)
    } else if n >= M {
        // A token count shown to two decimals: a float is exact enough.
        let millions = n as f64 / M as f64;
        format!("{millions:.2}M")
    } else if n.is_multiple_of(K) {
        format!("{}K", n / K)
    } else {
        n.to_string()
    }
}

/// The roles of each unknown model, a model named once.
fn group<'a>(unknown: &[(&'static str, &'a str)]) -> Vec<(&'a str, Vec<&'static str>)> {
    let mut grouped: Vec<(&str, Vec<&str>)> = Vec::new();
    for &(role, name) in unknown {
        match grouped.iter_mut().find(|(n, _)| *n == name) {
            Some((_, roles)) => roles.push(role),
            None => grouped.push((name, vec![role])),
        }
    }
    grouped
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn figures_read_as_people_write_them() {
        assert_eq!(
            (
                [10.0, 0.5, 0.125, 0.005, 22.5].map(dollars),
                [1_000_000, 400_000, 1_047_576, 1_050_000, 999].map(tokens)
            ),
            (
                ["10.00", "0.50", "0.125", "0.005", "22.50"].map(String::from),
                ["1M", "400K", "1.05M", "1.05M", "999"].map(String::from)
            )
        );
    }
}
