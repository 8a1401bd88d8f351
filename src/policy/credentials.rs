//! Provider keys leave the process environment as soon as the harness starts.
//!
//! The keys are read once, kept in memory for the providers, remembered for redaction, and
//! removed from the environment, so no child process (git, a command, a hook) inherits them
//! and `/proc/<harness>/environ` does not hold them. The harness is also made non-dumpable,
//! so another process of the same user cannot read its memory or environment.
#![expect(
    unsafe_code,
    reason = "wiping a key from the environment block and PR_SET_DUMPABLE need libc"
)]

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::sandbox::is_secret_env_name;

/// The variables taken out of the environment: the providers' keys.
pub const PROVIDER_KEY_VARS: &[&str] = &["ANTHROPIC_API_KEY", "OPENAI_API_KEY"];

fn taken() -> &'static Mutex<HashMap<String, String>> {
    static TAKEN: OnceLock<Mutex<HashMap<String, String>>> = OnceLock::new();
    TAKEN.get_or_init(|| Mutex::new(HashMap::new()))
}

/// Take the provider keys out of the environment and remember every credential-looking
/// value for redaction. Call first thing in `main`, before any thread starts.
pub fn take_from_environment() {
    for (name, value) in std::env::vars_os() {
        let (Some(name), Some(value)) = (name.to_str(), value.to_str()) else {
            continue;
        };
        if is_secret_env_name(name) {
            super::redact::remember_secret(value);
        }
        if PROVIDER_KEY_VARS.contains(&name) {
            if let Ok(mut map) = taken().lock() {
                map.insert(name.to_owned(), value.to_owned());
            }
            wipe_initial_value(name);
            // SAFETY: called from `main` before any other thread exists, so nothing reads the
            // environment concurrently.
            unsafe { std::env::remove_var(name) };
        }
    }
    // SAFETY: PR_SET_DUMPABLE only changes who may ptrace or read /proc of this process.
    unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) };
}

/// Overwrite a variable's value where the kernel keeps the process's initial environment:
/// `/proc/<pid>/environ` shows that memory, not the current environment, so removing the
/// variable alone would leave the key readable there.
fn wipe_initial_value(name: &str) {
    let Ok(cname) = std::ffi::CString::new(name) else {
        return;
    };
    // SAFETY: single-threaded (see above). getenv returns a pointer to the NUL-terminated
    // value inside the environment block, which is writable process memory; it is
    // overwritten in place with as many `*` as it has bytes, before the variable is
    // removed, and nothing keeps a reference to it.
    unsafe {
        let value = libc::getenv(cname.as_ptr());
        if !value.is_null() {
            let len = libc::strlen(value);
            std::ptr::write_bytes(value.cast::<u8>(), b'*', len);
        }
    }
}

/// A variable as the harness started with it: a taken key, else the environment's value.
pub fn var(name: &str) -> Option<String> {
    let kept = taken().lock().ok().and_then(|map| map.get(name).cloned());
    kept.or_else(|| std::env::var(name).ok())
}
