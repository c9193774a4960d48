//! Group commit: many concurrent steps share one durable transaction.
//!
//! Each transition must be durable before its request leaves, and an fsync costs milliseconds,
//! so with dozens of steps in flight one commit per transition would make the disk the rate
//! limit. A dedicated thread takes every transition waiting at the moment it wakes, commits them
//! in one transaction (one fsync), then answers each caller.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread;

use tokio::sync::oneshot;

use super::JournalError;
use super::read::JournalRead;
use super::schema;
use super::store::{Journal, StepTables};
use super::types::{StepRecord, Transition};

/// At most this many transitions go into one transaction, so a flood of callers still sees
/// commits at a steady pace rather than one huge one.
const MAX_BATCH_TRANSITIONS: usize = 1_000;

type Reply = Result<Vec<StepRecord>, JournalError>;

struct Request {
    transitions: Vec<Transition>,
    reply: oneshot::Sender<Reply>,
}

/// A handle on the journal's writer thread. Clone it freely; the thread ends when the last clone
/// is dropped.
#[derive(Clone)]
pub struct JournalWriter {
    requests: Sender<Request>,
    path: PathBuf,
}

impl Journal {
    /// Starts a writer thread for this journal and returns a handle on it.
    pub fn writer(self: &Arc<Self>) -> JournalWriter {
        let (requests, queue) = mpsc::channel();
        let journal = Arc::clone(self);
        // If the thread cannot be spawned, the receiver is dropped and every apply() reports
        // WriterStopped, which is an honest account of it.
        let _ = thread::Builder::new()
            .name("journal-writer".into())
            .spawn(move || run_writer(&journal, &queue));
        JournalWriter {
            requests,
            path: self.path().to_path_buf(),
        }
    }
}

impl JournalWriter {
    /// Applies one transition; returns once it is durable, with the step as it now stands.
    pub async fn apply(&self, t: Transition) -> Result<StepRecord, JournalError> {
        let mut records = self.apply_many(vec![t]).await?;
        records.pop().ok_or_else(|| self.stopped())
    }

    /// Applies transitions together (all or none); returns once they are durable.
    pub async fn apply_many(&self, ts: Vec<Transition>) -> Result<Vec<StepRecord>, JournalError> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request {
                transitions: ts,
                reply,
            })
            .map_err(|_| self.stopped())?;
        answer.await.map_err(|_| self.stopped())?
    }

    fn stopped(&self) -> JournalError {
        JournalError::WriterStopped {
            path: self.path.clone(),
        }
    }
}

/// Waits for a request, gathers whatever else is already queued, commits the lot, answers, again;
/// returns when every `JournalWriter` is gone.
fn run_writer(journal: &Journal, queue: &Receiver<Request>) {
    while let Ok(first) = queue.recv() {
        let mut count = first.transitions.len();
        let mut group = vec![first];
        while count < MAX_BATCH_TRANSITIONS {
            match queue.try_recv() {
                Ok(next) => {
                    count += next.transitions.len();
                    group.push(next);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        commit_group(journal, group);
    }
}

/// One transaction for the whole group. A caller whose transitions name an unknown run or step
/// gets its own error and nothing of its batch is written; the others commit. A storage error
/// fails everyone, since nothing was committed.
fn commit_group(journal: &Journal, group: Vec<Request>) {
    let now = schema::now_rfc3339();
    let result = journal.write(|txn| {
        let mut tables = StepTables::open(txn, journal.path())?;
        let mut replies = Vec::with_capacity(group.len());
        for request in &group {
            let reply = match tables.validate(&request.transitions) {
                Ok(()) => Ok(tables.apply(&request.transitions, &now)?),
                Err(e) => Err(e),
            };
            replies.push(reply);
        }
        Ok(replies)
    });
    match result {
        Ok(replies) => {
            for (request, reply) in group.into_iter().zip(replies) {
                // A caller that gave up waiting is no reason to stop.
                let _ = request.reply.send(reply);
            }
        }
        Err(e) => {
            for request in group {
                let _ = request.reply.send(Err(e.duplicate()));
            }
        }
    }
}
