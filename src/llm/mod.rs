//! Model providers: a provider-neutral conversation model, Anthropic, OpenAI-compatible and
//! replay providers, SSE parsing and one retry policy.
