//! How much the page lists: one limit shared by the model, its inventory and its renderer.

/// The rows a long list of the page shows (failures, mismatches, drift, the executions not as
/// planned, Jobs or their projects, owners): past it the page counts the rest and names the
/// command that lists them all, so that the page of a 10,000-execution window stays under
/// 1 MiB whatever went wrong in it.
pub const PAGE_LISTED: usize = 100;
