//! The harness's own test run: the plan's test command in the sandbox, its real exit code
//! and a short summary. A model's claim is never evidence.

use std::path::Path;
use std::time::Duration;

use crate::policy::SandboxSpec;
use crate::store::TestsVerdict;
use crate::store::format::record::TestRun;

pub async fn run_tests(
    command: &str,
    worktree: &Path,
    sandbox: &SandboxSpec,
    timeout: Duration,
) -> TestRun {
    if command.trim().is_empty() {
        return TestRun {
            verdict: TestsVerdict::NotRun,
            summary: "no test command".into(),
            ..TestRun::default()
        };
    }
    match crate::policy::sandbox::run(command, worktree, sandbox, &[], timeout, 16_000).await {
        Ok(out) => {
            let verdict = if out.exit_code == Some(0) {
                TestsVerdict::Pass
            } else {
                TestsVerdict::Fail
            };
            let mut summary = summarize(&out.output).unwrap_or_else(|| match out.exit_code {
                Some(code) => format!("exit {code}"),
                None if out.timed_out => format!("timed out after {}s", timeout.as_secs()),
                None => "killed".into(),
            });
            if out.timed_out && !summary.contains("timed out") {
                summary.push_str(", timed out");
            }
            TestRun {
                command: command.to_string(),
                exit_code: out.exit_code,
                verdict,
                summary,
                duration_ms: out.duration.as_millis() as u64,
                output_tail: tail(&out.output, 2_000),
            }
        }
        Err(err) => TestRun {
            command: command.to_string(),
            exit_code: None,
            verdict: TestsVerdict::Fail,
            summary: format!("could not run: {err}"),
            ..TestRun::default()
        },
    }
}

/// "N passed, N failed" from the closing lines of common test runners.
fn summarize(output: &str) -> Option<String> {
    let re =
        regex::Regex::new(r"(?i)(\d+)\s+(passed|failed|failures?|errors?|skipped|ignored)").ok()?;
    for line in output.lines().rev().take(40) {
        let mut passed = None;
        let mut failed = None;
        for cap in re.captures_iter(line) {
            let n: u64 = cap[1].parse().ok()?;
            match cap[2].to_ascii_lowercase().as_str() {
                "passed" => passed = Some(passed.unwrap_or(0) + n),
                "failed" | "failure" | "failures" | "error" | "errors" => {
                    failed = Some(failed.unwrap_or(0) + n)
                }
                _ => {}
            }
        }
        if passed.is_some() || failed.is_some() {
            return Some(format!(
                "{} passed, {} failed",
                passed.unwrap_or(0),
                failed.unwrap_or(0)
            ));
        }
    }
    None
}

fn tail(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_string();
    }
    let mut start = text.len() - max;
    while !text.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &text[start..])
}

#[cfg(test)]
mod tests {
    use super::summarize;

    #[test]
    fn summaries_of_common_runners() {
        assert_eq!(
            summarize("running 3 tests\ntest result: ok. 3 passed; 0 failed; 0 ignored").as_deref(),
            Some("3 passed, 0 failed")
        );
        assert_eq!(
            summarize("==== 2 failed, 10 passed in 0.3s ====").as_deref(),
            Some("10 passed, 2 failed")
        );
        assert_eq!(summarize("all good"), None);
    }
}
