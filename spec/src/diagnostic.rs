//! Compiler-style diagnostics: what is wrong, where (`FILE:LINE:COL` with a source snippet
//! and a caret), and how to fix it.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position range inside one source file. Lines are 1-based, columns are 1-based and
/// counted in characters. `file` says which file of a [`Report`] the range is in: 0 is
/// the report's first file, and the files merged or included after it count up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Span {
    /// Which file of the [`Report`]: 0 for the first.
    pub file: u16,
    /// Line of the first character (1-based).
    pub line: usize,
    /// Column of the first character (1-based, in characters).
    pub col: usize,
    /// Line of the end of the range.
    pub end_line: usize,
    /// Column just past the last character.
    pub end_col: usize,
}

impl Span {
    /// A span covering `len` characters from `line:col`.
    pub fn at(line: usize, col: usize, len: usize) -> Self {
        Span {
            file: 0,
            line,
            col,
            end_line: line,
            end_col: col + len.max(1),
        }
    }

    /// The same range in file `file` of the report.
    pub fn in_file(self, file: u16) -> Self {
        Span { file, ..self }
    }
}

/// How serious a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Severity {
    /// The file is rejected.
    Error,
    /// The file is accepted, but something deserves attention.
    Warning,
    /// Information only, such as an ignored `version:` key.
    Note,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Note => "note",
        })
    }
}

/// One finding about a desired-state file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error, warning or note.
    pub severity: Severity,
    /// One line saying what is wrong.
    pub message: String,
    /// Where, when the finding has a place in the file.
    pub span: Option<Span>,
    /// A short text printed under the caret.
    pub label: Option<String>,
    /// A one-line fix, printed as `help:`.
    pub help: Option<String>,
    /// A second place that explains the first (for example "first defined here").
    pub related: Option<(Span, String)>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn error(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Error,
            message: message.into(),
            span: Some(span),
            label: None,
            help: None,
            related: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::error(span, message)
        }
    }

    /// A note at `span`.
    pub fn note(span: Span, message: impl Into<String>) -> Self {
        Diagnostic {
            severity: Severity::Note,
            ..Diagnostic::error(span, message)
        }
    }

    /// An error about the file as a whole, with no position inside it.
    pub fn file_error(message: impl Into<String>) -> Self {
        Diagnostic {
            span: None,
            ..Diagnostic::error(Span::default(), message)
        }
    }

    /// Sets the text printed under the caret.
    pub fn with_label(mut self, label: impl Into<String>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the one-line fix.
    pub fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Points at a second place that explains this one.
    pub fn with_related(mut self, span: Span, text: impl Into<String>) -> Self {
        self.related = Some((span, text.into()));
        self
    }

    /// Whether this diagnostic rejects the file.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// The diagnostic on one line, as `FILE:LINE:COL: message` (`FILE: message` when it
    /// has no position), for logs, events and status fields.
    ///
    /// ```
    /// use holdfast_spec::{Diagnostic, Span};
    /// let d = Diagnostic::error(Span::at(3, 5, 5), "unknown field `imgae`");
    /// assert_eq!(d.one_line("x.yaml".as_ref()), "x.yaml:3:5: unknown field `imgae`");
    /// ```
    pub fn one_line(&self, path: &Path) -> String {
        match self.span {
            Some(s) => format!("{}:{}:{}: {}", path.display(), s.line, s.col, self.message),
            None => format!("{}: {}", path.display(), self.message),
        }
    }
}

/// The diagnostics of a desired state, together with the text of its files so that
/// they can be rendered with source snippets. Most desired states are one file
/// (`path` and `source`); the files merged over it, included or extended from are in
/// `more`, and a [`Span`]'s `file` picks one (1 is `more[0]`).
#[derive(Debug, Clone)]
pub struct Report {
    /// The first file as it was named (printed in `FILE:LINE:COL`).
    pub path: PathBuf,
    /// The first file's text.
    pub source: String,
    /// The other files, as named, and their text.
    pub more: Vec<(PathBuf, String)>,
    /// Findings, in the order of their position in the files.
    pub diagnostics: Vec<Diagnostic>,
}

impl Report {
    /// A report with no findings yet.
    pub fn new(path: &Path, source: &str) -> Self {
        Report {
            path: path.to_path_buf(),
            source: source.to_string(),
            more: Vec::new(),
            diagnostics: Vec::new(),
        }
    }

    /// Adds a file to the report and returns its number, for [`Span::in_file`].
    pub fn add_file(&mut self, path: &Path, source: &str) -> u16 {
        self.more.push((path.to_path_buf(), source.to_string()));
        u16::try_from(self.more.len()).unwrap_or(u16::MAX)
    }

    /// The name of file `file` of the report (the first file when there is no such).
    pub fn file_path(&self, file: u16) -> &Path {
        match usize::from(file).checked_sub(1) {
            Some(i) => self.more.get(i).map_or(&self.path, |(p, _)| p),
            None => &self.path,
        }
    }

    fn file_source(&self, file: u16) -> &str {
        match usize::from(file).checked_sub(1) {
            Some(i) => self.more.get(i).map_or(&self.source, |(_, s)| s),
            None => &self.source,
        }
    }

    /// Every file of the report, the first one first.
    pub fn files(&self) -> impl Iterator<Item = (&Path, &str)> {
        std::iter::once((self.path.as_path(), self.source.as_str()))
            .chain(self.more.iter().map(|(p, s)| (p.as_path(), s.as_str())))
    }

    /// `d` on one line, naming the file of the report it is in (see
    /// [`Diagnostic::one_line`]).
    pub fn one_line(&self, d: &Diagnostic) -> String {
        d.one_line(self.file_path(d.span.map_or(0, |s| s.file)))
    }

    /// Number of errors.
    pub fn error_count(&self) -> usize {
        self.diagnostics.iter().filter(|d| d.is_error()).count()
    }

    /// Whether any finding rejects the file.
    pub fn has_errors(&self) -> bool {
        self.error_count() > 0
    }

    /// The first error as one line, `FILE:LINE:COL: message` (see
    /// [`Diagnostic::one_line`]), or `None` when nothing rejects the file.
    pub fn first_error(&self) -> Option<String> {
        self.diagnostics
            .iter()
            .find(|d| d.is_error())
            .map(|d| self.one_line(d))
    }

    /// Sorts findings by position, keeping the order of findings at the same place.
    pub(crate) fn sort(&mut self) {
        self.diagnostics
            .sort_by_key(|d| d.span.map(|s| (s.file, s.line, s.col)).unwrap_or((0, 0, 0)));
    }

    fn line_text(&self, file: u16, line: usize) -> Option<&str> {
        self.file_source(file)
            .split('\n')
            .nth(line.checked_sub(1)?)
            .map(|l| l.strip_suffix('\r').unwrap_or(l))
    }

    fn render_snippet(&self, out: &mut String, span: Span, label: Option<&str>, gutter: usize) {
        let Some(text) = self.line_text(span.file, span.line) else {
            return;
        };
        let shown: String = text.replace('\t', " ");
        let width = shown.chars().count();
        let start = span.col.saturating_sub(1).min(width);
        let end = if span.end_line == span.line {
            span.end_col
                .saturating_sub(1)
                .clamp(start + 1, width.max(start + 1))
        } else {
            width.max(start + 1)
        };
        let pad = " ".repeat(gutter);
        out.push_str(&format!("{pad} |\n"));
        out.push_str(&format!("{:>gutter$} | {}\n", span.line, shown.trim_end()));
        let carets = "^".repeat(end - start);
        let mut under = format!("{pad} | {}{carets}", " ".repeat(start));
        if let Some(label) = label {
            under.push(' ');
            under.push_str(label);
        }
        out.push_str(under.trim_end());
        out.push('\n');
    }

    /// Renders one diagnostic like a compiler does.
    pub fn render_one(&self, d: &Diagnostic) -> String {
        let mut out = format!("{}: {}\n", d.severity, d.message);
        let path = self.file_path(d.span.map_or(0, |s| s.file)).display();
        let max_line = [d.span.map(|s| s.line), d.related.as_ref().map(|r| r.0.line)]
            .into_iter()
            .flatten()
            .max()
            .unwrap_or(1);
        let gutter = max_line.to_string().len();
        let pad = " ".repeat(gutter);
        match d.span {
            Some(span) => {
                out.push_str(&format!("{pad}--> {path}:{}:{}\n", span.line, span.col));
                self.render_snippet(&mut out, span, d.label.as_deref(), gutter);
            }
            None => out.push_str(&format!("{pad}--> {path}\n")),
        }
        if let Some((span, text)) = &d.related {
            let path = self.file_path(span.file).display();
            out.push_str(&format!("{pad}::: {path}:{}:{}\n", span.line, span.col));
            self.render_snippet(&mut out, *span, Some(text), gutter);
        }
        if let Some(help) = &d.help {
            out.push_str(&format!("{pad} = help: {help}\n"));
        }
        out
    }

    /// Renders every finding followed by a one-line summary.
    pub fn render(&self) -> String {
        let mut out = String::new();
        for d in &self.diagnostics {
            out.push_str(&self.render_one(d));
            out.push('\n');
        }
        let errors = self.error_count();
        if errors > 0 {
            let s = if errors == 1 { "" } else { "s" };
            let more = match self.more.len() {
                0 => String::new(),
                1 => format!(" (with {})", self.more[0].0.display()),
                n => format!(" (with {n} more files)"),
            };
            out.push_str(&format!(
                "error: {}{more} has {errors} error{s}\n",
                self.path.display()
            ));
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_location_snippet_caret_and_help() {
        let mut report = Report::new(Path::new("x.yaml"), "services:\n  web:\n    imgae: nginx\n");
        report.diagnostics.push(
            Diagnostic::error(Span::at(3, 5, 5), "unknown field `imgae`")
                .with_label("not a service field")
                .with_help("did you mean `image`?"),
        );
        let text = report.render();
        assert!(text.contains("--> x.yaml:3:5"), "{text}");
        assert!(text.contains("3 |     imgae: nginx"), "{text}");
        assert!(text.contains("  |     ^^^^^ not a service field"), "{text}");
        assert!(text.contains("= help: did you mean `image`?"), "{text}");
        assert!(text.contains("error: x.yaml has 1 error"), "{text}");
    }

    #[test]
    fn first_error_is_one_line_with_its_place_and_skips_warnings() {
        let mut report = Report::new(Path::new("x.yaml"), "a: b\nc: d\n");
        assert_eq!(report.first_error(), None);
        report
            .diagnostics
            .push(Diagnostic::warning(Span::at(1, 1, 1), "only a warning"));
        assert_eq!(report.first_error(), None);
        report
            .diagnostics
            .push(Diagnostic::error(Span::at(2, 4, 1), "bad value"));
        report
            .diagnostics
            .push(Diagnostic::file_error("a second error"));
        assert_eq!(
            report.first_error().as_deref(),
            Some("x.yaml:2:4: bad value")
        );
        assert_eq!(
            report.diagnostics[2].one_line(Path::new("x.yaml")),
            "x.yaml: a second error"
        );
    }

    #[test]
    fn span_past_end_of_line_still_renders_one_caret() {
        let mut report = Report::new(Path::new("x.yaml"), "a: b");
        report
            .diagnostics
            .push(Diagnostic::error(Span::at(1, 40, 3), "x"));
        report
            .diagnostics
            .push(Diagnostic::error(Span::at(9, 1, 3), "line past the end"));
        let text = report.render();
        assert!(text.contains("1 | a: b\n  |     ^"), "{text}");
    }
}
