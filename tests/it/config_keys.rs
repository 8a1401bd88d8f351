//! Git config `agent.*` names as git prints them (lowercased), and the budgets they set.

use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;

use crate::agent_e2e::{agent, good_model, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script};

/// The `git agent config` line of `key`, its spaces collapsed.
pub fn config_line(out: &str, key: &str) -> String {
    out.lines()
        .find(|l| l.split_whitespace().next() == Some(key))
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|| format!("no {key} line in:\n{out}"))
}

#[test]
fn git_config_names_match_however_they_are_spelled() {
    let env = TestEnv::new();
    let repo = env.repo("r");
    // The README's own example, then the other spellings git accepts.
    env.git(&repo, &["config", "agent.maxTurns", "5"]);
    env.git(&repo, &["config", "agent.max-cost", "1.5"]);
    env.git(&repo, &["config", "agent.testtimeout", "90s"]);
    env.git(&repo, &["config", "agent.MAXTOKENS", "1000"]);
    env.git(&repo, &["config", "agent.maxTurnz", "7"]);
    let (code, out, err) = env.agent(&repo, &["config"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        ["max_turns", "max_cost", "test_timeout", "max_tokens"].map(|k| config_line(&out, k)),
        [
            "max_turns 5 # git config agent.*",
            "max_cost $1.5 # git config agent.*",
            "test_timeout 90s # git config agent.*",
            "max_tokens 1000 # git config agent.*",
        ]
    );
    assert_eq!(
        err,
        "warning: git config agent.maxturnz is not a git-agent setting; it is ignored\n\
         hint: `git agent config` lists the settings; git config names match them whatever the case, `-` or `_` (agent.maxTurns is max_turns)\n"
    );
}

#[test]
fn a_run_stops_on_the_budget_set_in_git_config() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    env.git(&dir, &["config", "agent.maxTurns", "3"]);
    let model = FakeModel::start(Arc::new(good_model) as Arc<Script>, Duration::ZERO);
    let (code, _, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Add a --shout flag"],
    );
    assert_eq!(code, 4, "{err}");
    assert!(err.contains("Stopped: budget."), "{err}");
    assert_eq!(
        model.bodies().len(),
        3,
        "three model turns, then the budget"
    );
}
