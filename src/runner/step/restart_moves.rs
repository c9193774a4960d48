//! A Job's restart, carried out by a [`Step`]: its turn among the restarts with the same
//! traces, the look for someone else's restart before sending, the restart sent once, and the
//! look for its effect. What each finding means is [`crate::runner::restart`]'s and the
//! protocol's to say.

use super::*;

impl Step<'_> {
    /// A restart, in its turn: unless someone else already restarted the job, records the
    /// intent, sends it once, and records what its answer decides. An unknown outcome keeps
    /// the turn: the effect is looked for before anything is sent again.
    pub(super) async fn send_restart(&mut self) -> Result<(), StepAbort> {
        self.take_turn().await;
        if self.restarted_by_someone_else().await? {
            return Ok(());
        }
        let slot = tokio::select! {
            slot = self.ctx.request_slots.acquire() => slot.expect("request slots are never closed"),
            _ = self.ctx.cancel.cancelled() => return Err(StepAbort::Interrupted),
        };
        let attempt = self.record.attempts + 1;
        let requested = Record {
            to: StepPhase::Requested,
            http_status: None,
            message: Some("restart requested".into()),
            error: None,
        };
        self.apply(requested, attempt).await?;
        let restarted = self.ctx.api.restart(self.entry).await;
        drop(slot);
        self.note(&restarted);
        match restarted {
            Ok(new_id) => {
                let msg = format!("restart accepted: job {new_id}");
                self.apply_effect(attempt, msg, new_id).await
            }
            Err(e) if e.is_unauthorized() => Err(StepAbort::Unauthorized(e)),
            // The job, or its project, no longer exists, if its own read says so too.
            Err(e) if e.is_not_found() && self.own_read_says_gone().await? => {
                self.apply(protocol::restart_target_gone(&e.to_string()), attempt)
                    .await
            }
            // The outcome is unknown (or it was refused): the step stays `Requested`, and its
            // effect is looked for before anything is sent again.
            Err(e) => {
                self.restart_refused = protocol::restart_refused(e.status());
                self.attempt_failed(attempt, e).await
            }
        }
    }

    /// This step's turn among the restarts with the same traces, unless it holds it already.
    pub(super) async fn take_turn(&mut self) {
        if self.turn.is_none() {
            self.turn = Some(self.ctx.restarts.serialize(self.entry).await);
        }
    }

    /// Before a restart is sent: did someone else restart the job during the window (a user,
    /// from the UI)? Then it is recorded as theirs, and nothing is sent, so that it does not
    /// run twice; when whether they did cannot be told, the step says so and sends nothing
    /// either. Returns whether the step was settled so.
    pub(super) async fn restarted_by_someone_else(&mut self) -> Result<bool, StepAbort> {
        let claims = self
            .ctx
            .restarts
            .claims(&self.record.key, self.entry)
            .await?;
        let Some(since) = claims.stopped_at_ms else {
            return Ok(false);
        };
        let candidates = match self
            .restart_candidates(since.saturating_sub(STAMP_MARGIN_MS))
            .await?
        {
            Ok(candidates) => candidates,
            Err(record) => {
                self.apply(record, self.record.attempts).await?;
                return Ok(true);
            }
        };
        let original = &self.record.key.execution;
        let theirs = match before_restart(original, &candidates, &claims) {
            BeforeRestart::Send => return Ok(false),
            BeforeRestart::RestartedBy(theirs) => theirs,
            BeforeRestart::CannotTell(jobs, doubt) => {
                let reason = crate::runner::restart::cannot_tell_whose(&jobs, doubt);
                let record = Record::failed(reason, None);
                self.apply_with(
                    record,
                    self.record.attempts,
                    None,
                    Some(StepNote::Undecidable),
                )
                .await?;
                return Ok(true);
            }
        };
        let (id, by) = (theirs.id.clone(), theirs.started_by.clone());
        let record = protocol::restarted_by_someone_else(&id, &by);
        let note = StepNote::RestartedByOther { by };
        self.apply_with(record, self.record.attempts, Some(id), Some(note))
            .await?;
        Ok(true)
    }

    /// The jobs that could be a restart of this one, submitted since `since_ms` (our clock).
    /// A listing that cannot be had is tried again until the grace period ends; then, or when
    /// the project is gone, the record that settles the step instead (`Err`).
    pub(super) async fn restart_candidates(
        &mut self,
        since_ms: i64,
    ) -> Result<Result<Vec<crate::domino::RestartCandidate>, Record>, StepAbort> {
        let give_up_at = Instant::now() + self.ctx.grace_period;
        loop {
            let looked = self.ctx.api.restart_candidates(self.entry, since_ms).await;
            self.note(&looked);
            let e = match looked {
                Ok(candidates) => return Ok(Ok(candidates)),
                Err(e) if e.is_unauthorized() => return Err(StepAbort::Unauthorized(e)),
                Err(e) => e,
            };
            if e.is_not_found() && self.own_read_says_gone().await? {
                return Ok(Err(protocol::restart_target_gone(&e.to_string())));
            }
            let past = Instant::now() >= give_up_at;
            if let Some(record) =
                protocol::effect_unknown(self.record.attempts, &e.to_string(), past)
            {
                return Ok(Err(record));
            }
            // Cannot tell whether it ran: sending again could run it twice.
            if !self.ctx.cancel.sleep(self.ctx.poll.max).await {
                return Err(StepAbort::Interrupted);
            }
        }
    }

    /// A restart step found `Requested` (or `Failed`): did an earlier request run after all?
    /// Looks for its effect and judges the candidates ([`super::restart`]), in the step's turn.
    /// Found: `Accepted` with the new job's id, nothing sent. Not found: the caller sends the
    /// restart. The project gone (404): `Skipped`. Undecidable, or no answer within the grace
    /// period: `Failed` with the reason, and nothing is sent, so that a job never runs twice.
    /// Returns whether the step was settled.
    pub(super) async fn found_restart(&mut self) -> Result<bool, StepAbort> {
        self.take_turn().await;
        let attempt = self.record.attempts;
        let attempt_ms = self
            .record
            .requested_at
            .as_deref()
            .and_then(rfc3339_ms)
            .unwrap_or(i64::MIN);
        let original = self.record.key.execution.clone();
        loop {
            let claims = self
                .ctx
                .restarts
                .claims(&self.record.key, self.entry)
                .await?;
            let since = claims.rivals.iter().copied().fold(attempt_ms, i64::min);
            let candidates = match self
                .restart_candidates(since.saturating_sub(STAMP_MARGIN_MS))
                .await?
            {
                Ok(candidates) => candidates,
                Err(record) => {
                    self.apply(record, attempt).await?;
                    return Ok(true);
                }
            };
            return match judge(&original, attempt_ms, &candidates, &claims) {
                RestartSearch::Found { id, evidence } => {
                    let msg = format!(
                        "found the restart of attempt {attempt} already ran, as job {id} ({evidence}); not sent again"
                    );
                    self.apply_effect(attempt, msg, id).await?;
                    Ok(true)
                }
                // A request whose outcome is unknown may still land (a backend behind a proxy
                // that cut the connection, a server slower than our timeout, a copy in flight
                // when the last run died): nothing is sent again before it must have. The turn
                // is kept meanwhile, so that no other restart's job can be taken for it.
                RestartSearch::NotFound => {
                    let wait = protocol::wait_for_late_effect(
                        rfc3339_ms(&self.record.updated_at),
                        now_ms(),
                        protocol::RESTART_SETTLE,
                        self.restart_refused,
                    );
                    let Some(pause) = wait else {
                        return Ok(false);
                    };
                    if !self.ctx.cancel.sleep(pause).await {
                        return Err(StepAbort::Interrupted);
                    }
                    continue;
                }
                RestartSearch::Ambiguous(ids) => {
                    let near_attempt = candidates
                        .iter()
                        .any(|c| ids.contains(&c.id) && c.submitted_ms < attempt_ms);
                    let reason = crate::runner::restart::undecidable(
                        attempt,
                        &ids,
                        claims.rivals.len(),
                        near_attempt,
                    );
                    let record = Record::failed(reason, None);
                    self.apply_with(record, attempt, None, Some(StepNote::Undecidable))
                        .await?;
                    Ok(true)
                }
            };
        }
    }

    /// After a restart was accepted: the new execution must exist (running or already ended).
    pub(super) async fn wait_for_restart(&mut self) -> Result<(), StepAbort> {
        let attempt = self.record.attempts;
        let Some(new_id) = self.record.effect.clone() else {
            // Accepted without a recorded effect cannot happen; look for it rather than guess.
            let record = Record {
                to: StepPhase::Requested,
                http_status: None,
                message: None,
                error: None,
            };
            return self.apply(record, attempt).await;
        };
        let mut new_entry = self.entry.clone();
        if let Some(id) = new_entry.id.as_object_mut() {
            id.insert("_id".into(), new_id.clone().into());
        }
        // A job the restart answer named is readable at once; one that stays unknown for
        // RESTART_NOT_FOUND is not coming (an answer naming a job that does not exist), and
        // the step says so rather than waiting out the whole grace period.
        let deadline = Instant::now() + self.ctx.grace_period.min(protocol::RESTART_NOT_FOUND);
        loop {
            let observed = self.ctx.api.observe(&new_entry).await;
            let reading = self.reading(observed)?;
            let past = Instant::now() >= deadline;
            if let Some(record) = protocol::after_restarted_look(&new_id, &reading, past) {
                return self.apply(record, attempt).await;
            }
            if !self.ctx.cancel.sleep(self.ctx.poll.initial).await {
                return Err(StepAbort::Interrupted);
            }
        }
    }
}
