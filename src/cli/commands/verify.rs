//! `dmm verify`: the verification pass on its own, taking no journal lock.

use super::render;
use crate::cli::args::{Expect, GlobalArgs, VerifyArgs};
use crate::cli::connect::connect;
use crate::cli::exit::{CliError, Exit};
use crate::cli::logging::Output;
use crate::cli::output::outln_json;
use crate::domino::{KindOptions, Limits};
use crate::runner::defaults;
use crate::runner::verify::{Expectation, check_deployment};
use crate::snapshot::{self, Kind};

pub async fn run(global: &GlobalArgs, _out: &Output, args: VerifyArgs) -> Result<Exit, CliError> {
    let loaded = snapshot::read(&args.file)?;
    let deployment = connect(global, Limits::default(), &KindOptions::default())?;
    let expect = match args.expect {
        Expect::Stopped => Expectation::Stopped,
        Expect::Running => Expectation::Running,
    };
    let v = check_deployment(
        &deployment,
        &loaded.snapshot,
        Kind::ALL,
        expect,
        defaults::CONCURRENCY as usize,
    )
    .await
    .map_err(|e| {
        CliError::new(
            Exit::Failures,
            format!("verification could not list the deployment: {e}"),
        )
    })?;
    if args.json {
        outln_json!("{}", serde_json::to_string(&v).unwrap_or_default());
    } else {
        render::print_verification(&v, global.verbose > 0);
    }
    Ok(if v.passed {
        Exit::Success
    } else {
        Exit::Failures
    })
}
