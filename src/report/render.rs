//! The page as HTML or Markdown, through minijinja templates.
//!
//! Every value a template prints is escaped by the engine, never by hand: `.html` templates
//! with minijinja's HTML escaping (`<`, `>`, `&`, quotes and `/`), `.md` templates with the
//! Markdown escaping below, installed as the formatter so that no `{{ }}` can forget it. The
//! templates use no `safe` filter. Names come from the deployment's users; a name cannot open a
//! tag, close the SVG, start a link or break a table row.

use minijinja::value::{Serde, Value};
use minijinja::{AutoEscape, Environment, Output, State};

use super::model::Report;

const HTML: &str = include_str!("templates/report.html");
const MARKDOWN: &str = include_str!("templates/report.md");
const SUMMARY: &str = include_str!("templates/summary.md");
/// The page's only style sheet. The page's Content-Security-Policy allows this sheet by its
/// digest and nothing else (no script, no fetch of any kind), so it must reach the page byte for
/// byte: it holds no character the HTML escaping would change (a unit test checks).
const CSS: &str = include_str!("templates/report.css");

/// The format of the report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Html,
    Markdown,
    /// The verdict, the counts, what is next and the owners to tell, short enough for a
    /// ticket's comment (GitHub's 65,536 characters, Jira's 32,767) at any scale.
    MarkdownSummary,
    /// The inventory of what the window touched, one row an execution.
    Csv,
}

impl Format {
    pub fn extension(self) -> &'static str {
        match self {
            Format::Html => "html",
            Format::Markdown => "md",
            Format::MarkdownSummary => "summary.md",
            Format::Csv => "csv",
        }
    }

    fn template(self) -> &'static str {
        match self {
            Format::Html => "report.html",
            Format::Markdown => "report.md",
            Format::MarkdownSummary => "summary.md",
            Format::Csv => "",
        }
    }
}

/// A template failed to render: a bug in a template, reported as one line.
#[derive(Debug, thiserror::Error)]
#[error("the report could not be rendered: {0}")]
pub struct RenderError(String);

/// The report in `format`.
pub fn render(report: &Report, format: Format) -> Result<String, RenderError> {
    if format == Format::Csv {
        return Ok(super::inventory::csv(&report.inventory));
    }
    let env = environment().map_err(|e| RenderError(e.to_string()))?;
    let template = env
        .get_template(format.template())
        .map_err(|e| RenderError(e.to_string()))?;
    let page_css = page_sheet(&report.header.snapshot_sha256);
    let short_owners = super::owners::shortened(&report.owners, SUMMARY_OWNERS_BUDGET, |s| {
        escape_markdown(&crate::visible::visible(s)).len()
    });
    let context = minijinja::context! {
        r => Serde(report),
        css => CSS,
        css_sha256 => crate::base64::base64(&sha256(CSS.as_bytes())),
        page_css_sha256 => crate::base64::base64(&sha256(page_css.as_bytes())),
        page_css => Value::from_safe_string(page_css),
        short_owners => Serde(short_owners),
        version => crate::TOOL_VERSION,
        listed => super::limits::PAGE_LISTED,
        names_each => PAGE_NAMES_EACH,
    };
    template
        .render(context)
        .map_err(|e| RenderError(format!("{e:#}")))
}

/// The names an owner's list shows on the page; the rest are counted.
const PAGE_NAMES_EACH: usize = 10;

/// The characters the summary's owners to tell may take: with the verdict, the counts and
/// the words around them, the summary stays under Jira's 32,767 characters a comment.
const SUMMARY_OWNERS_BUDGET: usize = 20_000;

/// The printed page's margins: the snapshot's SHA-256 on the left, `Page 3 of 39` on the right
/// of every page (CSS margin boxes, which Chromium prints since version 131), so a page torn
/// from the PDF still says which window it belongs to and where it goes.
///
/// The one text of the page not escaped by the engine (a quote is CSS syntax here, and a
/// `<style>` takes no entities): it is built from fixed words and the digest's hex digits only,
/// anything else in the digest becomes `unknown`. The CSP allows it by its own digest.
fn page_sheet(snapshot_sha256: &str) -> String {
    let hash =
        if !snapshot_sha256.is_empty() && snapshot_sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            snapshot_sha256
        } else {
            "unknown"
        };
    format!(
        "@page {{ @bottom-left {{ content: \"Maintenance report, snapshot SHA-256 {hash}\"; \
         font: 7pt ui-monospace, monospace; color: #5b6770; }} \
         @bottom-right {{ content: \"Page \" counter(page) \" of \" counter(pages); \
         font: 8pt system-ui, sans-serif; color: #5b6770; }} }}"
    )
}

const MARKDOWN_ESCAPE: &str = "markdown";

fn markdown_escape() -> AutoEscape {
    AutoEscape::Custom(std::borrow::Cow::Borrowed(MARKDOWN_ESCAPE))
}

fn environment() -> Result<Environment<'static>, minijinja::Error> {
    let mut env = Environment::new();
    env.set_syntax(
        minijinja::syntax::SyntaxConfig::builder()
            .trim_blocks(true)
            .lstrip_blocks(true)
            .build()?,
    );
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|name| {
        if name.ends_with(".md") {
            markdown_escape()
        } else {
            minijinja::default_auto_escape_callback(name)
        }
    });
    env.set_formatter(format_value);
    env.add_filter("short", short_name);
    env.add_filter("cell", cell);
    env.add_template("report.html", HTML)?;
    env.add_template("report.md", MARKDOWN)?;
    env.add_template("summary.md", SUMMARY)?;
    Ok(env)
}

/// A name as a list of many shows it: hidden characters written out, then cut to
/// [`super::owners::NAME_CHARS`] characters with `…`, so that a deployment of long names keeps
/// the page under its size bound.
fn short_name(name: String) -> String {
    let shown = crate::visible::visible(&name);
    match shown.char_indices().nth(super::owners::NAME_CHARS) {
        Some((at, _)) => format!("{}…", &shown[..at]),
        None => shown.into_owned(),
    }
}

/// A name, owner, project or message in a table row: hidden characters written out, then cut
/// to [`CELL_CHARS`] characters with `…`. Longer than [`short_name`]'s cut, so that a table of a
/// small window shows ordinary names whole; bounded, so that 100 rows of 5,000-character names
/// stay a page (the CSV, the Markdown and `dmm journal` keep them whole).
fn cell(text: String) -> String {
    let shown = crate::visible::visible(&text);
    match shown.char_indices().nth(CELL_CHARS) {
        Some((at, _)) => format!("{}…", &shown[..at]),
        None => shown.into_owned(),
    }
}

const CELL_CHARS: usize = 200;

fn format_value(
    out: &mut Output,
    state: &mut State,
    value: &Value,
) -> Result<(), minijinja::Error> {
    // A bidirectional control or zero-width character in a name is shown, not obeyed, in
    // both formats (`crate::visible`); so is a control character other than a line break or a
    // tab (a NUL is an HTML parse error, an ANSI escape lives on in `cat report.html`). The
    // Markdown escaping shows line breaks too.
    let shown;
    let unseen = |c: char| crate::visible::is_unseen(c) && !matches!(c, '\n' | '\t');
    let value = match value.as_str() {
        Some(s) if s.chars().any(unseen) => {
            let mut out = String::with_capacity(s.len() + 16);
            for c in s.chars() {
                if unseen(c) {
                    crate::visible::push_spelled(&mut out, c);
                } else {
                    out.push(c);
                }
            }
            shown = Value::from(out);
            &shown
        }
        _ => value,
    };
    if *state.auto_escape() == markdown_escape() {
        let text = if value.is_none() || value.is_undefined() {
            String::new()
        } else {
            value.to_string()
        };
        return out
            .write_str(&escape_markdown(&text))
            .map_err(minijinja::Error::from);
    }
    minijinja::escape_formatter(out, state, value)
}

/// Text that Markdown (CommonMark, GitHub's tables, and the HTML many trackers pass through)
/// shows as it is, with no more backslashes than that takes, so prose stays readable:
///
/// - `<` and `&` become entities (a backslash does not stop raw HTML everywhere), `>` too;
/// - what opens markup anywhere in a line is backslash-escaped: `\`, `` ` ``, `*`, `~`, `[`,
///   `]` (so no link can form, and `(`, `)` and `!` need nothing) and `|` (a table cell);
/// - `_` only where it could begin or end emphasis, not inside a word (`rate_limit`);
/// - `#`, `+`, `-` and `=` only where the value begins with a heading, a list item or a
///   setext underline (`# `, `- `, `+ `, `==`, `--`);
/// - control characters, line breaks included, are shown as `\u{..}`, so a value cannot end a
///   table row. A URL stays a URL: a link shows its own address, never other text.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let mut before: Option<char> = None;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let after = chars.peek().copied();
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\\' | '`' | '*' | '~' | '[' | ']' | '|' => {
                out.push('\\');
                out.push(c);
            }
            '_' if !(before.is_some_and(char::is_alphanumeric)
                && after.is_some_and(char::is_alphanumeric)) =>
            {
                out.push_str("\\_");
            }
            // A heading, a list item or a setext underline: the mark, then a space or more of
            // the same mark. A lone `-` (a table's "none") is left as it is.
            '#' | '+' | '-' | '='
                if before.is_none()
                    && after.is_some_and(|a| a == c || (c != '=' && a.is_whitespace())) =>
            {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
        before = Some(c);
    }
    out
}

fn sha256(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_style_sheet_passes_the_html_escaping_unchanged() {
        assert!(
            !CSS.contains(['<', '>', '&', '"', '\'', '/']),
            "the CSP digest would not match the sheet the browser sees"
        );
    }

    #[test]
    fn the_page_margins_carry_only_the_digest_and_fixed_words() {
        let hash = "c2af47fd0ce1f2da0d3297e8a0dfeb59855d531e4d98c535326d54f8904b6249";
        let sheet = page_sheet(hash);
        assert!(
            sheet.contains(hash) && sheet.contains("counter(pages)"),
            "{sheet}"
        );
        let hostile = page_sheet("ab\"; } </style><script>x</script>");
        assert!(
            hostile.contains("SHA-256 unknown") && !hostile.contains('<'),
            "{hostile}"
        );
    }

    #[test]
    fn markdown_escaping_leaves_no_markup_and_no_line_break() {
        let e = escape_markdown("a|b\n<script>[x](http://e) *y* `z`\u{1b}");
        assert!(!e.contains('\n'));
        assert!(!e.contains('<'));
        assert!(e.contains("a\\|b"));
        assert!(e.contains("\\[x\\](http://e)"), "{e}");
        assert!(e.contains("\\*y\\* \\`z\\`"), "{e}");
        assert!(e.contains("\\\\u{1b}"), "{e}");
        assert!(e.contains("\\\\u{a}"), "{e}");
    }

    #[test]
    fn prose_keeps_its_punctuation() {
        assert_eq!(
            escape_markdown("rate_limit (HTTP 429) at http://x/y: done! {a} \"q\" 1+1"),
            "rate_limit (HTTP 429) at http://x/y: done! {a} \"q\" 1+1"
        );
        assert_eq!(escape_markdown("_a_ # + -"), "\\_a\\_ # + -");
        assert_eq!(escape_markdown("# h"), "\\# h");
        assert_eq!(escape_markdown("- item"), "\\- item");
        assert_eq!(escape_markdown("==="), "\\===");
        assert_eq!(escape_markdown("-"), "-", "a table's none");
        assert_eq!(escape_markdown("-5 s"), "-5 s");
    }
}
