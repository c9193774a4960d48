//! The runner's and the scan's hooks drawn as progress bars on a terminal, or as plain log
//! lines otherwise (the runner knows nothing of either).

use std::collections::HashMap;
use std::sync::Mutex;

use indicatif::{ProgressBar, ProgressStyle};

use super::logging::Output;
use crate::journal::{Operation, StepPhase, StepRecord};
use crate::runner::Reporter;
use crate::snapshot::{Kind, Source};

pub struct RunProgress {
    out: Output,
    bars: Mutex<HashMap<Kind, ProgressBar>>,
    failed: Mutex<HashMap<Kind, usize>>,
    /// Steps of each kind not ended yet: an interrupted kind also "finishes", and must not be
    /// said to have ended every step.
    left: Mutex<HashMap<Kind, usize>>,
}

impl RunProgress {
    pub fn new(out: &Output) -> Self {
        RunProgress {
            out: out.clone(),
            bars: Mutex::new(HashMap::new()),
            failed: Mutex::new(HashMap::new()),
            left: Mutex::new(HashMap::new()),
        }
    }

    fn bar(&self, kind: Kind) -> Option<ProgressBar> {
        self.bars.lock().ok()?.get(&kind).cloned()
    }
}

/// Bold kind names only where colour is allowed (a terminal, and no `NO_COLOR`).
pub fn bar_style(color: bool) -> ProgressStyle {
    let template = if color {
        "{prefix:>18.bold} [{bar:30}] {pos:>6}/{len:<6} {msg}"
    } else {
        "{prefix:>18} [{bar:30}] {pos:>6}/{len:<6} {msg}"
    };
    ProgressStyle::with_template(template)
        .expect("valid template")
        .progress_chars("=> ")
}

impl Reporter for RunProgress {
    fn kind_started(&self, op: Operation, kind: Kind, total: usize, done: usize) {
        if let Ok(mut left) = self.left.lock() {
            left.insert(kind, total.saturating_sub(done));
        }
        if self.out.interactive {
            let bar = self.out.bars.add(ProgressBar::new(total as u64));
            bar.set_style(bar_style(self.out.color));
            bar.set_prefix(kind.label());
            bar.set_position(done as u64);
            if let Ok(mut bars) = self.bars.lock() {
                bars.insert(kind, bar);
            }
        }
        // Jobs are never in the snapshot: they are found running (shutdown), or were stopped
        // by the shutdown (restore).
        let whence = match (kind.source(), op) {
            (Source::Snapshot, _) => "in the snapshot",
            (Source::Live, Operation::Shutdown) => "found running",
            (Source::Live, Operation::Restore) => "stopped by the shutdown, to restart",
        };
        tracing::info!(
            "{op} {kind}: {total} {whence}, {done} already done, {} to go",
            total - done
        );
    }

    fn step_changed(&self, step: &StepRecord) {
        tracing::debug!(
            kind = %step.key.kind,
            execution = %step.key.execution,
            name = %step.name,
            attempt = step.attempts,
            "{}",
            step.phase
        );
    }

    fn step_ended(&self, step: &StepRecord) {
        if let Ok(mut left) = self.left.lock()
            && let Some(n) = left.get_mut(&step.key.kind)
        {
            *n = n.saturating_sub(1);
        }
        if let Some(bar) = self.bar(step.key.kind) {
            bar.inc(1);
        }
        if let StepPhase::Failed(reason) = &step.phase {
            let failed = self.failed.lock().map(|mut f| {
                let n = f.entry(step.key.kind).or_insert(0);
                *n += 1;
                *n
            });
            if let (Some(bar), Ok(failed)) = (self.bar(step.key.kind), failed) {
                bar.set_message(format!("{failed} failed"));
            }
            tracing::warn!(
                "{} '{}' ({}) failed: {reason}",
                step.key.kind,
                step.name,
                step.owner
            );
        }
    }

    fn kind_finished(&self, op: Operation, kind: Kind) {
        if let Some(bar) = self.bar(kind) {
            bar.finish();
        }
        match self.left.lock().ok().and_then(|l| l.get(&kind).copied()) {
            Some(n) if n > 0 => tracing::info!("{op} {kind}: stopped with {n} step(s) unfinished"),
            _ => tracing::info!("{op} {kind}: every step has ended"),
        }
    }

    fn verification_started(&self) {
        tracing::info!("verifying: listing the deployment again");
    }
}
