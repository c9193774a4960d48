//! Webhooks for an unattended window (`--notify-url`), below the CLI (which knows no HTTP) and
//! above the runner, whose `Notify` and `Reporter` it implements: a JSON POST to each receiver when a run starts, when it ends, and when a step
//! has been failing for longer than `--notify-stuck-after`. The body has a `text` field, so that
//! Slack- and Teams-style incoming webhooks show it as is. A notification never blocks or fails
//! the run: each POST has a short timeout and two more tries, and what became of it is recorded
//! in the journal. The final notice goes to every receiver at once and may hold up the end of
//! the process only a few seconds (one after a signal or the deadline); what has not arrived by
//! then is recorded as not delivered. It never carries the API key or token.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::Duration;

use serde_json::{Value, json};

use crate::journal::{NotificationRecord, Operation, RunOutcome, now_rfc3339};
use crate::runner::{Notify, Plan, Reporter, RunReport, RunStats, StuckStep};

/// One POST's time, and how many times it is tried.
const TIMEOUT: Duration = Duration::from_secs(5);
const TRIES: u32 = 3;
/// The final notice holds up the end of the process, with the journal still locked and the
/// metrics file still saying the run is in progress: every receiver is told at once, and what
/// has not arrived within this is recorded as not delivered.
const FINAL_BUDGET: Duration = Duration::from_secs(3);
/// The same after a signal or the deadline: whoever stopped the run wants the process gone.
const FINAL_BUDGET_INTERRUPTED: Duration = Duration::from_secs(1);

/// What the command line says of an ended run, which a notice repeats: the next command. Given
/// by the CLI, which owns it; the outcome's words and exit code are the window's.
pub struct EndWords {
    pub next: String,
}

/// How the CLI words an ended run for a notice.
pub type DescribeEnd = Box<dyn Fn(&RunReport) -> EndWords + Send + Sync>;

pub struct Notifier {
    /// Itself, for the notices it sends in the background.
    me: Weak<Notifier>,
    receivers: Vec<String>,
    http: reqwest::Client,
    host: String,
    op: Operation,
    /// `--change-id`, named in every notice so a chat channel ties it to its ticket.
    change_id: Option<String>,
    describe_end: DescribeEnd,
    run: Mutex<Option<u64>>,
    /// The run's statistics, kept by the runner: the counts every notice carries.
    stats: OnceLock<Arc<RunStats>>,
    /// Deliveries made during the run, recorded with the end's.
    delivered: Mutex<Vec<NotificationRecord>>,
    /// Whether the start notice has had its answers (it is sent in the background): one still
    /// waiting when the run ends is recorded as not delivered.
    started_settled: AtomicBool,
}

impl Notifier {
    pub fn new(
        receivers: Vec<String>,
        host: &str,
        op: Operation,
        change_id: Option<String>,
        describe_end: DescribeEnd,
    ) -> Result<Arc<Notifier>, String> {
        for url in &receivers {
            if !(url.starts_with("http://") || url.starts_with("https://")) {
                return Err(format!(
                    "--notify-url must be an http:// or https:// URL, not '{}'",
                    receiver_name(url)
                ));
            }
        }
        let http = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .build()
            .map_err(|e| format!("cannot set up notifications: {e}"))?;
        let notifier = Arc::new_cyclic(|me| Notifier {
            me: me.clone(),
            receivers,
            http,
            host: host.to_owned(),
            op,
            change_id,
            describe_end,
            run: Mutex::new(None),
            stats: OnceLock::new(),
            delivered: Mutex::new(Vec::new()),
            started_settled: AtomicBool::new(false),
        });
        Ok(notifier)
    }

    fn counts(&self) -> BTreeMap<String, BTreeMap<&'static str, usize>> {
        let counts = self.stats.get().map(|s| s.counts()).unwrap_or_default();
        counts
            .into_iter()
            .map(|(kind, phases)| (kind.label().to_string(), phases.by_name()))
            .collect()
    }

    fn body(&self, event: &str, text: String, extra: Value) -> Value {
        let mut body = json!({
            "event": event,
            "operation": self.op.as_str(),
            "host": self.host,
            "run": *self.run.lock().unwrap_or_else(|e| e.into_inner()),
            "counts": self.counts(),
            "text": match &self.change_id {
                Some(change) => format!("[{change}] {text}"),
                None => text,
            },
        });
        if let (Some(change), Some(body)) = (&self.change_id, body.as_object_mut()) {
            body.insert("change_id".into(), Value::from(change.clone()));
        }
        if let (Some(body), Value::Object(extra)) = (body.as_object_mut(), extra) {
            body.extend(extra);
        }
        body
    }

    /// POSTs `body` to every receiver at once, each with its own short timeout and retries;
    /// with a `budget`, whatever has not arrived within it is given up and recorded so.
    async fn send(
        &self,
        event: &str,
        body: &Value,
        budget: Option<Duration>,
    ) -> Vec<NotificationRecord> {
        let deliveries = self.receivers.iter().map(|url| async move {
            let (delivered, detail) = match budget {
                None => self.deliver(url, body).await,
                Some(budget) => tokio::time::timeout(budget, self.deliver(url, body))
                    .await
                    .unwrap_or_else(|_| {
                        (
                            false,
                            format!(
                                "no answer within the {}s the final notice may take",
                                budget.as_secs_f64()
                            ),
                        )
                    }),
            };
            if !delivered {
                tracing::warn!(
                    "the {event} notification to {} was not delivered: {detail}",
                    receiver_name(url)
                );
            }
            NotificationRecord {
                time: now_rfc3339(),
                event: event.to_string(),
                receiver: receiver_name(url),
                delivered,
                detail,
            }
        });
        futures::future::join_all(deliveries).await
    }

    /// One receiver: tried up to [`TRIES`] times; whether it arrived, and the last status or
    /// error.
    async fn deliver(&self, url: &str, body: &Value) -> (bool, String) {
        let body = &for_receiver(url, body);
        let mut detail = String::new();
        for attempt in 1..=TRIES {
            match self.http.post(url).json(body).send().await {
                Ok(answer) if answer.status().is_success() => {
                    return (true, format!("HTTP {}", answer.status().as_u16()));
                }
                Ok(answer) => detail = format!("HTTP {}", answer.status().as_u16()),
                Err(e) => detail = without_url(e),
            }
            if attempt < TRIES {
                tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt))).await;
            }
        }
        (false, detail)
    }

    async fn tell_stuck(&self, stuck: StuckStep) {
        let StuckStep {
            kind,
            execution,
            name,
            error,
            failing_for,
        } = stuck;
        // A chat shows the name as text: its hidden characters are written out, in the
        // text and in the data alike (the execution's id names it exactly).
        let name = crate::visible::visible(&name);
        let text = format!(
            "dmm {} on {}: {kind} '{name}' has been failing for {}s (last: {error})",
            self.op,
            self.host,
            failing_for.as_secs()
        );
        let body = self.body(
            "stuck",
            text,
            json!({"kind": kind.label(), "execution": execution, "name": name, "error": error}),
        );
        let notes = self.send("stuck", &body, None).await;
        if let Ok(mut delivered) = self.delivered.lock() {
            delivered.extend(notes);
        }
    }
}

#[async_trait::async_trait]
impl Notify for Notifier {
    async fn run_started(&self, op: Operation, run: u64, plan: &Plan) -> Vec<NotificationRecord> {
        if let Ok(mut r) = self.run.lock() {
            *r = Some(run);
        }
        let text = format!(
            "dmm {op} started on {} (run {run}): {} execution(s) to {}",
            self.host,
            plan.work(),
            op.verb()
        );
        let body = self.body("started", text, json!({"to_do": plan.work()}));
        let notes = self.send("started", &body, None).await;
        self.started_settled.store(true, Ordering::SeqCst);
        notes
    }

    async fn run_ended(&self, report: &RunReport) -> Vec<NotificationRecord> {
        let EndWords { next } = (self.describe_end)(report);
        let exit_code = report.standing().exit_code().map_or(-1, i32::from);
        let failed = report.summary.failed().count();
        let text = ended_text(report, &self.host, &next);
        let body = self.body(
            "ended",
            text,
            json!({
                "outcome": report.outcome,
                "exit_code": exit_code,
                "failed": failed,
                "verified": report.verification.verified(),
                "verification": report.verification.word(),
                "next": next,
                "journal_head": report.journal_head.as_ref().map(ToString::to_string),
                "next_action": report.next,
                "jobs": report.jobs(),
            }),
        );
        let budget = if report.outcome == RunOutcome::Interrupted {
            FINAL_BUDGET_INTERRUPTED
        } else {
            FINAL_BUDGET
        };
        let ended = self.send("ended", &body, Some(budget)).await;
        let mut notes = self
            .delivered
            .lock()
            .map(|mut d| std::mem::take(&mut *d))
            .unwrap_or_default();
        if !self.started_settled.load(Ordering::SeqCst) {
            // The start notice is still waiting for its receivers; the process will not.
            notes.extend(self.receivers.iter().map(|url| NotificationRecord {
                time: now_rfc3339(),
                event: "started".into(),
                receiver: receiver_name(url),
                delivered: false,
                detail: "no answer by the end of the run".into(),
            }));
        }
        notes.extend(ended);
        notes
    }
}

/// The ended notice's text: the run's outcome in the window's words, what qualifies it, the exit
/// code it means, the Jobs line, and the next command.
pub(crate) fn ended_text(report: &RunReport, host: &str, next: &str) -> String {
    let standing = report.standing();
    let failed = report.summary.failed().count();
    let qualifier = match report.outcome {
        RunOutcome::Completed if report.verification.verified() => ", verified".to_string(),
        RunOutcome::Completed => ", not verified (--no-verify)".to_string(),
        RunOutcome::CompletedWithFailures if failed > 0 => {
            format!(": {failed} failed step(s)")
        }
        RunOutcome::CompletedWithFailures => ": verification found a mismatch".into(),
        RunOutcome::Interrupted => report
            .interrupted_because
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        RunOutcome::Aborted => String::new(),
    };
    format!(
        "dmm {} on {host}: {}{qualifier} (exit {}){}; next: {next}",
        report.op,
        standing.words(),
        standing.exit_code().map_or(-1, i32::from),
        report
            .jobs_line()
            .map(|j| format!("; {j}"))
            .unwrap_or_default()
    )
}

/// Told by the runner, which keeps the run's statistics and says when a step is stuck; the
/// POST goes out in the background, so that the run is never held up.
impl Reporter for Notifier {
    fn run_began(&self, stats: &Arc<RunStats>) {
        let _ = self.stats.set(stats.clone());
    }

    fn step_stuck(&self, stuck: &StuckStep) {
        if let Some(notifier) = self.me.upgrade() {
            let stuck = stuck.clone();
            tokio::spawn(async move { notifier.tell_stuck(stuck).await });
        }
    }
}

/// The body as `url`'s receiver is to get it. Every field is shown to people (a chat card, a
/// ticket bot), so every string carries a hidden or control character written out as
/// `<U+202E>` (a JSON escape would decode to the character itself). `text` is then escaped
/// for the receiver's markup: a Teams webhook renders it as Markdown, so what opens a link or
/// emphasis is backslash-escaped; any other receiver gets Slack's escaping of `&`, `<` and `>`,
/// so that a name such as `<!channel>` or `<https://evil|Approve>` neither pings nor links.
fn for_receiver(url: &str, body: &Value) -> Value {
    let mut body = body.clone();
    crate::visible::show_json_strings(&mut body);
    if let Some(Value::String(text)) = body.get_mut("text") {
        *text = if is_teams(url) {
            teams_text(text)
        } else {
            slack_text(text)
        };
    }
    body
}

/// Microsoft Teams' incoming webhooks and the Power Automate workflows that replace them.
fn is_teams(url: &str) -> bool {
    let host = receiver_name(url);
    let host = host.split("://").nth(1).unwrap_or("");
    let host = host.split(':').next().unwrap_or("").to_ascii_lowercase();
    [
        ".webhook.office.com",
        ".office.com",
        ".office365.com",
        ".logic.azure.com",
        ".powerplatform.com",
    ]
    .iter()
    .any(|suffix| host.ends_with(suffix))
}

/// Slack's rule for message text: `&`, `<` and `>` are its control characters.
fn slack_text(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Text that Teams' Markdown shows as it is: its markup characters backslash-escaped, and
/// `<`, `>` and `&` as entities (it renders some HTML too).
fn teams_text(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\\' | '`' | '*' | '_' | '~' | '[' | ']' | '(' | ')' | '#' | '|' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// A receiver as the journal and the logs may show it: scheme, host and port, never the path or
/// query (incoming-webhook URLs carry their secret there).
fn receiver_name(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit('@').next().unwrap_or(authority);
    if scheme.is_empty() {
        "(not a URL)".into()
    } else {
        format!("{scheme}://{host}")
    }
}

/// A reqwest error without the URL it names (which may carry a webhook's secret).
fn without_url(e: reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "failed"
    };
    format!("{kind}: {}", e.without_url())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_escaped_for_its_receiver_and_every_field_shows_hidden_characters() {
        let body = json!({
            "text": "Job '<!channel> & <https://evil|Approve> [x](javascript:alert(1))' failed",
            "name": "a\u{202E}b\u{1b}[31m",
            "counts": {"App": {"failed": 1}},
        });
        let slack = for_receiver("https://hooks.slack.com/services/T/B/S", &body);
        assert_eq!(
            slack["text"],
            "Job '&lt;!channel&gt; &amp; &lt;https://evil|Approve&gt; [x](javascript:alert(1))' failed"
        );
        assert_eq!(slack["name"], "a<U+202E>b<U+001B>[31m");
        assert_eq!(slack["counts"], body["counts"]);
        let teams = for_receiver("https://contoso.webhook.office.com/webhookb2/x", &body);
        assert_eq!(
            teams["text"],
            "Job '&lt;\\!channel&gt; &amp; &lt;https://evil\\|Approve&gt; \\[x\\]\\(javascript:alert\\(1\\)\\)' failed"
        );
        assert!(is_teams(
            "https://prod-1.westus.logic.azure.com:443/workflows/x"
        ));
        assert!(!is_teams("https://hooks.slack.com/x"));
        assert!(!is_teams("https://office.com.evil.example/x"));
    }

    #[test]
    fn receivers_are_named_without_their_secret_path() {
        assert_eq!(
            receiver_name("https://hooks.example.com/services/T0/B0/SECRET?x=1"),
            "https://hooks.example.com"
        );
        assert_eq!(
            receiver_name("http://user:pw@127.0.0.1:8080/hook"),
            "http://127.0.0.1:8080"
        );
    }
}
