//! The `okmirror` binary: parses the command line and hands over to the library.

use std::process::ExitCode;

use clap::Parser;
use okmirror::cli::{self, Cli};

fn main() -> ExitCode {
    // Everything okmirror writes here (logs, journals, reports, sockets) is private.
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(0o077));
    let cli = Cli::parse();
    if let Err(e) = color_eyre::install() {
        eprintln!("okmirror: {e}");
    }
    let _log = match okmirror::logging::init() {
        Ok(g) => Some(g),
        Err(e) => {
            eprintln!("okmirror: logging disabled: {e:#}");
            None
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("okmirror: cannot start the async runtime: {e}");
            return ExitCode::from(3);
        }
    };
    match runtime.block_on(cli::run(cli)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("okmirror: {e:#}");
            ExitCode::from(1)
        }
    }
}
