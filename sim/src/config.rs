//! How to build and run one simulator.

use super::faults::Faults;
use super::generate::GenerateSpec;
use super::scenario::Scenario;

/// Where the deployment comes from.
#[derive(Clone, Debug, PartialEq)]
pub enum DeploymentSource {
    Generate(GenerateSpec),
    Scenario(Scenario),
}

/// Everything a simulator needs. `Default` is a small generated deployment with fast
/// (tens of milliseconds) transitions, no faults, and the key `sim-api-key`.
#[derive(Clone, Debug, PartialEq)]
pub struct SimConfig {
    pub api_key: String,
    /// A valid key without admin rights: answered 403.
    pub non_admin_key: Option<String>,
    /// A service-account token accepted as `Authorization: Bearer <token>`, beside the key; it
    /// can be rotated while the simulator runs (`POST /__sim/token`), and the old one is then
    /// answered 401.
    pub bearer_token: Option<String>,
    /// Serve every Domino route under this prefix (e.g. `/domino`); empty for the root.
    pub path_prefix: String,
    pub seed: u64,
    pub deployment: DeploymentSource,
    pub transition_ms: u64,
    pub transition_jitter_ms: u64,
    /// The share of requested stops and starts that never arrive.
    pub stuck_rate: f64,
    /// Every workspace page served adds a workspace at the top of the list.
    pub shifting_workspaces: bool,
    /// The most rows any paged listing serves at once, whatever the client asks for (a server
    /// that caps `limit` / `pageSize` / a Job listing's `page_size`); `None` serves what is asked.
    pub max_page_size: Option<usize>,
    /// The workspace admin list serves no row at or beyond this offset, while `totalEntries`
    /// still counts every row (a search backend's result window); `None` serves them all.
    pub workspace_window: Option<usize>,
    /// Answer 411 to a POST without `Content-Length`, as load balancers in front of Domino may.
    pub require_content_length: bool,
    /// Workspaces on their way to stopped show a state word the contract does not list
    /// (`UNKNOWN_STOPPING_WORD`) in the admin list, where they would show `Stopping`.
    pub unknown_stopping_word: bool,
    /// The Job listing's `status` words mean only what they say, as a real Domino may read them:
    /// `running` lists the Jobs that show `Running` (not those queued, pending or preparing),
    /// `queued` those that show `Queued`, `completed` the ended ones, `all` every one. Without
    /// it, `running` lists every Job not completed and `queued` is refused.
    pub strict_job_status: bool,
    pub faults: Faults,
}

/// The word a stopping workspace shows with `unknown_stopping_word`: a client must take a word
/// it does not know for one in motion, never for stopped.
pub const UNKNOWN_STOPPING_WORD: &str = "Deprovisioning";

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            api_key: "sim-api-key".into(),
            non_admin_key: None,
            bearer_token: None,
            path_prefix: String::new(),
            seed: 1,
            deployment: DeploymentSource::Generate(GenerateSpec::default()),
            transition_ms: 30,
            transition_jitter_ms: 10,
            stuck_rate: 0.0,
            shifting_workspaces: false,
            max_page_size: None,
            workspace_window: None,
            require_content_length: false,
            unknown_stopping_word: false,
            strict_job_status: false,
            faults: Faults::default(),
        }
    }
}

/// Builder setters that store their argument as the field of the same name.
macro_rules! setters {
    ($($(#[$doc:meta])* $field:ident: $ty:ty;)+) => {
        $($(#[$doc])*
        pub fn $field(mut self, $field: $ty) -> Self {
            self.$field = $field;
            self
        })+
    };
}

impl SimConfig {
    setters! {
        seed: u64;
        stuck_rate: f64;
        shifting_workspaces: bool;
        require_content_length: bool;
        unknown_stopping_word: bool;
        strict_job_status: bool;
        faults: Faults;
    }

    pub fn api_key(mut self, key: impl Into<String>) -> Self {
        self.api_key = key.into();
        self
    }

    pub fn non_admin_key(mut self, key: impl Into<String>) -> Self {
        self.non_admin_key = Some(key.into());
        self
    }

    pub fn bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    pub fn path_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.path_prefix = prefix.into();
        self
    }

    pub fn generate(mut self, spec: GenerateSpec) -> Self {
        self.deployment = DeploymentSource::Generate(spec);
        self
    }

    pub fn scenario(mut self, scenario: Scenario) -> Self {
        self.deployment = DeploymentSource::Scenario(scenario);
        self
    }

    /// Transitions take `ms` plus up to `jitter_ms`.
    pub fn transition(mut self, ms: u64, jitter_ms: u64) -> Self {
        self.transition_ms = ms;
        self.transition_jitter_ms = jitter_ms;
        self
    }

    /// Serve at most `rows` rows per page of any paged listing.
    pub fn max_page_size(mut self, rows: usize) -> Self {
        self.max_page_size = Some(rows);
        self
    }

    /// The workspace admin list serves only its first `rows` rows (see `workspace_window`).
    pub fn workspace_window(mut self, rows: usize) -> Self {
        self.workspace_window = Some(rows);
        self
    }

    /// A page size as served: what was asked, capped by `max_page_size`.
    pub fn page_size(&self, asked: usize) -> usize {
        self.max_page_size.map_or(asked, |cap| asked.min(cap))
    }

    /// The prefix in the form routers want: `""` or `"/x/y"` (leading slash, none trailing).
    pub fn normalized_prefix(&self) -> String {
        let trimmed = self.path_prefix.trim_matches('/');
        if trimmed.is_empty() {
            String::new()
        } else {
            format!("/{trimmed}")
        }
    }

    pub fn validate(&self) -> Result<(), String> {
        if self.api_key.is_empty() {
            return Err("the API key must not be empty".into());
        }
        if self.non_admin_key.as_deref() == Some(self.api_key.as_str()) {
            return Err("the non-admin key must differ from the API key".into());
        }
        if !(0.0..=1.0).contains(&self.stuck_rate) {
            return Err(format!(
                "the stuck rate must be between 0 and 1, got {}",
                self.stuck_rate
            ));
        }
        if self.bearer_token.as_deref().is_some_and(str::is_empty) {
            return Err("the bearer token must not be empty".into());
        }
        if self.max_page_size == Some(0) {
            return Err("the maximum page size must be at least 1".into());
        }
        let prefix = self.normalized_prefix();
        if prefix.contains("/__sim") || prefix.contains(['{', '}', '*', '?', '#']) {
            return Err(format!(
                "the path prefix '{}' is not usable",
                self.path_prefix
            ));
        }
        self.faults.validate()
    }
}
