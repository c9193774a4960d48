//! `dmm report`: the window as one page, end to end against the simulator. The real binary
//! writes the page; the tests read it back as a browser and an auditor would: balanced markup,
//! nothing that runs or fetches, the journal's own counts, names escaped.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::*;
use dmm::journal::{JournalRead, JournalReader, Operation, StepPhase};
use domino_sim::{FaultsPatch, RefuseRule};

fn report(env: &Env, extra: &[&str]) -> (std::process::Output, PathBuf) {
    let snap = env.snapshot();
    let mut args = vec!["report", snap.to_str().unwrap()];
    args.extend_from_slice(extra);
    let out = env.run(&args);
    let written = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("report written to ").map(PathBuf::from));
    (out, written.unwrap_or_default())
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

// ---------------------------------------------------------------------------------------------
// A small HTML reader: enough to check that tags balance and to read table rows back.

const VOID: [&str; 6] = ["meta", "br", "hr", "img", "input", "link"];

#[derive(Debug, Default)]
struct Page {
    /// Every table row's cells, as text with entities decoded.
    rows: Vec<Vec<String>>,
    /// Every attribute name seen.
    attributes: Vec<String>,
    /// Every element name seen.
    elements: Vec<String>,
}

fn decode(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#x27;", "'")
        .replace("&#x2f;", "/")
        .replace("&middot;", "·")
        .replace("&amp;", "&")
}

/// Parses `html`, panicking at the first tag that does not balance.
fn parse(html: &str) -> Page {
    let mut page = Page::default();
    let mut open: Vec<String> = Vec::new();
    let mut row: Option<Vec<String>> = None;
    let mut cell: Option<String> = None;
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        if let Some(c) = cell.as_mut() {
            c.push_str(&rest[..lt]);
        }
        rest = &rest[lt..];
        if rest.starts_with("<!--") {
            let end = rest.find("-->").expect("a comment ends");
            rest = &rest[end + 3..];
            continue;
        }
        let gt = rest.find('>').expect("a tag ends");
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        if tag.starts_with('!') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            let name = name.trim().to_ascii_lowercase();
            let top = open
                .pop()
                .unwrap_or_else(|| panic!("</{name}> closes nothing"));
            assert_eq!(top, name, "</{name}> closes <{top}>");
            match name.as_str() {
                "td" | "th" => {
                    let text = decode(cell.take().unwrap_or_default().trim());
                    row.as_mut().expect("a cell in a row").push(text);
                }
                "tr" => page.rows.push(row.take().expect("a row")),
                _ => {}
            }
            continue;
        }
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag
            .split_whitespace()
            .next()
            .expect("a tag has a name")
            .to_ascii_lowercase();
        // Attribute names: what precedes each `=` outside quotes.
        let mut in_quote = false;
        let mut word = String::new();
        for c in tag[name.len()..].chars() {
            match c {
                '"' => in_quote = !in_quote,
                '=' if !in_quote => page.attributes.push(std::mem::take(&mut word)),
                c if c.is_whitespace() && !in_quote => word.clear(),
                c if !in_quote => word.push(c.to_ascii_lowercase()),
                _ => {}
            }
        }
        assert!(!in_quote, "an attribute's quote does not end in <{tag}>");
        page.elements.push(name.clone());
        if name == "style" {
            let end = rest.find("</style>").expect("the style sheet ends");
            rest = &rest[end + "</style>".len()..];
            continue;
        }
        if VOID.contains(&name.as_str()) || self_closing {
            continue;
        }
        match name.as_str() {
            "tr" => row = Some(Vec::new()),
            "td" | "th" => cell = Some(String::new()),
            _ => {}
        }
        open.push(name);
    }
    assert!(open.is_empty(), "never closed: {open:?}");
    page
}

/// Nothing on the page runs or fetches: no script, no handler, no link or source, no style
/// that loads, and no URL but the deployment's (which is shown as text) and those that names
/// hold (`names`, shown as text too).
fn assert_self_contained(html: &str, page: &Page, deployment: &str, names: &[&str]) {
    let lower = html.to_ascii_lowercase();
    assert!(!lower.contains("<script"), "a script");
    // A `url(` fetches, except a reference to an element of the page itself (the timeline's
    // hatching patterns, `url(#hatch-stopping)`).
    assert!(
        !lower.replace("url(#", "").contains("url("),
        "the page holds a url( that is not a fragment"
    );
    for bad in [
        "javascript:",
        "@import",
        "<iframe",
        "<object",
        "<embed",
        "<link",
    ] {
        assert!(!lower.contains(bad), "the page holds {bad}");
    }
    for a in &page.attributes {
        assert!(
            !a.starts_with("on")
                && !["href", "src", "xlink:href", "srcset", "action", "style"]
                    .contains(&a.as_str()),
            "attribute {a}"
        );
    }
    assert!(
        !page
            .elements
            .iter()
            .any(|e| ["script", "a", "img", "image", "use", "foreignobject"].contains(&e.as_str())),
        "{:?}",
        page.elements
    );
    // Raw: `/` is escaped in text, so no URL appears as written at all; decoded, the only URL
    // is the deployment's.
    assert!(!html.contains("http://") && !html.contains("https://"));
    let decoded = decode(html);
    let mut at = 0;
    while let Some(i) = decoded[at..].find("http") {
        let from = at + i;
        let tail = &decoded[from..];
        if tail.starts_with("http://") || tail.starts_with("https://") {
            assert!(
                tail.starts_with(deployment)
                    || names
                        .iter()
                        .any(|n| n.split("http").skip(1).any(|u| tail[4..].starts_with(u))),
                "a URL other than the deployment's: {}",
                &tail[..tail.len().min(80)]
            );
        }
        at = from + 4;
    }
    assert!(
        html.contains("Content-Security-Policy") && html.contains("default-src &#x27;none&#x27;")
            || html.contains("default-src 'none'"),
        "the page declares its policy"
    );
}

/// Per operation and kind, as the journal records its steps now: confirmed, skipped, failed,
/// unfinished, total.
fn journal_counts(env: &Env) -> BTreeMap<(String, String), [usize; 5]> {
    let steps = JournalReader::open(&env.journal())
        .unwrap()
        .steps(None)
        .unwrap();
    let mut counts: BTreeMap<(String, String), [usize; 5]> = BTreeMap::new();
    for s in steps {
        let c = counts
            .entry((s.key.op.to_string(), s.key.kind.label().to_owned()))
            .or_default();
        let i = match s.phase {
            StepPhase::Confirmed => 0,
            StepPhase::Skipped(_) => 1,
            StepPhase::Failed(_) => 2,
            _ => 3,
        };
        c[i] += 1;
        c[4] += 1;
    }
    counts
}

fn assert_counts_shown(env: &Env, page: &Page, markdown: &str) {
    let counts = journal_counts(env);
    assert!(!counts.is_empty());
    for ((op, kind), c) in &counts {
        let mut want = vec![op.clone(), kind.clone()];
        want.extend(c.iter().map(|n| n.to_string()));
        assert!(
            page.rows.contains(&want),
            "no row {want:?} in {:?}",
            page.rows
        );
        let line = format!("| {} |", want.join(" | "));
        assert!(markdown.contains(&line), "no line {line} in\n{markdown}");
    }
}

// ---------------------------------------------------------------------------------------------
// Markdown compared with a reviewed file, after the parts that differ from run to run (times,
// digests, the simulator's address, the folder, the time it took, requests sent) are replaced.

fn normalise(markdown: &str, env: &Env) -> String {
    let url = dmm::report::escape_markdown(&env.sim.base_url());
    let dir = dmm::report::escape_markdown(&env.dir.path().display().to_string());
    let text = markdown.replace(&url, "URL").replace(&dir, "DIR");
    let text = text.replace(&format!("dmm {}", env!("CARGO_PKG_VERSION")), "dmm VERSION");
    let mut out = String::new();
    let mut in_jobs = false;
    for line in text.lines() {
        in_jobs = (in_jobs || line.starts_with("## Jobs")) && !line.starts_with("---");
        let mut line = normalise_line(line);
        // Who ran it: this machine's process, host and user.
        if let Some(at) = line.find("| process ") {
            let end = line[at + 2..].find(" |").map_or(line.len(), |e| at + 2 + e);
            line = format!("{}| OPERATOR{}", &line[..at], &line[end..]);
        }
        // A restart's new Job gets the simulator's next id, in the order the restarts ran.
        if in_jobs && line.ends_with(" |") && line.contains("| restarted as job ") {
            let cut = line[..line.len() - 2].rfind("| ").unwrap();
            let new_job = line[cut + 2..line.len() - 2].to_owned();
            line = format!("{}| NEW-JOB |", &line[..cut]).replace(&new_job, "NEW-JOB");
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// Replaces `YYYY-MM-DD HH:MM:SS UTC` with TIME, hex digests with SHA, and the number before
/// `events`, `requests`, `of them`, and a unit of time with N.
fn normalise_line(line: &str) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let shape = |at: usize, pattern: &str| {
        pattern.chars().enumerate().all(|(k, p)| {
            chars.get(at + k).is_some_and(|c| match p {
                'd' => c.is_ascii_digit(),
                other => *c == other,
            })
        })
    };
    while i < chars.len() {
        if shape(i, "dddd-dd-dd dd:dd:dd UTC") {
            out.push_str("TIME");
            i += 23;
            continue;
        }
        let hex = chars[i..]
            .iter()
            .take_while(|c| c.is_ascii_hexdigit())
            .count();
        if hex >= 64 {
            out.push_str("SHA");
            i += hex;
            continue;
        }
        if chars[i].is_ascii_digit() && (i == 0 || !chars[i - 1].is_ascii_alphanumeric()) {
            let len = chars[i..]
                .iter()
                .take_while(|c| c.is_ascii_digit() || **c == '.')
                .count();
            let after: String = chars[i + len..].iter().take(12).collect();
            let varies = [
                " events",
                " requests",
                " of them",
                " ms",
                " s)",
                " s:",
                " s ",
                " min",
            ]
            .iter()
            .any(|w| after.starts_with(w))
                || after == " s"
                || after.starts_with(":SHA")
                || after.starts_with(':')
                    && chars[i + len + 1..]
                        .iter()
                        .take(64)
                        .filter(|c| c.is_ascii_hexdigit())
                        .count()
                        == 64;
            if varies {
                out.push('N');
                i += len;
                continue;
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

fn compare_with_expected(actual: &str, file: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/expected")
        .join(file);
    if std::env::var_os("DMM_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
    }
    let expected = read(&path);
    if expected != actual {
        let first = expected
            .lines()
            .zip(actual.lines())
            .position(|(a, b)| a != b)
            .unwrap_or(expected.lines().count().min(actual.lines().count()));
        panic!(
            "the Markdown report differs from {} at line {}:\nexpected: {:?}\nactual:   {:?}\n(DMM_BLESS=1 rewrites it; review the diff)\n{actual}",
            path.display(),
            first + 1,
            expected.lines().nth(first),
            actual.lines().nth(first)
        );
    }
}

/// A fixed deployment (ids, names, owners), so that the Markdown is the same on every run: two
/// projects, every kind, and three running Jobs.
fn fixed_env() -> Env {
    let scenario = scenario_of(serde_json::json!({"projects": [
        {
            "id": "5f0000000000000000000001", "name": "churn", "owner": "alice",
            "apps": [
                {"id": "a00000000000000000000001", "name": "churn-dashboard", "state": "running"},
                {"id": "a00000000000000000000002", "name": "churn-report", "state": "running", "owner": "bob"}
            ],
            "models": [{"id": "b00000000000000000000001", "name": "churn-scorer",
                "versions": ["stopped", "running"],
                "versionIds": ["f00000000000000000000001", "f00000000000000000000002"]}],
            "workspaces": [{"id": "c00000000000000000000001", "name": "analysis", "owner": "bob", "state": "running"}],
            "scheduledJobs": [{"id": "d00000000000000000000001", "title": "nightly-retrain", "paused": false}],
            "jobs": [
                {"id": "e00000000000000000000001", "title": "backfill", "command": "python backfill.py"},
                {"id": "e00000000000000000000002", "title": "export", "command": "python export.py", "owner": "bob"}
            ]
        },
        {
            "id": "5f0000000000000000000002", "name": "fraud", "owner": "carol",
            "apps": [{"id": "a00000000000000000000003", "name": "fraud-monitor", "state": "running"}],
            "workspaces": [{"id": "c00000000000000000000002", "name": "triage", "state": "running"}],
            "jobs": [{"id": "e00000000000000000000003", "title": "score-all", "command": "python score.py"}]
        }
    ]}));
    Env::new(
        domino_sim::SimConfig::default()
            .api_key(KEY)
            .seed(42)
            .scenario(scenario)
            .transition(40, 20),
    )
}

#[test]
fn a_full_cycle_gives_one_self_contained_page_with_the_journals_counts() {
    let env = fixed_env();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    assert_eq!(code(&env.run_op("restore", &["--restart-jobs"])), 0);

    let (out, path) = report(&env, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let snap = env.snapshot();
    assert_eq!(
        path,
        PathBuf::from(format!("{}.report.html", snap.display()))
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "the page names every execution and owner");
    }
    let html = read(&path);
    let page = parse(&html);
    assert_self_contained(&html, &page, &env.sim.base_url(), &[]);
    assert!(html.contains("<svg"), "the timeline");
    assert!(
        html.contains("run 1: shutdown") && html.contains("run 2: restore"),
        "the timeline marks where each run began"
    );
    assert!(html.contains(">intact: "), "the chain's verdict");
    let sha = dmm::snapshot::read(&snap).unwrap().sha256;
    assert!(html.contains(&sha), "the snapshot's SHA-256");
    // Printed: every table's header repeats on each page, and each page's margin names the
    // snapshot and the page.
    assert_eq!(
        html.matches("<thead>").count(),
        html.matches("<table>").count(),
        "a header to repeat on every table but the facts"
    );
    assert!(html.contains("@media print"), "print styles");
    assert!(
        html.contains(&format!("snapshot SHA-256 {sha}")) && html.contains("counter(pages)"),
        "the margins of every printed page"
    );

    let (out, md_path) = report(
        &env,
        &[
            "--format",
            "markdown",
            "--output",
            env.path("r.md").to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let markdown = read(&md_path);
    assert!(!markdown.contains("<svg"), "no chart in Markdown");
    assert_counts_shown(&env, &page, &markdown);

    // The summary for a ticket: the verdict, what is next, the owners to tell by owner.
    let (out, summary_path) = report(&env, &["--format", "markdown-summary"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        summary_path
            .to_string_lossy()
            .ends_with(".report.summary.md"),
        "{}",
        summary_path.display()
    );
    let summary = read(&summary_path);
    assert!(
        summary.contains("**Verdict: Maintenance complete"),
        "{summary}"
    );
    assert!(summary.contains("**Next:** "), "{summary}");
    assert!(
        summary.contains("- **bob**: Workspaces to start again (1): churn/analysis.")
            && summary.contains("- **carol**: Workspaces to start again (1): fraud/triage."),
        "{summary}"
    );
    assert!(summary.len() < 4_000, "{}", summary.len());

    // The Jobs: each stopped one, by dmm's stop, and restarted as a new Job.
    let reader = JournalReader::open(&env.journal()).unwrap();
    let restarts = reader
        .steps(Some(Operation::Restore))
        .unwrap()
        .into_iter()
        .filter(|s| s.key.kind == dmm::snapshot::Kind::Job)
        .collect::<Vec<_>>();
    assert_eq!(restarts.len(), 3, "{restarts:#?}");
    for r in &restarts {
        let effect = r.effect.as_deref().expect("the new Job is recorded");
        let row = page
            .rows
            .iter()
            .find(|row| row.first() == Some(&r.key.execution))
            .unwrap_or_else(|| panic!("no Job row for {}", r.key.execution));
        assert_eq!(row[3], "stopped by dmm", "{row:?}");
        assert_eq!(row[5], "yes", "{row:?}");
        assert_eq!(row[6], format!("restarted as job {effect}"), "{row:?}");
        assert_eq!(row[7], effect, "{row:?}");
    }
    // Grouped by project, by its name: churn's two Jobs under one heading, then fraud's one.
    let groups: Vec<&String> = page
        .rows
        .iter()
        .filter(|r| r.len() == 1 && r[0].starts_with("Project "))
        .map(|r| &r[0])
        .collect();
    assert_eq!(
        groups,
        ["Project alice/churn: 2 Jobs", "Project carol/fraud: 1 Job"]
    );
    // The inventory names each execution's project by name, Model API versions included
    // (their snapshot `_id` holds the model, not the project): never `-` or an id.
    let inventory: Vec<&Vec<String>> = page
        .rows
        .iter()
        .filter(|r| r.len() == 8 && dmm::snapshot::Kind::EVERY.iter().any(|k| k.label() == r[0]))
        .collect();
    assert_eq!(inventory.len(), 10, "{inventory:?}");
    let fraud = [
        "a00000000000000000000003",
        "c00000000000000000000002",
        "e00000000000000000000003",
    ];
    for row in inventory {
        let wanted = if fraud.contains(&row[1].as_str()) {
            "carol/fraud"
        } else {
            "alice/churn"
        };
        assert_eq!(row[4], wanted, "{row:?}");
    }
    // Verification run by run: both passed.
    let passed = page
        .rows
        .iter()
        .filter(|r| r.get(3).is_some_and(|c| c == "passed"))
        .count();
    assert_eq!(passed, 2, "{:?}", page.rows);

    compare_with_expected(&normalise(&markdown, &env), "report_full_cycle.md");
}

// ---------------------------------------------------------------------------------------------

const HOSTILE: &str = "</td></tr></table></svg><script>alert(1)</script><img src=x onerror=alert(2)> | [click](https://evil.example/x) *bold*\nnext line";

fn hostile_env() -> Env {
    let scenario = scenario_of(serde_json::json!({"projects": [{
        "name": "proj",
        "owner": format!("mallory{HOSTILE}"),
        "apps": [
            {"name": HOSTILE, "state": "running", "owner": format!("o{HOSTILE}")},
            {"name": "plain", "state": "running"}
        ],
        "workspaces": [{"name": HOSTILE, "state": "running"}],
        "scheduledJobs": [{"title": HOSTILE, "owner": "alice", "paused": false}]
    }]}));
    Env::new(
        domino_sim::SimConfig::default()
            .api_key(KEY)
            .seed(7)
            .scenario(scenario)
            .transition(30, 10),
    )
}

#[test]
fn failures_are_listed_in_full_and_hostile_names_stay_text() {
    let env = hostile_env();
    env.take_snapshot();
    let snapshot = dmm::snapshot::read(&env.snapshot()).unwrap();
    let (_, app) = snapshot
        .snapshot
        .iter()
        .find(|(k, e)| *k == dmm::snapshot::Kind::App && e.name == HOSTILE)
        .unwrap();
    let app_id = app.id["_id"].as_str().unwrap().to_owned();
    // The hostile App's stop is refused, so its step fails with the HTTP status it got, and the
    // verification finds it still running.
    env.sim
        .set_faults(FaultsPatch {
            refuse: Some(vec![RefuseRule {
                route: "POST /v4/modelProducts/{id}/stop".into(),
                execution_id: Some(app_id.clone()),
                status: 400,
                times: None,
                after_applying: false,
                retry_after: None,
            }]),
            ..FaultsPatch::default()
        })
        .unwrap();
    let out = env.run_op("shutdown", &["-m", "1"]);
    assert_eq!(code(&out), 1, "{}", text(&out));

    let (out, path) = report(&env, &[]);
    assert_eq!(
        code(&out),
        0,
        "a journal with failures is still intact: {}",
        text(&out)
    );
    let html = read(&path);
    let page = parse(&html);
    assert_self_contained(&html, &page, &env.sim.base_url(), &[HOSTILE]);
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;&#x2f;script&gt;"),
        "the name, escaped"
    );
    // The timeline's failure pin names the step that failed there.
    let pin = html
        .find("1 step failed around ")
        .map(|at| &html[at..at + 200])
        .unwrap_or_else(|| panic!("no failure pin"));
    assert!(pin.contains("UTC: &lt;&#x2f;td&gt;"), "{pin}");

    // The failure, in full: id, name, owner, project, HTTP status, message.
    let failed = page
        .rows
        .iter()
        .find(|r| r.len() == 9 && r[2] == app_id)
        .unwrap_or_else(|| panic!("no failure row for {app_id}: {:?}", page.rows));
    assert_eq!(failed[0], "shutdown");
    assert_eq!(failed[3], HOSTILE, "the name reads back exactly");
    assert_eq!(failed[4], format!("o{HOSTILE}"));
    assert_eq!(
        failed[5],
        format!("mallory{HOSTILE}/proj"),
        "the project's name, not its id"
    );
    assert_eq!(failed[7], "400");
    assert!(!failed[8].is_empty(), "{failed:?}");
    // The mismatch the verification found.
    assert!(
        page.rows
            .iter()
            .any(|r| r.len() == 10 && r[3] == app_id && r[7].starts_with("still running")),
        "{:?}",
        page.rows
    );

    let (out, md) = report(&env, &["--format", "markdown"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(md.extension().unwrap(), "md");
    let markdown = read(&md);
    assert_counts_shown(&env, &page, &markdown);
    assert!(
        !markdown.contains('<'),
        "no markup gets through:\n{markdown}"
    );
    assert!(
        !markdown.replace("\\]", "").contains("]("),
        "no link:\n{markdown}"
    );
    // Every table line is one row: as many unescaped `|` as its header.
    let failures: Vec<&str> = markdown
        .lines()
        .skip_while(|l| *l != "## Failures")
        .skip(2)
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert_eq!(failures.len(), 3, "{failures:?}");
    let bars = |l: &str| l.replace("\\|", "").matches('|').count();
    assert!(
        failures.iter().all(|l| bars(l) == bars(failures[0])),
        "{failures:?}"
    );
}

#[test]
fn a_report_during_a_run_says_the_run_is_in_progress() {
    let env = Env::new(config(small_spec()).transition(1500, 0));
    env.take_snapshot();
    let mut child = env.spawn_op("shutdown", &[]);
    wait_for(
        std::time::Duration::from_secs(20),
        "the run records steps",
        || {
            JournalReader::open(&env.journal())
                .and_then(|r| r.events())
                .is_ok_and(|e| e.iter().any(|e| e.to == "Requested"))
        },
    );
    let (out, path) = report(&env, &[]);
    let still_running = child.try_wait().unwrap().is_none();
    assert_eq!(code(&out), 0, "{}", text(&out));
    let html = read(&path);
    parse(&html);
    let status = child.wait_with_output().unwrap();
    assert_eq!(status.status.code(), Some(0));
    assert!(
        still_running,
        "the run ended before the report was made; the test proves nothing"
    );
    assert!(
        text(&out).contains("a run is in progress"),
        "{}",
        text(&out)
    );
    assert!(html.contains("A run is in progress"));
    let page = parse(&html);
    let run = page
        .rows
        .iter()
        .find(|r| r.first().is_some_and(|c| c == "1"))
        .unwrap();
    assert_eq!(run[5], "in progress", "{run:?}");
    assert!(
        page.rows
            .iter()
            .any(|r| r.get(3).is_some_and(|c| c == "not run")
                && r.last().is_some_and(|c| c.contains("in progress"))),
        "{:?}",
        page.rows
    );
}

#[test]
fn a_broken_chain_is_said_in_red_and_exits_1() {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    // Event 5's message rewritten without its digest, as a database tool would.
    {
        use redb::{Database, ReadableTable, TableDefinition};
        const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
        let db = Database::open(env.journal()).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut events = txn.open_table(EVENTS).unwrap();
            let mut e: serde_json::Value =
                serde_json::from_slice(events.get(5).unwrap().unwrap().value()).unwrap();
            e["message"] = "nothing to see here".into();
            events
                .insert(5, serde_json::to_vec(&e).unwrap().as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let (out, path) = report(&env, &[]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        text(&out).contains("chain broken at event 5"),
        "{}",
        text(&out)
    );
    let html = read(&path);
    parse(&html);
    assert!(
        html.contains(
            "<div class=\"banner bad\">The journal's hash chain is BROKEN: chain broken at event 5"
        ),
        "the banner"
    );
    assert!(
        html.contains("<td class=\"bad\">chain broken at event 5"),
        "the header's chain row, in red"
    );

    let (out, md) = report(&env, &["--format", "markdown"]);
    assert_eq!(code(&out), 1);
    assert!(read(&md).contains("hash chain is BROKEN: chain broken at event 5"));
}

#[test]
fn a_skipped_verification_shows_as_skipped_not_passed() {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &["--no-verify"])), 0);
    let (out, path) = report(&env, &[]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let page = parse(&read(&path));
    let v = page
        .rows
        .iter()
        .find(|r| r.len() == 9 && r[0] == "1" && r[1] == "shutdown")
        .unwrap_or_else(|| panic!("{:?}", page.rows));
    assert_eq!(v[3], "skipped", "{v:?}");
    assert!(v[8].contains("--no-verify"), "{v:?}");
}

#[test]
fn a_snapshot_without_a_journal_is_one_line_and_exit_2() {
    let env = Env::small();
    env.take_snapshot();
    std::fs::remove_file(env.journal()).unwrap();
    let (out, _) = report(&env, &[]);
    assert_eq!(code(&out), 2, "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1,
        "{}",
        text(&out)
    );
    assert!(!env.path("snap.json.report.html").exists());
}

/// The inventory as CSV: one row an execution with its state at each stage, quoted as RFC 4180
/// says, and no cell a spreadsheet would take for a formula.
#[test]
fn the_inventory_is_csv_a_spreadsheet_opens_as_text() {
    let names = [
        "=HYPERLINK(\"http://evil.example\",\"ok\")",
        "@SUM(A1)",
        "-2+3",
        "plain, \"quoted\"",
        "inv\u{202E}gnp.exe",
        "nul\u{0}bel\u{7}esc\u{1b}[31mred",
    ];
    let apps: Vec<_> = names
        .iter()
        .map(|n| serde_json::json!({"name": n, "state": "running", "owner": "+owner"}))
        .collect();
    let scenario = scenario_of(
        serde_json::json!({"projects": [{"name": "proj", "owner": "alice", "apps": apps,
            "jobs": [{"title": "nightly", "command": "python n.py"}]}]}),
    );
    let env = Env::new(
        domino_sim::SimConfig::default()
            .api_key(KEY)
            .seed(3)
            .scenario(scenario)
            .transition(20, 10),
    );
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    let (out, path) = report(&env, &["--format", "csv"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(
        path,
        PathBuf::from(format!("{}.report.csv", env.snapshot().display()))
    );
    let csv = read(&path);
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(
        lines[0],
        "kind,id,name,owner,project,at snapshot,after shutdown,after restore"
    );
    assert_eq!(lines.len(), 1 + names.len() + 1 + 1, "{csv}");
    assert!(lines.last().unwrap().is_empty(), "CRLF after every row");
    let row = |name: &str| {
        lines
            .iter()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row with {name}: {csv}"))
            .to_string()
    };
    assert!(row("HYPERLINK").contains(",\"'=HYPERLINK(\"\"http://evil.example\"\",\"\"ok\"\")\",'+owner,alice/proj,running,stopped,not restored"), "{csv}");
    assert!(
        row("SUM").contains(",'@SUM(A1),'+owner,alice/proj,running,stopped,"),
        "{csv}"
    );
    assert!(row("2+3").contains(",'-2+3,"), "{csv}");
    assert!(
        row("plain").contains(",\"plain, \"\"quoted\"\"\","),
        "{csv}"
    );
    assert!(row("gnp").contains(",inv<U+202E>gnp.exe,"), "{csv}");
    assert!(!csv.contains('\u{202E}'));
    let job = row("nightly");
    assert!(job.starts_with("Job,"), "{job}");
    assert!(job.contains(",alice/proj,not in the snapshot"), "{job}");

    // The page holds the same inventory, folded in a <details> block.
    let (_, html_path) = report(&env, &[]);
    let html = read(&html_path);
    let details = &html[html.find("<details>").expect("an inventory block")..];
    let details = &details[..details.find("</details>").unwrap()];
    assert!(
        details.contains("<td class=\"name\">@SUM(A1)</td>"),
        "{details}"
    );
    assert_eq!(details.matches("<tr><td>").count(), names.len() + 1);
    // No control character reaches the page (a NUL is a parse error, an ESC a live escape in
    // `cat`): written out, like the hidden ones.
    for page in [&html, &csv] {
        assert!(
            !page
                .chars()
                .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')),
            "a raw control character"
        );
    }
    assert!(html.contains("nul&lt;U+0000&gt;bel&lt;U+0007&gt;esc&lt;U+001B&gt;[31mred"));
}

/// Names thousands of characters long: the verdict names each failure shortly, so the first
/// screen and the ticket's summary stay readable and the summary under 30,000 characters.
#[test]
fn long_names_leave_the_verdict_and_the_summary_short() {
    let apps: Vec<_> = (0..3)
        .map(|i| {
            serde_json::json!({"name": format!("{i}{}", "A".repeat(5_000)), "state": "running",
                "owner": format!("{i}{}", "O".repeat(5_000))})
        })
        .collect();
    let scenario = scenario_of(
        serde_json::json!({"projects": [{"name": "proj", "owner": "alice", "apps": apps}]}),
    );
    let env = Env::new(
        domino_sim::SimConfig::default()
            .api_key(KEY)
            .seed(11)
            .scenario(scenario)
            .transition(20, 10),
    );
    env.take_snapshot();
    refuse(&env, "POST /v4/modelProducts/{id}/stop", None, 400, None);
    let out = env.run_op("shutdown", &["--no-verify"]);
    assert_ne!(code(&out), 0, "{}", text(&out));
    let (out, path) = report(&env, &["--format", "markdown-summary"]);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let summary = read(&path);
    assert!(
        summary.chars().count() < 30_000,
        "{}",
        summary.chars().count()
    );
    let failed = summary
        .lines()
        .find(|l| l.contains("step(s) failed"))
        .unwrap_or_else(|| panic!("{summary}"));
    assert!(failed.chars().count() < 1_000, "{failed}");
    assert!(failed.contains("…"), "{failed}");
    let (_, html) = report(&env, &[]);
    let html = read(&html);
    let verdict = &html[html.find("id=\"verdict\"").unwrap()..];
    let verdict = &verdict[..verdict.find("</div>").unwrap()];
    assert!(verdict.len() < 3_000, "{}", verdict.len());
    // So does the list of owners to tell (a page of thousands of long names stays small)...
    let owners = &html[html.find("id=\"owners\"").unwrap()..];
    let owners = &owners[..owners.find("</table>").unwrap()];
    assert!(owners.len() < 5_000, "{}", owners.len());
    // ...while the tables below keep each name whole.
    assert!(html.contains(&format!("0{}", "A".repeat(5_000))));
}
