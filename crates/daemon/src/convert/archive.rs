//! `docker cp` wire format: the `X-Docker-Container-Path-Stat` header.

use base64::Engine as _;
use berth_engine::PathStat;

/// The header's name, as the docker CLI and bollard read it.
pub const PATH_STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

/// Base64 (standard alphabet, padded) of the stat's JSON, as Docker sends it.
pub fn path_stat_header(stat: &PathStat) -> String {
    let json = serde_json::json!({
        "name": stat.name,
        "size": stat.size,
        "mode": stat.mode,
        "mtime": stat.mtime,
        "linkTarget": stat.link_target,
    });
    base64::engine::general_purpose::STANDARD.encode(json.to_string())
}
