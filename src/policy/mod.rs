//! Safety enforced by the harness: path confinement, the command policy, the sandbox and the
//! secret scan. The model is never asked to be safe; these checks hold whatever it says.
//! README.md's "Model of trust" says what is confined and what is not, as the tests prove it.

pub mod commands;
pub mod credentials;
pub mod launcher;
pub mod paths;
pub mod redact;
pub mod sandbox;
pub mod scan_stream;
pub mod secret_rules;
pub mod secrets;
pub mod shell;

pub use commands::{CommandPolicy, PolicyConfigError, PolicyRefusal};
pub use launcher::{SANDBOX_EXEC_ARG, sandbox_exec_main};
pub use paths::{PathError, confine, confine_for_write};
pub use redact::{redact, redact_known, remember_secret};
pub use sandbox::{CommandOutput, SandboxError, SandboxMode, SandboxSpec};
pub use scan_stream::StreamScan;
pub use secrets::{
    SecretAllowList, SecretConfigError, SecretFinding, scan_added_lines, scan_diff, scan_file,
    scan_object,
};
