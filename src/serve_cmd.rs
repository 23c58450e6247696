//! `vigil serve`: placeholder until its issue lands; the owner replaces this file.

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct ServeArgs {}

pub async fn run(_args: ServeArgs) -> ExitCode {
    eprintln!("error: `vigil serve` is not implemented yet");
    ExitCode::FAILURE
}
