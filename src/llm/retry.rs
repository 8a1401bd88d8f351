//! The one retry policy of every provider: which failures to retry (the error decides, see
//! [`LlmError::is_retryable`]), how long to wait (the server's `retry-after` up to a cap,
//! else exponential backoff with jitter), and how often.
//!
//! A server that answered nothing at all (connection refused, a name that does not resolve, a
//! connection reset before any header: [`LlmError::is_unreachable`]) is not a server in trouble
//! but a network that is gone for a while — a laptop changing networks, a VPN reconnecting.
//! Such failures have their own allowance: retried with the same backoff for up to
//! `unreachable_wait` (minutes), each retry announced as `k of n`. Failures of a server that
//! did answer count towards `max_attempts` as before.

use super::error::LlmError;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included; 1 means never retry.
    pub max_attempts: u32,
    /// The wait before the first retry; it doubles with every further retry.
    pub base_delay: Duration,
    /// The longest backoff wait.
    pub max_delay: Duration,
    /// The longest wait a server's `retry-after` can ask for.
    pub max_retry_after: Duration,
    /// How long an unreachable server is retried, from its first failure; zero counts such
    /// failures towards `max_attempts` like any other.
    pub unreachable_wait: Duration,
}

/// The built-in `unreachable_wait` (the configuration key of the same name sets it).
pub const UNREACHABLE_WAIT: Duration = Duration::from_secs(5 * 60);

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            max_retry_after: Duration::from_secs(60),
            unreachable_wait: UNREACHABLE_WAIT,
        }
    }
}

impl RetryPolicy {
    /// A policy that waits a few milliseconds, for tests.
    pub fn fast(max_attempts: u32) -> Self {
        RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(1),
            max_delay: Duration::from_millis(20),
            max_retry_after: Duration::from_millis(200),
            unreachable_wait: Duration::ZERO,
        }
    }

    /// How long to wait before the next attempt after `attempt` (1-based) failed with
    /// `error`, or `None` to give up.
    pub fn next_wait(
        &self,
        attempt: u32,
        error: &LlmError,
        rng: &mut fastrand::Rng,
    ) -> Option<Duration> {
        if !error.is_retryable() || attempt >= self.max_attempts {
            return None;
        }
        Some(match error.retry_after() {
            Some(asked) => asked.min(self.max_retry_after),
            None => self.backoff(attempt, rng),
        })
    }

    /// Exponential backoff with jitter: a random wait between half and all of
    /// `base * 2^(attempt-1)`, capped at `max_delay`.
    pub fn backoff(&self, attempt: u32, rng: &mut fastrand::Rng) -> Duration {
        self.full_backoff(attempt).mul_f64(0.5 + rng.f64() * 0.5)
    }

    /// The backoff before jitter: `base * 2^(attempt-1)`, capped at `max_delay`.
    fn full_backoff(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
    }

    /// How many retries an unreachable server gets: as many backoff waits, each at its full
    /// length, as fit in `unreachable_wait` (jitter only shortens them).
    pub fn unreachable_retries(&self) -> u32 {
        let mut waited = Duration::ZERO;
        let mut retries = 0;
        loop {
            waited += self.full_backoff(retries + 1);
            if waited > self.unreachable_wait || retries == u32::MAX {
                return retries;
            }
            retries += 1;
        }
    }
}

/// The failures of one call so far, and what the policy makes of the next one.
#[derive(Debug)]
pub struct Retries<'p> {
    policy: &'p RetryPolicy,
    /// Attempts made (and failed) so far.
    attempts: u32,
    /// Failures of a server that answered (or of one unreachable, with no window for that).
    answered: u32,
    /// Retries of an unreachable server, and when it first failed.
    unreachable: u32,
    unreachable_since: Option<Instant>,
}

/// What to do after a failed attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Try again after `wait`; `unreachable` is `(k, n)` for the k-th of at most n retries of
    /// a server that answered nothing.
    Retry {
        wait: Duration,
        unreachable: Option<(u32, u32)>,
    },
    /// Give up: the error stands (wrapped by [`Retries::give_up`]).
    GiveUp,
}

impl<'p> Retries<'p> {
    pub fn new(policy: &'p RetryPolicy) -> Retries<'p> {
        Retries {
            policy,
            attempts: 0,
            answered: 0,
            unreachable: 0,
            unreachable_since: None,
        }
    }

    /// The decision after an attempt failed with `error` at `now`.
    pub fn after(&mut self, error: &LlmError, now: Instant, rng: &mut fastrand::Rng) -> Decision {
        let policy = self.policy;
        self.attempts += 1;
        if error.is_unreachable() && !policy.unreachable_wait.is_zero() {
            let since = *self.unreachable_since.get_or_insert(now);
            let allowed = policy.unreachable_retries();
            if self.unreachable >= allowed || now.duration_since(since) >= policy.unreachable_wait {
                return Decision::GiveUp;
            }
            self.unreachable += 1;
            return Decision::Retry {
                wait: policy.backoff(self.unreachable, rng),
                unreachable: Some((self.unreachable, allowed)),
            };
        }
        self.answered += 1;
        match policy.next_wait(self.answered, error, rng) {
            Some(wait) => Decision::Retry {
                wait,
                unreachable: None,
            },
            None => Decision::GiveUp,
        }
    }

    /// The error a call that gives up on `last` returns: it says how long it kept trying.
    pub fn give_up(&self, last: LlmError, now: Instant) -> LlmError {
        if last.is_unreachable()
            && let Some(since) = self.unreachable_since
        {
            return LlmError::Unreachable {
                retries: self.unreachable,
                waited: now.duration_since(since),
                last: Box::new(last),
            };
        }
        if last.is_retryable() && self.attempts > 1 {
            return LlmError::GaveUp {
                attempts: self.attempts,
                last: Box::new(last),
            };
        }
        last
    }
}

/// The wait a response asks for: `retry-after-ms`, else `retry-after` in seconds or as an
/// HTTP date.
pub fn parse_retry_after(
    headers: &reqwest::header::HeaderMap,
    now: SystemTime,
) -> Option<Duration> {
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok())
        && ms.is_finite()
        && ms >= 0.0
    {
        return Some(Duration::from_secs_f64(ms / 1000.0));
    }
    let value = get("retry-after")?;
    if let Ok(secs) = value.parse::<f64>() {
        return (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs));
    }
    let at = parse_http_date(value)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// Parses an IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the only form RFC 9110 asks
/// senders to produce.
pub fn parse_http_date(value: &str) -> Option<SystemTime> {
    let rest = value.split_once(", ")?.1;
    let parts: Vec<&str> = rest.split(' ').collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else {
        return None;
    };
    let day: u32 = day.parse().ok()?;
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month = MONTHS.iter().position(|m| m == month)? as u32 + 1;
    let year: i64 = year.parse().ok()?;
    let hms: Vec<u64> = time
        .split(':')
        .map(|p| p.parse().ok())
        .collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else {
        return None;
    };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    let days = days_from_civil(year, month, day);
    let secs = days.checked_mul(86_400)? + (*h * 3600 + *m * 60 + *s) as i64;
    Some(UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;
    use reqwest::header::{HeaderMap, HeaderValue};

    fn http(status: u16, retry_after: Option<Duration>, should_retry: Option<bool>) -> LlmError {
        LlmError::Http {
            provider: "anthropic",
            status,
            kind: None,
            message: "m".to_string(),
            retry_after,
            should_retry,
            key_env: "ANTHROPIC_API_KEY",
            base_env: "ANTHROPIC_BASE_URL",
        }
    }

    #[test]
    fn retries_the_statuses_of_the_policy_and_nothing_else() {
        let retried: Vec<u16> = [
            400, 401, 403, 404, 408, 409, 413, 422, 429, 500, 502, 503, 529,
        ]
        .into_iter()
        .filter(|s| http(*s, None, None).is_retryable())
        .collect();
        assert_eq!(retried, vec![408, 409, 429, 500, 502, 503, 529]);
    }

    #[test]
    fn x_should_retry_overrides_the_status() {
        assert_eq!(
            (
                http(400, None, Some(true)).is_retryable(),
                http(503, None, Some(false)).is_retryable()
            ),
            (true, false)
        );
    }

    #[test]
    fn a_quota_429_without_retry_after_is_permanent() {
        let quota_error = |retry_after| match http(429, retry_after, None) {
            LlmError::Http {
                kind: _,
                provider,
                status,
                message,
                retry_after,
                should_retry,
                key_env,
                base_env,
            } => LlmError::Http {
                kind: Some("insufficient_quota".to_string()),
                provider,
                status,
                message,
                retry_after,
                should_retry,
                key_env,
                base_env,
            },
            other => other,
        };
        let quota = quota_error(None);
        let quota_later = quota_error(Some(Duration::from_secs(1)));
        assert_eq!(
            (quota.is_retryable(), quota_later.is_retryable()),
            (false, true)
        );
        assert_eq!(
            quota.hint(),
            Some(
                "the account is out of quota or credit: check the plan and billing details"
                    .to_string()
            )
        );
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let policy = RetryPolicy {
            max_attempts: 10,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(1000),
            max_retry_after: Duration::from_secs(5),
            unreachable_wait: Duration::ZERO,
        };
        let mut rng = fastrand::Rng::with_seed(1);
        for (attempt, full) in [(1, 100), (2, 200), (3, 400), (4, 800), (5, 1000), (9, 1000)] {
            for _ in 0..50 {
                let wait = policy.backoff(attempt, &mut rng);
                let full = Duration::from_millis(full);
                assert!(
                    wait >= full / 2 && wait <= full,
                    "attempt {attempt}: {wait:?}"
                );
            }
        }
    }

    #[test]
    fn next_wait_honours_retry_after_up_to_the_cap_and_the_attempt_limit() {
        let policy = RetryPolicy {
            max_attempts: 3,
            max_retry_after: Duration::from_secs(5),
            ..RetryPolicy::default()
        };
        let mut rng = fastrand::Rng::with_seed(1);
        let soon = http(429, Some(Duration::from_secs(2)), None);
        let late = http(429, Some(Duration::from_secs(600)), None);
        assert_eq!(
            [
                policy.next_wait(1, &soon, &mut rng),
                policy.next_wait(2, &late, &mut rng),
                policy.next_wait(3, &soon, &mut rng),
                policy.next_wait(1, &http(401, None, None), &mut rng),
            ],
            [
                Some(Duration::from_secs(2)),
                Some(Duration::from_secs(5)),
                None,
                None
            ]
        );
    }

    fn refused() -> LlmError {
        LlmError::Connect {
            provider: "anthropic",
            endpoint: "http://127.0.0.1:9/v1/messages".to_string(),
            message: "Connection refused".to_string(),
        }
    }

    #[test]
    fn the_unreachable_window_holds_the_backoff_waits_that_fit_at_full_length() {
        let window = |secs| RetryPolicy {
            unreachable_wait: Duration::from_secs(secs),
            ..RetryPolicy::default()
        };
        // 0.5 + 1 + 2 + 4 + 8 + 16 = 31.5 s, then 30 s each.
        assert_eq!(
            [0, 1, 2, 31, 32, 61, 300, 3600].map(|s| window(s).unreachable_retries()),
            [0, 1, 2, 5, 6, 6, 14, 124]
        );
    }

    #[test]
    fn an_unreachable_server_is_retried_through_its_window_and_then_given_up() {
        let policy = RetryPolicy {
            unreachable_wait: Duration::from_secs(300),
            ..RetryPolicy::default()
        };
        let mut rng = fastrand::Rng::with_seed(1);
        let mut retries = Retries::new(&policy);
        let start = Instant::now();
        let mut now = start;
        let mut seen = Vec::new();
        while let Decision::Retry { wait, unreachable } = retries.after(&refused(), now, &mut rng) {
            seen.push(unreachable);
            now += wait;
        }
        // Far more than the 5 attempts of a server that answers, each numbered of 14, all
        // within the window.
        assert_eq!(seen, (1..=14).map(|k| Some((k, 14))).collect::<Vec<_>>());
        assert!(now - start <= Duration::from_secs(300));
        let given_up = retries.give_up(refused(), now);
        assert!(
            given_up
                .to_string()
                .starts_with("the model server stayed unreachable for "),
            "{given_up}"
        );
        assert!(given_up.to_string().ends_with("(14 retries): cannot reach anthropic at http://127.0.0.1:9/v1/messages: Connection refused"));
    }

    #[test]
    fn the_window_ends_by_the_clock_too_when_attempts_take_long() {
        let policy = RetryPolicy {
            unreachable_wait: Duration::from_secs(60),
            ..RetryPolicy::default()
        };
        let mut rng = fastrand::Rng::with_seed(1);
        let mut retries = Retries::new(&policy);
        let start = Instant::now();
        assert!(matches!(
            retries.after(&refused(), start, &mut rng),
            Decision::Retry {
                unreachable: Some((1, 6)),
                ..
            }
        ));
        // Each attempt timed out connecting after 15 s, say: the clock ends the window.
        assert!(matches!(
            retries.after(&refused(), start + Duration::from_secs(40), &mut rng),
            Decision::Retry {
                unreachable: Some((2, 6)),
                ..
            }
        ));
        assert_eq!(
            retries.after(&refused(), start + Duration::from_secs(60), &mut rng),
            Decision::GiveUp
        );
    }

    #[test]
    fn a_server_that_answers_keeps_its_attempt_limit_and_without_a_window_so_does_one_that_does_not()
     {
        let mut rng = fastrand::Rng::with_seed(1);
        let now = Instant::now();
        let policy = RetryPolicy::default();
        let mut retries = Retries::new(&policy);
        // Unreachable retries do not use up the attempts of a server that answers.
        for _ in 0..3 {
            retries.after(&refused(), now, &mut rng);
        }
        let answered: Vec<bool> = (0..5)
            .map(|_| {
                matches!(
                    retries.after(&http(503, None, None), now, &mut rng),
                    Decision::Retry {
                        unreachable: None,
                        ..
                    }
                )
            })
            .collect();
        assert_eq!(answered, [true, true, true, true, false]);
        assert_eq!(
            retries.give_up(http(503, None, None), now).to_string(),
            "gave up after 8 attempts: anthropic returned HTTP 503: m"
        );

        let no_window = RetryPolicy {
            unreachable_wait: Duration::ZERO,
            ..RetryPolicy::default()
        };
        let mut retries = Retries::new(&no_window);
        let decisions: Vec<bool> = (0..5)
            .map(|_| {
                matches!(
                    retries.after(&refused(), now, &mut rng),
                    Decision::Retry { .. }
                )
            })
            .collect();
        assert_eq!(decisions, [true, true, true, true, false]);
        assert!(
            retries
                .give_up(refused(), now)
                .to_string()
                .starts_with("gave up after 5 attempts: cannot reach anthropic")
        );
    }

    #[test]
    fn parses_retry_after_in_all_forms() {
        let now = UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        let parse = |pairs: &[(&'static str, &'static str)]| {
            let mut headers = HeaderMap::new();
            for (k, v) in pairs {
                headers.insert(*k, HeaderValue::from_static(v));
            }
            parse_retry_after(&headers, now)
        };
        assert_eq!(
            [
                parse(&[("retry-after", "3")]),
                parse(&[("retry-after", "1.5")]),
                parse(&[("retry-after-ms", "250"), ("retry-after", "3")]),
                parse(&[("retry-after", "Sun, 06 Nov 1994 08:49:47 GMT")]),
                parse(&[("retry-after", "Sun, 06 Nov 1994 08:49:00 GMT")]),
                parse(&[("retry-after", "soon")]),
                parse(&[]),
            ],
            [
                Some(Duration::from_secs(3)),
                Some(Duration::from_millis(1500)),
                Some(Duration::from_millis(250)),
                Some(Duration::from_secs(10)),
                Some(Duration::ZERO),
                None,
                None,
            ]
        );
    }

    #[test]
    fn http_dates_match_known_timestamps() {
        assert_eq!(
            [
                parse_http_date("Thu, 01 Jan 1970 00:00:00 GMT"),
                parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
                parse_http_date("Tue, 29 Feb 2028 12:00:00 GMT"),
                parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            ],
            [
                Some(UNIX_EPOCH),
                Some(UNIX_EPOCH + Duration::from_secs(784_111_777)),
                Some(UNIX_EPOCH + Duration::from_secs(1_835_438_400)),
                None,
            ]
        );
    }
}
