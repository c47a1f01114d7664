//! The operations overview of `ozgsync status`. TODO(issue 5 daemon helper).

use std::path::Path;
use std::process::ExitCode;

use super::Context;

pub fn run(_ctx: &Context, _config: Option<&Path>, _json: bool) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not implemented yet")
}
