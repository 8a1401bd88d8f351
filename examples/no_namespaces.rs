//! `no_namespaces PROGRAM [ARGS]…`: runs a program where no namespace can be made, the way
//! Docker's default seccomp profile leaves a container: `unshare` and `setns` fail with
//! `EPERM`, so does `clone` with any `CLONE_NEW*` flag, and `clone3` (whose flags seccomp
//! cannot see) fails with `ENOSYS`, so the C library falls back to `clone`.
//!
//! The filter is inherited by every process the program starts, so `.ci/run` runs the
//! hostile and sandbox suites under it: the sandbox launcher then takes, for real, the path
//! it takes in such a container (no PID, mount or network namespace; Landlock alone, a
//! subreaper, and a refusal where a read-only mount is needed). Before running the program
//! it checks that a namespace really cannot be made, so a pass cannot come from a filter
//! that did nothing.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::process::ExitCode;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

/// Every flag that makes a namespace, as `clone` and `unshare` take them.
const NAMESPACE_FLAGS: [libc::c_int; 7] = [
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWNS,
    libc::CLONE_NEWPID,
    libc::CLONE_NEWNET,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWCGROUP,
];

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let Some((program, rest)) = args.split_first() else {
        eprintln!("usage: no_namespaces PROGRAM [ARGS]...");
        return ExitCode::from(2);
    };
    if let Err(err) = deny_namespaces() {
        eprintln!("no_namespaces: cannot install the seccomp filter: {err}");
        return ExitCode::from(125);
    }
    // SAFETY: unshare(2) with flags only; it must fail here, and if it did not, this process
    // is about to exit anyway.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER) } == 0 {
        eprintln!("no_namespaces: a user namespace could still be made; refusing to run");
        return ExitCode::from(125);
    }
    let error = std::process::Command::new(program).args(rest).exec();
    eprintln!(
        "no_namespaces: cannot run `{}`: {error}",
        program.to_string_lossy()
    );
    ExitCode::from(127)
}

fn deny_namespaces() -> Result<(), Box<dyn std::error::Error>> {
    let arch = TargetArch::try_from(std::env::consts::ARCH)?;
    // `clone(flags, …)`: one rule per flag, any of which matches.
    let clone_rules = NAMESPACE_FLAGS
        .iter()
        .map(|&flag| {
            let flag = u64::try_from(flag)?;
            let condition = SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag),
                flag,
            )?;
            Ok(SeccompRule::new(vec![condition])?)
        })
        .collect::<Result<Vec<_>, Box<dyn std::error::Error>>>()?;
    let eperm = SeccompFilter::new(
        BTreeMap::from([
            (libc::SYS_unshare, vec![]),
            (libc::SYS_setns, vec![]),
            (libc::SYS_clone, clone_rules),
        ]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )?;
    let enosys = SeccompFilter::new(
        BTreeMap::from([(libc::SYS_clone3, vec![])]),
        SeccompAction::Allow,
        SeccompAction::Errno(libc::ENOSYS as u32),
        arch,
    )?;
    for filter in [eperm, enosys] {
        let program: BpfProgram = filter.try_into()?;
        // Sets no_new_privs first, as an unprivileged process must.
        seccompiler::apply_filter(&program)?;
    }
    Ok(())
}
