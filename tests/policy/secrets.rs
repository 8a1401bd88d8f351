use crate::support::git;
use git_agent::policy::secrets::{RULES, SecretRule, parse_diff, redact_middle, shannon_entropy};
use git_agent::policy::{SecretAllowList, SecretFinding, redact, scan_diff, scan_file};
use pretty_assertions::assert_eq;

// Built from pieces so this file holds no literal credential for other scanners to flag.
fn github_token() -> String {
    format!("ghp_{}", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A")
}
fn aws_key_id() -> String {
    format!("AKIA{}", "Q3EXAMPL7KZ4TB2N")
}
fn anthropic_key() -> String {
    format!("sk-ant-api03-{}", "Zx9Yw8Vu7Ts6Rq5Po4Nm3Lk2Jh1Gf0Ed")
}

fn finding(path: &str, line: u32, rule: &str, excerpt: &str) -> SecretFinding {
    SecretFinding {
        path: path.to_owned(),
        line,
        rule: rule.to_owned(),
        redacted_excerpt: excerpt.to_owned(),
    }
}

#[test]
fn the_rule_table_compiles_and_names_are_unique() {
    let mut names: Vec<&str> = RULES.iter().map(|r: &SecretRule| r.name).collect();
    for rule in RULES {
        regex::Regex::new(rule.pattern).unwrap();
    }
    names.sort();
    names.dedup();
    assert_eq!(names.len(), RULES.len());
}

#[test]
fn each_rule_finds_its_kind_of_secret() {
    let cases = [
        (format!("id = \"{}\"", aws_key_id()), "aws-access-key-id"),
        (
            format!(
                "aws_secret_access_key = {}",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKQ"
            ),
            "aws-secret-access-key",
        ),
        (format!("token: {}", github_token()), "github-token"),
        (
            format!(
                "GH={}",
                format_args!("github_pat_{}", "11ABCDEFG0123456789_abcdefghijKLMNOP")
            ),
            "github-fine-grained-token",
        ),
        (
            format!("x {}", format_args!("glpat-{}", "Ab1Cd2Ef3Gh4Ij5Kl6Mn")),
            "gitlab-token",
        ),
        (
            format!(
                "slack = {}",
                format_args!("xoxb-{}", "1234567890-abcdefABCDEF")
            ),
            "slack-token",
        ),
        (
            format!(
                "k = {}",
                format_args!("sk_live_{}", "4eC39HqLyjWDarjtT1zdp7dc")
            ),
            "stripe-live-key",
        ),
        (
            format!(
                "maps({})",
                format_args!("AIza{}", "SyA1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q")
            ),
            "google-api-key",
        ),
        (
            format!("ANTHROPIC_API_KEY={}", anthropic_key()),
            "anthropic-api-key",
        ),
        (
            format!(
                "key = {}",
                format_args!("sk-proj-{}", "Ab12Cd34Ef56Gh78Ij90Kl12")
            ),
            "openai-api-key",
        ),
        (
            "-----BEGIN OPENSSH PRIVATE KEY-----".to_owned(),
            "private-key",
        ),
        ("-----BEGIN PRIVATE KEY-----".to_owned(), "private-key"),
        (
            format!(
                "auth: {}",
                format_args!(
                    "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.{}",
                    "dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
                )
            ),
            "jwt",
        ),
        (
            "db_password = \"Zk8#qL2!vR9@xW4$mT7p\"".to_owned(),
            "generic-secret-assignment",
        ),
        (
            "API_TOKEN='q7Hn2Kx9Lm4Pz8Rt6Vb3'".to_owned(),
            "generic-secret-assignment",
        ),
    ];
    for (line, rule) in cases {
        let found = scan_file("f.txt", &line, &SecretAllowList::default());
        assert_eq!(
            found.iter().map(|f| f.rule.as_str()).collect::<Vec<_>>(),
            vec![rule],
            "{line}"
        );
        let secret_part = line.split_whitespace().last().unwrap();
        if rule != "private-key" {
            assert!(
                !found[0]
                    .redacted_excerpt
                    .contains(secret_part.trim_matches(['"', '\''])),
                "{found:?}"
            );
        }
    }
}

#[test]
fn ordinary_code_is_not_a_secret() {
    let text = "let token = get_token_from_environment();\n\
                password = \"changeme-example-value\"\n\
                secret_key = os.environ[\"SECRET_KEY\"]\n\
                api_key = \"${API_KEY}\"\n\
                token_url = \"https://example.com/oauth/token\"\n\
                let password_hash_function_name = compute;\n\
                sha = \"3f786850e387550fdab836ed7e6dc881de23001b\"\n";
    assert_eq!(
        scan_file("src/app.py", text, &SecretAllowList::default()),
        vec![]
    );
}

#[test]
fn findings_show_the_line_with_the_secret_cut() {
    let line = format!("const GITHUB = \"{}\"; // for CI", github_token());
    assert_eq!(
        scan_file(
            "ci.js",
            &format!("first\n{line}\n"),
            &SecretAllowList::default()
        ),
        vec![finding(
            "ci.js",
            2,
            "github-token",
            "const GITHUB = \"ghp_…3z5A\"; // for CI"
        )]
    );
    assert_eq!(redact_middle(&github_token()), "ghp_…3z5A");
    assert_eq!(redact_middle("0123456789ab"), "01…ab");
    assert_eq!(redact_middle("short"), "…");
}

#[test]
fn the_allow_list_lets_marked_and_listed_secrets_through() {
    let line = format!("key = \"{}\"", aws_key_id());
    let marked = format!("{line} # git-agent: allow-secret");
    assert_eq!(
        scan_file("a.txt", &marked, &SecretAllowList::default()),
        vec![]
    );
    assert_eq!(
        scan_file(
            "a.txt",
            &marked,
            &SecretAllowList::default().without_inline_marker()
        )
        .iter()
        .map(|f| f.rule.as_str())
        .collect::<Vec<_>>(),
        vec!["aws-access-key-id"]
    );
    let by_value = SecretAllowList::new(&["^AKIAQ3EXAMPL".to_owned()], &[]).unwrap();
    assert_eq!(scan_file("a.txt", &line, &by_value), vec![]);
    let by_path = SecretAllowList::new(
        &[],
        &["tests/fixtures/**".to_owned(), "*.pem.sample".to_owned()],
    )
    .unwrap();
    assert_eq!(
        scan_file("tests/fixtures/deep/keys.txt", &line, &by_path),
        vec![]
    );
    assert_eq!(scan_file("docs/x/id.pem.sample", &line, &by_path), vec![]);
    assert_eq!(scan_file("src/keys.txt", &line, &by_path).len(), 1);
}

#[test]
fn entropy_is_bits_per_character() {
    assert_eq!(shannon_entropy("aaaa"), 0.0);
    assert_eq!(shannon_entropy("abcd"), 2.0);
    assert_eq!(shannon_entropy(""), 0.0);
}

#[test]
fn scan_diff_finds_secrets_in_a_new_file_and_in_an_edit() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q"]);
    std::fs::write(
        repo.join("config.py"),
        "DEBUG = True\nNAME = \"app\"\nPORT = 80\n",
    )
    .unwrap();
    std::fs::write(repo.join("old.txt"), format!("{}\n", aws_key_id())).unwrap();
    git(repo, &["add", "-A"]);
    git(repo, &["commit", "-q", "-m", "base"]);

    // An edit: a key inserted in the middle of an existing file.
    std::fs::write(
        repo.join("config.py"),
        format!(
            "DEBUG = True\nNAME = \"app\"\nANTHROPIC_API_KEY = \"{}\"\nPORT = 80\n",
            anthropic_key()
        ),
    )
    .unwrap();
    // A new file with a private key further down, in a folder with a space in its name.
    std::fs::create_dir(repo.join("deploy keys")).unwrap();
    std::fs::write(
        repo.join("deploy keys/id_rsa"),
        "# deploy key\n-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\n",
    )
    .unwrap();
    // A deleted secret is not a finding.
    std::fs::remove_file(repo.join("old.txt")).unwrap();
    git(repo, &["add", "-A"]);
    let diff = git(repo, &["diff", "--cached", "--no-color"]);

    assert_eq!(
        scan_diff(&diff, &SecretAllowList::default()),
        vec![
            finding(
                "config.py",
                3,
                "anthropic-api-key",
                "ANTHROPIC_API_KEY = \"sk-a…f0Ed\""
            ),
            finding(
                "deploy keys/id_rsa",
                2,
                "private-key",
                "-----BEGIN RSA PRIVATE KEY-----"
            ),
        ]
    );
    let files = parse_diff(&diff);
    assert_eq!(
        files
            .iter()
            .map(|f| (f.path.as_str(), f.added.len()))
            .collect::<Vec<_>>(),
        vec![("config.py", 1), ("deploy keys/id_rsa", 4)]
    );
}

#[test]
fn redact_masks_known_values_and_key_patterns() {
    let key = "my-provider-key-123456";
    let text = format!(
        "error calling api with {key}: token {} rejected; also {}\n-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIB\n-----END EC PRIVATE KEY-----\nshort: abc",
        github_token(),
        anthropic_key()
    );
    assert_eq!(
        redact(&text, &[key, "abc"]),
        "error calling api with ***: token *** rejected; also ***\n-----BEGIN EC PRIVATE KEY-----***-----END EC PRIVATE KEY-----\nshort: abc"
    );
    assert_eq!(
        redact(
            &format!(
                "AWS_SECRET_ACCESS_KEY={}",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKQ"
            ),
            &[]
        ),
        "AWS_SECRET_ACCESS_KEY=***"
    );
}

/// A finding's excerpt is quoted in refusals, notes and messages: a private key's carries its
/// header, never the body that follows it on the line.
#[test]
fn a_private_key_finding_never_quotes_the_body() {
    let body = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZWQyNTUxOQ";
    let line = format!("key: -----BEGIN OPENSSH PRIVATE KEY-----{body}");
    let found = scan_file("f.txt", &line, &SecretAllowList::default());
    assert_eq!(
        found,
        vec![finding(
            "f.txt",
            1,
            "private-key",
            "key: -----BEGIN OPENSSH PRIVATE KEY-----"
        )]
    );
}
