//! What a media worker process may do, set up by the worker itself before
//! it reads its first request: a lower CPU priority (decoding is background
//! work: requests come first), an address-space limit, no core dumps, a
//! bounded output file size, a CPU-time limit per request, and a seccomp
//! filter (Linux) that refuses starting programs or processes, opening
//! sockets, tracing, and signalling any process but itself. Decoding needs
//! none of those; a crafted file that takes over the decoder gets nothing
//! more than the decoder had.

use std::time::Duration;

use rlimit::Resource;

/// Which parts of the confinement took effect.
#[derive(Debug, Clone, Copy, Default)]
pub struct Applied {
    pub seccomp: bool,
}

/// How much lower a media worker's CPU priority is than the server's.
const MEDIA_NICENESS: i32 = 10;

/// Largest file a worker may write (the preview MP3).
const MAX_OUTPUT_BYTES: u64 = 4 << 30;

/// Confines this process; what could not be applied is reported by
/// `report` (the server logs it at start-up).
pub fn apply(memory_mb: u64) -> Applied {
    // Background work yields the CPU to the server answering requests.
    let _ = rustix::process::nice(MEDIA_NICENESS);
    let bytes = memory_mb.saturating_mul(1024 * 1024);
    let _ = rlimit::setrlimit(Resource::AS, bytes, bytes);
    let _ = rlimit::setrlimit(Resource::CORE, 0, 0);
    let _ = rlimit::setrlimit(Resource::FSIZE, MAX_OUTPUT_BYTES, MAX_OUTPUT_BYTES);
    // No new processes for an unprivileged user (root ignores this one:
    // the seccomp filter below is what holds there).
    let _ = rlimit::setrlimit(Resource::NPROC, 0, 0);
    Applied {
        seccomp: seccomp::install().is_ok(),
    }
}

/// Sets the CPU-time limit for the next request: the CPU time used so far
/// plus the request's budget and a second of slack. Past it the kernel
/// sends SIGXCPU, which ends the process.
pub fn limit_cpu_for(budget: Duration) {
    let used = cpu_used().as_secs();
    let soft = used + budget.as_secs() + 1;
    let hard = rlimit::getrlimit(Resource::CPU)
        .map(|(_, h)| h)
        .unwrap_or(rlimit::INFINITY);
    let _ = rlimit::setrlimit(Resource::CPU, soft.min(hard), hard);
}

fn cpu_used() -> Duration {
    use nix::sys::resource::{getrusage, UsageWho};
    match getrusage(UsageWho::RUSAGE_SELF) {
        Ok(u) => {
            let t = u.user_time() + u.system_time();
            Duration::from_secs(t.tv_sec().max(0) as u64)
                + Duration::from_micros(t.tv_usec().max(0) as u64)
        }
        Err(_) => Duration::ZERO,
    }
}

/// The confinement as this process sees it.
pub fn report(applied: &Applied) -> super::sandbox::Confinement {
    let spawn_refused = std::process::Command::new("/bin/true")
        .env_clear()
        .spawn()
        .map(|mut c| {
            let _ = c.wait();
        })
        .is_err();
    let socket_refused = std::net::UdpSocket::bind("127.0.0.1:0").is_err();
    let limit = |r: Resource| {
        rlimit::getrlimit(r)
            .ok()
            .map(|(soft, _)| soft)
            .filter(|s| *s != rlimit::INFINITY)
    };
    super::sandbox::Confinement {
        env_vars: std::env::vars_os().count(),
        spawn_refused,
        socket_refused,
        cpu_limit_secs: limit(Resource::CPU),
        memory_limit_bytes: limit(Resource::AS),
        seccomp: applied.seccomp,
    }
}

#[cfg(target_os = "linux")]
mod seccomp {
    use std::collections::BTreeMap;

    use seccompiler::{
        BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
        SeccompRule,
    };

    /// Refuses (EPERM) what a decoder never needs; everything else is allowed.
    pub fn install() -> Result<(), String> {
        let me = u64::from(std::process::id());
        let err = |e: seccompiler::BackendError| e.to_string();
        let other_than_me = |arg: u8| -> Result<Vec<SeccompRule>, String> {
            let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Ne, me)
                .map_err(err)?;
            Ok(vec![SeccompRule::new(vec![cond]).map_err(err)?])
        };
        // clone(2) without CLONE_THREAD makes a process (fork, posix_spawn).
        let not_a_thread = SeccompCondition::new(
            0,
            SeccompCmpArgLen::Qword,
            SeccompCmpOp::MaskedEq(libc::CLONE_THREAD as u64),
            0,
        )
        .map_err(err)?;
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        #[cfg(target_arch = "x86_64")]
        for call in [libc::SYS_fork, libc::SYS_vfork] {
            rules.insert(call, Vec::new());
        }
        for call in [
            libc::SYS_execve,
            libc::SYS_execveat,
            libc::SYS_clone3,
            libc::SYS_socket,
            libc::SYS_ptrace,
            libc::SYS_process_vm_writev,
            libc::SYS_process_vm_readv,
        ] {
            rules.insert(call, Vec::new());
        }
        rules.insert(
            libc::SYS_clone,
            vec![SeccompRule::new(vec![not_a_thread]).map_err(err)?],
        );
        rules.insert(libc::SYS_kill, other_than_me(0)?);
        rules.insert(libc::SYS_tkill, other_than_me(0)?);
        rules.insert(libc::SYS_tgkill, other_than_me(0)?);
        let arch: seccompiler::TargetArch = std::env::consts::ARCH.try_into().map_err(err)?;
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            arch,
        )
        .map_err(err)?;
        let program: BpfProgram = filter.try_into().map_err(err)?;
        seccompiler::apply_filter(&program).map_err(|e| e.to_string())
    }
}

#[cfg(not(target_os = "linux"))]
mod seccomp {
    pub fn install() -> Result<(), String> {
        Err("seccomp exists only on Linux".into())
    }
}
