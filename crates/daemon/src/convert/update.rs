//! `POST /containers/{id}/update`: Docker's `UpdateConfig` body as an engine [`UpdateSpec`].
//!
//! Parsed into our own struct rather than bollard's, whose restart policy name is an enum:
//! an unknown name must be a 400 with a clear message, not a JSON decoding error.

use berth_engine::{RestartPolicy, UpdateSpec};
use serde::Deserialize;

use crate::error::ApiError;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct UpdateBody {
    memory: Option<i64>,
    memory_swap: Option<i64>,
    memory_reservation: Option<i64>,
    nano_cpus: Option<i64>,
    cpu_shares: Option<i64>,
    cpu_period: Option<i64>,
    cpu_quota: Option<i64>,
    cpuset_cpus: Option<String>,
    cpuset_mems: Option<String>,
    pids_limit: Option<i64>,
    restart_policy: Option<RestartPolicyBody>,
    kernel_memory: Option<i64>,
    blkio_weight: Option<u16>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct RestartPolicyBody {
    name: Option<String>,
    maximum_retry_count: Option<i64>,
}

/// Converts an update body. As in Docker, zero means "leave as is" for every limit except
/// `PidsLimit` (0 or -1: unlimited), and an empty restart policy name leaves the policy.
pub fn update_body(body: &[u8]) -> Result<UpdateSpec, ApiError> {
    let body: UpdateBody = if body.iter().all(u8::is_ascii_whitespace) {
        UpdateBody::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            ApiError::bad_request(format!("invalid JSON body for container update: {e}"))
        })?
    };
    if body.kernel_memory.is_some_and(|k| k != 0) {
        return Err(ApiError::bad_request(
            "kernel memory limits are not supported (deprecated by Docker)",
        ));
    }
    if body.blkio_weight.is_some_and(|w| w != 0) {
        return Err(ApiError::bad_request(
            "updating blkio weight is not supported",
        ));
    }
    let nonzero = |v: Option<i64>| v.filter(|v| *v != 0);
    let restart_policy = body.restart_policy.and_then(|p| {
        let name = p.name.unwrap_or_default();
        (!name.is_empty()).then(|| RestartPolicy {
            name,
            maximum_retry_count: p.maximum_retry_count.unwrap_or(0),
        })
    });
    Ok(UpdateSpec {
        memory: nonzero(body.memory),
        memory_swap: nonzero(body.memory_swap),
        memory_reservation: nonzero(body.memory_reservation),
        nano_cpus: nonzero(body.nano_cpus),
        cpu_shares: nonzero(body.cpu_shares),
        cpu_period: nonzero(body.cpu_period),
        cpu_quota: nonzero(body.cpu_quota),
        cpuset_cpus: body.cpuset_cpus.filter(|s| !s.is_empty()),
        cpuset_mems: body.cpuset_mems.filter(|s| !s.is_empty()),
        pids_limit: body.pids_limit,
        restart_policy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zeros_leave_limits_alone() {
        let u = update_body(
            br#"{"Memory":67108864,"CpuShares":0,"PidsLimit":0,"RestartPolicy":{"Name":""}}"#,
        )
        .unwrap();
        assert_eq!(u.memory, Some(67108864));
        assert_eq!(u.cpu_shares, None);
        assert_eq!(u.pids_limit, Some(0));
        assert!(u.restart_policy.is_none());
        let u = update_body(br#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3}}"#)
            .unwrap();
        assert_eq!(u.restart_policy.unwrap().maximum_retry_count, 3);
        assert!(update_body(b"").is_ok());
        assert!(update_body(b"{").is_err());
    }
}
