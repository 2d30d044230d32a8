//! `berthd`: the Berth daemon. Serves the Docker Engine API on a unix socket.

// Docker's inspect JSON is deep; serde_json's json! macro needs the headroom.
#![recursion_limit = "256"]

mod config;
mod convert;
mod error;
mod routes;
mod server;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Parser;
use tokio::net::UnixListener;

use crate::config::{Config, Flags};

fn main() -> anyhow::Result<()> {
    let flags = Flags::parse();
    let (config, warnings) = Config::load(&flags)?;
    let level = if config.log_level == "fatal" {
        "error"
    } else {
        config.log_level.as_str()
    };
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(format!(
            "{level},hyper=warn"
        )))
        .with_writer(std::io::stderr)
        .init();
    for warning in warnings {
        tracing::warn!("{warning}");
    }
    // Idle RSS: glibc gives every thread its own malloc arena (two are plenty for a daemon that
    // mostly waits), and its dynamic mmap threshold lets freed megabyte-sized I/O buffers pile
    // up in the arenas; a fixed threshold returns them to the kernel on free.
    // SAFETY: mallopt only adjusts allocator parameters; called before any thread exists.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
    }
    // Two worker threads: the daemon mostly waits; containers run in their own processes.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .max_blocking_threads(64)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(run(config))
}

async fn run(config: Config) -> anyhow::Result<()> {
    // Each berth-shim's first process exits after the handshake, orphaning the supervisor. As
    // a subreaper berthd inherits those supervisors and reaps them (through their pidfds) when
    // they exit, instead of relying on PID 1 to do it: not every init reaps orphans.
    // SAFETY: prctl with PR_SET_CHILD_SUBREAPER takes plain integers.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        tracing::warn!(error = %std::io::Error::last_os_error(), "cannot become a child subreaper; exited shims may linger as zombies");
    }
    std::fs::create_dir_all(&config.exec_root)
        .with_context(|| format!("creating {}", config.exec_root.display()))?;
    let pidfile = PidFile::create(&config.pidfile)?;
    let shim_binary = std::env::current_exe()
        .context("locating berthd")?
        .parent()
        .map(|dir| dir.join("berth-shim"))
        .context("locating berth-shim")?;
    if !shim_binary.exists() {
        bail!(
            "berth-shim not found next to berthd (expected {})",
            shim_binary.display()
        );
    }
    let runtime_binary = shim_binary.with_file_name("berth-runtime");
    if !runtime_binary.exists() {
        bail!(
            "berth-runtime not found next to berthd (expected {})",
            runtime_binary.display()
        );
    }
    let init_binary = init_binary(&config, &shim_binary);
    match &init_binary {
        Some(path) => tracing::debug!(init = %path.display(), "container init for --init"),
        None => tracing::warn!(
            "berth-init not found next to berthd or in PATH: containers cannot use --init"
        ),
    }
    let log_max_size = match &config.log_max_size {
        Some(size) => convert::parse_size(size).map_err(|e| anyhow::anyhow!(e.message))?,
        None => berth_engine::DEFAULT_LOG_MAX_SIZE,
    };
    let log_max_file = match &config.log_max_file {
        Some(n) => n
            .parse()
            .with_context(|| format!("invalid max-file {n:?}"))?,
        None => berth_engine::DEFAULT_LOG_MAX_FILE,
    };
    let engine = berth_engine::Engine::open(berth_engine::EngineConfig {
        data_root: config.data_root.clone(),
        exec_root: config.exec_root.clone(),
        shim_binary,
        runtime_binary,
        log_max_size,
        log_max_file,
        network: berth_engine::NetworkConfig {
            bridge: config.network.bridge.clone(),
            bip: config.network.bip.clone(),
            fixed_cidr: config.network.fixed_cidr.clone(),
            mtu: config.network.mtu,
            dns: config.network.dns.clone(),
            dns_search: config.network.dns_search.clone(),
            dns_options: config.network.dns_options.clone(),
            host_gateway_ip: config.network.host_gateway_ip,
            default_address_pools: config.network.default_address_pools.clone(),
        },
        init_default: config.init,
        init_binary,
        storage_driver: config.storage_driver,
    })
    .await
    .context("opening the engine state")?;
    let info = routes::system::DaemonInfo {
        id: daemon_id(&config.data_root),
        data_root: config.data_root.display().to_string(),
        cgroup_version: match berth_engine::cgroup_version() {
            2 => "2".into(),
            _ => "1".into(),
        },
        storage_driver: match engine.images().snapshotter_kind() {
            berth_image::SnapshotterKind::Overlay => "overlay2".to_owned(),
            berth_image::SnapshotterKind::Vfs => "vfs".to_owned(),
        },
    };
    let listener = bind(&config.socket)?;
    tracing::info!(socket = %config.socket.display(), data_root = %config.data_root.display(), "berthd is serving the Engine API");
    let app = server::app(server::AppState {
        engine,
        info: Arc::new(info),
        registry: Arc::new(berth_image::registry::Registry::new(
            berth_image::registry::RegistryConfig {
                insecure: config.insecure_registries.clone(),
            },
        )),
    });
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await;
    let _ = std::fs::remove_file(&config.socket);
    drop(pidfile);
    served.context("serving the API")?;
    tracing::info!("berthd stopped; containers keep running under their shims");
    Ok(())
}

/// Binds the API socket with mode 0660 (root and the socket's group only).
fn bind(socket: &Path) -> anyhow::Result<UnixListener> {
    if let Some(dir) = socket.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    if socket.exists() {
        if std::os::unix::net::UnixStream::connect(socket).is_ok() {
            bail!("another daemon is already serving {}", socket.display());
        }
        std::fs::remove_file(socket)
            .with_context(|| format!("removing stale socket {}", socket.display()))?;
    }
    let listener =
        UnixListener::bind(socket).with_context(|| format!("binding {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o660))
        .with_context(|| format!("setting permissions of {}", socket.display()))?;
    Ok(listener)
}

/// A stable identifier for this daemon's data root (Docker's `ID` in /info).
fn daemon_id(data_root: &Path) -> String {
    let path = data_root.join("engine-id");
    if let Ok(id) = std::fs::read_to_string(&path) {
        return id.trim().to_owned();
    }
    let mut bytes = [0u8; 16];
    let _ = getrandom_fill(&mut bytes);
    let id = bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let _ = std::fs::write(&path, &id);
    id
}

fn getrandom_fill(bytes: &mut [u8]) -> std::io::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")?.read_exact(bytes)
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    tracing::info!("shutting down");
}

/// The pidfile: refuses to start when it names a live process; removed on drop.
struct PidFile(std::path::PathBuf);

impl PidFile {
    fn create(path: &Path) -> anyhow::Result<PidFile> {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(pid) = text.trim().parse::<i32>() {
                if pid != std::process::id() as i32 && Path::new(&format!("/proc/{pid}")).exists() {
                    bail!(
                        "pid file found, ensure berthd is not running or delete {} (it names running process {pid})",
                        path.display()
                    );
                }
            }
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, format!("{}\n", std::process::id()))
            .with_context(|| format!("writing {}", path.display()))?;
        Ok(PidFile(path.to_path_buf()))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The init `--init` mounts into containers: daemon.json `init-path` when set (a bare name is
/// looked up in PATH, as dockerd does; existence is checked when a container asks for it),
/// else `berth-init` next to berthd's own executable, else `berth-init` in PATH.
fn init_binary(config: &Config, berthd_sibling: &Path) -> Option<PathBuf> {
    let in_path = |name: &std::ffi::OsStr| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join(name))
                .find(|candidate| candidate.is_file())
        })
    };
    if let Some(path) = &config.init_path {
        if path.components().count() == 1 && !path.is_absolute() {
            return in_path(path.as_os_str()).or_else(|| Some(path.clone()));
        }
        return Some(path.clone());
    }
    let next_to_us = berthd_sibling.with_file_name("berth-init");
    if next_to_us.is_file() {
        return Some(next_to_us);
    }
    in_path(std::ffi::OsStr::new("berth-init"))
}
