//! Credentials, capabilities and rlimits of the container process.

use caps::{CapSet, CapsHashSet};
use oci_spec::runtime::{Capabilities, LinuxCapabilities, PosixRlimit, PosixRlimitType, User};

use crate::{Error, Result};

fn resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// Applies `process.rlimits`.
///
/// Why the clamp: raising a hard limit needs CAP_SYS_RESOURCE, which these machines' bounding set
/// lacks; asking for more than the current hard limit gets exactly the current hard limit (and a
/// soft limit no higher than that) instead of failing the container like crun/podman do.
pub(crate) fn apply_rlimits(rlimits: &[PosixRlimit]) -> Result<()> {
    for r in rlimits {
        let res = resource(r.typ());
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(res, &mut cur) } != 0 {
            return Err(Error::sys(
                format!("getrlimit {:?}", r.typ()),
                nix::errno::Errno::last(),
            ));
        }
        let hard = r.hard().min(cur.rlim_max);
        let soft = r.soft().min(hard);
        let new = libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct we own.
        if unsafe { libc::setrlimit(res, &new) } != 0 {
            return Err(Error::sys(
                format!("setrlimit {:?} soft={soft} hard={hard}", r.typ()),
                nix::errno::Errno::last(),
            ));
        }
    }
    Ok(())
}

/// Converts spec capabilities to the `caps` crate's, keeping only those this process can hold.
///
/// Why the filter: a capability missing from our own bounding set (CAP_SYS_RESOURCE on these
/// machines) or unknown to the kernel can never be granted; like runc with unknown
/// capabilities we leave it out instead of failing every privileged container.
fn convert(set: Option<&Capabilities>, available: &CapsHashSet) -> CapsHashSet {
    let mut out = CapsHashSet::new();
    for c in set.into_iter().flatten() {
        if let Ok(cap) = format!("CAP_{c}").parse::<caps::Capability>() {
            if available.contains(&cap) {
                out.insert(cap);
            }
        }
    }
    out
}

/// The capability sets to apply after the user switch.
pub(crate) struct CapPlan {
    bounding: CapsHashSet,
    effective: CapsHashSet,
    permitted: CapsHashSet,
    inheritable: CapsHashSet,
    ambient: CapsHashSet,
    all: CapsHashSet,
}

/// Computes the plan (reads our permitted set and the kernel's last capability).
pub(crate) fn plan_caps(spec: Option<&LinuxCapabilities>) -> Result<Option<CapPlan>> {
    let Some(spec) = spec else { return Ok(None) };
    let all = caps::runtime::thread_all_supported();
    let available = caps::read(None, CapSet::Permitted).map_err(|e| Error::Init {
        message: format!("read capabilities: {e}"),
        errno: None,
    })?;
    Ok(Some(CapPlan {
        bounding: convert(spec.bounding().as_ref(), &available),
        effective: convert(spec.effective().as_ref(), &available),
        permitted: convert(spec.permitted().as_ref(), &available),
        inheritable: convert(spec.inheritable().as_ref(), &available),
        ambient: convert(spec.ambient().as_ref(), &available),
        all,
    }))
}

fn caps_err(what: &str, e: caps::errors::CapsError) -> Error {
    Error::Init {
        message: format!("{what}: {e}"),
        errno: None,
    }
}

/// Drops every capability not in the spec's bounding set (needs CAP_SETPCAP, so before setuid).
pub(crate) fn apply_bounding(plan: &CapPlan) -> Result<()> {
    for cap in &plan.all {
        if !plan.bounding.contains(cap)
            && caps::has_cap(None, CapSet::Bounding, *cap).unwrap_or(false)
        {
            caps::drop(None, CapSet::Bounding, *cap).map_err(|e| caps_err("drop bounding", e))?;
        }
    }
    Ok(())
}

/// Sets effective, permitted, inheritable and ambient (after the user switch).
pub(crate) fn apply_caps(plan: &CapPlan) -> Result<()> {
    // Why this order: effective must stay a subset of permitted at every capset(2) call.
    caps::set(None, CapSet::Effective, &plan.effective)
        .map_err(|e| caps_err("set effective", e))?;
    caps::set(None, CapSet::Permitted, &plan.permitted)
        .map_err(|e| caps_err("set permitted", e))?;
    caps::set(None, CapSet::Inheritable, &plan.inheritable)
        .map_err(|e| caps_err("set inheritable", e))?;
    // Ambient capabilities must be in permitted and inheritable; raise only those that are.
    let ambient: CapsHashSet = plan
        .ambient
        .iter()
        .filter(|c| plan.permitted.contains(c) && plan.inheritable.contains(c))
        .copied()
        .collect();
    if ambient.is_empty() {
        caps::clear(None, CapSet::Ambient).map_err(|e| caps_err("clear ambient", e))?;
    } else {
        caps::set(None, CapSet::Ambient, &ambient).map_err(|e| caps_err("set ambient", e))?;
    }
    Ok(())
}

/// Switches to the spec's uid/gid/additional gids.
pub(crate) fn set_user(user: &User) -> Result<()> {
    let gids: Vec<libc::gid_t> = user.additional_gids().clone().unwrap_or_default();
    // Why: setgroups is refused in a user namespace whose gid_map was written after
    // "setgroups deny"; an empty list is then the only possible state anyway.
    // SAFETY: setgroups reads `gids.len()` entries from a live slice.
    let ret = unsafe { libc::setgroups(gids.len(), gids.as_ptr()) };
    if ret != 0 {
        let err = nix::errno::Errno::last();
        if !(gids.is_empty() && err == nix::errno::Errno::EPERM) {
            return Err(Error::sys("setgroups", err));
        }
    }
    let gid = user.gid();
    let uid = user.uid();
    // SAFETY: plain credential syscalls.
    if unsafe { libc::setresgid(gid, gid, gid) } != 0 {
        return Err(Error::sys(
            format!("setresgid {gid}"),
            nix::errno::Errno::last(),
        ));
    }
    // SAFETY: plain credential syscall.
    if unsafe { libc::setresuid(uid, uid, uid) } != 0 {
        return Err(Error::sys(
            format!("setresuid {uid}"),
            nix::errno::Errno::last(),
        ));
    }
    Ok(())
}
