//! Log lines on stderr that never garble the progress bars: every write suspends the bars,
//! writes, and lets them redraw below.

use std::io::{self, IsTerminal, Write};

use indicatif::{MultiProgress, ProgressDrawTarget};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use super::args::{GlobalArgs, LogFormat};

/// The terminal's bars (hidden when stderr is not a terminal, so logs stay plain lines).
#[derive(Clone)]
pub struct Output {
    pub bars: MultiProgress,
    pub interactive: bool,
    pub color: bool,
}

impl Output {
    pub fn detect() -> Output {
        let interactive = io::stderr().is_terminal();
        let bars = MultiProgress::new();
        if !interactive {
            bars.set_draw_target(ProgressDrawTarget::hidden());
        }
        let color = interactive
            && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
            && std::env::var_os("TERM").is_none_or(|t| t != "dumb");
        Output {
            bars,
            interactive,
            color,
        }
    }
}

#[derive(Clone)]
struct BarSafeStderr {
    bars: MultiProgress,
    /// Whether the formatter writes colour codes of its own (kept; any other escape is shown).
    colour: bool,
}

impl Write for BarSafeStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let line = super::output::escape_log(buf, self.colour);
        // A stderr that cannot be written (a full disk) is no reason to stop: nothing is lost
        // that the journal does not hold.
        let _ = self.bars.suspend(|| io::stderr().write_all(&line));
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        io::stderr().flush()
    }
}

impl<'a> MakeWriter<'a> for BarSafeStderr {
    type Writer = BarSafeStderr;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

pub fn init(global: &GlobalArgs, out: &Output) {
    super::output::set_json_logs(matches!(global.log_format, LogFormat::Json));
    let default = if global.quiet {
        "warn"
    } else {
        // By default only warnings and errors: the tables and summaries on stdout say what
        // happened, and the journal keeps every step (`dmm journal`); progress lines on -v.
        match global.verbose {
            0 => "warn",
            1 => "debug",
            _ => "trace",
        }
    };
    // Only our own crate logs at the chosen level; dependencies stay at warn unless RUST_LOG says.
    // Without a terminal the progress lines (stages, verification, a heartbeat) are the only
    // sign of life a long unattended window gives in its log: on unless --quiet.
    let progress = if !out.interactive && !global.quiet && global.verbose == 0 {
        ",dmm::cli::progress=info"
    } else {
        ""
    };
    // A wait long enough to look like a hang is said, terminal or not (`long_wait`).
    let waits = if !global.quiet && global.verbose == 0 {
        format!(",{}=info", crate::domino::long_wait::TARGET)
    } else {
        String::new()
    };
    let filter = EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| EnvFilter::new(format!("warn,dmm={default}{progress}{waits}")));
    let writer = BarSafeStderr {
        bars: out.bars.clone(),
        colour: out.color && matches!(global.log_format, LogFormat::Text),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_target(false);
    let result = match global.log_format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.with_ansi(out.color).compact().try_init(),
    };
    // A second init (tests calling main twice) keeps the first subscriber.
    let _ = result;
}
