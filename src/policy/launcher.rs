//! The sandbox launcher: `git-agent __sandbox-exec [--write DIR]… [--net] -- PROGRAM ARGS…`.
//!
//! The harness re-executes itself as the launcher, so this runs in a fresh single-threaded
//! process that may fork freely. It gives the command three walls:
//! 1. **Nothing outlives the command.** The command runs in a PID namespace of its own (as
//!    root directly, otherwise inside a new user namespace). Its init is a copy of the
//!    launcher that starts the command, reaps orphans and exits with the command's status;
//!    the kernel then kills whatever is left (`setsid` and double forks included), and the
//!    init dies with the launcher (`PR_SET_PDEATHSIG`), so a timeout that kills the launcher
//!    kills the whole tree. Where no namespace can be had, the launcher is a child subreaper
//!    and kills every descendant left when the command ends.
//! 2. **No network** unless allowed: a network namespace (same `unshare`) and Landlock's TCP
//!    rules.
//! 3. **A read-only repository link**: each `--protect` path (the worktree's `.git`) is
//!    bind-mounted read-only in a mount namespace of the command's own.
//! 4. **Confinement** in the command's own process: Landlock (reads everywhere, writes only
//!    beneath the writable dirs, no device nodes, signals and abstract sockets scoped to the
//!    sandbox), then every capability dropped, the bounding set included, with
//!    `no_new_privs` — a root command is as powerless as any user's.
#![expect(
    unsafe_code,
    reason = "the launcher is fork, unshare, prctl and waitpid: system calls with no safe wrapper"
)]

use std::ffi::{OsStr, OsString};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::ExitCode;

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, PathFd,
    Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope,
};

/// The first argument that makes the git-agent binary act as the sandbox launcher.
pub const SANDBOX_EXEC_ARG: &str = "__sandbox-exec";
/// Exit code of the launcher when it could not set the sandbox up (as `env` and `nice` do).
pub(super) const SETUP_FAILED: i32 = 125;
/// Starts every message of the launcher, so the runner can tell them from the command's.
pub(super) const LAUNCHER_PREFIX: &str = "git-agent sandbox: ";

/// The Landlock ABI version of the running kernel, `None` without Landlock.
pub fn landlock_abi() -> Option<i32> {
    const LANDLOCK_CREATE_RULESET_VERSION: libc::c_uint = 1;
    // SAFETY: with a null attribute pointer, size 0 and the VERSION flag, the syscall only
    // returns the ABI version (or an error); it touches no memory.
    let version = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<libc::c_void>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (version > 0).then(|| i32::try_from(version).unwrap_or(i32::MAX))
}

/// The newest Landlock ABI this code handles; older kernels get what they support.
const LANDLOCK_ABI: ABI = ABI::V10;

/// Character devices a command may write (and `ioctl`) besides its writable dirs.
const DEVICES: &[&str] = &["/dev/null", "/dev/zero", "/dev/full", "/dev/tty"];

struct Request {
    writable: Vec<PathBuf>,
    protected: Vec<PathBuf>,
    network: bool,
    program: Vec<OsString>,
}

/// Which namespaces the launcher got.
#[derive(Clone, Copy)]
struct Isolation {
    pid: bool,
    net: bool,
    /// A mount namespace of its own, where protected paths are bind-mounted read-only.
    mounts: bool,
}

fn fail(message: &str, code: i32) -> ! {
    eprintln!("{LAUNCHER_PREFIX}{message}");
    // SAFETY: _exit(2) ends the process at once; nothing is shared with another thread.
    unsafe { libc::_exit(code) }
}

/// `args` are the arguments after [`SANDBOX_EXEC_ARG`]. Returns only through the command's
/// exit status; a setup failure exits 125 with a message on stderr (127 when the program
/// cannot be executed).
pub fn sandbox_exec_main(args: &[OsString]) -> ExitCode {
    let request = match parse(args) {
        Ok(request) => request,
        Err(message) => fail(&message, SETUP_FAILED),
    };
    let Some(kernel_abi) = landlock_abi() else {
        fail(
            "this kernel has no Landlock; refusing to run the command unconfined",
            SETUP_FAILED,
        )
    };
    let isolation = match isolate(request.network) {
        Ok(isolation) => isolation,
        Err(message) => fail(&message, SETUP_FAILED),
    };
    // A repository directory (`--here`) must be protected; a linked worktree's `.git` file is
    // a convenience the harness never trusts, so without a mount namespace it stays writable.
    if !isolation.mounts && request.protected.iter().any(|p| p.is_dir()) {
        fail(
            "no mount namespace is available to keep the repository read-only; allow unprivileged user namespaces, or work in the task's private worktree (without --here)",
            SETUP_FAILED,
        );
    }
    let protected: Vec<PathBuf> = if isolation.mounts {
        request.protected.clone()
    } else {
        Vec::new()
    };
    let request = Request {
        protected,
        ..request
    };
    if !request.network && kernel_abi < 4 && !isolation.net {
        fail(
            &format!(
                "this kernel's Landlock (ABI {kernel_abi}) cannot deny network access and no network namespace is available; allow the network in the configuration or upgrade to Linux 6.7 or later"
            ),
            SETUP_FAILED,
        );
    }
    if !isolation.pid {
        // SAFETY: prctl(PR_SET_CHILD_SUBREAPER) only changes how orphans are reparented.
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) };
    }
    // The init of the namespace reports the command's raw wait status through this pipe,
    // since a PID 1 cannot die of a signal it sends itself.
    let mut pipe = [0i32; 2];
    // SAFETY: pipe2 fills the two-element array it is given.
    if unsafe { libc::pipe2(pipe.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        fail("cannot create a pipe", SETUP_FAILED);
    }
    // SAFETY: the launcher is single-threaded (a fresh exec that started no threads), so the
    // child may run any code.
    match unsafe { libc::fork() } {
        -1 => fail("cannot fork", SETUP_FAILED),
        0 => {
            // SAFETY: closing our copy of the read end; the fd is ours.
            unsafe { libc::close(pipe[0]) };
            // SAFETY: PR_SET_PDEATHSIG only sets the signal this process gets when its parent
            // dies.
            unsafe { libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) };
            if isolation.pid {
                run_init(&request, pipe[1])
            } else {
                exec_confined(&request)
            }
        }
        child => {
            // SAFETY: closing our copy of the write end; the fd is ours.
            unsafe { libc::close(pipe[1]) };
            if !isolation.pid {
                // The harness's death (PR_SET_PDEATHSIG) and a polite kill reach the launcher as
                // SIGTERM: without a PID namespace nobody else would kill what the command
                // started, so the wait is interrupted and the descendants are killed below.
                on_sigterm_stop_waiting();
            }
            let status = wait_for(child);
            if TERMINATED.load(std::sync::atomic::Ordering::SeqCst) {
                // SAFETY: kill(2) of our own child.
                unsafe { libc::kill(child, libc::SIGKILL) };
                kill_descendants();
                std::process::exit(128 + libc::SIGTERM);
            }
            let mut reported = [0u8; 4];
            // SAFETY: reads at most 4 bytes into a 4-byte buffer.
            let n = unsafe { libc::read(pipe[0], reported.as_mut_ptr().cast(), 4) };
            let status = if n == 4 {
                i32::from_ne_bytes(reported)
            } else {
                status
            };
            if !isolation.pid {
                kill_descendants();
            }
            relay(status)
        }
    }
}

fn parse(args: &[OsString]) -> Result<Request, String> {
    let mut writable = Vec::new();
    let mut protected = Vec::new();
    let mut network = false;
    let mut rest = args.iter();
    let mut program = Vec::new();
    while let Some(arg) = rest.next() {
        match arg.to_str() {
            Some("--write") => match rest.next() {
                Some(dir) => writable.push(PathBuf::from(dir)),
                None => return Err("`--write` needs a directory".to_owned()),
            },
            Some("--protect") => match rest.next() {
                Some(path) => protected.push(PathBuf::from(path)),
                None => return Err("`--protect` needs a path".to_owned()),
            },
            Some("--net") => network = true,
            Some("--") => {
                program.extend(rest.by_ref().cloned());
                break;
            }
            _ => {
                return Err(format!("unexpected argument `{}`", arg.to_string_lossy()));
            }
        }
    }
    if program.is_empty() {
        return Err("no program to run after `--`".to_owned());
    }
    Ok(Request {
        writable,
        protected,
        network,
        program,
    })
}

/// A PID namespace (and a network namespace unless the network is allowed): directly with
/// privileges, else inside a user namespace of our own that maps only our own ids.
fn isolate(network: bool) -> Result<Isolation, String> {
    let net = if network { 0 } else { libc::CLONE_NEWNET };
    let own = libc::CLONE_NEWPID | libc::CLONE_NEWNS | net;
    // SAFETY: unshare(2) with flags only changes this single-threaded process's namespaces.
    if unsafe { libc::unshare(own) } == 0 {
        return Ok(Isolation {
            pid: true,
            net: !network,
            mounts: true,
        });
    }
    // SAFETY: getuid and getgid cannot fail.
    let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
    // SAFETY: as above.
    if unsafe { libc::unshare(libc::CLONE_NEWUSER | own) } == 0 {
        let write = |file: &str, text: String| {
            std::fs::write(format!("/proc/self/{file}"), text)
                .map_err(|e| format!("cannot write /proc/self/{file} in the user namespace: {e}"))
        };
        write("setgroups", "deny".to_owned())?;
        write("uid_map", format!("{uid} {uid} 1"))?;
        write("gid_map", format!("{gid} {gid} 1"))?;
        return Ok(Isolation {
            pid: true,
            net: !network,
            mounts: true,
        });
    }
    // SAFETY: as above.
    let net_only = !network && unsafe { libc::unshare(libc::CLONE_NEWNET) } == 0;
    Ok(Isolation {
        pid: false,
        net: net_only,
        mounts: false,
    })
}

/// PID 1 of the command's namespace: start the command, reap every orphan, and exit when the
/// command does — the kernel then kills the rest of the namespace.
fn run_init(request: &Request, report: i32) -> ! {
    // SAFETY: still single-threaded; see the fork above.
    let command = match unsafe { libc::fork() } {
        -1 => fail("cannot fork the command", SETUP_FAILED),
        0 => exec_confined(request),
        pid => pid,
    };
    loop {
        let mut status = 0;
        // SAFETY: waitpid writes the status of a reaped child into `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid == command {
            let bytes = status.to_ne_bytes();
            // SAFETY: writes 4 bytes from a 4-byte buffer to our pipe.
            unsafe { libc::write(report, bytes.as_ptr().cast(), 4) };
            // SAFETY: _exit ends PID 1, and with it the namespace.
            unsafe { libc::_exit(exit_code_of(status)) };
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            // SAFETY: as above.
            unsafe { libc::_exit(SETUP_FAILED) };
        }
    }
}

/// Confine this process for good, then become the command.
fn exec_confined(request: &Request) -> ! {
    if let Err(message) = protect(&request.protected) {
        fail(&message, SETUP_FAILED);
    }
    if let Err(message) = confine_self(&request.writable, request.network) {
        fail(&message, SETUP_FAILED);
    }
    if let Err(message) = drop_capabilities() {
        fail(&message, SETUP_FAILED);
    }
    let (name, args) = request
        .program
        .split_first()
        .unwrap_or_else(|| fail("no program to run", SETUP_FAILED));
    close_inherited_descriptors();
    let error = std::process::Command::new(name).args(args).exec();
    fail(
        &format!("cannot run `{}`: {error}", OsStr::to_string_lossy(name)),
        127,
    )
}

/// Mark every descriptor above the standard streams close-on-exec: one that git-agent inherited
/// from whatever started it (a log file, a socket, a jobserver pipe) is open beyond Landlock's
/// reach, since Landlock checks paths when they are opened, so the command must not get it.
fn close_inherited_descriptors() {
    // SAFETY: close_range(2) with CLOSE_RANGE_CLOEXEC only sets a flag on this process's own
    // descriptors; no memory is passed.
    let done = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            3_u32,
            u32::MAX,
            libc::CLOSE_RANGE_CLOEXEC,
        )
    } == 0;
    if done {
        return;
    }
    // Kernels before 5.11: each open descriptor, as /proc lists them.
    let fds: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .map(|dir| {
            dir.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .filter(|&fd| fd > 2)
                .collect()
        })
        .unwrap_or_default();
    for fd in fds {
        // SAFETY: fcntl(F_SETFD) on a descriptor number only sets its flag (EBADF when the
        // listing's own descriptor is already closed, which is fine).
        unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
    }
}

/// Bind-mount each protected path read-only over itself, in this process's own mount
/// namespace (before Landlock, which forbids mounting).
fn protect(paths: &[PathBuf]) -> Result<(), String> {
    if paths.is_empty() {
        return Ok(());
    }
    let c = |p: &std::path::Path| {
        std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(p.as_os_str()))
            .map_err(|_| format!("`{}` has a NUL byte", p.display()))
    };
    let none = std::ptr::null::<libc::c_char>();
    let root = c(std::path::Path::new("/"))?;
    // SAFETY: mount(2) with valid C strings (or null where the kernel allows it); the
    // namespace is this process's own, so nothing outside changes.
    unsafe {
        if libc::mount(
            none,
            root.as_ptr(),
            none,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            return Err(format!(
                "cannot make the mounts private: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    for path in paths {
        let target = c(path)?;
        // SAFETY: as above.
        let bound = unsafe {
            libc::mount(
                target.as_ptr(),
                target.as_ptr(),
                none,
                libc::MS_BIND | libc::MS_REC,
                std::ptr::null(),
            ) == 0
                && libc::mount(
                    none,
                    target.as_ptr(),
                    none,
                    libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY,
                    std::ptr::null(),
                ) == 0
        };
        if !bound {
            return Err(format!(
                "cannot keep `{}` read-only: {}",
                path.display(),
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

/// Set by the SIGTERM handler of a launcher without a PID namespace.
static TERMINATED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn note_sigterm(_: libc::c_int) {
    TERMINATED.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Installs the SIGTERM handler without SA_RESTART, so that `waitpid` returns EINTR.
fn on_sigterm_stop_waiting() {
    // SAFETY: a zeroed sigaction is a valid empty one; the handler only stores to an atomic,
    // which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = note_sigterm as *const () as libc::sighandler_t;
        libc::sigemptyset(&mut action.sa_mask);
        libc::sigaction(libc::SIGTERM, &action, std::ptr::null_mut());
    }
}

fn wait_for(child: libc::pid_t) -> i32 {
    loop {
        if TERMINATED.load(std::sync::atomic::Ordering::SeqCst) {
            return 128 + libc::SIGTERM;
        }
        let mut status = 0;
        // SAFETY: waitpid writes the status of the child into `status`.
        let pid = unsafe { libc::waitpid(child, &mut status, 0) };
        if pid == child {
            return status;
        }
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            return SETUP_FAILED << 8;
        }
    }
}

/// The subreaper's fallback: kill every process reparented to the launcher until none is left.
fn kill_descendants() {
    loop {
        // SAFETY: getpid cannot fail.
        let me = unsafe { libc::getpid() };
        let children =
            std::fs::read_to_string(format!("/proc/{me}/task/{me}/children")).unwrap_or_default();
        for pid in children
            .split_whitespace()
            .filter_map(|p| p.parse::<i32>().ok())
        {
            // SAFETY: kill(2) of a child of ours.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let mut status = 0;
        // SAFETY: waitpid writes into `status`.
        let pid = unsafe { libc::waitpid(-1, &mut status, 0) };
        if pid < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ECHILD) {
            return;
        }
    }
}

fn exit_code_of(status: i32) -> i32 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else if libc::WIFSIGNALED(status) {
        128 + libc::WTERMSIG(status)
    } else {
        SETUP_FAILED
    }
}

/// End the launcher the way the command ended: the same exit code, or the same signal.
fn relay(status: i32) -> ExitCode {
    if libc::WIFSIGNALED(status) {
        let signal = libc::WTERMSIG(status);
        // SAFETY: restoring the default action and raising the signal ends this process as
        // the command ended; no core is written (the launcher is not dumpable).
        unsafe {
            libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0);
            libc::signal(signal, libc::SIG_DFL);
            libc::raise(signal);
        }
    }
    ExitCode::from(u8::try_from(exit_code_of(status)).unwrap_or(1))
}

/// Restricts the calling process (and what it will `exec`) for good.
fn confine_self(writable: &[PathBuf], network: bool) -> Result<(), String> {
    let abi = LANDLOCK_ABI;
    let read = AccessFs::from_read(abi);
    let all = AccessFs::from_all(abi);
    // Device nodes are never made, even beneath a writable dir: a block device there would
    // write to a disk outside. Nor FIFOs: one named `.gitignore` would block whatever reads it.
    let write = all & !(AccessFs::MakeBlock | AccessFs::MakeChar | AccessFs::MakeFifo);
    let device: BitFlags<AccessFs> =
        AccessFs::ReadFile | AccessFs::WriteFile | AccessFs::Truncate | AccessFs::IoctlDev;
    let error = |what: &str, e: &dyn std::fmt::Display| format!("{what}: {e}");

    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(all)
        .map_err(|e| error("cannot handle file system access", &e))?
        .scope(Scope::from_all(abi))
        .map_err(|e| error("cannot scope signals and abstract sockets", &e))?;
    if !network {
        ruleset = ruleset
            .handle_access(AccessNet::from_all(abi))
            .map_err(|e| error("cannot handle network access", &e))?;
    }
    let mut created = ruleset
        .create()
        .map_err(|e| error("cannot create the Landlock ruleset", &e))?;
    let root = PathFd::new("/").map_err(|e| error("cannot open `/`", &e))?;
    created = created
        .add_rule(PathBeneath::new(root, read))
        .map_err(|e| error("cannot allow reads", &e))?;
    for dir in writable {
        let fd = PathFd::new(dir)
            .map_err(|e| error(&format!("cannot open writable dir `{}`", dir.display()), &e))?;
        created = created
            .add_rule(PathBeneath::new(fd, write))
            .map_err(|e| error(&format!("cannot allow writes to `{}`", dir.display()), &e))?;
    }
    for path in DEVICES {
        if let Ok(fd) = PathFd::new(path) {
            created = created
                .add_rule(PathBeneath::new(fd, device))
                .map_err(|e| error(&format!("cannot allow `{path}`"), &e))?;
        }
    }
    let status = created
        .restrict_self()
        .map_err(|e| error("cannot enforce the Landlock ruleset", &e))?;
    if status.ruleset == RulesetStatus::NotEnforced {
        return Err(
            "Landlock is not enforced on this kernel; refusing to run the command unconfined"
                .to_owned(),
        );
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// Drop every capability: the bounding set (so an `exec` by root gains none), the ambient
/// set, and the permitted, effective and inheritable sets.
fn drop_capabilities() -> Result<(), String> {
    let mut header = CapHeader {
        version: CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: capget fills two CapData entries for version 3, as given.
    if unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) } != 0 {
        return Err("cannot read the capabilities".to_owned());
    }
    let held = data.iter().any(|d| d.permitted != 0 || d.effective != 0);
    for cap in 0..64 {
        // SAFETY: PR_CAPBSET_DROP removes one capability from this process's bounding set.
        let dropped = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) } == 0;
        if !dropped {
            match std::io::Error::last_os_error().raw_os_error() {
                Some(libc::EINVAL) => break, // past the last capability of this kernel
                _ if !held => break,         // an unprivileged process has none to drop
                _ => {
                    return Err(format!(
                        "cannot drop capability {cap} from the bounding set"
                    ));
                }
            }
        }
    }
    // SAFETY: clearing the ambient set takes no pointers.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    let empty = [CapData::default(); 2];
    // SAFETY: capset reads two CapData entries for version 3, as given.
    if unsafe { libc::syscall(libc::SYS_capset, &header, empty.as_ptr()) } != 0 {
        return Err("cannot drop the capabilities".to_owned());
    }
    Ok(())
}
