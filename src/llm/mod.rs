//! Model providers: a provider-neutral conversation model, Anthropic, OpenAI-compatible and
//! replay providers, SSE parsing and one retry policy.
//!
//! [`Provider::complete`] sends one request, streams progress to a callback, retries what
//! the retry policy allows (a broken stream is retried as a whole, so a half-received tool
//! call is never returned), prices the call, and records it if asked.

mod anthropic;
mod config;
mod error;
mod http;
mod openai;
mod price;
mod provider;
mod replay;
mod retry;
pub mod sse;
mod types;
mod window;

pub use config::{ApiKey, ProviderConfig, ProviderKind, env_names};
pub use error::LlmError;
pub use price::{
    Cost, KnownModel, LongContext, Price, PriceTable, default_model, known_model, known_models,
};
pub use replay::{Recorded, note as request_note, parse as parse_recording};
pub use retry::{RetryPolicy, UNREACHABLE_WAIT, parse_http_date, parse_retry_after};
pub use types::{
    ContentBlock, Message, Request, Response, Role, StopReason, StreamEvent, Thinking, ToolSpec,
    Usage, bytes_for_tokens, estimate_tokens,
};
pub use window::{UNKNOWN_WINDOW, context_window, known_window};

/// Request bodies as the wire sees them, for tests and debugging.
pub mod wire {
    pub use super::anthropic::request_body as anthropic_body;
    pub use super::openai::request_body as openai_body;
}

use std::sync::Arc;

/// A model provider. Cheap to clone; clones share the replay position and the recording.
#[derive(Clone)]
pub struct Provider {
    inner: Arc<Inner>,
}

struct Inner {
    backend: Backend,
    retry: RetryPolicy,
    prices: PriceTable,
    recorder: Option<replay::Recorder>,
}

enum Backend {
    Anthropic(anthropic::Anthropic),
    OpenAi(openai::OpenAi),
    Replay(replay::Replay),
}

impl std::fmt::Debug for Provider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Provider")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl Provider {
    /// Checks the configuration (a missing key, an unreadable recording) and builds the
    /// provider. No request is sent.
    pub fn new(config: ProviderConfig) -> Result<Provider, LlmError> {
        let backend = match config.kind {
            ProviderKind::Anthropic => Backend::Anthropic(anthropic::Anthropic::new(&config)?),
            ProviderKind::Openai => Backend::OpenAi(openai::OpenAi::new(&config)?),
            ProviderKind::Replay => {
                let file = config
                    .replay_file
                    .as_deref()
                    .ok_or_else(|| LlmError::Config {
                        provider: "replay",
                        message: "no recording given (--replay-file)".to_string(),
                    })?;
                Backend::Replay(replay::Replay::open(file)?)
            }
        };
        let recorder = config
            .record_file
            .as_deref()
            .map(replay::Recorder::create)
            .transpose()?;
        Ok(Provider {
            inner: Arc::new(Inner {
                backend,
                retry: config.retry,
                prices: PriceTable::new(config.prices),
                recorder,
            }),
        })
    }

    pub fn name(&self) -> &str {
        match self.inner.backend {
            Backend::Anthropic(_) => "anthropic",
            Backend::OpenAi(_) => "openai",
            Backend::Replay(_) => "replay",
        }
    }

    /// Sends `request` and returns the whole response, calling `on_event` as it streams.
    /// After a `StreamEvent::Retrying` the call starts over.
    pub async fn complete(
        &self,
        request: &Request,
        on_event: &mut (dyn FnMut(StreamEvent) + Send),
    ) -> Result<Response, LlmError> {
        let inner = &*self.inner;
        let mut rng = fastrand::Rng::new();
        let mut retries = retry::Retries::new(&inner.retry);
        let mut attempt = 1;
        let mut response = loop {
            let result = match &inner.backend {
                Backend::Anthropic(p) => p.attempt(request, on_event).await,
                Backend::OpenAi(p) => p.attempt(request, on_event).await,
                Backend::Replay(p) => p.attempt(on_event),
            };
            let error = match result {
                Ok(response) => break response,
                Err(error) => error,
            };
            let now = std::time::Instant::now();
            let retry::Decision::Retry { wait, unreachable } = retries.after(&error, now, &mut rng)
            else {
                return Err(retries.give_up(error, now));
            };
            attempt += 1;
            tracing::warn!(provider = self.name(), attempt, ?wait, %error, "retrying model call");
            on_event(StreamEvent::Retrying {
                attempt,
                wait,
                reason: error.to_string(),
                unreachable,
            });
            tokio::time::sleep(wait).await;
        };
        // A recording may hold a call whose input is not an object; the loop must be told.
        for block in &mut response.content {
            if let ContentBlock::ToolUse {
                id, name, input, ..
            } = block
                && !input.is_object()
            {
                let (id, name, input) = (id.clone(), name.clone(), input.take());
                *block = ContentBlock::tool_use(id, name, input);
            }
        }
        let mut cost = inner.prices.cost(&response.model, &response.usage);
        if !cost.known {
            cost = inner.prices.cost(&request.model, &response.usage);
        }
        response.cost_usd = cost.usd;
        response.price_known = cost.known;
        if let Some(recorder) = &inner.recorder {
            recorder.record(request, &response)?;
        }
        Ok(response)
    }

    /// What a call with `usage` on `model` costs under this provider's prices.
    pub fn cost(&self, model: &str, usage: &Usage) -> Cost {
        self.inner.prices.cost(model, usage)
    }
}
