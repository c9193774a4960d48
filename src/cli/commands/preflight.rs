//! `dmm preflight`: the day before the window, whether the deployment (and a snapshot's journal)
//! is ready. Read-only. The checks are `runner::preflight`'s; this renders them, one line each,
//! or as one JSON document, and maps them to the exit code: 0 ready, 1 ready with warnings,
//! 2 not usable.

use serde_json::json;

use crate::cli::args::{GlobalArgs, PreflightArgs};
use crate::cli::connect::connect;
use crate::cli::exit::{CliError, Exit};
use crate::cli::output::{outln, outln_json};
use crate::domino::{KindOptions, Limits, Pace};
use crate::preflight::{Check, CheckStatus, PreflightOptions, PreflightReport, preflight};
use crate::runner::defaults;

pub async fn run(global: &GlobalArgs, args: PreflightArgs) -> Result<Exit, CliError> {
    let concurrency = args.concurrency.unwrap_or(defaults::CONCURRENCY);
    // The adaptive pace starts here and only rises while the deployment keeps up: the estimate
    // at this rate is the slow end.
    let rate_limit = args.rate_limit.unwrap_or(defaults::INITIAL_RATE);
    if !(rate_limit.is_finite() && rate_limit > 0.0) {
        return Err(CliError::bad_input(format!(
            "--rate-limit must be a positive number of requests per second, not {rate_limit}"
        )));
    }
    let limits = Limits {
        max_in_flight: concurrency as usize,
        pace: Pace::Fixed(rate_limit),
    };
    let deployment = match connect(global, limits, &KindOptions::default()) {
        Ok(d) => d,
        // A script asked for one JSON document: it gets one, with the configuration's failure.
        Err(e) if args.json => {
            let report = PreflightReport {
                host: global.hostname.clone().unwrap_or_default(),
                checks: vec![Check::fail("configuration", e.message)],
            };
            print_json(&report);
            return Ok(Exit::BadInput);
        }
        Err(e) => return Err(e),
    };
    let token_file = global
        .token_file
        .clone()
        .filter(|p| !p.as_os_str().is_empty());
    let options = PreflightOptions {
        tls_no_verify: global.ssl_no_verify.unwrap_or(false),
        credential: if token_file.is_some() {
            "service-account token".into()
        } else {
            "API key".into()
        },
        token_file,
        concurrency,
        rate_limit,
        snapshot: args.file.clone(),
        journal: args.journal.clone(),
    };
    let report = preflight(&deployment, &options).await;
    if args.json {
        print_json(&report);
    } else {
        print_text(&report);
    }
    Ok(exit_of(&report))
}

fn exit_of(report: &PreflightReport) -> Exit {
    match report.worst() {
        CheckStatus::Ok => Exit::Success,
        CheckStatus::Warn => Exit::Failures,
        CheckStatus::Fail => Exit::BadInput,
    }
}

fn mark(status: CheckStatus) -> &'static str {
    match status {
        CheckStatus::Ok => "✓",
        CheckStatus::Warn => "!",
        CheckStatus::Fail => "✗",
    }
}

fn print_text(report: &PreflightReport) {
    outln!("preflight of {}", report.host);
    let width = report
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    for c in &report.checks {
        outln!("{} {:<width$}  {}", mark(c.status), c.name, c.detail);
    }
    let (warnings, failures) = (
        report.count(CheckStatus::Warn),
        report.count(CheckStatus::Fail),
    );
    match report.worst() {
        CheckStatus::Ok => outln!("ready: every check passed"),
        CheckStatus::Warn => {
            outln!("ready, with {warnings} warning(s): read the lines marked ! before the window")
        }
        CheckStatus::Fail => outln!(
            "not usable: {failures} check(s) failed (✗); fix them and run dmm preflight again"
        ),
    }
}

fn print_json(report: &PreflightReport) {
    let exit = exit_of(report);
    outln_json!(
        "{}",
        json!({
            "host": report.host,
            "ready": exit != Exit::BadInput,
            "exit": exit as u8,
            "checks": report.checks,
        })
    );
}
