//! The tools as a model meets them, through the real binary and the fake model: glob finds
//! files as checkpoints see them, read_file cuts a minified line by tokens and reads on from
//! the column it names, multi_edit and apply_patch are all or nothing, every escape is
//! refused, and what lands in git is what the calls did.

use std::sync::Arc;
use std::time::Duration;

use pretty_assertions::assert_eq;
use serde_json::{Value, json};

use crate::agent_e2e::{agent, finish, sample};
use crate::common::TestEnv;
use crate::fake_model::{FakeModel, Script, current_step, last_tool_results, tool, turn};
use crate::mcp_client::{one_step_plan, results_seen};

/// One line of minified code, 60,000 characters: far more than one tool result holds.
fn minified() -> String {
    let mut line = String::from("!function(){");
    let mut i = 0;
    while line.len() < 60_000 {
        line.push_str(&format!("var v{i}=f({i},\"s{i}\");"));
        i += 1;
    }
    line.truncate(60_000);
    line
}

/// The column a cut read says to go on from.
fn next_column(result: &str) -> Option<u64> {
    let rest = result.split("column=").nth(1)?;
    rest.trim_end_matches(|c: char| !c.is_ascii_digit())
        .parse()
        .ok()
}

/// The text of the lines of a read_file result, numbers and notes left out.
fn read_text(result: &str) -> String {
    result
        .lines()
        .filter_map(|l| l.split_once('\t').map(|(_, text)| text))
        .collect()
}

fn the_last_result(request: &Value) -> String {
    last_tool_results(request)
        .first()
        .map(|(c, _)| c.clone())
        .unwrap_or_default()
}

#[test]
fn the_file_tools_find_read_on_through_a_minified_line_and_edit_all_or_nothing() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    std::fs::create_dir_all(dir.join("dist")).unwrap();
    std::fs::write(dir.join("dist/app.min.js"), format!("{}\n", minified())).unwrap();
    std::fs::write(dir.join(".gitignore"), "build/\n").unwrap();
    env.git(&dir, &["add", "-A"]);
    env.git(&dir, &["commit", "-qm", "a minified bundle"]);

    let script = |request: &Value| -> Vec<Value> {
        let step = current_step(request);
        if step.is_none() {
            return one_step_plan();
        }
        match turn(request) {
            // Ignored and generated files that a glob must not find.
            0 => vec![
                tool(
                    "write_file",
                    json!({"path": "build/x.sh", "content": "echo built\n"}),
                ),
                tool(
                    "write_file",
                    json!({"path": "node_modules/pkg/run.sh", "content": "echo dep\n"}),
                ),
            ],
            1 => vec![tool("glob", json!({"pattern": "*.sh"}))],
            2 => vec![tool("read_file", json!({"path": "dist/app.min.js"}))],
            3 => {
                let column = next_column(&the_last_result(request)).unwrap_or(1);
                vec![tool(
                    "read_file",
                    json!({"path": "dist/app.min.js", "offset": 1, "column": column}),
                )]
            }
            // The second edit does not match: the first must not land either.
            4 => vec![tool(
                "multi_edit",
                json!({"path": "greet.sh", "edits": [
                    {"old_text": "#!/bin/sh\n", "new_text": "#!/bin/sh\n# BROKEN\n"},
                    {"old_text": "no such text", "new_text": "x"},
                ]}),
            )],
            // Each edit sees what the one before it left.
            5 => vec![tool(
                "multi_edit",
                json!({"path": "greet.sh", "edits": [
                    {"old_text": "name=\"$1\"\n", "new_text": "name=\"$1\"\n# greets\n"},
                    {"old_text": "# greets\n", "new_text": "# greets anyone\n"},
                ]}),
            )],
            6 => vec![tool(
                "run_command",
                json!({"command": "ln -s /etc/passwd outside && ln -s /etc etcdir"}),
            )],
            7 => vec![
                tool("glob", json!({"pattern": "*", "path": ".."})),
                tool("glob", json!({"pattern": "passwd", "path": "etcdir"})),
                tool("glob", json!({"pattern": "*", "path": "/etc"})),
                tool("read_file", json!({"path": "../../../../etc/passwd"})),
                tool("read_file", json!({"path": "/etc/passwd"})),
                tool("read_file", json!({"path": "outside"})),
                tool("read_file", json!({"path": "etcdir/passwd"})),
                tool(
                    "multi_edit",
                    json!({"path": "outside", "edits": [{"old_text": "root", "new_text": "toor"}]}),
                ),
                tool(
                    "multi_edit",
                    json!({"path": "../escape.txt", "edits": [{"old_text": "a", "new_text": "b"}]}),
                ),
                tool("search", json!({"pattern": "root", "path": "etcdir"})),
            ],
            8 => vec![tool(
                "run_command",
                json!({"command": "rm outside etcdir build/x.sh node_modules/pkg/run.sh"}),
            )],
            _ => finish("Say whom greet.sh greets"),
        }
    };
    let model = FakeModel::start(Arc::new(script) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "t", "Use the tools"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");

    let seen = results_seen(&model);
    // Two writes, then the glob: only the files a checkpoint would record.
    assert_eq!(seen[2], ("greet.sh\ntest.sh".to_string(), false));

    // The first read is cut inside the line, and says where to go on; the second goes on
    // from there, so the two pieces are the start of the line.
    let (first, second) = (&seen[3].0, &seen[4].0);
    let column = next_column(first).expect("the cut read names a column");
    assert!(
        first.contains(&format!(
            "(line 1 is cut: columns 1-{} of 60000 shown",
            column - 1
        )),
        "{first}"
    );
    assert!(first.len() <= 8_000 * 3, "{} bytes", first.len());
    let line = minified();
    let pieces = format!("{}{}", read_text(first), read_text(second));
    assert!(
        second.contains("continue with offset=1 column="),
        "{second}"
    );
    assert_eq!(pieces, line[..pieces.len()]);
    assert!(pieces.len() > 2 * 20_000, "{}", pieces.len());

    let (failed, is_error) = &seen[5];
    assert!(*is_error, "{failed}");
    assert!(
        failed.starts_with("edit 2 of 2 failed: old_text was not found")
            && failed.contains("No edit was applied; greet.sh is unchanged"),
        "{failed}"
    );
    assert_eq!(
        seen[6],
        ("edited greet.sh: 2 edits applied".to_string(), false)
    );

    // Every escape is refused, and nothing of /etc reached the model.
    let escapes = &seen[8..18];
    assert_eq!(escapes.len(), 10);
    for (content, is_error) in escapes {
        assert!(*is_error, "an escape was not refused: {content}");
    }
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap();
    let root_line = passwd.lines().find(|l| l.starts_with("root:")).unwrap();
    for body in model.bodies() {
        assert!(
            !body.to_string().contains(root_line),
            "/etc/passwd reached the model"
        );
    }
    assert!(!env.root.path().join("escape.txt").exists());

    // What git holds is what the calls did.
    assert_eq!(
        env.git(&dir, &["show", "agent/t:greet.sh"]),
        "#!/bin/sh\n# greet.sh NAME: print a greeting.\nname=\"$1\"\n# greets anyone\necho \"Hello, $name\"\n"
    );
    let files = env.git(&dir, &["ls-tree", "-r", "--name-only", "agent/t"]);
    assert!(
        !files.contains("node_modules") && !files.contains("build/"),
        "{files}"
    );
    env.fsck(&dir);
}

#[test]
fn apply_patch_is_offered_to_openai_models_and_applies_all_or_nothing() {
    let env = TestEnv::new();
    let dir = sample(&env, "");
    let script = |request: &Value| -> Vec<Value> {
        if current_step(request).is_none() {
            return one_step_plan();
        }
        match turn(request) {
            // The update's hunk does not match: the added file must not appear either.
            0 => vec![tool(
                "apply_patch",
                json!({"input": "*** Begin Patch\n*** Add File: NOTES.md\n+notes\n*** Update File: greet.sh\n@@\n-echo \"Howdy, $name\"\n+echo \"Hi, $name\"\n*** End Patch\n"}),
            )],
            1 => vec![tool(
                "apply_patch",
                json!({"input": "*** Begin Patch\n*** Add File: docs/NOTES.md\n+# Notes\n+greet.sh greets.\n*** Update File: greet.sh\n@@ name=\"$1\"\n-echo \"Hello, $name\"\n+# says hello\n+echo \"Hello, $name\"\n*** Update File: README.md\n*** Move to: docs/README.md\n@@\n+\n+Moved here by a patch.\n*** End Patch"}),
            )],
            2 => vec![tool(
                "apply_patch",
                json!({"input": "*** Begin Patch\n*** Add File: ../outside.txt\n+x\n*** End Patch"}),
            )],
            _ => finish("Add notes and move the README"),
        }
    };
    let model = FakeModel::start(Arc::new(script) as Arc<Script>, Duration::ZERO);
    let (code, out, err) = agent(
        &env,
        &dir,
        &model,
        &["start", "--name", "p", "--model", "gpt-5", "Patch it"],
    );
    assert_eq!(code, 0, "stdout: {out}\nstderr: {err}");
    let executor = model
        .bodies()
        .into_iter()
        .find(|b| current_step(b).is_some())
        .unwrap();
    let names: Vec<&str> = executor["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"apply_patch"), "{names:?}");

    let seen = results_seen(&model);
    assert!(seen[0].1, "{:?}", seen[0]);
    assert!(
        seen[0].0.starts_with(
            "operation 2 of 2 failed: in `greet.sh`, hunk 1: these lines were not found:\necho \"Howdy, $name\""
        ) && seen[0].0.ends_with("; nothing was changed"),
        "{}",
        seen[0].0
    );
    assert_eq!(
        seen[1],
        (
            "applied the patch: added docs/NOTES.md, added docs/README.md, updated greet.sh, deleted README.md"
                .to_string(),
            false
        )
    );
    assert!(seen[2].1, "{:?}", seen[2]);
    assert!(!env.root.path().join("outside.txt").exists());

    let files = env.git(&dir, &["ls-tree", "-r", "--name-only", "agent/p"]);
    assert_eq!(
        files,
        ".git-agent.toml\ndocs/NOTES.md\ndocs/README.md\ngreet.sh\ntest.sh\n"
    );
    assert_eq!(
        env.git(&dir, &["show", "agent/p:greet.sh"]),
        "#!/bin/sh\n# greet.sh NAME: print a greeting.\nname=\"$1\"\n# says hello\necho \"Hello, $name\"\n"
    );
    let readme = std::fs::read_to_string(dir.join("README.md")).unwrap();
    assert_eq!(
        env.git(&dir, &["show", "agent/p:docs/README.md"]),
        format!("{readme}\nMoved here by a patch.\n")
    );
    env.fsck(&dir);
}
