//! The hash chain over the journal's events: `dmm journal FILE --verify`, end to end, against
//! journals edited with redb directly, the way someone with the file and a database tool would.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");
const META: TableDefinition<&str, &[u8]> = TableDefinition::new("meta");

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

/// Strips the chain from every event and from meta: a journal as a dmm before the chain wrote it.
fn strip_chain(path: &Path) {
    let all = rows(path);
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
