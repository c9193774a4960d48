//! `dmm snapshot`: record what runs now in a new snapshot file.

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::ProgressBar;

use crate::cli::args::{GlobalArgs, SnapshotArgs};
use crate::cli::connect::connect;
use crate::cli::exit::{CliError, Exit};
use crate::cli::logging::Output;
use crate::cli::output::outln;
use crate::cli::progress::bar_style;
use crate::domino::{
    ApiError, KindOptions, Limits, ScanOptions, ScanProblem, ScanProgress, ScanReport, scan,
};
use crate::journal::Journal;
use crate::runner::ScanRecord;
use crate::snapshot::{self, Kind};

pub async fn run(global: &GlobalArgs, out: &Output, args: SnapshotArgs) -> Result<Exit, CliError> {
    // Refuse before scanning: a long scan must not end in "file exists".
    snapshot::check_writable(&args.file)?;
    // --concurrency bounds requests in flight as well as project listings.
    let limits = Limits {
        max_in_flight: args.concurrency as usize,
        ..Limits::default()
    };
    let conn = connect(global, limits, &KindOptions::default())?;
    let options = ScanOptions {
        workspaces_page_size: args.workspaces_page_size as usize,
        models_page_size: args.models_page_size as usize,
        concurrency: args.concurrency as usize,
        include_live: false,
    };
    let progress = std::sync::Arc::new(ScanBars::new(out));
    let heartbeat = (!out.interactive && !args.progress_every.is_zero())
        .then(|| ScanBars::heartbeat(progress.clone(), conn.client.clone(), args.progress_every));
    let scanned = scan(&conn.client, &options, progress.as_ref()).await;
    if let Some(heartbeat) = heartbeat {
        heartbeat.abort();
    }
    let report = scanned.map_err(scan_error)?;
    progress.finish();
    let sha = snapshot::write_new(&args.file, &report.snapshot)?;
    record_scan(
        &args.file,
        &sha,
        conn.client.base_url(),
        &report,
        args.change.change_id.clone(),
    );

    outln!("{:<18} {:>8} {:>7}", "kind", "running", "errors");
    for &kind in Kind::ALL {
        let errors = report.problems.iter().filter(|p| p.kind == kind).count();
        outln!(
            "{:<18} {:>8} {:>7}",
            kind.label(),
            report.snapshot.entries(kind).len(),
            errors
        );
    }
    for w in &report.warnings {
        outln!("warning: {w}");
    }
    for p in &report.problems {
        outln!("error: {} {}: {}", p.kind, p.subject, p.reason);
    }
    outln!(
        "wrote {} ({} executions across {} projects, sha256 {})",
        args.file.display(),
        report.snapshot.len(),
        report.projects,
        &sha[..12]
    );
    if report.problems.is_empty() {
        outln!(
            "next: {}",
            crate::cli::hint::command("shutdown", &args.file, None)
        );
        Ok(Exit::Success)
    } else {
        outln!(
            "the snapshot may be incomplete: {} record(s) or listing(s) could not be read (see above)",
            report.problems.len()
        );
        Ok(Exit::Failures)
    }
}

/// The snapshot file holds only the earlier tool's keys; when, from where and what the scan could
/// not read go into the journal that travels with it. A journal that cannot be made is a warning:
/// the snapshot itself is written and usable.
fn record_scan(
    file: &std::path::Path,
    sha256: &str,
    host: &str,
    report: &ScanReport,
    change_id: Option<String>,
) {
    let path = crate::journal::path_for(file, None);
    let by_kind = |count: &dyn Fn(Kind) -> usize| {
        Kind::ALL
            .iter()
            .map(|k| (k.label().to_owned(), count(*k)))
            .collect()
    };
    let scan = ScanRecord {
        taken_at: Some(crate::journal::now_rfc3339()),
        host: Some(host.to_owned()),
        tool_version: Some(crate::TOOL_VERSION.to_owned()),
        projects: Some(report.projects),
        found: by_kind(&|k| report.found(k)),
        examined: by_kind(&|k| report.examined(k)),
        problems: report.problems.iter().map(|p| p.to_string()).collect(),
        warnings: report.warnings.clone(),
        requests: Some(report.requests),
        project_names: report.project_names.clone(),
        execution_projects: report
            .listed_under
            .iter()
            .map(|(kind, of)| (kind.label().to_owned(), of.clone()))
            .collect(),
        change_id,
    };
    let result =
        Journal::open(&path, sha256, file).and_then(|j| j.record_snapshot_scan(&scan.to_value()));
    if let Err(e) = result {
        tracing::warn!("the scan's details were not recorded: {e}");
    }
}

/// The scan fails as a whole only when the deployment cannot be listed at all. A refused key,
/// or a host that cannot be reached (wrong URL, TLS failure, down), is configuration to fix:
/// exit 2. Answers that came but cannot be used are the deployment's problem: exit 1.
fn scan_error(e: ApiError) -> CliError {
    let exit = match e {
        ApiError::Unauthorized { .. } | ApiError::Transport { .. } => Exit::BadInput,
        _ => Exit::Failures,
    };
    CliError::new(exit, format!("snapshot not written: {e}"))
}

/// A bar per kind on a terminal; plain log lines otherwise.
struct ScanBars {
    out: Output,
    bars: Mutex<HashMap<Kind, ProgressBar>>,
    found: Mutex<HashMap<Kind, usize>>,
    /// Listings done and begun, by kind, for the heartbeat.
    units: Mutex<std::collections::BTreeMap<Kind, (usize, usize)>>,
}

impl ScanBars {
    fn new(out: &Output) -> Self {
        ScanBars {
            out: out.clone(),
            bars: Mutex::new(HashMap::new()),
            found: Mutex::new(HashMap::new()),
            units: Mutex::default(),
        }
    }

    /// Without a terminal, every `every`: `snapshot: listings done App 1/1, Workspace 0/1; 812
    /// running found so far, 30s elapsed`, and the request that waits longest for its answer
    /// once it has waited 10 s.
    fn heartbeat(
        bars: std::sync::Arc<ScanBars>,
        client: crate::domino::DominoClient,
        every: std::time::Duration,
    ) -> tokio::task::JoinHandle<()> {
        let began = tokio::time::Instant::now();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(began + every, every);
            loop {
                tick.tick().await;
                let line = bars.heartbeat_line(began.elapsed(), client.unanswered());
                tracing::info!(target: crate::cli::progress::TARGET, "{line}");
            }
        })
    }

    fn heartbeat_line(
        &self,
        elapsed: std::time::Duration,
        waiting: Option<crate::domino::long_wait::Unanswered>,
    ) -> String {
        use crate::cli::progress::{short, unanswered_words};
        let kinds: Vec<String> = self.units.lock().map_or_else(
            |_| Vec::new(),
            |units| {
                units
                    .iter()
                    .map(|(kind, (done, total))| format!("{kind} {done}/{total}"))
                    .collect()
            },
        );
        let found: usize = self.found.lock().map_or(0, |f| f.values().sum());
        let wait = waiting
            .filter(|u| u.waited >= crate::domino::long_wait::LONG)
            .map(|u| format!("; {}", unanswered_words(&u)))
            .unwrap_or_default();
        format!(
            "snapshot: listings done {}; {found} running found so far, {} elapsed{wait}",
            if kinds.is_empty() {
                "none begun".to_owned()
            } else {
                kinds.join(", ")
            },
            short(elapsed)
        )
    }

    fn finish(&self) {
        if let Ok(bars) = self.bars.lock() {
            for bar in bars.values() {
                bar.finish();
            }
        }
    }

    fn with_bar(&self, kind: Kind, f: impl FnOnce(&ProgressBar)) {
        if let Ok(bars) = self.bars.lock()
            && let Some(bar) = bars.get(&kind)
        {
            f(bar);
        }
    }
}

impl ScanProgress for ScanBars {
    fn kind_started(&self, kind: Kind, units_total: usize) {
        tracing::info!("scanning {kind}: {units_total} listing(s)");
        if let Ok(mut units) = self.units.lock() {
            units.insert(kind, (0, units_total));
        }
        if self.out.interactive {
            let bar = self.out.bars.add(ProgressBar::new(units_total as u64));
            bar.set_style(bar_style(self.out.color));
            bar.set_prefix(kind.label());
            if let Ok(mut bars) = self.bars.lock() {
                bars.insert(kind, bar);
            }
        }
    }

    fn unit_done(&self, kind: Kind) {
        self.with_bar(kind, |b| b.inc(1));
        if let Ok(mut units) = self.units.lock()
            && let Some((done, _)) = units.get_mut(&kind)
        {
            *done += 1;
        }
    }

    /// `n` more found in one listing; the bar shows the running total.
    fn found(&self, kind: Kind, n: usize) {
        let total = {
            let Ok(mut found) = self.found.lock() else {
                return;
            };
            let total = found.entry(kind).or_insert(0);
            *total += n;
            *total
        };
        self.with_bar(kind, |b| b.set_message(format!("{total} running")));
        tracing::debug!("{kind}: {total} running so far");
    }

    fn problem(&self, p: &ScanProblem) {
        tracing::warn!("{} {}: {}", p.kind, p.subject, p.reason);
    }

    fn warning(&self, message: &str) {
        // The summary prints every warning once, as `warning:` lines; here only with -v.
        tracing::debug!("{message}");
    }
}
