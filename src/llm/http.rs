//! The HTTP side shared by the network providers: one POST that returns an SSE stream or an
//! error that says what the server said and whether to retry.

use super::config::ProviderConfig;
use super::error::LlmError;
use super::retry::parse_retry_after;
use super::sse::{SseEvent, SseStream};
// reqwest's errors name the URL, never headers: their chain can be shown.
use crate::text::error_chain;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use std::time::{Duration, SystemTime};

/// Bodies of error responses are cut to this many bytes of message.
const MAX_ERROR_MESSAGE: usize = 2000;

/// How a provider rewrites a whole JSON answer to a streaming request as the events it would
/// have streamed. Servers and proxies that ignore `"stream": true` answer that way; the answer
/// is whole and paid for, so it is read, never retried as a cut stream.
pub(crate) type WholeAnswer = fn(serde_json::Value) -> Vec<SseEvent>;

pub(crate) struct Http {
    client: reqwest::Client,
    pub provider: &'static str,
    pub key_env: &'static str,
    pub base_env: &'static str,
    request_timeout: Duration,
    idle_timeout: Duration,
    /// Redacted from error bodies, in case a server echoes it.
    key: Option<String>,
}

impl Http {
    pub fn new(
        provider: &'static str,
        key_env: &'static str,
        base_env: &'static str,
        config: &ProviderConfig,
    ) -> Result<Http, LlmError> {
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .user_agent(concat!("git-agent/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| LlmError::Config {
                provider,
                message: error_chain(&e),
            })?;
        Ok(Http {
            client,
            provider,
            key_env,
            base_env,
            request_timeout: config.request_timeout,
            idle_timeout: config.idle_timeout,
            key: config
                .api_key
                .as_ref()
                .map(|k| k.expose_secret().to_string()),
        })
    }

    /// A header that carries a secret: marked sensitive so no `Debug` of it shows the value.
    pub fn secret_header(&self, value: &str) -> Result<HeaderValue, LlmError> {
        let mut value = HeaderValue::from_str(value).map_err(|_| LlmError::Config {
            provider: self.provider,
            message: format!(
                "the key in {} has characters a header cannot hold",
                self.key_env
            ),
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// POSTs `body` and returns the response's event stream; a JSON body instead of a stream is
    /// turned into the same events by `whole`.
    pub async fn post_sse(
        &self,
        url: &str,
        headers: HeaderMap,
        body: Vec<u8>,
        whole: WholeAnswer,
    ) -> Result<SseStream, LlmError> {
        tracing::debug!(
            provider = self.provider,
            url,
            bytes = body.len(),
            "model request"
        );
        let send = self
            .client
            .post(url)
            .headers(headers)
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .body(body)
            .send();
        let response = match tokio::time::timeout(self.request_timeout, send).await {
            Err(_) => {
                return Err(LlmError::Timeout {
                    provider: self.provider,
                    what: "request",
                    after: self.request_timeout,
                });
            }
            Ok(Err(e)) => return Err(self.transport_error(url, e)),
            Ok(Ok(response)) => response,
        };
        let status = response.status();
        tracing::debug!(
            provider = self.provider,
            status = status.as_u16(),
            "model response"
        );
        if !status.is_success() {
            return Err(self.status_error(response).await);
        }
        if is_json(response.headers()) {
            return self.whole_answer(response, whole).await;
        }
        Ok(SseStream::spawn(
            self.provider,
            response.bytes_stream(),
            self.idle_timeout,
        ))
    }

    async fn whole_answer(
        &self,
        response: reqwest::Response,
        whole: WholeAnswer,
    ) -> Result<SseStream, LlmError> {
        let text = match tokio::time::timeout(self.idle_timeout, response.text()).await {
            Err(_) => {
                return Err(LlmError::Timeout {
                    provider: self.provider,
                    what: "stream",
                    after: self.idle_timeout,
                });
            }
            Ok(Err(e)) => {
                return Err(LlmError::StreamCut {
                    provider: self.provider,
                    message: self.redact(error_chain(&e.without_url())),
                });
            }
            Ok(Ok(text)) => text,
        };
        let value = serde_json::from_str(&text).map_err(|e| LlmError::Malformed {
            provider: self.provider,
            message: format!("a JSON answer to a streaming request is not JSON: {e}"),
        })?;
        tracing::debug!(
            provider = self.provider,
            "a whole JSON answer to a streaming request"
        );
        Ok(SseStream::from_events(whole(value)))
    }

    fn transport_error(&self, url: &str, e: reqwest::Error) -> LlmError {
        // A connection that did not come up in time is a server that answered nothing.
        if e.is_timeout() && !e.is_connect() {
            return LlmError::Timeout {
                provider: self.provider,
                what: "request",
                after: self.request_timeout,
            };
        }
        LlmError::Connect {
            provider: self.provider,
            endpoint: url.to_string(),
            message: self.redact(error_chain(&e.without_url())),
        }
    }

    async fn status_error(&self, response: reqwest::Response) -> LlmError {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let retry_after = parse_retry_after(&headers, SystemTime::now());
        let should_retry = match header_str(&headers, "x-should-retry") {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        };
        let text = match tokio::time::timeout(self.request_timeout, response.text()).await {
            Ok(Ok(text)) => text,
            _ => String::new(),
        };
        let (kind, message) = parse_error_body(&text);
        let message = if message.is_empty() {
            reqwest::StatusCode::from_u16(status)
                .ok()
                .and_then(|s| s.canonical_reason())
                .unwrap_or("no message")
                .to_string()
        } else {
            message
        };
        LlmError::Http {
            provider: self.provider,
            status,
            kind,
            message: self.redact(message),
            retry_after,
            should_retry,
            key_env: self.key_env,
            base_env: self.base_env,
        }
    }

    /// The text with the key masked, if a server echoed it, and anything shaped like a key.
    /// A value too short to be a key is left alone: masking `k` would garble every word
    /// with a `k` in it.
    pub fn redact(&self, text: String) -> String {
        let keys: Vec<&str> = self.key.as_deref().into_iter().collect();
        crate::policy::redact(&text, &keys)
    }
}

/// A JSON body (`application/json`, `application/problem+json`, …) rather than an event
/// stream. A response without a content type is read as a stream, as before.
fn is_json(headers: &HeaderMap) -> bool {
    header_str(headers, "content-type").is_some_and(|t| {
        let t = t.to_ascii_lowercase();
        !t.contains("event-stream") && t.contains("json")
    })
}

fn header_str<'a>(headers: &'a HeaderMap, name: &'static str) -> Option<&'a str> {
    headers
        .get(HeaderName::from_static(name))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The (type or code, message) of an error body in any of the shapes servers use:
/// Anthropic `{"type":"error","error":{"type","message"}}`, OpenAI and OpenRouter
/// `{"error":{"message","type","code"}}`, Ollama `{"error":"..."}`, or plain text.
pub(crate) fn parse_error_body(text: &str) -> (Option<String>, String) {
    let Ok(value) = serde_json::from_str::<serde_json::Value>(text) else {
        return (None, truncate(text.trim()));
    };
    error_fields(&value).unwrap_or_else(|| (None, truncate(text.trim())))
}

/// The (type or code, message) of a JSON error object, if it is one.
pub(crate) fn error_fields(value: &serde_json::Value) -> Option<(Option<String>, String)> {
    let error = value.get("error")?;
    if let Some(message) = error.as_str() {
        return Some((None, truncate(message)));
    }
    // OpenRouter puts the HTTP status in `code` as a number.
    let text = |k: &str| match error.get(k) {
        Some(serde_json::Value::String(s)) => Some(s.clone()),
        Some(serde_json::Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    let kind = text("code").or_else(|| text("type"));
    let message = text("message").unwrap_or_else(|| error.to_string());
    Some((kind, truncate(&message)))
}

fn truncate(text: &str) -> String {
    if text.len() <= MAX_ERROR_MESSAGE {
        return text.to_string();
    }
    let mut end = MAX_ERROR_MESSAGE;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn reads_every_error_body_shape() {
        let bodies = [
            r#"{"type":"error","error":{"type":"invalid_request_error","message":"max_tokens: too big"}}"#,
            r#"{"error":{"message":"You exceeded your current quota","type":"insufficient_quota","param":null,"code":"insufficient_quota"}}"#,
            r#"{"error":{"code":429,"message":"Rate limited upstream"}}"#,
            r#"{"error":"model \"llama9\" not found, try pulling it first"}"#,
            "<html>Bad Gateway</html>",
            "",
        ];
        let got: Vec<(Option<String>, String)> =
            bodies.iter().map(|b| parse_error_body(b)).collect();
        assert_eq!(
            got,
            vec![
                (
                    Some("invalid_request_error".to_string()),
                    "max_tokens: too big".to_string()
                ),
                (
                    Some("insufficient_quota".to_string()),
                    "You exceeded your current quota".to_string()
                ),
                (Some("429".to_string()), "Rate limited upstream".to_string()),
                (
                    None,
                    "model \"llama9\" not found, try pulling it first".to_string()
                ),
                (None, "<html>Bad Gateway</html>".to_string()),
                (None, String::new()),
            ]
        );
    }
}
