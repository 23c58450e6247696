//! `vigil demo`: placeholder until its issue lands; the owner replaces this file.

use std::process::ExitCode;

use clap::Args;

#[derive(Args, Debug)]
pub struct DemoArgs {}

pub async fn run(_args: DemoArgs) -> ExitCode {
    eprintln!("error: `vigil demo` is not implemented yet");
    ExitCode::FAILURE
}
