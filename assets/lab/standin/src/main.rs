//! A small stand-in for OpenKM, used by the okmirror lab and its tests.
//!
//! It behaves like OpenKM wherever okmirror touches it: the REST health calls, document
//! creation that writes one immutable datastore file plus a version row, and the
//! `system.readonly` flag read from `OKM_CONFIG` at start-up only.
//!
//! `openkm-standin serve --config FILE` runs the server;
//! `openkm-standin seed --url URL --count N ...` creates documents through a server's REST API.

mod multipart;
mod seed;
mod server;
mod settings;
mod store;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("serve") => settings::Settings::from_args(&args[1..]).and_then(server::run),
        Some("seed") => seed::Seed::from_args(&args[1..]).and_then(|s| s.run()),
        _ => Err(
            "usage: openkm-standin serve --config FILE | seed --url URL --count N \
                  [--prefix PATH] [--size BYTES] [--user U] [--password-file F]"
                .to_string(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("openkm-standin: {e}");
            ExitCode::FAILURE
        }
    }
}
