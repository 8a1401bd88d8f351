//! Budgets: model turns, tokens, dollars and wall time, counted across resumes from the
//! records in git plus what this run has spent and not yet recorded.

use std::time::Duration;

use crate::config::Config;
use crate::store::format::record::Usage;

#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    pub turns: Option<u64>,
    pub tokens: Option<u64>,
    pub cost: Option<f64>,
    pub time: Option<Duration>,
}

impl Limits {
    pub fn from_config(config: &Config) -> Limits {
        Limits {
            turns: config.max_turns,
            tokens: config.max_tokens,
            cost: config.max_cost,
            time: config.max_time,
        }
    }

    /// The flag that would let a resume go on after [`Limits::exceeded`]: the spent limit,
    /// doubled (budgets count every run of the task, so the same value stops at once).
    pub fn raised(&self, used: &Usage) -> Option<String> {
        if let Some(max) = self.turns.filter(|max| used.turns >= *max) {
            return Some(format!("--max-turns {}", max.saturating_mul(2).max(1)));
        }
        if let Some(max) = self.tokens.filter(|max| used.total_tokens() >= *max) {
            return Some(format!("--max-tokens {}", max.saturating_mul(2).max(1)));
        }
        if let Some(max) = self.cost.filter(|max| used.cost_usd >= *max) {
            return Some(format!("--max-cost {}", (max * 2.0).max(0.01)));
        }
        let max = self
            .time
            .filter(|max| Duration::from_millis(used.wall_ms) >= *max)?;
        let raised = (max * 2).max(Duration::from_secs(60));
        Some(format!(
            "--max-time {}",
            humantime::format_duration(Duration::from_secs(raised.as_secs()))
        ))
    }

    /// The budgets at least 80 % spent: `(name, used, limit)` as people read them.
    pub fn nearly_spent(&self, used: &Usage) -> Vec<(&'static str, String, String)> {
        const SHARE: f64 = 0.8;
        let near = |used: f64, max: f64| max > 0.0 && used >= max * SHARE;
        let mut out = Vec::new();
        if let Some(max) = self.turns.filter(|m| near(used.turns as f64, *m as f64)) {
            out.push(("turns", used.turns.to_string(), max.to_string()));
        }
        if let Some(max) = self
            .tokens
            .filter(|m| near(used.total_tokens() as f64, *m as f64))
        {
            out.push(("tokens", used.total_tokens().to_string(), max.to_string()));
        }
        if let Some(max) = self.cost.filter(|m| near(used.cost_usd, *m)) {
            out.push((
                "dollars",
                format!("${:.2}", used.cost_usd),
                format!("${max}"),
            ));
        }
        if let Some(max) = self
            .time
            .filter(|m| near(used.wall_ms as f64, m.as_millis() as f64))
        {
            out.push((
                "time",
                humantime::format_duration(Duration::from_secs(used.wall_ms / 1000)).to_string(),
                humantime::format_duration(max).to_string(),
            ));
        }
        out
    }

    /// Why the budget is spent, if it is. `used.wall_ms` counts model and tool time of
    /// earlier runs too, from the records.
    pub fn exceeded(&self, used: &Usage) -> Option<String> {
        if let Some(max) = self.turns.filter(|max| used.turns >= *max) {
            return Some(format!(
                "{} model turns used of --max-turns {max}",
                used.turns
            ));
        }
        if let Some(max) = self.tokens.filter(|max| used.total_tokens() >= *max) {
            return Some(format!(
                "{} tokens used of --max-tokens {max}",
                used.total_tokens()
            ));
        }
        if let Some(max) = self.cost.filter(|max| used.cost_usd >= *max) {
            return Some(format!("${:.4} spent of --max-cost ${max}", used.cost_usd));
        }
        if let Some(max) = self
            .time
            .filter(|max| Duration::from_millis(used.wall_ms) >= *max)
        {
            return Some(format!(
                "{} of work used of --max-time {}",
                humantime::format_duration(Duration::from_secs(used.wall_ms / 1000)),
                humantime::format_duration(max)
            ));
        }
        None
    }
}
