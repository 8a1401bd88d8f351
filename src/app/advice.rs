//! The error-to-advice mapping both front ends (the CLI's report, the MCP server's tool errors)
//! use: the first error in a chain that can say how to fix it gives the hint and the exit
//! code. Kept here, not in `error`, so the library modules that implement [`Advice`] never sit
//! in an import cycle with the code that downcasts to them.

use crate::error::{Advice, Exit, UserError};

/// The hint and exit code of an `anyhow` error: the first error in its chain that gives advice.
pub fn advice_of(err: &anyhow::Error) -> (Option<String>, Exit) {
    for cause in err.chain() {
        if let Some(advice) = as_advice(cause) {
            return (advice.hint(), advice.exit());
        }
    }
    (None, Exit::Error)
}

/// Every error type that gives advice: tests/it/layout.rs checks that each `impl Advice` of
/// `src/` is looked for here, so a new one cannot lose its hint.
fn as_advice<'a>(cause: &'a (dyn std::error::Error + 'static)) -> Option<&'a dyn Advice> {
    if let Some(e) = cause.downcast_ref::<UserError>() {
        return Some(e);
    }
    if let Some(e) = cause.downcast_ref::<crate::store::StoreError>() {
        return Some(e);
    }
    if let Some(e) = cause.downcast_ref::<crate::policy::SandboxError>() {
        return Some(e);
    }
    if let Some(e) = cause.downcast_ref::<crate::llm::LlmError>() {
        return Some(e);
    }
    if let Some(e) = cause.downcast_ref::<crate::config::ConfigError>() {
        return Some(e);
    }
    if let Some(e) = cause.downcast_ref::<crate::agent::LoopError>() {
        return Some(e);
    }
    None
}
