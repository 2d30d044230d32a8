//! `berth`: the docker-compatible CLI. It talks to the daemon only through the Engine API
//! (bollard over the unix socket), so it works against `berthd` and a real `dockerd` alike.

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod client;
mod commands;
mod error;
mod format;
mod raw_http;

use clap::Parser;

fn main() {
    let cli = match commands::Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            use clap::error::ErrorKind;
            if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
                // `berth` alone prints its help on stdout and succeeds, like `docker`.
                print!("{}", e.render());
                std::process::exit(0);
            }
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            std::process::exit(code);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berth: cannot start the async runtime: {e}");
            std::process::exit(1);
        }
    };
    let result = runtime.block_on(commands::dispatch(cli));
    let code = match result {
        Ok(()) => 0,
        Err(e) => match e.downcast_ref::<error::Exit>() {
            Some(error::Exit(code)) => *code,
            None => {
                eprintln!("{e}");
                1
            }
        },
    };
    // Exit without waiting for blocking tasks (a pending read of our stdin, for instance).
    std::process::exit(code);
}
