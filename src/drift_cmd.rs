//! `vigil drift`: placeholder until its issue lands; the owner replaces this file.

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct DriftArgs {}

pub async fn run(_args: DriftArgs) -> ExitCode {
    eprintln!("error: `vigil drift` is not implemented yet");
    ExitCode::FAILURE
}
