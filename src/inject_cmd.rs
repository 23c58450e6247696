//! `vigil inject`: placeholder until its issue lands; the owner replaces this file.

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct InjectArgs {}

pub async fn run(_args: InjectArgs) -> ExitCode {
    eprintln!("error: `vigil inject` is not implemented yet");
    ExitCode::FAILURE
}
