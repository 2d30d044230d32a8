//! berthd's configuration: dockerd's flags where they apply, and `/etc/berth/daemon.json`
//! (dockerd's keys where they apply). Flags win over the file.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::Value;

/// Command-line flags (a subset of dockerd's).
#[derive(Debug, Parser)]
#[command(
    name = "berthd",
    version,
    about = "Berth container engine daemon (Docker Engine API)"
)]
pub struct Flags {
    /// Daemon socket to listen on (unix://PATH); repeatable.
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root of persistent state.
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root of runtime state (bundles, sockets, mounts).
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Path to write the daemon's PID to.
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// debug, info, warn, error or fatal.
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// Enable debug logging.
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Daemon configuration file.
    #[arg(long, default_value = "/etc/berth/daemon.json")]
    pub config_file: PathBuf,
    /// Default log options for containers (max-size=, max-file=); repeatable.
    #[arg(long = "log-opt")]
    pub log_opts: Vec<String>,
    /// Registry reached over plain HTTP (host, host:port or IPv4 CIDR); repeatable.
    #[arg(long = "insecure-registry")]
    pub insecure_registries: Vec<String>,
    /// Attach containers to this bridge ("none" disables the default bridge).
    #[arg(short = 'b', long)]
    pub bridge: Option<String>,
    /// The default bridge's address and subnet (CIDR).
    #[arg(long)]
    pub bip: Option<String>,
    /// IPv4 sub-range of the bridge's subnet that containers get addresses from.
    #[arg(long)]
    pub fixed_cidr: Option<String>,
    /// MTU of container interfaces.
    #[arg(long)]
    pub mtu: Option<u32>,
    /// Storage driver for container filesystems: overlay2 or vfs (default: overlay2 where the
    /// kernel can mount it here, else vfs).
    #[arg(short = 's', long)]
    pub storage_driver: Option<String>,
}

/// The resolved configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub socket: PathBuf,
    pub data_root: PathBuf,
    pub exec_root: PathBuf,
    pub pidfile: PathBuf,
    pub log_level: String,
    pub log_max_size: Option<String>,
    pub log_max_file: Option<String>,
    /// registries reached over plain HTTP besides localhost and 127.0.0.0/8
    pub insecure_registries: Vec<String>,
    /// The default bridge: `bridge`, `bip`, `fixed-cidr`, `mtu`.
    pub network: NetworkOptions,
    /// `init`: containers run with an init unless their HostConfig.Init says otherwise.
    pub init: bool,
    /// `init-path`: the init binary; `None` = `berth-init` next to berthd, else in PATH.
    pub init_path: Option<PathBuf>,
    /// `storage-driver`: `None` = probe (overlay2 where it works, else vfs).
    pub storage_driver: Option<berth_image::SnapshotterKind>,
}

/// dockerd's default-bridge options, as given (validated when the engine opens).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkOptions {
    pub bridge: Option<String>,
    pub bip: Option<String>,
    pub fixed_cidr: Option<String>,
    pub mtu: Option<u32>,
    /// `dns`, `dns-search`, `dns-opts`: defaults for containers' resolv.conf.
    pub dns: Vec<String>,
    pub dns_search: Vec<String>,
    pub dns_options: Vec<String>,
    /// `host-gateway-ip`: the address `--add-host NAME:host-gateway` maps to.
    pub host_gateway_ip: Option<std::net::IpAddr>,
    /// `default-address-pools`: (`base`, `size`) for user-defined networks.
    pub default_address_pools: Vec<(String, u8)>,
}

/// daemon.json keys berthd applies.
const APPLIED_KEYS: &[&str] = &[
    "hosts",
    "data-root",
    "exec-root",
    "pidfile",
    "log-level",
    "debug",
    "log-opts",
    "log-driver",
    "insecure-registries",
    "bridge",
    "bip",
    "fixed-cidr",
    "mtu",
    "dns",
    "dns-search",
    "dns-opts",
    "host-gateway-ip",
    "init",
    "init-path",
    "storage-driver",
    "default-address-pools",
];
/// dockerd keys berthd accepts but does not act on (yet); they are logged, not refused.
const ACCEPTED_KEYS: &[&str] = &[
    "registry-mirrors",
    "storage-opts",
    "live-restore",
    "iptables",
    "ip-forward",
    "ip-masq",
    "mtu",
    "experimental",
    "features",
    "default-ulimits",
    "max-concurrent-downloads",
    "max-concurrent-uploads",
    "shutdown-timeout",
    "userland-proxy",
    "icc",
    "ipv6",
    "default-runtime",
    "runtimes",
    "exec-opts",
    "cgroup-parent",
    "group",
    "labels",
    "tls",
    "tlsverify",
    "tlscacert",
    "tlscert",
    "tlskey",
];

impl Config {
    /// Merges flags over the config file over the defaults, and validates the result.
    pub fn load(flags: &Flags) -> anyhow::Result<(Config, Vec<String>)> {
        let file = read_file(&flags.config_file)?;
        let mut warnings = Vec::new();
        if let Some(object) = file.as_object() {
            let unknown: Vec<&String> = object
                .keys()
                .filter(|k| {
                    !APPLIED_KEYS.contains(&k.as_str()) && !ACCEPTED_KEYS.contains(&k.as_str())
                })
                .collect();
            if !unknown.is_empty() {
                bail!(
                    "the following directives don't match any configuration option: {}",
                    unknown
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                );
            }
            for key in object
                .keys()
                .filter(|k| ACCEPTED_KEYS.contains(&k.as_str()))
            {
                warnings.push(format!(
                    "daemon.json key {key:?} is accepted but not applied by this version of berthd"
                ));
            }
        }
        let string = |key: &str| file.get(key).and_then(Value::as_str).map(str::to_owned);
        let file_hosts: Vec<String> = file
            .get("hosts")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|h| h.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if !flags.hosts.is_empty() && !file_hosts.is_empty() {
            // dockerd refuses this ambiguity too.
            bail!("the following directives are specified both as a flag and in the configuration file: hosts");
        }
        let hosts = if flags.hosts.is_empty() {
            file_hosts
        } else {
            flags.hosts.clone()
        };
        let socket = match hosts.as_slice() {
            [] => PathBuf::from("/run/berth/berth.sock"),
            [one] => parse_host(one)?,
            _ => bail!("berthd listens on one socket; got {} hosts", hosts.len()),
        };
        let debug = flags.debug || file.get("debug").and_then(Value::as_bool).unwrap_or(false);
        let log_level = match (&flags.log_level, string("log-level"), debug) {
            (Some(level), _, _) => level.clone(),
            (None, _, true) => "debug".to_owned(),
            (None, Some(level), false) => level,
            (None, None, false) => "info".to_owned(),
        };
        if !["debug", "info", "warn", "error", "fatal"].contains(&log_level.as_str()) {
            bail!("unable to parse logging level: {log_level}");
        }
        if let Some(driver) = string("log-driver") {
            if driver != "json-file" {
                bail!("log-driver {driver:?} is not supported; berthd writes json-file logs");
            }
        }
        let mut log_max_size = file
            .pointer("/log-opts/max-size")
            .and_then(Value::as_str)
            .map(str::to_owned);
        let mut log_max_file = file
            .pointer("/log-opts/max-file")
            .and_then(Value::as_str)
            .map(str::to_owned);
        for opt in &flags.log_opts {
            match opt.split_once('=') {
                Some(("max-size", v)) => log_max_size = Some(v.to_owned()),
                Some(("max-file", v)) => log_max_file = Some(v.to_owned()),
                _ => bail!("unknown log opt {opt:?} (berthd supports max-size and max-file)"),
            }
        }
        let dns = strings(&file, "dns")?;
        if let Some(bad) = dns.iter().find(|s| s.parse::<std::net::IpAddr>().is_err()) {
            bail!("dns: {bad} is not an ip address");
        }
        let config = Config {
            socket,
            data_root: flags
                .data_root
                .clone()
                .or_else(|| string("data-root").map(PathBuf::from))
                .unwrap_or_else(|| "/var/lib/berth".into()),
            exec_root: flags
                .exec_root
                .clone()
                .or_else(|| string("exec-root").map(PathBuf::from))
                .unwrap_or_else(|| "/run/berth".into()),
            pidfile: flags
                .pidfile
                .clone()
                .or_else(|| string("pidfile").map(PathBuf::from))
                .unwrap_or_else(|| "/run/berth/berthd.pid".into()),
            log_level,
            log_max_size,
            log_max_file,
            // dockerd merges the flag and the file's list
            insecure_registries: flags
                .insecure_registries
                .iter()
                .cloned()
                .chain(
                    file.get("insecure-registries")
                        .and_then(Value::as_array)
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v.as_str().map(str::to_owned)),
                )
                .collect(),
            network: NetworkOptions {
                bridge: flags.bridge.clone().or_else(|| string("bridge")),
                bip: flags.bip.clone().or_else(|| string("bip")),
                fixed_cidr: flags.fixed_cidr.clone().or_else(|| string("fixed-cidr")),
                dns,
                dns_search: strings(&file, "dns-search")?,
                dns_options: strings(&file, "dns-opts")?,
                host_gateway_ip: string("host-gateway-ip")
                    .map(|ip| {
                        ip.parse()
                            .with_context(|| format!("invalid host-gateway-ip {ip:?}"))
                    })
                    .transpose()?,
                mtu: match flags.mtu {
                    Some(mtu) => Some(mtu),
                    None => match file.get("mtu") {
                        None => None,
                        Some(v) => Some(
                            v.as_u64()
                                .and_then(|m| u32::try_from(m).ok())
                                .with_context(|| format!("invalid mtu {v}"))?,
                        ),
                    },
                },
                default_address_pools: address_pools(file.get("default-address-pools"))?,
            },
            init: match file.get("init") {
                None | Some(Value::Null) => false,
                Some(v) => v
                    .as_bool()
                    .with_context(|| format!("invalid init {v}: expected true or false"))?,
            },
            storage_driver: storage_driver(
                flags
                    .storage_driver
                    .clone()
                    .or_else(|| string("storage-driver")),
            )?,
            init_path: match file.get("init-path") {
                None | Some(Value::Null) => None,
                Some(v) => {
                    let path = v
                        .as_str()
                        .filter(|p| !p.is_empty())
                        .with_context(|| format!("invalid init-path {v}: expected a path"))?;
                    Some(PathBuf::from(path))
                }
            },
        };
        Ok((config, warnings))
    }
}

/// dockerd's storage driver names: `overlay2` (or `overlay`) and `vfs`.
fn storage_driver(name: Option<String>) -> anyhow::Result<Option<berth_image::SnapshotterKind>> {
    match name.as_deref() {
        None | Some("") => Ok(None),
        Some("overlay2" | "overlay") => Ok(Some(berth_image::SnapshotterKind::Overlay)),
        Some("vfs") => Ok(Some(berth_image::SnapshotterKind::Vfs)),
        Some(other) => {
            anyhow::bail!("unknown storage driver {other:?}: berthd has overlay2 and vfs")
        }
    }
}

/// A daemon.json list of strings (`"dns": ["1.1.1.1"]`); absent = empty.
fn strings(file: &Value, key: &str) -> anyhow::Result<Vec<String>> {
    match file.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .with_context(|| format!("{key}: expected a list of strings, got {v}"))
            })
            .collect(),
        Some(other) => bail!("{key}: expected a list of strings, got {other}"),
    }
}

/// daemon.json `default-address-pools`: `[{"base": "10.10.0.0/16", "size": 24}, …]`.
fn address_pools(value: Option<&Value>) -> anyhow::Result<Vec<(String, u8)>> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let list = value
        .as_array()
        .with_context(|| format!("invalid default-address-pools {value}: expected a list"))?;
    list.iter()
        .map(|pool| {
            let base = pool["base"]
                .as_str()
                .with_context(|| format!("default-address-pools: missing base in {pool}"))?;
            let size = pool["size"]
                .as_u64()
                .and_then(|s| u8::try_from(s).ok())
                .with_context(|| format!("default-address-pools: invalid size in {pool}"))?;
            Ok((base.to_owned(), size))
        })
        .collect()
}

/// Accepts `unix:///path` (or a bare path). TCP is refused: berthd never listens on the
/// network without TLS, and TLS is not implemented.
fn parse_host(host: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = host.strip_prefix("unix://") {
        if path.is_empty() {
            return Ok(PathBuf::from("/run/berth/berth.sock"));
        }
        return Ok(PathBuf::from(path));
    }
    if host.starts_with("tcp://") || host.starts_with("fd://") || host.starts_with("ssh://") {
        bail!("refusing to listen on {host}: berthd only serves the API on a unix socket (no TCP listener without TLS)");
    }
    if host.starts_with('/') {
        return Ok(PathBuf::from(host));
    }
    bail!("invalid host {host:?}: expected unix:///path/to/socket")
}

fn read_file(path: &Path) -> anyhow::Result<Value> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("reading {}", path.display()))?;
            if !value.is_object() {
                bail!(
                    "{}: the configuration must be a JSON object",
                    path.display()
                );
            }
            Ok(value)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Value::Object(Default::default())),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::parse_from(std::iter::once("berthd").chain(args.iter().copied()))
    }

    #[test]
    fn flags_win_over_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        std::fs::write(
            &file,
            r#"{"data-root": "/from/file", "log-level": "warn", "log-opts": {"max-size": "1m"}}"#,
        )
        .unwrap();
        let f = file.to_str().unwrap();
        let (config, _) =
            Config::load(&flags(&["--config-file", f, "--data-root", "/from/flag"])).unwrap();
        assert_eq!(config.data_root, PathBuf::from("/from/flag"));
        assert_eq!(config.log_level, "warn");
        assert_eq!(config.log_max_size.as_deref(), Some("1m"));
        assert_eq!(config.socket, PathBuf::from("/run/berth/berth.sock"));
    }

    #[test]
    fn refuses_tcp_unknown_keys_and_bad_json() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        let f = file.to_str().unwrap().to_owned();
        std::fs::write(&file, "{}").unwrap();
        assert!(
            Config::load(&flags(&["--config-file", &f, "-H", "tcp://0.0.0.0:2375"]))
                .unwrap_err()
                .to_string()
                .contains("no TCP")
        );
        let (config, _) =
            Config::load(&flags(&["--config-file", &f, "-H", "unix:///tmp/x.sock"])).unwrap();
        assert_eq!(config.socket, PathBuf::from("/tmp/x.sock"));
        std::fs::write(&file, r#"{"no-such-key": 1}"#).unwrap();
        assert!(Config::load(&flags(&["--config-file", &f]))
            .unwrap_err()
            .to_string()
            .contains("no-such-key"));
        std::fs::write(&file, "{").unwrap();
        assert!(Config::load(&flags(&["--config-file", &f])).is_err());
    }

    #[test]
    fn storage_driver_from_the_flag_or_the_file() {
        use berth_image::SnapshotterKind;
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("daemon.json");
        let f = file.to_str().expect("utf-8 path").to_owned();
        std::fs::write(&file, "{}").expect("write");
        let (config, _) = Config::load(&flags(&["--config-file", &f])).expect("load");
        assert_eq!(config.storage_driver, None);
        std::fs::write(&file, r#"{"storage-driver": "vfs"}"#).expect("write");
        let (config, _) = Config::load(&flags(&["--config-file", &f])).expect("load");
        assert_eq!(config.storage_driver, Some(SnapshotterKind::Vfs));
        let (config, _) =
            Config::load(&flags(&["--config-file", &f, "-s", "overlay2"])).expect("load");
        assert_eq!(config.storage_driver, Some(SnapshotterKind::Overlay));
        let error = Config::load(&flags(&["--config-file", &f, "--storage-driver", "zfs"]))
            .expect_err("zfs");
        assert!(
            error.to_string().contains("unknown storage driver \"zfs\""),
            "{error}"
        );
    }

    #[test]
    fn init_keys() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        let f = file.to_str().unwrap().to_owned();
        std::fs::write(&file, "{}").unwrap();
        let (config, _) = Config::load(&flags(&["--config-file", &f])).unwrap();
        assert!(!config.init);
        assert_eq!(config.init_path, None);
        std::fs::write(
            &file,
            r#"{"init": true, "init-path": "/usr/bin/tini-static"}"#,
        )
        .unwrap();
        let (config, warnings) = Config::load(&flags(&["--config-file", &f])).unwrap();
        assert!(config.init);
        assert_eq!(
            config.init_path,
            Some(PathBuf::from("/usr/bin/tini-static"))
        );
        assert!(warnings.is_empty(), "{warnings:?}");
        std::fs::write(&file, r#"{"init": "yes"}"#).unwrap();
        assert!(Config::load(&flags(&["--config-file", &f]))
            .unwrap_err()
            .to_string()
            .contains("invalid init"));
    }
}
