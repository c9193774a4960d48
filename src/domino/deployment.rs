//! One deployment as the layers above see it: the client and every kind's implementation.

use std::sync::Arc;

use super::kinds::{KindOptions, execution_kinds};
use super::{ApiError, DominoClient, ExecutionKind, list_projects};
use crate::snapshot::Kind;

pub struct Deployment {
    pub client: DominoClient,
    /// Every kind, in the order of [`Kind::ALL`].
    pub kinds: Vec<Arc<dyn ExecutionKind>>,
}

impl Deployment {
    pub fn new(client: DominoClient, options: &KindOptions) -> Deployment {
        let kinds = execution_kinds(&client, options);
        Deployment { client, kinds }
    }

    pub fn kind(&self, kind: Kind) -> Arc<dyn ExecutionKind> {
        self.kinds
            .iter()
            .find(|k| k.kind() == kind)
            .cloned()
            .expect("every kind has an implementation")
    }

    /// One read that shows whether the deployment answers at all (the project list, which every
    /// per-project listing starts from). Its error says why not.
    pub async fn check_answers(&self) -> Result<(), ApiError> {
        list_projects(&self.client).await.map(|_| ())
    }

    /// What the run cost the API so far, for the run's record in the journal.
    pub fn traffic(&self) -> String {
        format!(
            "{} requests sent, {} of them retries of transient failures",
            self.client.requests_sent(),
            self.client.retries()
        )
    }
}
