//! `Journal`: the one writable handle on a journal file, and its transactions.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use redb::{Database, Durability, ReadTransaction, ReadableTable, Table, WriteTransaction};

use super::JournalError;
use super::chain;
use super::identity::FileIdentity;
use super::meta;
use super::open::{self, FileState};
use super::read::{JournalRead, JournalReader, begin_read_on};
use super::schema::{self, EVENTS, META, RUNS, STEPS, VERIFICATIONS};
use super::types::{
    Event, NewStep, NotificationRecord, Operation, PaceRecord, RunOutcome, RunRecord, RunStart,
    StepKey, StepPhase, StepRecord, Transition, VerificationRecord,
};

/// The journal, held open for writing: while it lives no other process can write the file.
/// Dropping it closes the file cleanly.
pub struct Journal {
    path: PathBuf,
    db: Database,
    /// Committed write transactions since open; shows how well group commit batches.
    commits: AtomicU64,
    /// The file this handle opened (`identity.rs`), checked before every write.
    identity: FileIdentity,
}

impl Journal {
    /// Opens or creates the journal at `path`, bound to the snapshot with this SHA-256.
    ///
    /// A new file is created with mode 0600 and records the schema version, the snapshot's
    /// SHA-256 and path (display only), the creation time and the tool version. An existing file
    /// is checked in full on a private copy before it is opened for writing (see `open.rs`), so a
    /// damaged file, a journal of another snapshot or of a newer schema is refused unchanged.
    pub fn open(
        path: &Path,
        snapshot_sha256: &str,
        snapshot_path: &Path,
    ) -> Result<Journal, JournalError> {
        // Two rounds at most: a lost race to create the file sends us to open the winner's.
        for _ in 0..2 {
            let state = match open::check_exists(path) {
                Err(JournalError::NotFound { .. }) => {
                    let meta = meta::new_meta(snapshot_sha256, snapshot_path);
                    if !open::create(path, &meta)? {
                        continue;
                    }
                    FileState::Clean
                }
                Err(e) => return Err(e),
                Ok(()) => {
                    let state = match open::probe(path) {
                        Err(locked @ JournalError::Locked { .. }) => {
                            // Held by a run: a snapshot edited since the journal was made is
                            // said first (exit 2), since waiting for that run would not help.
                            if let Ok(meta) = JournalReader::open(path).and_then(|r| r.meta()) {
                                meta::check_binding(
                                    path,
                                    &meta,
                                    snapshot_sha256,
                                    Some(snapshot_path),
                                )?;
                            }
                            return Err(locked);
                        }
                        other => other?,
                    };
                    let copy = open::verified_copy(path)?;
                    open::check_copy(path, &copy, snapshot_sha256, snapshot_path)?;
                    state
                }
            };
            let db = open::open_writer(path, state)?;
            let journal = Journal {
                path: path.to_path_buf(),
                identity: FileIdentity::of(path)?,
                db,
                commits: AtomicU64::new(0),
            };
            // Checked again on the real file, now that we hold it: it may have changed hands
            // between the look at the copy and the open.
            meta::check_binding(path, &journal.meta()?, snapshot_sha256, Some(snapshot_path))?;
            return Ok(journal);
        }
        Err(JournalError::Storage {
            path: path.to_path_buf(),
            detail: "the file kept appearing and disappearing while it was being created".into(),
        })
    }

    /// Write transactions committed through this handle since it was opened.
    pub fn commit_count(&self) -> u64 {
        self.commits.load(Ordering::Relaxed)
    }

    /// Starts a run and returns its record (ids count up from 1).
    pub fn begin_run(&self, op: Operation, start: RunStart) -> Result<RunRecord, JournalError> {
        self.write(|txn| {
            let mut runs = txn.open_table(RUNS).map_err(|e| self.redb(e))?;
            let id = next_key(&runs).map_err(|e| self.redb(e))?;
            let run = RunRecord {
                id,
                op,
                started_at: schema::now_rfc3339(),
                ended_at: None,
                tool_version: crate::TOOL_VERSION.to_string(),
                options: start.options,
                outcome: None,
                message: None,
                cycle: start.cycle,
                notifications: Vec::new(),
                pace: None,
                domino_version: start.domino_version,
                acting_as: start.acting_as,
                journal_head: None,
                operator: Some(super::Operator::this_process()),
            };
            runs.insert(id, schema::encode(&run).as_slice())
                .map_err(|e| self.redb(e))?;
            Ok(run)
        })
    }

    /// Records how a run ended, and the chain's head it ended at (read in the same transaction,
    /// so it is the head the run leaves behind).
    pub fn end_run(
        &self,
        run: u64,
        outcome: RunOutcome,
        message: Option<String>,
    ) -> Result<RunRecord, JournalError> {
        self.update_run(run, |txn, record| {
            record.ended_at = Some(schema::now_rfc3339());
            record.outcome = Some(outcome);
            record.message = message;
            record.journal_head = Some(chain::head_in(txn, &self.path)?);
            Ok(())
        })
    }

    /// Adds notification deliveries to a run's record.
    pub fn record_notifications(
        &self,
        run: u64,
        notes: &[NotificationRecord],
    ) -> Result<(), JournalError> {
        if notes.is_empty() {
            return Ok(());
        }
        self.update_run(run, |_, record| {
            record.notifications.extend_from_slice(notes);
            Ok(())
        })
        .map(drop)
    }

    /// Records the pace a run's requests went at.
    pub fn record_pace(&self, run: u64, pace: PaceRecord) -> Result<RunRecord, JournalError> {
        self.update_run(run, |_, record| {
            record.pace = Some(pace);
            Ok(())
        })
    }

    /// Reads a run's record, changes it and writes it back, in one transaction.
    fn update_run(
        &self,
        run: u64,
        change: impl FnOnce(&WriteTransaction, &mut RunRecord) -> Result<(), JournalError>,
    ) -> Result<RunRecord, JournalError> {
        self.write(|txn| {
            let mut runs = txn.open_table(RUNS).map_err(|e| self.redb(e))?;
            let mut record = get_run(&runs, &self.path, run)?;
            change(txn, &mut record)?;
            runs.insert(run, schema::encode(&record).as_slice())
                .map_err(|e| self.redb(e))?;
            Ok(record)
        })
    }

    /// Inserts the steps that do not exist yet, each with an event from "-" to its phase, in one
    /// transaction. Existing steps of the run's cycle are left exactly as they are; those of an
    /// earlier cycle are reopened to their planned phase, with an event that says so. Returns
    /// every step of the run's operation after the insert, sorted by key.
    pub fn plan(&self, run: u64, steps: Vec<NewStep>) -> Result<Vec<StepRecord>, JournalError> {
        let op = self.write(|txn| {
            let mut tables = StepTables::open(txn, &self.path)?;
            let record = get_run(&tables.runs, &self.path, run)?;
            if let Some(stray) = steps.iter().find(|s| s.key.op != record.op) {
                return Err(JournalError::WrongOperation {
                    path: self.path.clone(),
                    run,
                    expected: record.op.to_string(),
                    found: stray.key.op.to_string(),
                });
            }
            let now = schema::now_rfc3339();
            for step in steps {
                tables.insert_or_reopen(&record, step, &now)?;
            }
            Ok(record.op)
        })?;
        self.steps(Some(op))
    }

    /// Applies a batch of transitions in one durable transaction, each updating its step and
    /// appending one event. A transition to the step's current phase is a retry. A transition
    /// for an unknown run or step fails the whole batch, and nothing of it is written.
    pub fn apply(&self, batch: &[Transition]) -> Result<Vec<StepRecord>, JournalError> {
        self.write(|txn| {
            let mut tables = StepTables::open(txn, &self.path)?;
            tables.validate(batch)?;
            tables.apply(batch, &schema::now_rfc3339())
        })
    }

    /// Reopens `Confirmed` steps whose execution was found out of its target state (by a
    /// verification pass): back to `Pending`, as a new attempt of the same cycle, with an event
    /// that gives `reason`. Steps not `Confirmed` are left alone. Returns how many were reopened.
    pub fn reopen(&self, run: u64, keys: &[(StepKey, String)]) -> Result<usize, JournalError> {
        self.write(|txn| {
            let mut tables = StepTables::open(txn, &self.path)?;
            get_run(&tables.runs, &self.path, run)?;
            let now = schema::now_rfc3339();
            let mut reopened = 0;
            for (key, reason) in keys {
                let Some(mut step) = tables.get_step(&schema::step_key(key))? else {
                    continue;
                };
                if step.phase != StepPhase::Confirmed {
                    continue;
                }
                step.phase = StepPhase::Pending;
                step.updated_at = now.clone();
                tables.put_moved(&step, run, "Confirmed", &now, format!("reopened: {reason}"))?;
                reopened += 1;
            }
            Ok(reopened)
        })
    }

    /// Changes the phase of steps of this run's cycle to which nothing was ever sent, between
    /// `Pending` and `Skipped`, when a later run asks for something else than the one that
    /// planned them (`--jobs stop` after `--jobs leave`, or the reverse), with an event giving
    /// `reason`. A step that sent a request, or has ended otherwise, is left alone. Returns how
    /// many changed.
    pub fn replan_unsent(
        &self,
        run: u64,
        revisions: &[(StepKey, StepPhase, String)],
    ) -> Result<usize, JournalError> {
        self.write(|txn| {
            let mut tables = StepTables::open(txn, &self.path)?;
            let record = get_run(&tables.runs, &self.path, run)?;
            let now = schema::now_rfc3339();
            let mut changed = 0;
            for (key, to, reason) in revisions {
                let Some(mut step) = tables.get_step(&schema::step_key(key))? else {
                    continue;
                };
                let unsent = step.attempts == 0
                    && matches!(step.phase, StepPhase::Pending | StepPhase::Skipped(_));
                if step.cycle < record.cycle || !unsent || step.phase == *to {
                    continue;
                }
                let from = step.phase.to_string();
                step.phase = to.clone();
                step.updated_at = now.clone();
                tables.put_moved(&step, run, &from, &now, format!("replanned: {reason}"))?;
                changed += 1;
            }
            Ok(changed)
        })
    }

    /// Stores what the scan behind the snapshot saw: the snapshot file itself must hold only the
    /// earlier tool's keys, so its metadata lives here. Replaces an earlier record.
    pub fn record_snapshot_scan(&self, scan: &serde_json::Value) -> Result<(), JournalError> {
        self.write(|txn| {
            let mut table = txn.open_table(META).map_err(|e| self.redb(e))?;
            table
                .insert(schema::META_SNAPSHOT_SCAN, schema::encode(scan).as_slice())
                .map_err(|e| self.redb(e))?;
            Ok(())
        })
    }

    /// Stores the result of a verification pass.
    pub fn record_verification(&self, v: &VerificationRecord) -> Result<(), JournalError> {
        self.write(|txn| {
            let mut table = txn.open_table(VERIFICATIONS).map_err(|e| self.redb(e))?;
            let id = next_key(&table).map_err(|e| self.redb(e))?;
            table
                .insert(id, schema::encode(v).as_slice())
                .map_err(|e| self.redb(e))?;
            Ok(())
        })
    }

    /// Runs `body` in one write transaction and commits it durably (fsync before returning).
    /// An error from `body` aborts the transaction: nothing of it is written.
    pub(crate) fn write<T>(
        &self,
        body: impl FnOnce(&WriteTransaction) -> Result<T, JournalError>,
    ) -> Result<T, JournalError> {
        let failed = |e: JournalError| e.in_write();
        // The file at the path must still be the one we hold: a deleted or replaced journal
        // stops the run before anything else is recorded (and so before anything is sent).
        self.identity.check(&self.path)?;
        let mut txn = self.db.begin_write().map_err(|e| failed(self.redb(e)))?;
        // Immediate is redb's default; said here because the protocol depends on it: a step's
        // `Requested` must be on disk before its request leaves.
        txn.set_durability(Durability::Immediate)
            .map_err(|e| failed(self.redb(e)))?;
        let value = match body(&txn) {
            Ok(value) => value,
            Err(e) => {
                let _ = txn.abort();
                return Err(failed(e));
            }
        };
        txn.commit().map_err(|e| failed(self.redb(e)))?;
        self.commits.fetch_add(1, Ordering::Relaxed);
        Ok(value)
    }

    fn redb(&self, err: impl Into<redb::Error>) -> JournalError {
        JournalError::from_redb(&self.path, err)
    }
}

impl JournalRead for Journal {
    fn path(&self) -> &Path {
        &self.path
    }

    fn begin_read(&self) -> Result<ReadTransaction, JournalError> {
        begin_read_on(&self.db, &self.path)
    }
}

/// The next id of a table keyed by sequence number (1 for an empty table).
fn next_key<V: redb::Value>(table: &Table<u64, V>) -> Result<u64, redb::StorageError> {
    Ok(table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1))
}

fn get_run(runs: &Table<u64, &[u8]>, path: &Path, run: u64) -> Result<RunRecord, JournalError> {
    let value = runs
        .get(run)
        .map_err(|e| JournalError::from_redb(path, e))?
        .ok_or_else(|| JournalError::UnknownRun {
            path: path.to_path_buf(),
            run,
        })?;
    schema::decode(path, "runs", run, value.value())
}

/// The tables a change of steps touches, opened once per transaction so a group commit of many
/// callers shares them.
pub(crate) struct StepTables<'t> {
    path: &'t Path,
    runs: Table<'t, u64, &'static [u8]>,
    steps: Table<'t, &'static str, &'static [u8]>,
    events: Table<'t, u64, &'static [u8]>,
    meta: Table<'t, &'static str, &'static [u8]>,
    next_seq: u64,
    /// The `prev_sha256` the next appended event carries (`chain.rs`).
    chain_link: String,
}

impl<'t> StepTables<'t> {
    pub(crate) fn open(txn: &'t WriteTransaction, path: &'t Path) -> Result<Self, JournalError> {
        let redb = |e: redb::TableError| JournalError::from_redb(path, e);
        let storage = |e: redb::StorageError| JournalError::from_redb(path, e);
        let events = txn.open_table(EVENTS).map_err(redb)?;
        let meta = txn.open_table(META).map_err(redb)?;
        let last = events.last().map_err(storage)?;
        let next_seq = last.as_ref().map(|(k, _)| k.value() + 1).unwrap_or(1);
        let snapshot_sha256 = meta
            .get(schema::META_SNAPSHOT_SHA256)
            .map_err(storage)?
            .map(|v| String::from_utf8_lossy(v.value()).into_owned())
            .ok_or_else(|| JournalError::corrupt(path, "meta has no snapshot_sha256"))?;
        let chain_link = chain::next_link(last.as_ref().map(|(_, v)| v.value()), &snapshot_sha256);
        drop(last);
        Ok(StepTables {
            path,
            runs: txn.open_table(RUNS).map_err(redb)?,
            steps: txn.open_table(STEPS).map_err(redb)?,
            events,
            meta,
            next_seq,
            chain_link,
        })
    }

    fn get_step(&self, key: &str) -> Result<Option<StepRecord>, JournalError> {
        match self
            .steps
            .get(key)
            .map_err(|e| JournalError::from_redb(self.path, e))?
        {
            Some(v) => Ok(Some(schema::decode(self.path, "steps", key, v.value())?)),
            None => Ok(None),
        }
    }

    fn put_step(&mut self, record: &StepRecord) -> Result<(), JournalError> {
        let key = schema::step_key(&record.key);
        self.steps
            .insert(key.as_str(), schema::encode(record).as_slice())
            .map_err(|e| JournalError::from_redb(self.path, e))?;
        Ok(())
    }

    /// Writes a step and the event of its move from `from` (no request sent, so no HTTP status),
    /// saying why.
    fn put_moved(
        &mut self,
        step: &StepRecord,
        run: u64,
        from: &str,
        now: &str,
        why: String,
    ) -> Result<(), JournalError> {
        self.put_step(step)?;
        self.append_event(event_for(
            step,
            run,
            from,
            now,
            step.attempts,
            None,
            Some(why),
        ))
    }

    fn append_event(&mut self, event: Event) -> Result<(), JournalError> {
        let seq = self.next_seq;
        let mut event = Event { seq, ..event };
        let prev = std::mem::take(&mut self.chain_link);
        let bytes = chain::seal(&mut event, prev);
        let storage = |e| JournalError::from_redb(self.path, e);
        self.events.insert(seq, bytes.as_slice()).map_err(storage)?;
        let sha = event.sha256.unwrap_or_default();
        chain::write_head(&mut self.meta, seq, &sha).map_err(storage)?;
        self.chain_link = sha;
        self.next_seq += 1;
        Ok(())
    }

    fn insert_or_reopen(
        &mut self,
        run: &RunRecord,
        step: NewStep,
        now: &str,
    ) -> Result<(), JournalError> {
        if let Some(mut existing) = self.get_step(&schema::step_key(&step.key))? {
            if existing.cycle >= run.cycle {
                return Ok(());
            }
            let from = existing.phase.to_string();
            existing.phase = step.phase;
            existing.cycle = run.cycle;
            existing.effect = None;
            existing.ended = None;
            existing.note = None;
            existing.requested_at = None;
            if step.detail.is_some() {
                existing.detail = step.detail;
            }
            existing.last_error = None;
            existing.last_http_status = None;
            existing.updated_at = now.to_string();
            let why = format!("reopened: cycle {} of this snapshot begins", run.cycle);
            return self.put_moved(&existing, run.id, &from, now, why);
        }
        let run_id = run.id;
        let record = StepRecord {
            key: step.key,
            name: step.name,
            owner: step.owner,
            phase: step.phase,
            attempts: 0,
            last_error: None,
            last_http_status: None,
            created_at: now.to_string(),
            updated_at: now.to_string(),
            cycle: run.cycle,
            detail: step.detail,
            requested_at: None,
            effect: None,
            ended: None,
            note: None,
        };
        self.put_moved(&record, run_id, "-", now, "planned".into())
    }

    /// Checks that every run and step the batch names exists and decodes, so that `apply`
    /// cannot fail half-way for a reason of the batch's own making.
    pub(crate) fn validate(&self, batch: &[Transition]) -> Result<(), JournalError> {
        for t in batch {
            get_run(&self.runs, self.path, t.run)?;
            if self.get_step(&schema::step_key(&t.key))?.is_none() {
                return Err(JournalError::UnknownStep {
                    path: self.path.to_path_buf(),
                    key: schema::step_key(&t.key),
                });
            }
        }
        Ok(())
    }

    /// Applies a validated batch in order; returns each step as it stands after its transition.
    pub(crate) fn apply(
        &mut self,
        batch: &[Transition],
        now: &str,
    ) -> Result<Vec<StepRecord>, JournalError> {
        let mut out = Vec::with_capacity(batch.len());
        for t in batch {
            let key = schema::step_key(&t.key);
            let mut record = self
                .get_step(&key)?
                .ok_or_else(|| JournalError::UnknownStep {
                    path: self.path.to_path_buf(),
                    key: key.clone(),
                })?;
            let from = record.phase.to_string();
            if t.to == StepPhase::Requested && t.attempt > record.attempts {
                record.requested_at = Some(now.to_string());
            }
            if let Some(effect) = &t.effect {
                record.effect = Some(effect.clone());
            }
            if let Some(ended) = &t.ended {
                record.ended = Some(ended.clone());
            }
            record.note = t.note.clone();
            record.phase = t.to.clone();
            record.attempts = record.attempts.max(t.attempt);
            if let Some(error) = &t.error {
                record.last_error = Some(error.clone());
            }
            if let Some(status) = t.http_status {
                record.last_http_status = Some(status);
            }
            record.updated_at = now.to_string();
            self.put_step(&record)?;
            self.append_event(event_for(
                &record,
                t.run,
                &from,
                now,
                t.attempt,
                t.http_status,
                t.message.clone(),
            ))?;
            out.push(record);
        }
        Ok(out)
    }
}

fn event_for(
    step: &StepRecord,
    run: u64,
    from: &str,
    now: &str,
    attempt: u32,
    http_status: Option<u16>,
    message: Option<String>,
) -> Event {
    Event {
        seq: 0, // set by append_event
        time: now.to_string(),
        run,
        op: step.key.op,
        kind: step.key.kind,
        execution: step.key.execution.clone(),
        name: step.name.clone(),
        owner: step.owner.clone(),
        from: from.to_string(),
        to: step.phase.to_string(),
        attempt,
        http_status,
        message,
        prev_sha256: None, // set by append_event
        sha256: None,
    }
}

#[cfg(test)]
impl Journal {
    /// A new journal, `snap.json.journal` for a snapshot `snap.json` with this SHA-256, in a
    /// directory of its own that goes when the first is dropped: the setup of the tests that
    /// write a journal in-process.
    pub(crate) fn in_scratch_dir(snapshot_sha256: &str) -> (tempfile::TempDir, Journal) {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(
            &dir.path().join("snap.json.journal"),
            snapshot_sha256,
            std::path::Path::new("snap.json"),
        )
        .unwrap();
        (dir, journal)
    }
}
