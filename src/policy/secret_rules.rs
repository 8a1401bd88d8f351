//! The table of secret rules, one named row each: what the secret scan (`secrets.rs`) looks
//! for in a change, and what redaction (`redact.rs`) masks in text. A leaf both of them read.

use regex::Regex;
use std::sync::LazyLock;

/// One detection rule.
pub struct SecretRule {
    /// Stable name, shown in findings and accepted nowhere else.
    pub name: &'static str,
    /// The regex; capture group 1 is the secret when present, else the whole match.
    pub pattern: &'static str,
    /// A generic rule: the value must also look random (entropy and mixed characters).
    pub generic: bool,
    /// Also replaced by [`super::redact()`] in text shown to people and to the model.
    pub redact_in_text: bool,
}

/// The rule table. Order matters only for overlapping matches on one line: the first wins.
pub const RULES: &[SecretRule] = &[
    SecretRule {
        name: "private-key",
        pattern: r"-----BEGIN ((RSA|DSA|EC|OPENSSH|PGP|ENCRYPTED|SSH2) )?PRIVATE KEY( BLOCK)?-----",
        generic: false,
        redact_in_text: false,
    },
    SecretRule {
        name: "aws-access-key-id",
        pattern: r"(?:^|[^A-Za-z0-9])((?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "aws-secret-access-key",
        pattern: r#"(?i)aws_?secret_?(?:access_?)?key["']?\s*(?::|=|:=|=>)\s*["']?([A-Za-z0-9/+]{40})(?:[^A-Za-z0-9/+]|$)"#,
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "aws-bedrock-api-key",
        pattern: r"(?:^|[^A-Za-z0-9])(ABSK[A-Za-z0-9+/]{109,269}={0,2}|bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[A-Za-z0-9+/=%&?\-]*)",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "github-token",
        pattern: r"(?:^|[^A-Za-z0-9])((?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "github-fine-grained-token",
        pattern: r"(?:^|[^A-Za-z0-9])(github_pat_[A-Za-z0-9_]{22,})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "gitlab-token",
        // Personal, runner, pipeline trigger, deploy, feed, CI job, OAuth, agent … tokens.
        pattern: r"(?:^|[^A-Za-z0-9])((?:glpat|glrt|glptt|glsoat|gloas|glimt|glft|glffct|glcbt|glagent|gldt|glcf)-[A-Za-z0-9_\-]{20,}|GR1348941[A-Za-z0-9_\-]{20,})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "slack-token",
        pattern: r"(?:^|[^A-Za-z0-9])(xox[baprse]-[A-Za-z0-9\-]{10,}|xapp-\d-[A-Za-z0-9\-]{10,})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "slack-webhook-url",
        pattern: r"(?:https?://)?(hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9+/]{43,})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "stripe-key",
        pattern: r"(?:^|[^A-Za-z0-9])((?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{16,})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "google-api-key",
        pattern: r"(?:^|[^A-Za-z0-9])(AIza[0-9A-Za-z_\-]{35})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "anthropic-api-key",
        pattern: r"(?:^|[^A-Za-z0-9])(sk-ant-[A-Za-z0-9_\-]{20,})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "openai-api-key",
        pattern: r"(?:^|[^A-Za-z0-9])(sk-(?:proj|svcacct|admin)-[A-Za-z0-9_\-]{20,}|sk-[A-Za-z0-9]{32,})",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "jwt",
        // The signature may be empty (`alg: none`).
        pattern: r"(?:^|[^A-Za-z0-9])(ey[A-Za-z0-9_\-]{10,}\.ey[A-Za-z0-9_\-]{10,}\.(?:[A-Za-z0-9_\-]{10,}={0,2})?)",
        generic: false,
        redact_in_text: true,
    },
    SecretRule {
        name: "generic-secret-assignment",
        // A name holding a keyword, up to 20 more characters (a type: `var token string`),
        // an assignment (`=`, `:`, `:=`, `::=`, `?=`, `.=`, `=>`), and a quoted value, or a bare
        // one that ends where a value ends.
        pattern: r#"(?i)[\w.\-]*(?:password|passwd|secret|token|api_?key|apikey|access_?key|auth_?key|private[_\-]?key|credentials?|creds)[\w.\-]*(?:[ \t]+[\w.\-]{1,20})?["'`]?\s*(?::{1,3}=|\?=|\.=|=>|:|=)\s*(?:"([^"\s]{16,})"|'([^'\s]{16,})'|`([^`\s]{16,})`|([A-Za-z0-9_\-+/=.]{16,})(?:[\s;,`]|\\[nr]|$))"#,
        generic: true,
        redact_in_text: false,
    },
];

static COMPILED: LazyLock<Vec<(&'static SecretRule, Regex)>> = LazyLock::new(|| {
    // The table is a constant checked by the tests; a row that failed to compile would be
    // left out rather than crash the harness.
    RULES
        .iter()
        .filter_map(|rule| Regex::new(rule.pattern).ok().map(|re| (rule, re)))
        .collect()
});

pub(crate) fn compiled_rules() -> &'static [(&'static SecretRule, Regex)] {
    &COMPILED
}
