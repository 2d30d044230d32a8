//! `berth-runtime`: an OCI runtime CLI compatible with runc's core verbs.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};

use berth_runtime::container::{self, CreateOptions, RunOptions};
use berth_runtime::launch::Stdio;

#[derive(Parser)]
#[command(name = "berth-runtime", version, about = "Berth's OCI runtime")]
struct Cli {
    /// Root directory for container state.
    #[arg(long, global = true, default_value = container::DEFAULT_ROOT)]
    root: PathBuf,
    /// Append errors to this file (like runc's --log).
    #[arg(long, global = true)]
    log: Option<PathBuf>,
    /// Log format: text or json.
    #[arg(long = "log-format", global = true, default_value = "text")]
    log_format: String,
    /// Accepted for runc compatibility.
    #[arg(long, global = true)]
    debug: bool,
    /// Accepted for runc compatibility (only cgroupfs is supported).
    #[arg(long = "systemd-cgroup", global = true)]
    systemd_cgroup: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a container (its process waits for `start`).
    Create {
        id: String,
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
    },
    /// Start a created container.
    Start { id: String },
    /// Print the OCI state of a container.
    State { id: String },
    /// Send a signal (default TERM) to a container.
    Kill {
        id: String,
        #[arg(default_value = "TERM")]
        signal: String,
        /// Signal every process of the container.
        #[arg(short, long)]
        all: bool,
    },
    /// Freeze every process of a running container.
    Pause { id: String },
    /// Thaw a paused container.
    Resume { id: String },
    /// Delete a container (and its cgroup and state).
    Delete {
        #[arg(short, long)]
        force: bool,
        id: String,
    },
    /// Create and start a container; wait for it unless --detach.
    Run {
        id: String,
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
        #[arg(short, long)]
        detach: bool,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
    },
    /// Run a process inside a created or running container (like `runc exec`).
    Exec {
        /// Container id (or a label with --init-pid).
        id: String,
        /// The process as an OCI process JSON (otherwise: the container's process with ARGS).
        #[arg(short, long)]
        process: Option<PathBuf>,
        /// Exec into the container whose init is this pid (not recorded under --root).
        #[arg(long = "init-pid", requires = "bundle")]
        init_pid: Option<i32>,
        /// The bundle of the --init-pid container.
        #[arg(short, long)]
        bundle: Option<PathBuf>,
        #[arg(short, long)]
        tty: bool,
        #[arg(long = "console-socket")]
        console_socket: Option<PathBuf>,
        #[arg(short, long)]
        detach: bool,
        #[arg(long = "pid-file")]
        pid_file: Option<PathBuf>,
        #[arg(long)]
        cwd: Option<PathBuf>,
        /// KEY=VALUE, added to the environment.
        #[arg(short, long)]
        env: Vec<String>,
        /// UID[:GID]
        #[arg(short, long)]
        user: Option<String>,
        /// The command (when no --process).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
    /// Write a default config.json (like `runc spec`).
    Spec {
        #[arg(short, long, default_value = ".")]
        bundle: PathBuf,
    },
    /// List containers under the root.
    List,
    /// `docker cp`'s container side, confined to the container's root (not an OCI verb).
    Archive {
        /// The container's filesystem view as JSON (berth_runtime::archive::Confinement).
        #[arg(long)]
        confinement: String,
        #[command(subcommand)]
        op: archive_cmd::ArchiveOp,
    },
}

#[path = "berth-runtime/archive_cmd.rs"]
mod archive_cmd;

fn main() {
    let cli = Cli::parse();
    let code = match dispatch(&cli) {
        Ok(code) => code,
        Err(e) => {
            report(&cli, &e);
            1
        }
    };
    std::process::exit(code);
}

/// Reports an error: to the `--log` file when one is given, else to stderr. With `--log` stderr
/// is left alone because it may belong to the process (berthd's exec pipes it to the client).
fn report(cli: &Cli, e: &dyn std::fmt::Display) {
    if cli.log.is_none() {
        eprintln!("berth-runtime: {e}");
    }
    if let Some(log) = &cli.log {
        let line = if cli.log_format == "json" {
            serde_json::json!({
                "level": "error",
                "msg": e.to_string(),
                "time": chrono::Utc::now().to_rfc3339(),
            })
            .to_string()
        } else {
            format!("level=error msg={:?}", e.to_string())
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(log)
        {
            let _ = writeln!(f, "{line}");
        }
    }
}

fn dispatch(cli: &Cli) -> Result<i32, Box<dyn std::error::Error>> {
    let root = cli.root.as_path();
    match &cli.cmd {
        Cmd::Create {
            id,
            bundle,
            pid_file,
            console_socket,
        } => {
            container::create(
                root,
                id,
                bundle,
                CreateOptions {
                    pid_file: pid_file.clone(),
                    console_socket: console_socket.clone(),
                    stdio: Stdio::default(),
                },
            )?;
            Ok(0)
        }
        Cmd::Start { id } => {
            container::start(root, id)?;
            Ok(0)
        }
        Cmd::State { id } => {
            let s = container::state(root, id)?;
            println!("{}", serde_json::to_string_pretty(&s)?);
            Ok(0)
        }
        Cmd::Kill { id, signal, all } => {
            let sig = berth_runtime::signal::parse(signal)?;
            container::kill(root, id, sig, *all)?;
            Ok(0)
        }
        Cmd::Pause { id } => {
            container::pause(root, id)?;
            Ok(0)
        }
        Cmd::Resume { id } => {
            container::resume(root, id)?;
            Ok(0)
        }
        Cmd::Delete { force, id } => {
            container::delete(root, id, *force)?;
            Ok(0)
        }
        Cmd::Run {
            id,
            bundle,
            detach,
            pid_file,
            console_socket,
        } => {
            let code = container::run(
                root,
                id,
                bundle,
                RunOptions {
                    pid_file: pid_file.clone(),
                    console_socket: console_socket.clone(),
                    detach: *detach,
                },
            );
            match code {
                Ok(c) => Ok(c),
                Err(e) => {
                    let kind = e.exec_kind();
                    report(cli, &e);
                    Ok(match kind {
                        berth_runtime::ExecErrorKind::NotFound => 127,
                        berth_runtime::ExecErrorKind::NotExecutable => 126,
                        berth_runtime::ExecErrorKind::Other => 1,
                    })
                }
            }
        }
        Cmd::Exec {
            id,
            process,
            init_pid,
            bundle,
            tty,
            console_socket,
            detach,
            pid_file,
            cwd,
            env,
            user,
            args,
        } => {
            let target = match init_pid {
                Some(pid) => container::ExecTarget::Pid {
                    init_pid: *pid,
                    bundle: bundle.clone().ok_or("--init-pid needs --bundle")?,
                },
                None => container::ExecTarget::Id(id.clone()),
            };
            let process = match process {
                Some(path) => serde_json::from_slice(&std::fs::read(path)?)?,
                None => {
                    let bundle_dir = match &target {
                        container::ExecTarget::Pid { bundle, .. } => bundle.clone(),
                        container::ExecTarget::Id(id) => {
                            container::Container::load(root, id)?.record.bundle
                        }
                    };
                    let spec = berth_runtime::bundle::Bundle::load(&bundle_dir)?.spec;
                    let mut p = spec.process().clone().ok_or("bundle has no process")?;
                    if args.is_empty() {
                        return Err("exec needs --process or a command".into());
                    }
                    p.set_args(Some(args.clone()));
                    p.set_terminal(Some(*tty));
                    if let Some(c) = cwd {
                        p.set_cwd(c.clone());
                    }
                    if !env.is_empty() {
                        let mut e = p.env().clone().unwrap_or_default();
                        e.extend(env.iter().cloned());
                        p.set_env(Some(e));
                    }
                    if let Some(u) = user {
                        let (uid, gid) = match u.split_once(':') {
                            Some((a, b)) => (a.parse::<u32>()?, b.parse::<u32>()?),
                            None => (u.parse::<u32>()?, 0),
                        };
                        let mut usr = p.user().clone();
                        usr.set_uid(uid);
                        usr.set_gid(gid);
                        usr.set_additional_gids(None);
                        p.set_user(usr);
                    }
                    p
                }
            };
            let res = container::exec(
                root,
                &target,
                &process,
                container::ExecOptions {
                    console_socket: console_socket.clone(),
                    detach: *detach,
                    pid_file: pid_file.clone(),
                },
            );
            match res {
                Ok(code) => Ok(code),
                Err(e) => {
                    let kind = e.exec_kind();
                    report(cli, &e);
                    Ok(match kind {
                        berth_runtime::ExecErrorKind::NotFound => 127,
                        berth_runtime::ExecErrorKind::NotExecutable => 126,
                        berth_runtime::ExecErrorKind::Other => 1,
                    })
                }
            }
        }
        Cmd::Spec { bundle } => {
            write_spec(bundle)?;
            Ok(0)
        }
        Cmd::Archive { confinement, op } => Ok(archive_cmd::run(confinement, op)),
        Cmd::List => {
            println!("{:<24} {:<8} {:<10} BUNDLE", "ID", "PID", "STATUS");
            if let Ok(dir) = std::fs::read_dir(root) {
                for e in dir.flatten() {
                    let id = e.file_name().to_string_lossy().into_owned();
                    if let Ok(s) = container::state(root, &id) {
                        println!(
                            "{:<24} {:<8} {:<10} {}",
                            s.id,
                            s.pid,
                            s.status.to_string(),
                            s.bundle.display()
                        );
                    }
                }
            }
            Ok(0)
        }
    }
}

/// Writes `BUNDLE/config.json` with Docker's defaults (caps, mounts, masked/readonly paths,
/// devices) and `sh` as the process, like `runc spec`. Refuses to overwrite.
fn write_spec(bundle: &Path) -> Result<(), Box<dyn std::error::Error>> {
    let path = bundle.join("config.json");
    if path.exists() {
        return Err(format!("file {} exists; remove it first", path.display()).into());
    }
    let spec = default_spec()?;
    std::fs::write(&path, serde_json::to_vec_pretty(&spec)?)?;
    Ok(())
}

fn default_spec() -> Result<oci_spec::runtime::Spec, Box<dyn std::error::Error>> {
    use berth_runtime::defaults;
    use oci_spec::runtime::*;
    let caps: Capabilities = defaults::default_capabilities().into_iter().collect();
    let process = ProcessBuilder::default()
        .terminal(true)
        .user(UserBuilder::default().uid(0u32).gid(0u32).build()?)
        .args(vec!["sh".to_string()])
        .env(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".to_string(),
            "TERM=xterm".to_string(),
        ])
        .cwd("/")
        .capabilities(
            LinuxCapabilitiesBuilder::default()
                .bounding(caps.clone())
                .effective(caps.clone())
                .permitted(caps)
                .build()?,
        )
        .rlimits(vec![PosixRlimitBuilder::default()
            .typ(PosixRlimitType::RlimitNofile)
            .hard(1024u64)
            .soft(1024u64)
            .build()?])
        .no_new_privileges(true)
        .build()?;
    let ns = |t| LinuxNamespaceBuilder::default().typ(t).build();
    let linux = LinuxBuilder::default()
        .resources(
            LinuxResourcesBuilder::default()
                .devices(defaults::default_device_cgroup_rules())
                .build()?,
        )
        .namespaces(vec![
            ns(LinuxNamespaceType::Pid)?,
            ns(LinuxNamespaceType::Network)?,
            ns(LinuxNamespaceType::Ipc)?,
            ns(LinuxNamespaceType::Uts)?,
            ns(LinuxNamespaceType::Mount)?,
        ])
        .masked_paths(defaults::default_masked_paths())
        .readonly_paths(defaults::default_readonly_paths())
        .build()?;
    Ok(SpecBuilder::default()
        .version("1.0.2")
        .root(
            RootBuilder::default()
                .path("rootfs")
                .readonly(true)
                .build()?,
        )
        .process(process)
        .hostname("berth")
        .mounts(defaults::default_mounts())
        .linux(linux)
        .build()?)
}
