//! The container configuration flags shared by `run` and `create`, and their translation into
//! the API's create body (what docker's `parse()` in `opts.go` does).

use crate::format::units;
use anyhow::{anyhow, bail, Context, Result};
use bollard::models::{
    ContainerCreateBody, HostConfig, PortBinding, ResourcesUlimits, RestartPolicy,
    RestartPolicyNameEnum,
};
use clap::{ArgAction, Args};
use std::collections::HashMap;
use std::path::PathBuf;

/// Flags that describe a container (docker's `containerOptions`).
#[derive(Args, Debug, Clone, Default)]
pub struct ContainerOpts {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long)]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long)]
    pub hostname: Option<String>,
    /// Container NIS domain name
    #[arg(long)]
    pub domainname: Option<String>,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: '-1' to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Memory soft limit
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    /// Disable OOM Killer
    #[arg(long = "oom-kill-disable")]
    pub oom_kill_disable: bool,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) period
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<i64>,
    /// Limit CPU CFS (Completely Fair Scheduler) quota
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    /// CPUs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    /// MEMs in which to allow execution (0-3, 0,1)
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Size of /dev/shm
    #[arg(long = "shm-size")]
    pub shm_size: Option<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add")]
    pub cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop")]
    pub cap_drop: Vec<String>,
    /// Give extended privileges to this container
    #[arg(long)]
    pub privileged: bool,
    /// Security Options
    #[arg(long = "security-opt")]
    pub security_opt: Vec<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net")]
    pub network: Option<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias")]
    pub network_alias: Vec<String>,
    /// Add link to another container
    #[arg(long = "link")]
    pub link: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address")]
    pub mac_address: Option<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long = "ip")]
    pub ip: Option<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host")]
    pub add_host: Vec<String>,
    /// Set custom DNS servers
    #[arg(long)]
    pub dns: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option")]
    pub dns_option: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search")]
    pub dns_search: Vec<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Read in a line delimited file of labels
    #[arg(long = "label-file")]
    pub label_file: Vec<PathBuf>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<i64>,
    /// Ulimit options
    #[arg(long)]
    pub ulimit: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long)]
    pub attach: Vec<String>,
    /// Run an init inside the container that forwards signals and reaps processes
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true", action = ArgAction::Set)]
    pub init: Option<bool>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    pub read_only: bool,
    /// Bind mount a volume
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs directory
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Attach a filesystem mount to the container
    #[arg(long)]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s)
    #[arg(long = "volumes-from")]
    pub volumes_from: Vec<String>,
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish")]
    pub publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    pub publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long)]
    pub expose: Vec<String>,
    /// Sysctl options
    #[arg(long)]
    pub sysctl: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add")]
    pub group_add: Vec<String>,
    /// Add a host device to the container
    #[arg(long)]
    pub device: Vec<String>,
    /// Add a rule to the cgroup allowed devices list
    #[arg(long = "device-cgroup-rule")]
    pub device_cgroup_rule: Vec<String>,
    /// PID namespace to use
    #[arg(long)]
    pub pid: Option<String>,
    /// IPC mode to use
    #[arg(long)]
    pub ipc: Option<String>,
    /// UTS namespace to use
    #[arg(long)]
    pub uts: Option<String>,
    /// Logging driver for the container
    #[arg(long = "log-driver")]
    pub log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt")]
    pub log_opt: Vec<String>,
    /// Set platform if server is multi-platform capable (ignored)
    #[arg(long)]
    pub platform: Option<String>,
}

/// Docker's `ParseEnvFile`: `KEY=value` lines, `#` comments, `KEY` alone takes the value from
/// the caller's environment (and is dropped when unset).
pub fn parse_env_file_content(
    content: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for (n, raw) in content.lines().enumerate() {
        let raw = if n == 0 {
            raw.trim_start_matches('\u{feff}')
        } else {
            raw
        };
        let line = raw.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (var, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        let var = var.trim_start();
        if var.chars().any(char::is_whitespace) {
            bail!("variable '{var}' contains whitespaces");
        }
        if var.is_empty() {
            bail!("no variable name on line '{line}'");
        }
        match value {
            Some(v) => out.push(format!("{var}={v}")),
            None => {
                if let Some(v) = lookup(var) {
                    out.push(format!("{var}={v}"));
                }
            }
        }
    }
    Ok(out)
}

fn read_kv_file(path: &PathBuf, what: &str) -> Result<Vec<String>> {
    let content = std::fs::read_to_string(path)
        .with_context(|| format!("open {}: no such {what} file", path.display()))?;
    parse_env_file_content(&content, &|k| std::env::var(k).ok())
}

/// `-e KEY` without a value takes it from the caller's environment, as docker does.
fn expand_env(e: &str) -> String {
    if e.contains('=') {
        return e.to_string();
    }
    match std::env::var(e) {
        Ok(v) => format!("{e}={v}"),
        Err(_) => e.to_string(),
    }
}

/// Docker's `parseSecurityOpts`: `seccomp=PATH` is replaced by the profile's compacted JSON.
pub fn parse_security_opts(opts: &[String]) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for opt in opts {
        let (key, value) = match opt.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None if opt == "no-new-privileges" => (opt.as_str(), None),
            None => match opt.split_once(':') {
                Some((k, v)) => (k, Some(v)),
                None => bail!("Invalid --security-opt: {opt:?}"),
            },
        };
        match (key, value) {
            ("seccomp", Some(v)) if v != "unconfined" && v != "builtin" => {
                let raw = std::fs::read(v)
                    .map_err(|e| anyhow!("opening seccomp profile ({v}) failed: {e}"))?;
                let json: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| {
                    anyhow!("compacting json for seccomp profile ({v}) failed: {e}")
                })?;
                out.push(format!("seccomp={}", serde_json::to_string(&json)?));
            }
            _ => out.push(opt.clone()),
        }
    }
    Ok(out)
}

/// `--ulimit nofile=1024:2048` (or `nofile=1024` for both limits).
pub fn parse_ulimit(s: &str) -> Result<ResourcesUlimits> {
    let (name, limits) = s
        .split_once('=')
        .ok_or_else(|| anyhow!("invalid ulimit argument: {s}"))?;
    let (soft, hard) = match limits.split_once(':') {
        Some((a, b)) => (a, b),
        None => (limits, limits),
    };
    let soft: i64 = soft
        .parse()
        .map_err(|_| anyhow!("invalid ulimit soft value: {soft}"))?;
    let hard: i64 = hard
        .parse()
        .map_err(|_| anyhow!("invalid ulimit hard value: {hard}"))?;
    if soft > hard {
        bail!("ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}");
    }
    Ok(ResourcesUlimits {
        name: Some(name.to_string()),
        soft: Some(soft),
        hard: Some(hard),
    })
}

/// `--restart no|always|unless-stopped|on-failure[:N]`.
pub fn parse_restart(s: &str) -> Result<RestartPolicy> {
    let (name, count) = match s.split_once(':') {
        Some((n, c)) => (
            n,
            Some(
                c.parse::<i64>()
                    .map_err(|_| anyhow!("maximum retry count must be an integer"))?,
            ),
        ),
        None => (s, None),
    };
    let name = match name {
        "" | "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => bail!("invalid restart policy '{other}'"),
    };
    if count.is_some() && name != RestartPolicyNameEnum::ON_FAILURE {
        bail!("maximum retry count cannot be used with restart policy '{s}'");
    }
    Ok(RestartPolicy {
        name: Some(name),
        maximum_retry_count: count,
    })
}

/// `-p [ip:][hostPort:]containerPort[/proto]` -> (exposed port key, binding).
/// One `-p` value, in every form Docker accepts: `containerPort`, `hostPort:containerPort`,
/// `ip:hostPort:containerPort`, `ip::containerPort`, ranges on either side (`8000-8001:80-81`
/// maps pairwise; `8000-8010:80` lets the daemon pick a free port of the range), and a
/// `/tcp` or `/udp` suffix. Returns one `(port/proto, binding)` per container port.
pub fn parse_publish(s: &str) -> Result<Vec<(String, PortBinding)>> {
    let (spec, proto) = match s.rsplit_once('/') {
        Some((a, p)) => (a, p.to_ascii_lowercase()),
        None => (s, "tcp".to_owned()),
    };
    if !["tcp", "udp", "sctp"].contains(&proto.as_str()) {
        bail!("invalid proto: {proto}");
    }
    let parts: Vec<&str> = if spec.starts_with('[') {
        // [ipv6]:host:container
        let end = spec
            .find(']')
            .ok_or_else(|| anyhow!("invalid port format: {s}"))?;
        let ip = &spec[..=end];
        let rest: Vec<&str> = spec[end + 1..].trim_start_matches(':').split(':').collect();
        let mut v = vec![ip];
        v.extend(rest);
        v
    } else {
        spec.split(':').collect()
    };
    let (ip, host, container) = match parts.as_slice() {
        [c] => ("", "", *c),
        [h, c] => ("", *h, *c),
        [ip, h, c] => (*ip, *h, *c),
        _ => bail!("invalid port format: {s}"),
    };
    let ip = ip.trim_matches(|c| c == '[' || c == ']');
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        bail!("invalid IP address: {ip}");
    }
    let range = |text: &str, what: &str| -> Result<(u32, u32)> {
        let (a, b) = text.split_once('-').unwrap_or((text, text));
        let a: u32 = a.parse().map_err(|_| anyhow!("invalid {what}: {text}"))?;
        let b: u32 = b.parse().map_err(|_| anyhow!("invalid {what}: {text}"))?;
        if a == 0 || b > 65535 || b < a {
            bail!("invalid {what}: {text}");
        }
        Ok((a, b))
    };
    if container.is_empty() {
        bail!("no port specified: {s}<empty>");
    }
    let (c_first, c_last) = range(container, "containerPort")?;
    let host_range = if host.is_empty() {
        None
    } else {
        Some(range(host, "hostPort")?)
    };
    let count = c_last - c_first + 1;
    let mut out = Vec::new();
    for (n, port) in (c_first..=c_last).enumerate() {
        let host_port = match host_range {
            None => String::new(),
            // One container port onto a host range: the daemon picks a free one of them.
            Some((h_first, h_last)) if count == 1 && h_last > h_first => {
                format!("{h_first}-{h_last}")
            }
            Some((h_first, h_last)) if h_last - h_first + 1 == count => {
                (h_first + n as u32).to_string()
            }
            Some(_) => bail!(
                "invalid ranges specified for container and host Ports: {container} and {host}"
            ),
        };
        out.push((
            format!("{port}/{proto}"),
            PortBinding {
                host_ip: Some(ip.to_string()),
                host_port: Some(host_port),
            },
        ));
    }
    Ok(out)
}

fn kv_map(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect()
}

impl ContainerOpts {
    /// Streams the container attaches to when run in the foreground (docker's rules: `-a` picks,
    /// otherwise stdout and stderr, plus stdin with `-i`).
    pub fn attach_streams(&self) -> (bool, bool, bool) {
        let has = |s: &str| self.attach.iter().any(|a| a.eq_ignore_ascii_case(s));
        let stdin = has("stdin") || self.interactive;
        let (stdout, stderr) = if self.attach.is_empty() {
            (true, true)
        } else {
            (has("stdout"), has("stderr"))
        };
        (stdin, stdout, stderr)
    }

    /// Builds the create body for `image` and `cmd`.
    pub fn to_body(&self, image: &str, cmd: &[String]) -> Result<ContainerCreateBody> {
        for a in &self.attach {
            if !["stdin", "stdout", "stderr"].contains(&a.to_ascii_lowercase().as_str()) {
                bail!("invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR");
            }
        }
        let mut env = Vec::new();
        for f in &self.env_file {
            env.extend(read_kv_file(f, "env")?);
        }
        env.extend(self.env.iter().map(|e| expand_env(e)));

        let mut labels = Vec::new();
        for f in &self.label_file {
            labels.extend(read_kv_file(f, "label")?);
        }
        labels.extend(self.label.iter().cloned());

        let (attach_stdin, attach_stdout, attach_stderr) = self.attach_streams();

        let entrypoint = self.entrypoint.as_ref().map(|e| vec![e.clone()]);

        let mut exposed: Vec<String> = Vec::new();
        let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
        for p in &self.publish {
            for (key, binding) in parse_publish(p)? {
                if !exposed.contains(&key) {
                    exposed.push(key.clone());
                }
                bindings
                    .entry(key)
                    .or_insert_with(|| Some(Vec::new()))
                    .get_or_insert_with(Vec::new)
                    .push(binding);
            }
        }
        for e in &self.expose {
            let key = if e.contains('/') {
                e.clone()
            } else {
                format!("{e}/tcp")
            };
            if !exposed.contains(&key) {
                exposed.push(key);
            }
        }

        // Like the docker CLI: `-v /path` (no source) asks for an anonymous volume through
        // Config.Volumes; everything else travels as a bind for the daemon to parse.
        let mut binds = Vec::new();
        let mut volumes = Vec::new();
        for v in &self.volume {
            match v.split_once(':') {
                Some((_, rest)) if rest != "/" => binds.push(v.clone()),
                _ => volumes.push(v.clone()),
            }
        }
        let mounts = self
            .mount
            .iter()
            .map(|m| super::mount_opt::parse_mount(m))
            .collect::<Result<Vec<_>>>()?;

        let tmpfs: HashMap<String, String> = self
            .tmpfs
            .iter()
            .map(|t| match t.split_once(':') {
                Some((p, o)) => (p.to_string(), o.to_string()),
                None => (t.clone(), String::new()),
            })
            .collect();

        // Like the docker CLI: log options travel even without --log-driver (the daemon's
        // default driver applies them).
        let log_config = (self.log_driver.is_some() || !self.log_opt.is_empty()).then(|| {
            bollard::models::HostConfigLogConfig {
                typ: Some(self.log_driver.clone().unwrap_or_default()),
                config: Some(kv_map(&self.log_opt)),
            }
        });

        let host_config = HostConfig {
            memory: self
                .memory
                .as_deref()
                .map(units::ram_in_bytes)
                .transpose()?,
            memory_swap: self
                .memory_swap
                .as_deref()
                .map(units::memory_swap)
                .transpose()?,
            memory_reservation: self
                .memory_reservation
                .as_deref()
                .map(units::ram_in_bytes)
                .transpose()?,
            oom_kill_disable: self.oom_kill_disable.then_some(true),
            nano_cpus: self.cpus.as_deref().map(units::nano_cpus).transpose()?,
            cpu_shares: self.cpu_shares,
            cpu_period: self.cpu_period,
            cpu_quota: self.cpu_quota,
            cpuset_cpus: self.cpuset_cpus.clone(),
            cpuset_mems: self.cpuset_mems.clone(),
            pids_limit: self.pids_limit,
            shm_size: self
                .shm_size
                .as_deref()
                .map(units::ram_in_bytes)
                .transpose()?,
            ulimits: (!self.ulimit.is_empty())
                .then(|| self.ulimit.iter().map(|u| parse_ulimit(u)).collect())
                .transpose()?,
            cap_add: (!self.cap_add.is_empty()).then(|| self.cap_add.clone()),
            cap_drop: (!self.cap_drop.is_empty()).then(|| self.cap_drop.clone()),
            privileged: Some(self.privileged),
            security_opt: (!self.security_opt.is_empty())
                .then(|| parse_security_opts(&self.security_opt))
                .transpose()?,
            network_mode: Some(
                self.network
                    .clone()
                    .unwrap_or_else(|| "default".to_string()),
            ),
            extra_hosts: (!self.add_host.is_empty()).then(|| self.add_host.clone()),
            links: (!self.link.is_empty()).then(|| self.link.clone()),
            dns: (!self.dns.is_empty()).then(|| self.dns.clone()),
            dns_options: (!self.dns_option.is_empty()).then(|| self.dns_option.clone()),
            dns_search: (!self.dns_search.is_empty()).then(|| self.dns_search.clone()),
            init: self.init,
            restart_policy: self.restart.as_deref().map(parse_restart).transpose()?,
            auto_remove: Some(self.rm),
            readonly_rootfs: Some(self.read_only),
            binds: (!binds.is_empty()).then_some(binds),
            tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
            mounts: (!mounts.is_empty()).then_some(mounts),
            volumes_from: (!self.volumes_from.is_empty()).then(|| self.volumes_from.clone()),
            port_bindings: (!bindings.is_empty()).then_some(bindings),
            publish_all_ports: Some(self.publish_all),
            sysctls: (!self.sysctl.is_empty()).then(|| kv_map(&self.sysctl)),
            group_add: (!self.group_add.is_empty()).then(|| self.group_add.clone()),
            devices: (!self.device.is_empty())
                .then(|| {
                    self.device
                        .iter()
                        .map(|d| super::device_opt::parse_device(d))
                        .collect::<Result<Vec<_>>>()
                })
                .transpose()?,
            device_cgroup_rules: (!self.device_cgroup_rule.is_empty())
                .then(|| self.device_cgroup_rule.clone()),
            pid_mode: self.pid.clone(),
            ipc_mode: self.ipc.clone(),
            uts_mode: self.uts.clone(),
            log_config,
            ..Default::default()
        };

        let endpoint_given =
            !self.network_alias.is_empty() || self.ip.is_some() || self.mac_address.is_some();
        let networking_config = match (&self.network, endpoint_given) {
            (net, true) => Some(bollard::models::NetworkingConfig {
                endpoints_config: Some(HashMap::from([(
                    net.clone().unwrap_or_else(|| "default".to_string()),
                    bollard::models::EndpointSettings {
                        aliases: (!self.network_alias.is_empty())
                            .then(|| self.network_alias.clone()),
                        mac_address: self.mac_address.clone(),
                        ipam_config: self.ip.clone().map(|ip| {
                            bollard::models::EndpointIpamConfig {
                                ipv4_address: Some(ip),
                                ..Default::default()
                            }
                        }),
                        ..Default::default()
                    },
                )])),
            }),
            _ => None,
        };

        Ok(ContainerCreateBody {
            hostname: self.hostname.clone(),
            domainname: self.domainname.clone(),
            user: self.user.clone(),
            attach_stdin: Some(attach_stdin),
            attach_stdout: Some(attach_stdout),
            attach_stderr: Some(attach_stderr),
            exposed_ports: (!exposed.is_empty()).then_some(exposed),
            tty: Some(self.tty),
            open_stdin: Some(self.interactive),
            stdin_once: Some(self.interactive && attach_stdin),
            env: Some(env),
            cmd: (!cmd.is_empty()).then(|| cmd.to_vec()),
            image: Some(image.to_string()),
            volumes: (!volumes.is_empty()).then_some(volumes),
            working_dir: self.workdir.clone(),
            entrypoint,
            labels: Some(kv_map(&labels)),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            host_config: Some(host_config),
            networking_config,
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file() {
        let content = "\u{feff}# comment\nA=1\n  B=two words\n\nFROM_HOST\nMISSING\nC=\n";
        let lookup = |k: &str| (k == "FROM_HOST").then(|| "h".to_string());
        assert_eq!(
            parse_env_file_content(content, &lookup).unwrap(),
            vec!["A=1", "B=two words", "FROM_HOST=h", "C="]
        );
        assert!(parse_env_file_content("BAD KEY=1", &lookup).is_err());
        assert!(parse_env_file_content("=1", &lookup).is_err());
    }

    #[test]
    fn ulimits_and_restart() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.soft, u.hard), (Some(1024), Some(2048)));
        let u = parse_ulimit("nproc=10").unwrap();
        assert_eq!((u.soft, u.hard), (Some(10), Some(10)));
        assert!(parse_ulimit("nofile=5:1").is_err());
        let r = parse_restart("on-failure:3").unwrap();
        assert_eq!(r.maximum_retry_count, Some(3));
        assert!(parse_restart("always:3").is_err());
        assert!(parse_restart("sometimes").is_err());
    }

    #[test]
    fn publish() {
        let one = |s: &str| parse_publish(s).unwrap().remove(0);
        let (k, b) = one("8080:80");
        assert_eq!(k, "80/tcp");
        assert_eq!(b.host_port.as_deref(), Some("8080"));
        let (k, b) = one("127.0.0.1:53:53/udp");
        assert_eq!(k, "53/udp");
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"));
        let (k, b) = one("127.0.0.1::80");
        assert_eq!((k.as_str(), b.host_port.as_deref()), ("80/tcp", Some("")));
        let (k, b) = one("80");
        assert_eq!((k.as_str(), b.host_port.as_deref()), ("80/tcp", Some("")));
        let pairs = parse_publish("8000-8001:80-81/udp").unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[1].0, "81/udp");
        assert_eq!(pairs[1].1.host_port.as_deref(), Some("8001"));
        assert_eq!(
            one("9000-9010:80").1.host_port.as_deref(),
            Some("9000-9010")
        );
        assert_eq!(parse_publish("80-82").unwrap().len(), 3);
        for bad in [
            "a:b:c:d",
            "8080:http",
            "0",
            "70000",
            "80/icmp",
            "8000-8002:80-81",
            "1.2.3:80:80",
            "90-80:80",
        ] {
            assert!(parse_publish(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn security_opts() {
        let dir = std::env::temp_dir().join(format!("berth-seccomp-{}", std::process::id()));
        std::fs::write(&dir, "{ \"defaultAction\" : \"SCMP_ACT_ALLOW\" }").unwrap();
        let opts = vec![
            "seccomp=unconfined".to_string(),
            "no-new-privileges".to_string(),
            format!("seccomp={}", dir.display()),
        ];
        let out = parse_security_opts(&opts).unwrap();
        std::fs::remove_file(&dir).ok();
        assert_eq!(out[0], "seccomp=unconfined");
        assert_eq!(out[1], "no-new-privileges");
        assert_eq!(out[2], r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#);
        assert!(parse_security_opts(&["bogus".into()]).is_err());
    }

    #[test]
    fn body_from_flags() {
        let o = ContainerOpts {
            memory: Some("512m".into()),
            cpus: Some("1.5".into()),
            env: vec!["A=1".into()],
            rm: true,
            interactive: true,
            ..Default::default()
        };
        let b = o.to_body("busybox", &["echo".into(), "hi".into()]).unwrap();
        let hc = b.host_config.unwrap();
        assert_eq!(hc.memory, Some(512 * 1024 * 1024));
        assert_eq!(hc.nano_cpus, Some(1_500_000_000));
        assert_eq!(hc.auto_remove, Some(true));
        assert_eq!(hc.network_mode.as_deref(), Some("default"));
        assert_eq!(b.cmd, Some(vec!["echo".to_string(), "hi".to_string()]));
        assert_eq!(b.env, Some(vec!["A=1".to_string()]));
        assert_eq!(b.open_stdin, Some(true));
        assert_eq!(b.stdin_once, Some(true));
        assert_eq!(b.attach_stdout, Some(true));
    }
}
