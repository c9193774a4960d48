//! The hash chain over the journal's events: `dmm journal FILE --verify`, end to end, against
//! journals edited with redb directly, the way someone with the file and a database tool would.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");
const RUNS: TableDefinition<u64, &[u8]> = TableDefinition::new("runs");

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A journal after a full shutdown + restore cycle, and a copy of it to tamper with.
fn cycled() -> Env {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    assert_eq!(code(&env.run_op("restore", &[])), 0);
    env
}

fn copy(env: &Env, name: &str) -> std::path::PathBuf {
    let to = env.path(name);
    std::fs::copy(env.journal(), &to).unwrap();
    to
}

fn verify(env: &Env, journal: &Path) -> std::process::Output {
    env.run(&[
        "journal",
        env.snapshot().to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--verify",
    ])
}

fn rows(path: &Path) -> Vec<(u64, Vec<u8>)> {
    let db = Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(EVENTS).unwrap();
    table
        .iter()
        .unwrap()
        .map(|e| {
            let (k, v) = e.unwrap();
            (k.value(), v.value().to_vec())
        })
        .collect()
}

/// Runs `edit` on the events table (and meta) of the file, in one committed transaction.
fn tamper(
    path: &Path,
    edit: impl FnOnce(&mut redb::Table<u64, &[u8]>, &mut redb::Table<&str, &[u8]>),
) {
    let db = Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    {
        let mut events = txn.open_table(EVENTS).unwrap();
        let mut meta = txn.open_table(META).unwrap();
        edit(&mut events, &mut meta);
    }
    txn.commit().unwrap();
}

fn json(bytes: &[u8]) -> serde_json::Value {
    serde_json::from_slice(bytes).unwrap()
}

#[test]
fn an_untouched_journal_after_a_full_cycle_verifies_intact() {
    let env = cycled();
    let out = verify(&env, &env.journal());
    assert_eq!(code(&out), 0, "{}", text(&out));
    let events = rows(&env.journal()).len();
    assert!(events > 20, "a cycle of the small deployment writes events");
    assert!(
        stdout(&out).contains(&format!(
            "intact: {events} events, chained from the snapshot"
        )),
        "{}",
        text(&out)
    );
    // The first event links to the snapshot, every next one to the one before.
    let all = rows(&env.journal());
    let sha = dmm::snapshot::read(&env.snapshot()).unwrap().sha256;
    assert_eq!(json(&all[0].1)["prev_sha256"], sha.as_str());
    for pair in all.windows(2) {
        assert_eq!(json(&pair[1].1)["prev_sha256"], json(&pair[0].1)["sha256"]);
    }

    // A step record that does not decode (the chain covers events, not the step records a
    // resume reads) is not "intact": every other command would refuse the file.
    let damaged = copy(&env, "damaged.journal");
    {
        let db = Database::open(&damaged).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let steps: redb::TableDefinition<&str, &[u8]> = redb::TableDefinition::new("steps");
            let mut table = txn.open_table(steps).unwrap();
            let key = table
                .iter()
                .unwrap()
                .next()
                .unwrap()
                .unwrap()
                .0
                .value()
                .to_owned();
            table
                .insert(key.as_str(), b"{\"phase\": \xff".as_slice())
                .unwrap();
        }
        txn.commit().unwrap();
    }
    let out = verify(&env, &damaged);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        !stdout(&out).contains("intact") && stdout(&out).contains("does not decode"),
        "{}",
        text(&out)
    );
}

#[test]
fn a_changed_message_is_found_at_its_sequence_number() {
    let env = cycled();
    let copy = copy(&env, "edited.journal");
    tamper(&copy, |events, _| {
        let mut e = json(events.get(5).unwrap().unwrap().value());
        e["message"] = "nothing to see here".into();
        events
            .insert(5, serde_json::to_vec(&e).unwrap().as_slice())
            .unwrap();
    });
    let out = verify(&env, &copy);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report.contains("event 5: event 5 was changed since it was written"),
        "{report}"
    );
    assert!(
        report.contains("chain broken at event 5 (1 problem)"),
        "{report}"
    );
    // The original is untouched and still verifies.
    assert_eq!(code(&verify(&env, &env.journal())), 0);
}

#[test]
fn a_removed_event_is_found_in_the_middle_and_at_the_end() {
    let env = cycled();
    let middle = copy(&env, "middle.journal");
    tamper(&middle, |events, _| {
        events.remove(7).unwrap();
    });
    let out = verify(&env, &middle);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        stdout(&out).contains("event 7: event 7 was removed"),
        "{}",
        text(&out)
    );

    let last = rows(&env.journal()).last().unwrap().0;
    let end = copy(&env, "end.journal");
    tamper(&end, |events, _| {
        events.remove(last).unwrap();
    });
    let out = verify(&env, &end);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!(
            "event {last}: event {last} was removed (the chain's head records it)"
        )),
        "{}",
        text(&out)
    );
}

#[test]
fn an_inserted_event_is_found_where_it_was_put() {
    let env = cycled();
    let all = rows(&env.journal());
    let last = all.last().unwrap().0;

    // At the end: a plausible copy of the last event, renumbered.
    let end = copy(&env, "appended.journal");
    tamper(&end, |events, _| {
        let mut e = json(&all.last().unwrap().1);
        e["seq"] = (last + 1).into();
        e["message"] = "started again by hand".into();
        events
            .insert(last + 1, serde_json::to_vec(&e).unwrap().as_slice())
            .unwrap();
    });
    let out = verify(&env, &end);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report.contains(&format!("chain broken at event {}", last + 1)),
        "{report}"
    );
    assert!(report.contains("inserted"), "{report}");

    // In the middle: every later row moves up one, with its seq field rewritten, and a forged
    // event takes position 10 (a copy of event 9 without any chain fields).
    let middle = copy(&env, "spliced.journal");
    tamper(&middle, |events, _| {
        for (key, bytes) in all.iter().rev().filter(|(k, _)| *k >= 10) {
            let mut e = json(bytes);
            e["seq"] = (key + 1).into();
            events
                .insert(key + 1, serde_json::to_vec(&e).unwrap().as_slice())
                .unwrap();
        }
        let mut forged = json(&all[8].1);
        forged["seq"] = 10.into();
        forged["message"] = "stopped by hand".into();
        let object = forged.as_object_mut().unwrap();
        object.remove("sha256");
        object.remove("prev_sha256");
        events
            .insert(10, serde_json::to_vec(&forged).unwrap().as_slice())
            .unwrap();
    });
    let out = verify(&env, &middle);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = stdout(&out);
    assert!(
        report.contains("event 10: event 10 carries no link although earlier events do: inserted"),
        "{report}"
    );
    assert!(report.contains("chain broken at event 10"), "{report}");
}

/// Strips the chain from every event, from meta and from the run records: a journal as a dmm
/// before the chain wrote it.
fn strip_chain(path: &Path) {
    let all = rows(path);
    {
        let db = Database::open(path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut runs = txn.open_table(RUNS).unwrap();
            let records: Vec<(u64, Vec<u8>)> = runs
                .iter()
                .unwrap()
                .map(|e| {
                    let (k, v) = e.unwrap();
                    (k.value(), v.value().to_vec())
                })
                .collect();
            for (key, bytes) in records {
                let mut run = json(&bytes);
                run.as_object_mut().unwrap().remove("journal_head");
                runs.insert(key, serde_json::to_vec(&run).unwrap().as_slice())
                    .unwrap();
            }
        }
        txn.commit().unwrap();
    }
    tamper(path, |events, meta| {
        for (key, bytes) in &all {
            let mut e = json(bytes);
            let object = e.as_object_mut().unwrap();
            object.remove("sha256");
            object.remove("prev_sha256");
            events
                .insert(*key, serde_json::to_vec(&e).unwrap().as_slice())
                .unwrap();
        }
        meta.remove("events_chain_head").unwrap();
    });
}

#[test]
fn a_journal_from_before_the_chain_is_no_chain_and_a_chain_can_start_mid_way() {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    strip_chain(&env.journal());
    let legacy = rows(&env.journal()).len();
    let out = verify(&env, &env.journal());
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!(
            "no chain: its {legacy} events were written by a dmm before the hash chain existed"
        )),
        "{}",
        text(&out)
    );

    // This dmm appends to it: its chain starts after the old events, and says so.
    assert_eq!(code(&env.run_op("restore", &[])), 0);
    let total = rows(&env.journal()).len();
    assert!(total > legacy);
    let out = verify(&env, &env.journal());
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!(
            "chain intact from event {} to {total} ({} events); events 1 to {legacy} were written before dmm kept the chain and are not covered",
            legacy + 1,
            total - legacy
        )),
        "{}",
        text(&out)
    );

    // The boundary is covered: the last old event is what the chain starts from.
    let boundary = copy(&env, "boundary.journal");
    tamper(&boundary, |events, _| {
        let mut e = json(events.get(legacy as u64).unwrap().unwrap().value());
        e["message"] = "edited".into();
        events
            .insert(legacy as u64, serde_json::to_vec(&e).unwrap().as_slice())
            .unwrap();
    });
    let out = verify(&env, &boundary);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        stdout(&out).contains(&format!("chain broken at event {}", legacy + 1)),
        "{}",
        text(&out)
    );
}

#[test]
fn verify_reads_the_journal_while_a_run_holds_it() {
    let env = Env::new(config(small_spec()).transition(1_500, 200));
    env.take_snapshot();
    let mut child = env.spawn_op("shutdown", &[]);
    wait_for(Duration::from_secs(30), "the run to write events", || {
        JournalReaderCount::events(&env) > 5
    });
    let out = verify(&env, &env.journal());
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert!(stdout(&out).contains("intact"), "{}", text(&out));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the run should still be going while verify reads"
    );
    let out = child.wait_with_output().unwrap();
    assert_eq!(code(&out), 0, "{}", text(&out));
    assert_eq!(code(&verify(&env, &env.journal())), 0);
}

struct JournalReaderCount;

impl JournalReaderCount {
    fn events(env: &Env) -> usize {
        use dmm::journal::{JournalRead, JournalReader};
        JournalReader::open(&env.journal())
            .and_then(|r| r.events())
            .map(|e| e.len())
            .unwrap_or(0)
    }
}

/// The events of the journal's last run, removed from the end of the log; returns the sequence
/// number of the last event left.
fn remove_last_run_events(path: &Path) -> u64 {
    let all = rows(path);
    let last_run = json(&all.last().unwrap().1)["run"].as_u64().unwrap();
    let cut: Vec<u64> = all
        .iter()
        .filter(|(_, b)| json(b)["run"] == last_run)
        .map(|(k, _)| *k)
        .collect();
    assert_eq!(
        *cut.last().unwrap(),
        all.last().unwrap().0,
        "the last run's events are the newest"
    );
    tamper(path, |events, _| {
        for key in &cut {
            events.remove(*key).unwrap();
        }
    });
    cut[0] - 1
}

fn verify_with(env: &Env, journal: &Path, extra: &[&str]) -> std::process::Output {
    let snapshot = env.snapshot();
    let mut args = vec![
        "journal",
        snapshot.to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "--verify",
    ];
    args.extend_from_slice(extra);
    env.run(&args)
}

#[test]
fn newest_events_removed_with_the_head_record_do_not_read_as_intact() {
    let env = cycled();
    let cut = copy(&env, "cut.journal");
    let left = remove_last_run_events(&cut);
    tamper(&cut, |_, meta| {
        meta.remove("events_chain_head").unwrap();
    });
    let out = verify(&env, &cut);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = stdout(&out);
    assert!(!report.contains("intact"), "{report}");
    assert!(
        report.contains(&format!("chain broken at event {}", left + 1)),
        "{report}"
    );
    assert!(
        report.contains("the chain's head record is missing"),
        "{report}"
    );
}

#[test]
fn a_head_rewritten_to_the_last_event_left_is_caught_by_the_runs_recorded_head() {
    let env = cycled();
    let cut = copy(&env, "cut.journal");
    let left = remove_last_run_events(&cut);
    let sha = json(&rows(&cut).last().unwrap().1)["sha256"]
        .as_str()
        .unwrap()
        .to_owned();
    tamper(&cut, |_, meta| {
        meta.insert("events_chain_head", format!("{left} {sha}").as_bytes())
            .unwrap();
    });
    let out = verify(&env, &cut);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let report = stdout(&out);
    assert!(!report.contains("intact"), "{report}");
    assert!(
        report.contains(&format!("chain broken at event {}", left + 1)),
        "{report}"
    );
    // The restore run recorded the head it ended at: the events up to it are missing.
    let total = rows(&env.journal()).len();
    assert!(
        report.contains(&format!(
            "events {} to {total} were removed (run 2 recorded event {total} as the head when it ended)",
            left + 1
        )),
        "{report}"
    );
    // The steps the removed events moved stand in phases no remaining event records.
    assert!(report.contains("no remaining event records"), "{report}");
}

/// The newest run record, as stored.
fn last_run_record(path: &Path) -> serde_json::Value {
    let db = Database::open(path).unwrap();
    let txn = db.begin_read().unwrap();
    let table = txn.open_table(RUNS).unwrap();
    let (_, v) = table.last().unwrap().unwrap();
    json(v.value())
}

/// The line a run prints at its end: `journal head: SEQ:SHA256 ...`; returns `SEQ:SHA256`.
fn printed_head(out: &std::process::Output) -> String {
    let all = stdout(out);
    let line = all
        .lines()
        .find(|l| l.starts_with("journal head: "))
        .unwrap_or_else(|| panic!("no head line in {}", text(out)));
    line["journal head: ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned()
}

#[test]
fn a_consistently_truncated_journal_is_caught_by_the_head_a_run_printed() {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    // The journal as it stood after the shutdown: what someone who removed every trace of the
    // restore (its events, its run, its steps, the head) would leave.
    let earlier = copy(&env, "earlier.journal");
    let r = receiver();
    let metrics = env.path("dmm.prom");
    let out = env.run_op(
        "restore",
        &[
            "--notify-url",
            &r.url,
            "--metrics-file",
            metrics.to_str().unwrap(),
        ],
    );
    assert_eq!(code(&out), 0, "{}", text(&out));
    let head = printed_head(&out);
    let (seq, sha) = head.split_once(':').unwrap();
    let total = rows(&env.journal()).len();
    assert_eq!(seq, total.to_string());
    assert_eq!(json(&rows(&env.journal()).last().unwrap().1)["sha256"], sha);

    // Anchored outside the file: the run record, the final notice, the metrics file.
    let run = last_run_record(&env.journal());
    assert_eq!(run["journal_head"]["seq"], seq.parse::<u64>().unwrap());
    assert_eq!(run["journal_head"]["sha256"], sha);
    let bodies = r.bodies.lock().unwrap().clone();
    let end = bodies.iter().find(|b| b["event"] == "ended").unwrap();
    assert_eq!(end["journal_head"], head.as_str(), "{end}");
    let prom = std::fs::read_to_string(&metrics).unwrap();
    assert!(
        prom.contains(&format!(
            "dmm_journal_head_seq{{operation=\"restore\",sha256=\"{sha}\"}} {seq}"
        )),
        "{prom}"
    );
    // `dmm status` shows the head too.
    let status = env.run(&["status", env.snapshot().to_str().unwrap()]);
    assert!(
        stdout(&status).contains(&format!("journal head: {head}")),
        "{}",
        text(&status)
    );

    // The earlier file is a consistent journal: alone it verifies, and says what it cannot prove.
    let out = verify(&env, &earlier);
    assert_eq!(code(&out), 0, "{}", text(&out));
    let report = stdout(&out);
    assert!(report.contains("intact"), "{report}");
    assert!(
        report.contains("cannot prove that no newest events were removed"),
        "{report}"
    );
    assert!(report.contains("--expect-head"), "{report}");
    // With the head the restore printed, the truncation shows.
    let out = verify_with(&env, &earlier, &["--expect-head", &head]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let left = rows(&earlier).len();
    assert!(
        stdout(&out).contains(&format!(
            "the journal ends at event {left}, before event {seq} of the expected head: events were removed from its end"
        )),
        "{}",
        text(&out)
    );
    // The digest alone is enough too.
    let out = verify_with(&env, &earlier, &["--expect-head", sha]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    // The real journal holds it, with or without the sequence number.
    for expected in [head.as_str(), sha] {
        let out = verify_with(&env, &env.journal(), &["--expect-head", expected]);
        assert_eq!(code(&out), 0, "{}", text(&out));
        assert!(
            stdout(&out).contains(&format!("holds the expected head at event {seq}")),
            "{}",
            text(&out)
        );
    }
    // A head of another chain, at a position the journal has.
    let other = format!("3:{}", "ab".repeat(32));
    let out = verify_with(&env, &env.journal(), &["--expect-head", &other]);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        stdout(&out).contains("event 3 is not the event of the expected head"),
        "{}",
        text(&out)
    );
    // A malformed head is bad input.
    let out = verify_with(&env, &env.journal(), &["--expect-head", "12:nothex"]);
    assert_eq!(code(&out), 2, "{}", text(&out));
}

/// A journal file cut short (a copy that stopped half-way, a disk that filled): asked whether
/// the record is intact, `--verify` says BROKEN and exits 1, as the README says of a broken
/// chain; the other commands refuse the file as bad input (2).
#[test]
fn a_journal_file_cut_short_fails_its_verification_with_exit_1() {
    let env = Env::small();
    env.take_snapshot();
    assert_eq!(code(&env.run_op("shutdown", &[])), 0);
    let cut = copy(&env, "cut.journal");
    let len = std::fs::metadata(&cut).unwrap().len();
    let file = std::fs::OpenOptions::new().write(true).open(&cut).unwrap();
    file.set_len(len / 3).unwrap();
    drop(file);
    let out = verify(&env, &cut);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(stdout(&out).contains("chain BROKEN"), "{}", text(&out));
    let out = env.run(&[
        "status",
        env.snapshot().to_str().unwrap(),
        "--journal",
        cut.to_str().unwrap(),
    ]);
    assert_eq!(code(&out), 2, "{}", text(&out));
}

const STEPS: TableDefinition<&str, &[u8]> = TableDefinition::new("steps");

/// The offset in a stored record whose byte the damage tests flip: inside the JSON, past its
/// first field's name.
const FLIPPED_AT: usize = 12;

/// Flips one byte of a stored record to its complement, the way a bad sector leaves it: the
/// record is no longer UTF-8, so it no longer decodes. Through redb, so that the byte changed
/// is the one the live tree reads, not a copy in a freed page.
fn flip(value: &[u8]) -> Vec<u8> {
    let mut damaged = value.to_vec();
    damaged[FLIPPED_AT] ^= 0xff;
    damaged
}

/// Flips a byte of the first step record; returns its key.
fn damage_first_step(path: &Path) -> String {
    let db = Database::open(path).unwrap();
    let txn = db.begin_write().unwrap();
    let key = {
        let mut steps = txn.open_table(STEPS).unwrap();
        let (key, value) = {
            let (k, v) = steps.first().unwrap().expect("a step record");
            (k.value().to_owned(), v.value().to_vec())
        };
        steps.insert(key.as_str(), flip(&value).as_slice()).unwrap();
        key
    };
    txn.commit().unwrap();
    key
}

fn report_of(env: &Env, journal: &Path, page: &Path) -> std::process::Output {
    env.run(&[
        "report",
        env.snapshot().to_str().unwrap(),
        "--journal",
        journal.to_str().unwrap(),
        "-o",
        page.to_str().unwrap(),
    ])
}

/// The hash chain covers the events; a damaged step record stops `status` and a resume, so
/// `--verify` must not call the file intact, and the report still shows what can be read.
#[test]
fn a_damaged_step_record_fails_verify_and_the_report_shows_the_rest_with_exit_1() {
    let env = cycled();
    let copy = copy(&env, "damaged.journal");
    let key = damage_first_step(&copy);

    let out = verify(&env, &copy);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let said = stdout(&out);
    assert!(
        said.contains(&format!("steps record {key} does not decode"))
            && said.contains("DAMAGED: 1 record does not decode"),
        "{said}"
    );

    let status = env.run(&[
        "status",
        env.snapshot().to_str().unwrap(),
        "--journal",
        copy.to_str().unwrap(),
    ]);
    assert_eq!(
        code(&status),
        2,
        "status refuses the file: {}",
        text(&status)
    );

    let page_path = env.path("damaged.html");
    let out = report_of(&env, &copy, &page_path);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        stdout(&out).contains("damaged: 1 record(s) do not decode"),
        "{}",
        text(&out)
    );
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert!(
        page.contains("The journal is DAMAGED: 1 record cannot be read"),
        "banner"
    );
    let shown = key.replace('/', "&#x2f;");
    assert!(
        page.contains(&format!("steps record {shown} does not decode")),
        "the record named"
    );
    assert!(
        page.contains("<td>restore</td>"),
        "the runs are still shown"
    );
}

/// A damaged event breaks the chain: the report is still made, with the break in red, exit 1.
#[test]
fn a_damaged_event_still_gives_a_report_with_the_broken_chain_and_exit_1() {
    let env = cycled();
    let copy = copy(&env, "damaged-event.journal");
    tamper(&copy, |events, _| {
        let value = events.get(5).unwrap().unwrap().value().to_vec();
        events.insert(5, flip(&value).as_slice()).unwrap();
    });
    let out = verify(&env, &copy);
    assert_eq!(code(&out), 1, "{}", text(&out));
    assert!(
        stdout(&out).contains("event 5: event 5 is not a JSON object"),
        "{}",
        text(&out)
    );

    let page_path = env.path("damaged-event.html");
    let out = report_of(&env, &copy, &page_path);
    assert_eq!(code(&out), 1, "{}", text(&out));
    let page = std::fs::read_to_string(&page_path).unwrap();
    assert!(page.contains("hash chain is BROKEN"), "the break in red");
    assert!(
        page.contains("events record 5 does not decode"),
        "the record named"
    );
    assert!(
        page.contains("<td>restore</td>"),
        "the runs are still shown"
    );
}
