//! How a [`Step`] records what happened: each transition through the journal's writer (shared
//! commits), with what it tells the reporter and the run's statistics.

use super::*;

impl Step<'_> {
    /// Records a transition durably and tells the reporter. A live stop's confirmation also
    /// records how its execution ended (see [`protocol::stop_end`]).
    pub(super) async fn apply(&mut self, record: Record, attempt: u32) -> Result<(), StepAbort> {
        self.apply_with(record, attempt, None, None).await
    }

    /// [`Step::apply`], with what a restart's effect is and what the phase alone does not say.
    pub(super) async fn apply_with(
        &mut self,
        record: Record,
        attempt: u32,
        effect: Option<String>,
        note: Option<StepNote>,
    ) -> Result<(), StepAbort> {
        let Record {
            to,
            http_status,
            mut message,
            error,
        } = record;
        if to == StepPhase::Accepted && self.ctx.op == Operation::Shutdown {
            self.stop_may_have_applied = true;
        }
        if matches!(to, StepPhase::Failed(_)) {
            self.failed_in_this_run = true;
        }
        let ended = self.end_if_confirmed(&to, http_status);
        if let Some(end) = &ended {
            message = Some(protocol::end_message(message, end));
        }
        let t = Transition {
            effect,
            ended,
            note,
            run: self.ctx.run,
            key: self.record.key.clone(),
            to,
            attempt,
            http_status,
            message,
            error,
        };
        self.commit(t).await
    }

    /// `Accepted`, with what the restart created (the new job's id).
    pub(super) async fn apply_effect(
        &mut self,
        attempt: u32,
        message: String,
        effect: String,
    ) -> Result<(), StepAbort> {
        let accepted = Record {
            to: StepPhase::Accepted,
            http_status: None,
            message: Some(message),
            error: None,
        };
        self.apply_with(accepted, attempt, Some(effect), None).await
    }

    pub(super) async fn commit(&mut self, t: Transition) -> Result<(), StepAbort> {
        self.record = self.ctx.writer.apply(t).await?;
        // A restart's turn ends once its effect is known or the step is decided.
        let known = self.record.phase == StepPhase::Accepted && self.record.effect.is_some();
        if known || self.record.phase.is_terminal() {
            self.turn = None;
        }
        self.ctx.stats.step_changed(&self.record, Instant::now());
        self.ctx.reporter.step_changed(&self.record);
        if self.record.phase.is_terminal() {
            self.ctx.reporter.step_ended(&self.record);
        }
        Ok(())
    }

    /// How a live stop's execution ended, when its step is confirmed; the word is what the
    /// kind's reads last saw ("gone" after a 404).
    pub(super) fn end_if_confirmed(
        &self,
        to: &StepPhase,
        http_status: Option<u16>,
    ) -> Option<StepEnd> {
        if *to != StepPhase::Confirmed || self.ctx.protocol != Protocol::LiveStop {
            return None;
        }
        let word = if http_status == Some(404) {
            "gone".to_string()
        } else {
            self.ctx
                .api
                .last_end_word(&self.record.key.execution)
                .unwrap_or_else(|| "?".into())
        };
        Some(protocol::stop_end(word, self.stop_may_have_applied))
    }
}
