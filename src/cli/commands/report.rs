//! `dmm report`: parses, asks `report` for the page, writes it, says where.

use crate::cli::args::{ReportArgs, ReportFormat};
use crate::cli::exit::{CliError, Exit};
use crate::cli::output::outln;
use crate::journal::JournalReader;
use crate::report::{self, Format, Report};
use crate::snapshot;

pub fn run(args: ReportArgs) -> Result<Exit, CliError> {
    let loaded = snapshot::read(&args.file)?;
    let path =
        crate::cli::hint::existing_journal(&args.file, args.journal.as_deref(), &loaded.sha256)?;
    // Never the lock: the page can be made while a run holds the journal.
    let reader = JournalReader::open_for(&path, &loaded.sha256, &args.file)?;
    let in_progress = crate::journal::is_held(&path)?;
    let mut page = report::build(&reader, &loaded, in_progress)?;
    page.next_line = crate::cli::hint::next_line(&page.next, &args.file, args.journal.as_deref());
    let format = match args.format {
        ReportFormat::Html => Format::Html,
        ReportFormat::Markdown => Format::Markdown,
        ReportFormat::MarkdownSummary => Format::MarkdownSummary,
        ReportFormat::Csv => Format::Csv,
    };
    let text =
        report::render(&page, format).map_err(|e| CliError::new(Exit::Failures, e.to_string()))?;
    let output = args
        .output
        .unwrap_or_else(|| Report::default_path(&args.file, format.extension()));
    report::write_page(&output, &text).map_err(|e| CliError::bad_input(e.to_string()))?;
    let chain = &page.header.chain;
    outln!("report written to {}", output.display());
    if page.in_progress {
        outln!("a run is in progress: the report shows the journal as it stands now");
    }
    if page.damaged() {
        outln!(
            "journal {}: damaged: {} record(s) do not decode, the first: {}; the report shows what the others say",
            path.display(),
            page.header.damaged.len(),
            page.header.damaged[0]
        );
    }
    if page.chain_broken() {
        outln!("journal {}: {}", path.display(), chain.text);
    }
    if page.chain_broken() || page.damaged() {
        return Ok(Exit::Failures);
    }
    Ok(Exit::Success)
}
