//! [`Cli`], the command line as clap parses it: every command, flag and default, and the
//! checks of values that clap cannot express.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::domino::ScanOptions;
use crate::runner::defaults;
use crate::snapshot::Kind;

const AFTER_HELP: &str = "\
Environment:
  DOMINO_HOSTNAME         Base URL of the deployment, scheme included (or --hostname)
  DOMINO_API_KEY          API key of a Domino administrator (or --api-key-file); never a flag
  DOMINO_TOKEN_FILE       A service-account token file instead (or --token-file); read again
                          whenever an answer is 401, so a rotated token is picked up
  DOMINO_SSL_NO_VERIFY    'true' turns TLS verification off (not recommended)

Exit codes:
  0 done and verified   1 done, but something failed or verification found a mismatch
  2 bad input or configuration (nothing touched)   3 interrupted: run the same command again
  4 the journal is held by another dmm process

A maintenance window:
  dmm preflight                       # the day before: is the deployment ready?
  dmm snapshot before-upgrade.json
  dmm shutdown before-upgrade.json
  # ... upgrade Domino ...
  dmm restore before-upgrade.json";

/// Put a Domino deployment into maintenance mode and bring it back, with a durable journal:
/// every stop and start is recorded, and an interrupted run continues where it stopped when
/// the same command is run again.
#[derive(Debug, Parser)]
#[command(name = "dmm", version, after_help = AFTER_HELP, max_term_width = 100)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
#[command(next_help_heading = "Connection and output (every command)")]
pub struct GlobalArgs {
    /// Base URL of the Domino deployment, scheme included (https://domino.example.com).
    #[arg(long, env = "DOMINO_HOSTNAME", global = true, hide_env_values = true)]
    pub hostname: Option<String>,
    /// Read the API key from this file instead of DOMINO_API_KEY.
    #[arg(
        long,
        env = "DOMINO_API_KEY_FILE",
        global = true,
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub api_key_file: Option<PathBuf>,
    /// Send the service-account token in this file (Authorization: Bearer) instead of an API
    /// key; the file is read again when an answer is 401.
    #[arg(
        long,
        env = "DOMINO_TOKEN_FILE",
        global = true,
        hide_env_values = true,
        value_name = "PATH"
    )]
    pub token_file: Option<PathBuf>,
    /// Turn TLS certificate verification off ('true'). Dangerous: warns on every run.
    #[arg(long, env = "DOMINO_SSL_NO_VERIFY", global = true, hide_env_values = true, value_name = "BOOL", value_parser = parse_bool)]
    pub ssl_no_verify: Option<bool>,
    /// Trust this PEM bundle of CA certificates as well as the system's.
    #[arg(
        long,
        env = "DOMINO_CA_CERT",
        global = true,
        hide_env_values = true,
        value_name = "PEM"
    )]
    pub ca_cert: Option<PathBuf>,
    /// Log line format on stderr; with json, the lines on stdout are JSON objects too (a
    /// `--json` document stays one document).
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    pub log_format: LogFormat,
    /// More detail: -v adds log lines (progress, each step, each change of pace) and lists
    /// every skipped execution, -vv trace. By default only warnings, errors and the summaries.
    #[arg(short, long, action = clap::ArgAction::Count, global = true, conflicts_with = "quiet")]
    pub verbose: u8,
    /// Only warnings, errors and the summaries (the default since progress lines moved to -v).
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// How long one attempt of a request may wait for its answer (one request's retries
    /// together get twice this). Hidden: the default suits Domino; tests shorten it.
    #[arg(long, global = true, hide = true, value_name = "DUR", value_parser = parse_timeout)]
    pub request_timeout: Option<std::time::Duration>,
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s.trim()).map_err(|e| e.to_string())?;
    if d.is_zero() {
        return Err("a timeout of 0 would fail every request".into());
    }
    Ok(d)
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

fn parse_bool(s: &str) -> Result<bool, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" | "" => Ok(false),
        other => Err(format!("expected true or false, found '{other}'")),
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record every running App, Model API version, Workspace and Scheduled Job in a new file.
    #[command(after_help = "Example:\n  dmm snapshot before-upgrade.json")]
    Snapshot(SnapshotArgs),
    /// Stop everything the snapshot recorded (Scheduled Jobs are paused first).
    #[command(
        after_help = "Examples:\n  dmm shutdown before-upgrade.json\n  dmm shutdown before-upgrade.json --dry-run\n  dmm shutdown before-upgrade.json -s App --yes\n\nRun it again after an interruption: it continues from the journal."
    )]
    Shutdown(ShutdownArgs),
    /// Start again what the snapshot recorded (Scheduled Jobs are resumed last). Workspaces
    /// are left for their users, and only active Model API versions are started.
    #[command(
        after_help = "Examples:\n  dmm restore before-upgrade.json\n  dmm restore before-upgrade.json --retry-failed --yes"
    )]
    Restore(RestoreArgs),
    /// Check the deployment against the snapshot now, without a journal.
    #[command(
        after_help = "Examples:\n  dmm verify before-upgrade.json --expect stopped\n  dmm verify before-upgrade.json --expect running"
    )]
    Verify(VerifyArgs),
    /// Where the maintenance stands: steps per phase, last run, last verification, next command.
    #[command(
        after_help = "Examples:\n  dmm status before-upgrade.json\n  dmm status before-upgrade.json --json"
    )]
    Status(StatusArgs),
    /// The audit trail: every step transition, one line each.
    #[command(
        after_help = "Examples:\n  dmm journal before-upgrade.json\n  dmm journal before-upgrade.json --failed --kind App\n  dmm journal before-upgrade.json --json > audit.jsonl"
    )]
    Journal(JournalArgs),
    /// The maintenance window as one self-contained page to attach to the change ticket: who
    /// acted on which deployment, each run, a timeline, every failure and mismatch, the Jobs,
    /// verification run by run, and whether the journal's hash chain holds. Reads the journal
    /// without the lock, so it works during a run. Exit 1 when the chain is broken.
    #[command(
        after_help = "Examples:\n  dmm report before-upgrade.json                 # before-upgrade.json.report.html\n  dmm report before-upgrade.json --format markdown --output change-1234.md"
    )]
    Report(ReportArgs),
    /// Check, the day before the window, that the deployment is ready: the host and its TLS,
    /// the credentials and their admin rights, the Domino version, the shape of every listing,
    /// page caps, what runs now and what a shutdown and a restore would cost, rollouts,
    /// volumes, workspaces of unknown projects, the token's expiry, and with FILE that
    /// snapshot's journal. Read-only: safe to run at any time.
    #[command(
        after_help = "Examples:\n  dmm preflight\n  dmm preflight before-upgrade.json\n  dmm preflight --rate-limit 10 --concurrency 4\n  dmm preflight --json > preflight.json\n\nExit codes: 0 ready, 1 ready with warnings (lines marked !), 2 not usable (lines marked ✗)."
    )]
    Preflight(PreflightArgs),
    /// Print a shell completion script.
    #[command(after_help = "Example:\n  dmm completions bash > /etc/bash_completion.d/dmm")]
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
}

#[derive(Debug, Args)]
pub struct SnapshotArgs {
    /// The snapshot file to create; it must not exist.
    pub file: PathBuf,
    /// Workspaces fetched per request.
    #[arg(long, default_value_t = ScanOptions::DEFAULT.workspaces_page_size as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub workspaces_page_size: u32,
    /// Model versions fetched per request.
    #[arg(long, default_value_t = ScanOptions::DEFAULT.models_page_size as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub models_page_size: u32,
    /// Project listings in flight at once.
    #[arg(long, default_value_t = ScanOptions::DEFAULT.concurrency as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: u32,
    #[command(flatten)]
    pub change: ChangeIdArg,
    /// Without a terminal (a Kubernetes Job's log): say how far the listings are this often
    /// (0: never), so that a long wait is not silence.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    pub progress_every: std::time::Duration,
}

/// `dmm shutdown`: the options it shares with restore, and what to do with running Jobs.
#[derive(Debug, Args)]
pub struct ShutdownArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// What to do with the Jobs (batch runs) running when the shutdown reaches them: stop them
    /// with their results committed, wait for them (--jobs-grace), or leave them [default:
    /// stop].
    #[arg(long, value_enum, value_name = "MODE")]
    pub jobs: Option<JobsArg>,
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration,
        help = format!("With --jobs wait: how long running Jobs get to finish on their own (e.g. 15m) [default: {}]", humantime::format_duration(defaults::JOBS_GRACE)))]
    pub jobs_grace: Option<std::time::Duration>,
}

impl ShutdownArgs {
    pub fn into_run(self) -> RunArgs {
        RunArgs {
            jobs: self.jobs,
            jobs_grace: self.jobs_grace,
            ..self.run
        }
    }
}

/// `dmm restore`: the options it shares with shutdown, and whether to restart Jobs.
#[derive(Debug, Args)]
pub struct RestoreArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Also restart each Job the shutdown stopped (never one that ended on its own), each
    /// exactly once, with its original input commit. Without it they stay stopped, and the
    /// summary, `next:` and `dmm status` say how many.
    #[arg(long)]
    pub restart_jobs: bool,
}

impl RestoreArgs {
    pub fn into_run(self) -> RunArgs {
        RunArgs {
            restart_jobs: self.restart_jobs,
            ..self.run
        }
    }
}

/// `journal --kind`'s help, from the kind registry.
fn kind_filter_help() -> String {
    let slugs: Vec<&str> = Kind::EVERY.iter().map(|k| k.slug()).collect();
    format!(
        "Only this kind ({}) [default: every kind]",
        slugs.join(", ")
    )
}

/// The `-s` help, from the kind registry, so that it names every kind there is.
fn service_help() -> String {
    let quoted = |label: &str| {
        if label.contains(' ') {
            format!("\"{label}\"")
        } else {
            label.to_string()
        }
    };
    let labels: Vec<String> = Kind::EVERY.iter().map(|k| quoted(k.label())).collect();
    let slugs: Vec<&str> = Kind::EVERY.iter().map(|k| k.slug()).collect();
    format!(
        "Only this kind: {} (or {}) [default: every kind]",
        labels.join(", "),
        slugs.join(", ")
    )
}

/// `--change-id`, of the snapshot and of each run.
#[derive(Debug, Args)]
pub struct ChangeIdArg {
    /// The change this window is made under (a ticket number such as CHG0012345): recorded
    /// in the journal and shown by `dmm status` and `dmm report`. One printable line of at most
    /// 64 characters; never a secret, it is printed wherever the window is.
    #[arg(long, value_name = "REF", env = "DMM_CHANGE_ID", hide_env_values = true, value_parser = ChangeIdParser)]
    pub change_id: Option<String>,
}

/// Options shared by shutdown and restore.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The snapshot file written by `dmm snapshot` (or by the earlier Python tool).
    pub file: PathBuf,
    #[arg(short = 's', long = "service", value_name = "KIND", help = service_help())]
    pub service: Option<Kind>,
    /// Do not ask for confirmation (required when there is no terminal).
    #[arg(short = 'y', long)]
    pub yes: bool,
    /// Print what would be done, and what the journal says is done already; touch nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// The journal file [default: FILE.journal beside the snapshot].
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Try again the steps that failed in an earlier run.
    #[arg(long)]
    pub retry_failed: bool,
    /// Shutdown's `--jobs` ([`ShutdownArgs`]); never a flag of restore.
    #[arg(skip)]
    pub jobs: Option<JobsArg>,
    /// Shutdown's `--jobs-grace` ([`ShutdownArgs`]).
    #[arg(skip)]
    pub jobs_grace: Option<std::time::Duration>,
    /// POST a JSON notice here when the run starts, when it ends, and when a step has been
    /// failing for longer than --notify-stuck-after (repeatable; Slack/Teams webhooks show its
    /// `text`). Never blocks or fails the run.
    #[arg(
        long,
        value_name = "URL",
        env = "DMM_NOTIFY_URL",
        value_delimiter = ',',
        hide_env_values = true
    )]
    pub notify_url: Vec<String>,
    /// Without a terminal (a Kubernetes Job's log): say how far the run is this often, beside
    /// one line as each stage and the verification begin and end (0: no heartbeat).
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "30s")]
    pub progress_every: std::time::Duration,
    /// With --notify-url: how long a step may keep failing before someone is told.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration, default_value = "10m")]
    pub notify_stuck_after: std::time::Duration,
    /// Write the run's figures here in the Prometheus text format (for node_exporter's textfile
    /// collector), every few seconds and at the end, atomically.
    #[arg(long, value_name = "PATH")]
    pub metrics_file: Option<PathBuf>,
    /// Restore's `--restart-jobs` ([`RestoreArgs`]); never a flag of shutdown.
    #[arg(skip)]
    pub restart_jobs: bool,
    /// Skip the verification pass at the end (recorded in the journal).
    #[arg(long)]
    pub no_verify: bool,
    /// When the maintenance window closes: a duration from now (90m) or an RFC 3339 time. At the
    /// deadline no new request is sent, steps in flight are recorded, and the run exits 3 with
    /// the command that continues it.
    #[arg(long, value_name = "DURATION|RFC3339", value_parser = crate::cli::deadline::parse)]
    pub deadline: Option<crate::cli::deadline::Deadline>,
    #[command(flatten)]
    pub change: ChangeIdArg,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..),
        help = format!("Requests in flight at once [default: {}]", defaults::CONCURRENCY))]
    pub concurrency: Option<u32>,
    #[arg(long, value_name = "auto|RPS", value_parser = parse_rate_limit,
        help = format!("Requests per second: 'auto' starts at {} and adapts to what the deployment takes (faster while answers are fast and clean, slower at once on 429, 503, timeouts or rising latency); a number fixes it [default: auto]", defaults::INITIAL_RATE))]
    pub rate_limit: Option<RateLimit>,
    #[arg(long, value_name = "RPS", value_parser = parse_positive_rate,
        help = format!("The most requests per second --rate-limit auto may reach [default: {}]", defaults::MAX_RATE))]
    pub max_rate: Option<f64>,
    /// Earlier tool's flag: requests per batch; sets --concurrency [default: unset, see
    /// --concurrency].
    #[arg(short = 'b', long, value_name = "N", hide_short_help = true)]
    pub batch_size: Option<u32>,
    /// Earlier tool's flag: seconds between batches; with -b sets --rate-limit to b/i
    /// [default: unset, see --rate-limit].
    #[arg(
        short = 'i',
        long = "batch-interval-s",
        alias = "batch-interval_s",
        value_name = "SECONDS",
        hide_short_help = true
    )]
    pub batch_interval_s: Option<u32>,
    /// Failed attempts per execution before its step is marked failed.
    #[arg(short = 'm', long, default_value_t = defaults::MAX_FAILURES)]
    pub max_failures: u32,
    /// Seconds to wait for each execution to reach its target state.
    #[arg(short = 'g', long, default_value_t = defaults::GRACE_PERIOD_S)]
    pub grace_period_s: u64,
    /// First wait before asking whether an execution has stopped or started, in milliseconds;
    /// then every max(half of it, a quarter of the time waited so far), up to 5 s. Until one
    /// execution of a kind has arrived, only four of its steps look; later steps first look
    /// after 0.8 of how long recent ones took. Apps and workspaces, read from one shared
    /// listing, are looked at every min(this, 250 ms).
    #[arg(long, default_value_t = defaults::POLL_INTERVAL_MS, hide_short_help = true)]
    pub poll_interval_ms: u64,
}

/// What shutdown does with running Jobs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum JobsArg {
    /// Stop each, its results committed (the default).
    Stop,
    /// Give them --jobs-grace to finish on their own, then stop the rest.
    Wait,
    /// Record them and touch nothing.
    Leave,
}

#[derive(Debug, Args)]
pub struct PreflightArgs {
    /// A snapshot file: also say whether its journal is clean, in progress or held by another
    /// process.
    pub file: Option<PathBuf>,
    /// The snapshot's journal [default: FILE.journal beside the snapshot].
    #[arg(long, value_name = "PATH", requires = "file")]
    pub journal: Option<PathBuf>,
    /// Print the checks as one JSON document (each with name, status ok|warn|fail, detail).
    #[arg(long)]
    pub json: bool,
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..),
        help = format!("The concurrency of the shutdown and restore to estimate, and of these checks [default: {}]", defaults::CONCURRENCY))]
    pub concurrency: Option<u32>,
    #[arg(long, value_name = "RPS",
        help = format!("The rate of the shutdown and restore to estimate, and of these checks [default: {}, where the adaptive pace starts]", defaults::INITIAL_RATE))]
    pub rate_limit: Option<f64>,
}

/// `--rate-limit auto|N`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum RateLimit {
    Auto,
    Fixed(f64),
}

fn parse_rate_limit(s: &str) -> Result<RateLimit, String> {
    if s.trim().eq_ignore_ascii_case("auto") {
        return Ok(RateLimit::Auto);
    }
    parse_positive_rate(s)
        .map(RateLimit::Fixed)
        .map_err(|e| format!("{e}, or 'auto'"))
}

fn parse_positive_rate(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(r) if r.is_finite() && r > 0.0 => Ok(r),
        _ => Err(format!(
            "expected a positive number of requests per second, found '{}'",
            s.trim()
        )),
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Expect {
    Stopped,
    Running,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The snapshot file to check the deployment against.
    pub file: PathBuf,
    /// What the deployment should look like: stopped (after a shutdown) or running (after a
    /// restore). Required.
    #[arg(long, value_enum)]
    pub expect: Expect,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// The snapshot file the maintenance runs from.
    pub file: PathBuf,
    /// The journal file [default: FILE.journal beside the snapshot].
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Print the status as one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// The snapshot file the journal belongs to.
    pub file: PathBuf,
    /// The journal file [default: FILE.journal beside the snapshot].
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// Where to write the report [default: FILE.report.html, .md, .summary.md or .csv].
    #[arg(long, short = 'o', value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// HTML (one self-contained page with a timeline), Markdown (the same without the
    /// timeline), or markdown-summary (the verdict, the counts, what is next and the owners to
    /// tell, under 30,000 characters at any scale: for a ticket's comment), or csv (every
    /// execution touched, with its state at the snapshot, after the shutdown and the restore).
    #[arg(long, value_enum, default_value_t = ReportFormat::Html)]
    pub format: ReportFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    Html,
    Markdown,
    MarkdownSummary,
    Csv,
}

#[derive(Debug, Args)]
pub struct JournalArgs {
    /// The snapshot file the maintenance runs from.
    pub file: PathBuf,
    /// The journal file [default: FILE.journal beside the snapshot].
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
    /// JSON Lines, one event per line.
    #[arg(long)]
    pub json: bool,
    /// Only the events of steps that are failed now.
    #[arg(long)]
    pub failed: bool,
    #[arg(long, value_name = "KIND", help = kind_filter_help())]
    pub kind: Option<Kind>,
    /// Walk the hash chain over the events instead of listing them: exit 0 when intact, 1 when
    /// an event was changed, removed or inserted (each named by its sequence number).
    #[arg(long, conflicts_with_all = ["json", "failed", "kind"])]
    pub verify: bool,
    /// With --verify: a head kept outside the file (`SEQ:SHA256`, as a run prints it after
    /// `journal head:`, or the SHA-256 alone); exit 1 unless the chain holds it. A file alone
    /// cannot show that its newest events were not removed together with every record of them.
    #[arg(long, value_name = "SEQ:SHA256", requires = "verify")]
    pub expect_head: Option<crate::journal::ExpectedHead>,
}

/// `--change-id` through [`crate::runner::parse_change_id`], refused with the value's hidden
/// and control characters written out: clap's own message quotes the value raw, so a bidi
/// control in it would reorder the very line that refuses it.
#[derive(Clone, Copy, Debug)]
pub struct ChangeIdParser;

impl clap::builder::TypedValueParser for ChangeIdParser {
    type Value = String;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<String, clap::Error> {
        let text = value.to_string_lossy();
        crate::runner::parse_change_id(&text).map_err(|why| {
            let arg = arg.map_or_else(|| "--change-id".to_owned(), |a| a.to_string());
            let value = crate::runner::change_id_shown(&text);
            clap::Error::raw(
                clap::error::ErrorKind::ValueValidation,
                format!("invalid value '{value}' for '{arg}': {why}\n"),
            )
            .with_cmd(cmd)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// A refused change reference is said with its hidden characters written out: clap's own
    /// message would print the operator's bidi control raw.
    #[test]
    fn a_refused_change_reference_is_said_with_its_hidden_characters_written_out() {
        let Err(err) = Cli::try_parse_from([
            "dmm",
            "snapshot",
            "s.json",
            "--change-id",
            "CHG\u{202E}1\u{2028}",
        ]) else {
            panic!("accepted");
        };
        let said = err.to_string();
        assert!(
            !said.contains('\u{202E}')
                && said.contains("CHG<U+202E>1<U+2028>")
                && said.contains("U+202E"),
            "{said}"
        );
        assert_eq!(err.exit_code(), 2);
        let ok =
            Cli::try_parse_from(["dmm", "snapshot", "s.json", "--change-id", " CHG1 "]).unwrap();
        let Command::Snapshot(a) = ok.command else {
            panic!()
        };
        assert_eq!(a.change.change_id.as_deref(), Some("CHG1"));
    }

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn earlier_tool_flags_parse() {
        let cli = Cli::try_parse_from([
            "dmm",
            "shutdown",
            "s.json",
            "-b",
            "3",
            "--batch-interval_s",
            "2",
            "-m",
            "2",
            "-g",
            "30",
            "-s",
            "Model API Version",
        ])
        .unwrap();
        let Command::Shutdown(a) = cli.command else {
            panic!()
        };
        let a = a.run;
        assert_eq!(a.batch_size, Some(3));
        assert_eq!(a.batch_interval_s, Some(2));
        assert_eq!(a.service, Some(Kind::ModelApiVersion));
        assert_eq!(a.grace_period_s, 30);
        assert_eq!(a.rate_limit, None);
    }

    #[test]
    fn rate_limit_is_auto_or_a_positive_number() {
        let parse = |extra: &[&str]| {
            let mut args = vec!["dmm", "shutdown", "s.json"];
            args.extend_from_slice(extra);
            Cli::try_parse_from(args).map(|cli| match cli.command {
                Command::Shutdown(a) => (a.run.rate_limit, a.run.max_rate),
                _ => panic!(),
            })
        };
        assert_eq!(parse(&[]).unwrap(), (None, None));
        assert_eq!(
            parse(&["--rate-limit", "AUTO", "--max-rate", "80"]).unwrap(),
            (Some(RateLimit::Auto), Some(80.0))
        );
        assert_eq!(
            parse(&["--rate-limit", "12.5"]).unwrap(),
            (Some(RateLimit::Fixed(12.5)), None)
        );
        for bad in [
            &["--rate-limit", "fast"][..],
            &["--rate-limit", "0"],
            &["--rate-limit", "-3"],
            &["--max-rate", "0"],
            &["--max-rate", "inf"],
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
