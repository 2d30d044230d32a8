//! The command tree (docker's top-level verbs and the `container`/`image` groups) and dispatch.

pub mod container;
pub mod filters;
pub mod image;
pub mod inspect;
pub mod network;
pub mod prune;
pub mod system;
pub mod volume;

use crate::client::connect;
use anyhow::Result;
use clap::{Parser, Subcommand};
use container::{
    create::CreateArgs, exec::ExecArgs, logs::LogsArgs, pause::PauseArgs, pause::RenameArgs,
    ps::PsArgs, rm::RmArgs, run::RunArgs, start::StartArgs, stats::StatsArgs, stop::KillArgs,
    stop::StopArgs, top::TopArgs, update::UpdateArgs, wait::WaitArgs,
};
use image::{import::ImportArgs, ls::ImagesArgs, pull::PullArgs, rm::RmiArgs, tag::TagArgs};
use inspect::{InspectArgs, ObjectType, TypedInspectArgs};
use prune::{ContainerPruneArgs, ImagePruneArgs};
use system::{events::EventsArgs, info::InfoArgs, version::VersionArgs};

/// `berth`: a docker-compatible command line for the Berth engine.
#[derive(Parser, Debug)]
#[command(
    name = "berth",
    version,
    about = "A self-sufficient runtime for containers"
)]
#[command(disable_help_subcommand = true, arg_required_else_help = true)]
pub struct Cli {
    /// Daemon socket to connect to (default: $BERTH_HOST, $DOCKER_HOST, unix:///run/berth/berth.sock)
    #[arg(short = 'H', long = "host", global = true)]
    pub host: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

/// Top-level commands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(container::cp::CpArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(container::attach::AttachArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Return low-level information on Berth objects
    Inspect(InspectArgs),
    /// Pause all processes within one or more containers
    Pause(PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(PauseArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// List images
    Images(ImagesArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(image::push::PushArgs),
    /// Log in to a registry
    Login(image::login::LoginArgs),
    /// Log out from a registry
    Logout(image::login::LogoutArgs),
    /// Search a registry for images
    Search(image::search::SearchArgs),
    /// Display system-wide information
    Info(InfoArgs),
    /// Show the Berth version information
    Version(VersionArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::archive::LoadArgs),
    /// Create a new image from a container's changes
    Commit(container::commit::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(container::commit::ExportArgs),
    /// Show the history of an image
    History(image::history::HistoryArgs),
    /// Manage containers
    Container {
        #[command(subcommand)]
        command: ContainerCommand,
    },
    /// Manage images
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Manage Berth
    System {
        #[command(subcommand)]
        command: SystemCommand,
    },
    /// Manage volumes
    Volume {
        #[command(subcommand)]
        command: volume::VolumeCommand,
    },
    /// List port mappings or a specific mapping for the container
    Port(container::port::PortArgs),
    /// Manage networks
    Network {
        #[command(subcommand)]
        command: network::NetworkCommand,
    },
}

/// `berth container ...`
#[derive(Subcommand, Debug)]
pub enum ContainerCommand {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Execute a command in a running container
    Exec(ExecArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(container::cp::CpArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(container::attach::AttachArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(WaitArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    #[command(visible_alias = "list", visible_alias = "ps")]
    Ls(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Display detailed information on one or more containers
    Inspect(TypedInspectArgs),
    /// Pause all processes within one or more containers
    Pause(PauseArgs),
    /// Unpause all processes within one or more containers
    Unpause(PauseArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Update configuration of one or more containers
    Update(UpdateArgs),
    /// Display a live stream of container(s) resource usage statistics
    Stats(StatsArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
    /// Create a new image from a container's changes
    Commit(container::commit::CommitArgs),
    /// Export a container's filesystem as a tar archive
    Export(container::commit::ExportArgs),
    /// List port mappings or a specific mapping for the container
    Port(container::port::PortArgs),
}

/// `berth image ...`
#[derive(Subcommand, Debug)]
pub enum ImageCommand {
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Display detailed information on one or more images
    Inspect(TypedInspectArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(image::push::PushArgs),
    /// Remove unused images
    Prune(ImagePruneArgs),
    /// Save one or more images to a tar archive (streamed to STDOUT by default)
    Save(image::archive::SaveArgs),
    /// Load an image from a tar archive or STDIN
    Load(image::archive::LoadArgs),
    /// Show the history of an image
    History(image::history::HistoryArgs),
}

/// `berth system ...`
#[derive(Subcommand, Debug)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(InfoArgs),
    /// Get real time events from the server
    Events(EventsArgs),
    /// Show docker disk usage
    Df(system::df::DfArgs),
    /// Remove unused data
    Prune(system::prune::SystemPruneArgs),
}

/// Runs the parsed command line.
pub async fn dispatch(cli: Cli) -> Result<()> {
    let host = crate::client::resolve_host(cli.host.as_deref());
    let command = match cli.command {
        Command::Container { command } => match command {
            ContainerCommand::Run(a) => Command::Run(a),
            ContainerCommand::Create(a) => Command::Create(a),
            ContainerCommand::Exec(a) => Command::Exec(a),
            ContainerCommand::Cp(a) => Command::Cp(a),
            ContainerCommand::Attach(a) => Command::Attach(a),
            ContainerCommand::Start(a) => Command::Start(a),
            ContainerCommand::Stop(a) => Command::Stop(a),
            ContainerCommand::Restart(a) => Command::Restart(a),
            ContainerCommand::Kill(a) => Command::Kill(a),
            ContainerCommand::Wait(a) => Command::Wait(a),
            ContainerCommand::Rm(a) => Command::Rm(a),
            ContainerCommand::Ls(a) => Command::Ps(a),
            ContainerCommand::Logs(a) => Command::Logs(a),
            ContainerCommand::Inspect(a) => Command::Inspect(a.with_type(ObjectType::Container)),
            ContainerCommand::Pause(a) => Command::Pause(a),
            ContainerCommand::Unpause(a) => Command::Unpause(a),
            ContainerCommand::Rename(a) => Command::Rename(a),
            ContainerCommand::Top(a) => Command::Top(a),
            ContainerCommand::Update(a) => Command::Update(a),
            ContainerCommand::Stats(a) => Command::Stats(a),
            ContainerCommand::Commit(a) => Command::Commit(a),
            ContainerCommand::Export(a) => Command::Export(a),
            ContainerCommand::Port(a) => Command::Port(a),
            ContainerCommand::Prune(a) => {
                return prune::containers(&connect(&host).await?, a).await
            }
        },
        Command::Image { command } => match command {
            ImageCommand::Ls(a) => Command::Images(a),
            ImageCommand::Rm(a) => Command::Rmi(a),
            ImageCommand::Tag(a) => Command::Tag(a),
            ImageCommand::Import(a) => Command::Import(a),
            ImageCommand::Inspect(a) => Command::Inspect(a.with_type(ObjectType::Image)),
            ImageCommand::Pull(a) => Command::Pull(a),
            ImageCommand::Push(a) => Command::Push(a),
            ImageCommand::Prune(a) => return prune::images(&connect(&host).await?, a).await,
            ImageCommand::Save(a) => Command::Save(a),
            ImageCommand::Load(a) => Command::Load(a),
            ImageCommand::History(a) => Command::History(a),
        },
        Command::System { command } => match command {
            SystemCommand::Info(a) => Command::Info(a),
            SystemCommand::Events(a) => Command::Events(a),
            SystemCommand::Df(a) => return system::df::run(&host, a).await,
            SystemCommand::Prune(a) => return system::prune::run(&connect(&host).await?, a).await,
        },
        Command::Volume { command } => return volume::run(&connect(&host).await?, command).await,
        Command::Network { command } => return network::run(&connect(&host).await?, command).await,
        other => other,
    };
    match command {
        Command::Version(a) => return system::version::run(&host, a).await,
        Command::Info(a) => return system::info::run(&host, a).await,
        Command::Login(a) => return image::login::login(&host, a).await,
        Command::Search(a) => return image::search::run(&host, a).await,
        Command::Logout(a) => return image::login::logout(a).await,
        _ => {}
    }
    let docker = connect(&host).await?;
    match command {
        Command::Run(a) => container::run::run(&docker, a).await,
        Command::Create(a) => container::create::run(&docker, a).await,
        Command::Exec(a) => container::exec::run(&docker, a).await,
        Command::Cp(a) => container::cp::run(&docker, a).await,
        Command::Attach(a) => container::attach::run(&docker, a).await,
        Command::Start(a) => container::start::run(&docker, a).await,
        Command::Stop(a) => container::stop::stop(&docker, a).await,
        Command::Restart(a) => container::stop::restart(&docker, a).await,
        Command::Kill(a) => container::stop::kill(&docker, a).await,
        Command::Wait(a) => container::wait::run(&docker, a).await,
        Command::Rm(a) => container::rm::run(&docker, a).await,
        Command::Ps(a) => container::ps::run(&docker, a).await,
        Command::Logs(a) => container::logs::run(&docker, a).await,
        Command::Inspect(a) => inspect::run(&docker, a).await,
        Command::Pause(a) => container::pause::pause(&docker, a).await,
        Command::Unpause(a) => container::pause::unpause(&docker, a).await,
        Command::Rename(a) => container::pause::rename(&docker, a).await,
        Command::Top(a) => container::top::run(&docker, a).await,
        Command::Update(a) => container::update::run(&docker, a).await,
        Command::Stats(a) => container::stats::run(&docker, a).await,
        Command::Events(a) => system::events::run(&docker, a).await,
        Command::Import(a) => image::import::run(&docker, a).await,
        Command::Push(a) => image::push::run(&docker, a).await,
        Command::Images(a) => image::ls::run(&docker, a).await,
        Command::Tag(a) => image::tag::run(&docker, a).await,
        Command::Rmi(a) => image::rm::run(&docker, a).await,
        Command::Pull(a) => image::pull::run(&docker, a).await,
        Command::Save(a) => image::archive::save(&docker, a).await,
        Command::Load(a) => image::archive::load(&docker, a).await,
        Command::Commit(a) => container::commit::commit(&docker, a).await,
        Command::Export(a) => container::commit::export(&docker, a).await,
        Command::History(a) => image::history::run(&docker, a).await,
        Command::Port(a) => container::port::run(&docker, a).await,
        Command::Version(_)
        | Command::Info(_)
        | Command::Container { .. }
        | Command::Image { .. }
        | Command::System { .. }
        | Command::Volume { .. }
        | Command::Network { .. } => Ok(()),
        Command::Login(_) | Command::Logout(_) | Command::Search(_) => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied())).unwrap()
    }

    #[test]
    fn run_stops_parsing_at_image() {
        let cli = parse(&["run", "--rm", "-h", "box", "busybox", "sh", "-c", "echo -d"]);
        let Command::Run(r) = cli.command else {
            panic!("not run")
        };
        assert!(r.opts.rm);
        assert_eq!(r.opts.hostname.as_deref(), Some("box"));
        assert_eq!(r.args, vec!["busybox", "sh", "-c", "echo -d"]);
    }

    #[test]
    fn optional_value_flags_do_not_eat_the_image() {
        let Command::Run(r) = parse(&["run", "--init", "--sig-proxy", "busybox", "true"]).command
        else {
            panic!("not run")
        };
        assert_eq!(r.opts.init, Some(true));
        assert!(r.sig_proxy);
        assert_eq!(r.args, vec!["busybox", "true"]);
        let Command::Run(r) = parse(&["run", "--sig-proxy=false", "busybox"]).command else {
            panic!("not run")
        };
        assert!(!r.sig_proxy);
        assert_eq!(r.opts.init, None);
    }

    #[test]
    fn aliases() {
        assert!(matches!(
            parse(&["container", "list", "-a"]).command,
            Command::Container {
                command: ContainerCommand::Ls(_)
            }
        ));
        assert!(matches!(
            parse(&["container", "ps"]).command,
            Command::Container {
                command: ContainerCommand::Ls(_)
            }
        ));
        assert!(matches!(
            parse(&["image", "rm", "x"]).command,
            Command::Image {
                command: ImageCommand::Rm(_)
            }
        ));
        assert!(matches!(
            parse(&["-H", "unix:///x", "ps"]).command,
            Command::Ps(_)
        ));
        assert!(matches!(
            parse(&["ps", "-H", "unix:///x"]).command,
            Command::Ps(_)
        ));
    }

    #[test]
    fn command_tree_is_valid() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
