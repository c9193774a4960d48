//! `dmm verify`, and the verification pass that ends shutdown and restore.

use super::render;
use crate::cli::args::{Expect, GlobalArgs, VerifyArgs};
use crate::cli::connect::{Connection, connect};
use crate::cli::exit::{CliError, Exit};
use crate::cli::logging::Output;
use crate::cli::output::outln;
use crate::domino::{KindOptions, Limits, NoProgress, ScanOptions, scan};
use crate::runner::verify::{Expectation, RunningNow, Verification, verify};
use crate::snapshot::{self, Kind, Snapshot};

pub async fn run(global: &GlobalArgs, _out: &Output, args: VerifyArgs) -> Result<Exit, CliError> {
    let loaded = snapshot::read(&args.file)?;
    let conn = connect(global, Limits::default(), &KindOptions::default())?;
    let expect = match args.expect {
        Expect::Stopped => Expectation::Stopped,
        Expect::Running => Expectation::Running,
    };
    let v = check(&conn, &loaded.snapshot, &Kind::ALL, expect, 10).await?;
    if args.json {
        outln!("{}", serde_json::to_string(&v).unwrap_or_default());
    } else {
        render::print_verification(&v);
    }
    Ok(if v.passed {
        Exit::Success
    } else {
        Exit::Failures
    })
}

/// Lists the deployment again and compares it with the snapshot. A shutdown check also scans
/// for executions started during maintenance (drift).
pub async fn check(
    conn: &Connection,
    snapshot: &Snapshot,
    kinds: &[Kind],
    expect: Expectation,
    concurrency: usize,
) -> Result<Verification, CliError> {
    if expect == Expectation::Running {
        return Ok(verify(snapshot, &conn.kinds, kinds, expect, None, concurrency).await);
    }
    let report = scan(&conn.client, &ScanOptions::default(), &NoProgress)
        .await
        .map_err(|e| {
            CliError::new(
                Exit::Failures,
                format!("verification could not list the deployment: {e}"),
            )
        })?;
    let now = RunningNow {
        running: &report.snapshot,
        observed: &report.observed,
    };
    Ok(verify(snapshot, &conn.kinds, kinds, expect, Some(now), concurrency).await)
}
