//! Who may read: on 127.0.0.1 or ::1 anyone of this machine (with the Host header checked, so
//! a page of another site cannot reach the server through a DNS name that points here); on
//! any other address only who shows the token, in an `Authorization: Bearer` header, a
//! `?token=` (answered with a cookie and a redirect that drops it from the address) or the
//! cookie. Every answer carries a strict Content-Security-Policy.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

const COOKIE: &str = "git-agent-token";

/// No inline script or style, nothing from elsewhere, no framing, no form posting away.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

#[derive(Debug, Clone)]
pub struct Guard {
    /// Required on every request when set.
    pub token: Option<String>,
    /// The Host headers a tokenless (loopback) server answers.
    pub hosts: Vec<String>,
}

impl Guard {
    pub fn new(token: Option<String>, addr: std::net::SocketAddr) -> Guard {
        let port = addr.port();
        let hosts = vec![
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[::1]:{port}"),
        ];
        Guard { token, hosts }
    }
}

/// Whether an address needs no token: the loopback addresses a person types.
pub fn is_local(ip: std::net::IpAddr) -> bool {
    ip == std::net::Ipv4Addr::LOCALHOST || ip == std::net::Ipv6Addr::LOCALHOST
}

/// A fresh token: 128 bits from the kernel's generator, in hex.
pub fn new_token() -> std::io::Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")?.read_exact(&mut bytes)?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Equal in a time that depends only on the lengths: the token is not guessed byte by byte.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn query_token(query: Option<&str>) -> Option<&str> {
    query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("token="))
}

fn cookie_token(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| c.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

pub async fn check(State(guard): State<Arc<Guard>>, req: Request, next: Next) -> Response {
    let mut response = match &guard.token {
        Some(token) => {
            let token = token.as_bytes();
            let from_query =
                query_token(req.uri().query()).is_some_and(|t| same(t.as_bytes(), token));
            let ok = from_query
                || bearer(req.headers()).is_some_and(|t| same(t.as_bytes(), token))
                || cookie_token(req.headers()).is_some_and(|t| same(t.as_bytes(), token));
            if !ok {
                (
                    StatusCode::UNAUTHORIZED,
                    "a token is needed: open the address git agent serve printed\n",
                )
                    .into_response()
            } else if from_query {
                remember(&req, &guard)
            } else {
                next.run(req).await
            }
        }
        None => {
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok());
            if host.is_some_and(|h| guard.hosts.iter().any(|ok| ok == h)) {
                next.run(req).await
            } else {
                (StatusCode::FORBIDDEN, "unknown Host header\n").into_response()
            }
        }
    };
    secure(response.headers_mut());
    response
}

/// The cookie, and the same address without the token.
fn remember(req: &Request, guard: &Guard) -> Response {
    let rest: Vec<&str> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("token="))
        .collect();
    let mut to = req.uri().path().to_string();
    if !rest.is_empty() {
        to.push('?');
        to.push_str(&rest.join("&"));
    }
    let token = guard.token.as_deref().unwrap_or_default();
    let mut response = Response::new(Body::empty());
    *response.status_mut() = StatusCode::SEE_OTHER;
    if let Ok(location) = HeaderValue::from_str(&to) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    if let Ok(cookie) = HeaderValue::from_str(&format!(
        "{COOKIE}={token}; HttpOnly; SameSite=Strict; Path=/"
    )) {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

fn secure(headers: &mut HeaderMap) {
    let set = [
        (header::CONTENT_SECURITY_POLICY, CSP),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_compare_whole_and_are_found_where_a_client_puts_them() {
        assert!(same(b"abc", b"abc"));
        assert!(!same(b"abc", b"abd"));
        assert!(!same(b"abc", b"abcd"));
        assert_eq!(query_token(Some("state=done&token=xyz")), Some("xyz"));
        assert_eq!(query_token(Some("state=done")), None);
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=b; git-agent-token=t1"),
        );
        assert_eq!(cookie_token(&headers), Some("t1"));
        assert!(is_local("127.0.0.1".parse().unwrap()));
        assert!(!is_local("127.0.0.2".parse().unwrap()));
        assert!(!is_local("0.0.0.0".parse().unwrap()));
        assert_eq!(new_token().unwrap().len(), 32);
    }
}
