//! Docker's default seccomp profile (moby `profiles/seccomp/default.json`), as an OCI
//! `LinuxSeccomp` specialised for the host architecture and the container's capabilities.
//!
//! Semantics follow moby's loader: a rule group with `includes.caps` is kept only when the
//! container has every listed capability; one with `excludes.caps` is dropped when it has any of
//! them. Architecture-specific groups are kept only for the architecture this binary runs on.
//! The syscall name lists are transcribed facts; names unknown to an architecture are skipped by
//! the compiler (`crate::seccomp`), like libseccomp does.

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompArgBuilder,
    LinuxSeccompOperator, LinuxSyscall,
};

/// `EPERM`: what a syscall outside the allow list returns.
const EPERM: u32 = 1;
/// `ENOSYS` (non-MIPS): what `clone3` returns without `CAP_SYS_ADMIN`, so glibc falls back to
/// `clone`, whose flags the profile can inspect (`clone3` passes them in memory).
const ENOSYS: u32 = 38;
/// Namespace flags `clone` may not use without `CAP_SYS_ADMIN`: CLONE_NEWNS | CLONE_NEWUTS |
/// CLONE_NEWIPC | CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWCGROUP.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;
/// `AF_VSOCK`: denied since moby 24 (vsock reaches the hypervisor, outside any network namespace).
const AF_VSOCK: u64 = 40;

/// Syscalls every container may use, whatever its capabilities.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchmodat2",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_requeue",
    "futex_time64",
    "futex_wait",
    "futex_waitv",
    "futex_wake",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "map_shadow_stack",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
    // moby allows these on kernels >= 4.8 (older kernels let ptrace bypass seccomp); every kernel
    // Berth supports is newer.
    "process_vm_readv",
    "process_vm_writev",
    "ptrace",
];

/// Architecture-only allow lists, for the architecture this binary runs on.
#[cfg(target_arch = "x86_64")]
const ARCH_ALLOWED: &[&str] = &["arch_prctl", "modify_ldt"];
#[cfg(target_arch = "aarch64")]
const ARCH_ALLOWED: &[&str] = &[
    "arm_fadvise64_64",
    "arm_sync_file_range",
    "sync_file_range2",
    "breakpoint",
    "cacheflush",
    "set_tls",
];
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH_ALLOWED: &[&str] = &[];

/// Architectures the filter covers: the native one and the compat ABIs its kernel can run.
fn architectures() -> Vec<Arch> {
    if cfg!(target_arch = "x86_64") {
        vec![Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
    } else if cfg!(target_arch = "aarch64") {
        vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]
    } else {
        vec![Arch::ScmpArchNative]
    }
}

/// Syscall groups unlocked by one capability each (moby's `includes.caps`).
const CAP_GROUPS: &[(Capability, &[&str])] = &[
    (Capability::DacReadSearch, &["open_by_handle_at"]),
    (
        Capability::SysAdmin,
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
    ),
    (Capability::SysBoot, &["reboot"]),
    (Capability::SysChroot, &["chroot"]),
    (
        Capability::SysModule,
        &["delete_module", "init_module", "finit_module"],
    ),
    (Capability::SysPacct, &["acct"]),
    (
        Capability::SysPtrace,
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
    ),
    (Capability::SysRawio, &["iopl", "ioperm"]),
    (
        Capability::SysTime,
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
    ),
    (Capability::SysTtyConfig, &["vhangup"]),
    (
        Capability::SysNice,
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
    ),
    (Capability::Syslog, &["syslog"]),
    (Capability::Bpf, &["bpf"]),
    (Capability::Perfmon, &["perf_event_open"]),
];

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|n| (*n).to_string()).collect()
}

fn rule(list: &[&str], action: LinuxSeccompAction) -> LinuxSyscall {
    let mut s = LinuxSyscall::default();
    s.set_names(names(list));
    s.set_action(action);
    s
}

fn arg(index: usize, op: LinuxSeccompOperator, value: u64, value_two: u64) -> LinuxSeccompArg {
    // `LinuxSeccompArg` has no setters; its builder cannot fail (every field has a default and
    // there is no validator), so the fallback is unreachable.
    LinuxSeccompArgBuilder::default()
        .index(index)
        .op(op)
        .value(value)
        .value_two(value_two)
        .build()
        .unwrap_or_default()
}

fn rule_with_args(name: &str, args: Vec<LinuxSeccompArg>) -> LinuxSyscall {
    let mut s = rule(&[name], LinuxSeccompAction::ScmpActAllow);
    s.set_args(Some(args));
    s
}

/// Docker's default seccomp profile for a container holding `caps` (its bounding set: moby
/// evaluates `includes.caps`/`excludes.caps` against it).
///
/// Default action `SCMP_ACT_ERRNO` (`EPERM`); the allow list; `personality` only with the
/// personalities glibc and `setarch` use; `socket` with any family but `AF_VSOCK`; `clone`
/// without namespace flags and `clone3` failing with `ENOSYS` unless `CAP_SYS_ADMIN`; and one
/// group per capability (`CAP_SYS_ADMIN` unlocks mount/unshare/setns..., `CAP_SYS_PTRACE` kcmp
/// and pidfd_getfd, ...).
pub fn default_seccomp_profile(caps: &[Capability]) -> LinuxSeccomp {
    let has = |c: Capability| caps.contains(&c);
    let mut syscalls = vec![
        rule(ALLOWED, LinuxSeccompAction::ScmpActAllow),
        rule_with_args(
            "socket",
            vec![arg(0, LinuxSeccompOperator::ScmpCmpNe, AF_VSOCK, 0)],
        ),
    ];
    // personality(2): PER_LINUX, PER_LINUX32 (setarch i386 on x86_64), UNAME26, PER_LINUX32 |
    // UNAME26, and 0xffffffff (query). Other personalities (e.g. READ_IMPLIES_EXEC, ADDR_NO_RANDOMIZE
    // via `setarch -R`) weaken exploit mitigations.
    for persona in [0x0, 0x8, 0x20000, 0x20008, 0xffff_ffff] {
        syscalls.push(rule_with_args(
            "personality",
            vec![arg(0, LinuxSeccompOperator::ScmpCmpEq, persona, 0)],
        ));
    }
    if !ARCH_ALLOWED.is_empty() {
        syscalls.push(rule(ARCH_ALLOWED, LinuxSeccompAction::ScmpActAllow));
    }
    for (cap, list) in CAP_GROUPS {
        if has(*cap) {
            syscalls.push(rule(list, LinuxSeccompAction::ScmpActAllow));
        }
    }
    if !has(Capability::SysAdmin) {
        // clone(2) without namespace flags. The flags are argument 0 everywhere but s390, which
        // Berth does not target.
        syscalls.push(rule_with_args(
            "clone",
            vec![arg(
                0,
                LinuxSeccompOperator::ScmpCmpMaskedEq,
                CLONE_NAMESPACE_FLAGS,
                0,
            )],
        ));
        // clone3 passes its flags in a struct that BPF cannot read: make it look unimplemented
        // so libc falls back to clone(2), which the rule above can check.
        let mut clone3 = rule(&["clone3"], LinuxSeccompAction::ScmpActErrno);
        clone3.set_errno_ret(Some(ENOSYS));
        syscalls.push(clone3);
    }

    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(LinuxSeccompAction::ScmpActErrno);
    profile.set_default_errno_ret(Some(EPERM));
    profile.set_architectures(Some(architectures()));
    profile.set_syscalls(Some(syscalls));
    profile
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn allowed_unconditionally(p: &LinuxSeccomp, name: &str) -> bool {
        p.syscalls().as_ref().unwrap().iter().any(|s| {
            s.action() == LinuxSeccompAction::ScmpActAllow
                && s.args().as_ref().is_none_or(|a| a.is_empty())
                && s.names().iter().any(|n| n == name)
        })
    }

    #[test]
    fn sys_admin_unlocks_mount_and_plain_clone() {
        let base = default_seccomp_profile(&crate::defaults::default_capabilities());
        assert!(allowed_unconditionally(&base, "read"));
        assert!(!allowed_unconditionally(&base, "mount"));
        assert!(!allowed_unconditionally(&base, "clone"));
        assert!(!allowed_unconditionally(&base, "socket"));
        assert!(
            allowed_unconditionally(&base, "chroot"),
            "SYS_CHROOT is a default cap"
        );
        let mut caps = crate::defaults::default_capabilities();
        caps.push(Capability::SysAdmin);
        let admin = default_seccomp_profile(&caps);
        assert!(allowed_unconditionally(&admin, "mount"));
        assert!(allowed_unconditionally(&admin, "clone"));
        assert!(!admin
            .syscalls()
            .as_ref()
            .unwrap()
            .iter()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActErrno));
        let json = serde_json::to_value(&base).unwrap();
        assert_eq!(json["defaultAction"], "SCMP_ACT_ERRNO");
        assert_eq!(json["defaultErrnoRet"], 1);
    }
}
