//! YAML text to a tree of nodes that remember where they came from.
//!
//! The tree keeps every node's span so that later steps (decoding, validation) can point
//! at the exact line and column. This layer also catches what a YAML library would let
//! through or report badly: tabs in indentation, duplicate keys, several documents,
//! and alias bombs. Anchors, aliases and merge keys (`<<: *base`) are resolved here.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, ScanError};

use crate::diagnostic::{Diagnostic, Span};

/// At most this many nodes may be produced by expanding aliases, so that a small file
/// cannot expand into gigabytes ("billion laughs").
const MAX_ALIAS_NODES: usize = 100_000;
/// Nesting deeper than this is refused, so that recursion cannot overflow the stack.
const MAX_DEPTH: usize = 64;

/// A YAML node and where it stands in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// The node's content.
    pub value: Value,
    /// Where it stands.
    pub span: Span,
    /// Compose's merge tag on the node (`!reset` or `!override`), if any. Other tags
    /// are ignored, as Compose ignores them.
    pub tag: Option<MergeTag>,
}

/// The tags Compose gives a meaning when files are merged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTag {
    /// `!reset`: the value of the files before is dropped, and so is this one.
    Reset,
    /// `!override`: the value replaces the value of the files before instead of
    /// merging with it.
    Override,
}

fn merge_tag(tag: Option<&saphyr_parser::Tag>) -> Option<MergeTag> {
    let tag = tag?;
    match (tag.handle.as_str(), tag.suffix.as_str()) {
        ("!", "reset") => Some(MergeTag::Reset),
        ("!", "override") => Some(MergeTag::Override),
        _ => None,
    }
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`, `~` or nothing at all.
    Null,
    /// A scalar: its text and whether it was quoted (a quoted `"true"` is a string).
    Scalar {
        /// The scalar's text.
        text: String,
        /// Whether the scalar was written plain (unquoted, not a block scalar).
        plain: bool,
    },
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in file order. Keys are unique (duplicates are reported as errors).
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The scalar text, if the node is a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match &self.value {
            Value::Scalar { text, .. } => Some(text),
            _ => None,
        }
    }

    /// A short name for the node's kind, for messages ("a mapping", "a list", ...).
    pub fn kind(&self) -> &'static str {
        match &self.value {
            Value::Null => "nothing (null)",
            Value::Scalar { text, plain } => {
                if *plain && (text == "true" || text == "false") {
                    "a boolean"
                } else if *plain && text.parse::<f64>().is_ok() {
                    "a number"
                } else {
                    "a string"
                }
            }
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    /// The value under `key`, if this is a mapping that has it.
    pub fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|(_, v)| v)
    }

    /// The key node and value under `key`, if this is a mapping that has it.
    pub fn entry(&self, key: &str) -> Option<(&Node, &Node)> {
        match &self.value {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(key))
                .map(|(k, v)| (k, v)),
            _ => None,
        }
    }
}

fn span_of(s: &saphyr_parser::Span) -> Span {
    Span {
        file: 0,
        line: s.start.line(),
        col: s.start.col() + 1,
        end_line: s.end.line(),
        end_col: s.end.col() + 1,
    }
}

/// Parses one YAML document. An empty document gives `Ok(None)`.
///
/// Where Compose's YAML parser is more lenient than the YAML specification, so is this
/// one: the closing `]` of a flow sequence may stand at its key's indentation (or
/// further left) on a line of its own. Duplicate keys stay an error.
pub fn parse(source: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let first = parse_strict(source);
    let Err(errors) = &first else {
        return first;
    };
    // Indent a lone closing `]` that the parser refused, and try again, a few times.
    let mut text = source.to_string();
    let mut errors = errors.clone();
    for _ in 0..32 {
        let [e] = errors.as_slice() else { break };
        let Some(span) = e.span else { break };
        if !e.message.contains("indentation") {
            break;
        }
        let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
        let Some(line) = span.line.checked_sub(1).and_then(|i| lines.get_mut(i)) else {
            break;
        };
        let rest = line.trim_start();
        if !rest.starts_with(']') {
            break;
        }
        *line = format!("{}{rest}", " ".repeat(line.len() - rest.len() + 2));
        text = lines.join("\n");
        match parse_strict(&text) {
            Ok(root) => return Ok(root),
            Err(e) => errors = e,
        }
    }
    first
}

/// [`parse`] for file number `file` of a [`crate::Report`]: every span (of the nodes
/// and of the errors) points into that file.
pub fn parse_in(source: &str, file: u16) -> Result<Option<Node>, Vec<Diagnostic>> {
    fn mark(node: &mut Node, file: u16) {
        node.span.file = file;
        match &mut node.value {
            Value::Seq(items) => items.iter_mut().for_each(|n| mark(n, file)),
            Value::Map(entries) => entries.iter_mut().for_each(|(k, v)| {
                mark(k, file);
                mark(v, file);
            }),
            _ => {}
        }
    }
    match parse(source) {
        Ok(mut root) => {
            if let Some(root) = &mut root {
                mark(root, file);
            }
            Ok(root)
        }
        Err(mut errors) => {
            for e in &mut errors {
                if let Some(s) = &mut e.span {
                    s.file = file;
                }
                if let Some((s, _)) = &mut e.related {
                    s.file = file;
                }
            }
            Err(errors)
        }
    }
}

fn parse_strict(source: &str) -> Result<Option<Node>, Vec<Diagnostic>> {
    let tabs = tab_indentation(source);
    if !tabs.is_empty() {
        return Err(tabs);
    }
    let mut builder = Builder {
        source,
        anchors: HashMap::new(),
        alias_nodes: 0,
        errors: Vec::new(),
    };
    let mut parser = Parser::new_from_str(source);
    let mut root = None;
    let mut documents = 0;
    loop {
        let (event, span) = match parser.next_event() {
            None => break,
            Some(Ok(pair)) => pair,
            Some(Err(e)) => return Err(vec![syntax_error(source, &e)]),
        };
        match event {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                documents += 1;
                if documents > 1 {
                    return Err(vec![
                        Diagnostic::error(span_of(&span), "a second YAML document (`---`)")
                            .with_label("the file must hold exactly one document")
                            .with_help("remove this `---` and everything after it, or merge the documents into one"),
                    ]);
                }
            }
            other => {
                let node = match builder.node(&mut parser, other, span, 0) {
                    Ok(node) => node,
                    Err(e) => return Err(vec![e]),
                };
                root = Some(node);
            }
        }
    }
    if !builder.errors.is_empty() {
        return Err(builder.errors);
    }
    Ok(root.filter(|n| n.value != Value::Null))
}

/// YAML forbids tabs in indentation; point at each one instead of at a confusing parser
/// error further down.
fn tab_indentation(source: &str) -> Vec<Diagnostic> {
    let mut errors = Vec::new();
    let mut in_block_scalar = false;
    for (i, line) in source.split('\n').enumerate() {
        let indent: String = line
            .chars()
            .take_while(|c| *c == ' ' || *c == '\t')
            .collect();
        if in_block_scalar {
            // Tabs after the block scalar's indentation are content; leave them to the parser.
            if !line.trim().is_empty() && !line.starts_with(' ') {
                in_block_scalar = false;
            } else {
                continue;
            }
        }
        if let Some(pos) = indent.find('\t')
            && !line[indent.len()..].is_empty()
        {
            errors.push(
                Diagnostic::error(Span::at(i + 1, pos + 1, 1), "tab character in indentation")
                    .with_label("YAML does not allow tabs here")
                    .with_help("indent with spaces (two per level is usual)"),
            );
        }
        let trimmed = line.trim_end();
        if trimmed.ends_with('|')
            || trimmed.ends_with('>')
            || trimmed.ends_with("|-")
            || trimmed.ends_with(">-")
        {
            in_block_scalar = true;
        }
    }
    errors
}

fn syntax_error(source: &str, e: &ScanError) -> Diagnostic {
    let marker = e.marker();
    let line = marker.line().max(1);
    let col = marker.col() + 1;
    let info = e.info();
    if info.contains("quoted scalar") {
        // The parser notices a missing closing quote only where the file ends; point at
        // the quote that was opened.
        if let Some((qline, qcol, quote)) = last_unclosed_quote(source) {
            return Diagnostic::error(Span::at(qline, qcol, 1), "unclosed quote")
                .with_label(format!("this {quote} is never closed"))
                .with_help(format!("add the closing {quote} at the end of the value"));
        }
    }
    let help = if info.contains("mapping values are not allowed") {
        "a value that contains `: ` must be quoted, or the line is indented wrongly"
    } else if info.contains("did not find expected key") || info.contains("block") {
        "check the indentation: keys of one mapping must start in the same column"
    } else if info.contains("found character that cannot start any token") {
        "quote the value (for example with double quotes)"
    } else {
        "fix the YAML syntax at this place"
    };
    Diagnostic::error(Span::at(line, col, 1), format!("YAML syntax error: {info}")).with_help(help)
}

/// Finds the opening quote of a quoted scalar that runs to the end of the file.
fn last_unclosed_quote(source: &str) -> Option<(usize, usize, char)> {
    for (i, line) in source.split('\n').enumerate() {
        let mut open: Option<(usize, char)> = None;
        let mut prev = ' ';
        let chars: Vec<char> = line.chars().collect();
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match open {
                None => {
                    if c == '#' && (prev == ' ' || j == 0) {
                        break;
                    }
                    if (c == '"' || c == '\'')
                        && (j == 0 || matches!(prev, ' ' | ':' | '[' | '{' | ',' | '-'))
                    {
                        open = Some((j, c));
                    }
                }
                Some((_, q)) => {
                    if q == '"' && c == '\\' {
                        j += 1;
                    } else if c == q {
                        if q == '\'' && chars.get(j + 1) == Some(&'\'') {
                            j += 1;
                        } else {
                            open = None;
                        }
                    }
                }
            }
            prev = c;
            j += 1;
        }
        if let Some((col, q)) = open {
            return Some((i + 1, col + 1, q));
        }
    }
    None
}

struct Builder<'s> {
    source: &'s str,
    anchors: HashMap<usize, Node>,
    alias_nodes: usize,
    errors: Vec<Diagnostic>,
}

fn count_nodes(node: &Node) -> usize {
    match &node.value {
        Value::Seq(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(entries) => {
            1 + entries
                .iter()
                .map(|(k, v)| count_nodes(k) + count_nodes(v))
                .sum::<usize>()
        }
        _ => 1,
    }
}

// The error path runs once per file at most, so a large `Err` costs nothing.
#[allow(clippy::result_large_err)]
impl Builder<'_> {
    fn next<'i>(
        parser: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
        parser_source: &str,
        source_span: Span,
    ) -> Result<(Event<'i>, saphyr_parser::Span), Diagnostic> {
        match parser.next_event() {
            Some(Ok((event, span))) => Ok((event, span)),
            Some(Err(e)) => Err(syntax_error(parser_source, &e)),
            None => Err(Diagnostic::error(
                source_span,
                "YAML ends in the middle of a value",
            )),
        }
    }

    fn node<'i>(
        &mut self,
        parser: &mut Parser<'i, saphyr_parser::StrInput<'i>>,
        event: Event<'i>,
        span: saphyr_parser::Span,
        depth: usize,
    ) -> Result<Node, Diagnostic> {
        let span = span_of(&span);
        if depth > MAX_DEPTH {
            return Err(
                Diagnostic::error(span, "the file is nested too deeply").with_help(format!(
                    "a desired-state file needs far fewer than {MAX_DEPTH} levels"
                )),
            );
        }
        let (node, anchor) = match event {
            Event::Alias(id) => {
                let Some(target) = self.anchors.get(&id) else {
                    return Err(Diagnostic::error(span, "alias to an unknown anchor")
                        .with_help("define the anchor (`&name`) before using it (`*name`)"));
                };
                self.alias_nodes += count_nodes(target);
                if self.alias_nodes > MAX_ALIAS_NODES {
                    return Err(Diagnostic::error(span, "aliases expand to too many nodes")
                        .with_help(format!(
                            "aliases may expand to at most {MAX_ALIAS_NODES} nodes in all"
                        )));
                }
                (target.clone(), 0)
            }
            Event::Scalar(text, style, anchor, tag) => {
                let tag = merge_tag(tag.as_deref());
                let plain = style == ScalarStyle::Plain;
                let value = if plain && matches!(text.as_ref(), "" | "~" | "null" | "Null" | "NULL")
                {
                    Value::Null
                } else {
                    Value::Scalar {
                        text: text.into_owned(),
                        plain,
                    }
                };
                (Node { value, span, tag }, anchor)
            }
            Event::SequenceStart(anchor, tag) => {
                let tag = merge_tag(tag.as_deref());
                let mut items = Vec::new();
                let end = loop {
                    let (event, espan) = Self::next(parser, self.source, span)?;
                    if let Event::SequenceEnd = event {
                        break span_of(&espan);
                    }
                    items.push(self.node(parser, event, espan, depth + 1)?);
                };
                let span = Span {
                    end_line: end.line,
                    end_col: end.col,
                    ..span
                };
                let span = items.first().map_or(span, |first| Span {
                    line: span.line.min(first.span.line),
                    ..span
                });
                (
                    Node {
                        value: Value::Seq(items),
                        span,
                        tag,
                    },
                    anchor,
                )
            }
            Event::MappingStart(anchor, tag) => {
                let tag = merge_tag(tag.as_deref());
                let mut entries: Vec<(Node, Node)> = Vec::new();
                let mut merges: Vec<Node> = Vec::new();
                loop {
                    let (event, kspan) = Self::next(parser, self.source, span)?;
                    if let Event::MappingEnd = event {
                        break;
                    }
                    let key = self.node(parser, event, kspan, depth + 1)?;
                    let (event, vspan) = Self::next(parser, self.source, span)?;
                    let value = self.node(parser, event, vspan, depth + 1)?;
                    if key.as_str() == Some("<<") {
                        merges.push(value);
                        continue;
                    }
                    if let Value::Seq(_) | Value::Map(_) = key.value {
                        self.errors.push(
                            Diagnostic::error(
                                key.span,
                                "a key must be a plain name, not a list or mapping",
                            )
                            .with_help("write the key as a single word"),
                        );
                        continue;
                    }
                    let name = key.as_str().unwrap_or("");
                    if let Some((first, _)) = entries
                        .iter()
                        .find(|(k, _)| k.as_str().unwrap_or("") == name && k.value == key.value)
                    {
                        self.errors.push(
                            Diagnostic::error(key.span, format!("duplicate key `{name}`"))
                                .with_label("defined again here")
                                .with_related(first.span, "first defined here")
                                .with_help("remove one of them, or merge their contents"),
                        );
                        continue;
                    }
                    entries.push((key, value));
                }
                for merge in merges {
                    self.merge_into(&mut entries, merge);
                }
                (
                    Node {
                        value: Value::Map(entries),
                        span,
                        tag,
                    },
                    anchor,
                )
            }
            Event::SequenceEnd | Event::MappingEnd => {
                return Err(Diagnostic::error(
                    span,
                    "YAML syntax error: unexpected end of a collection",
                ));
            }
            Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart(_)
            | Event::DocumentEnd
            | Event::Nothing => {
                return Err(Diagnostic::error(
                    span,
                    "YAML syntax error: unexpected end of the document",
                ));
            }
        };
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        Ok(node)
    }

    /// `<<: *base` or `<<: [*a, *b]`: keys written in the mapping itself win, then earlier
    /// merged mappings win over later ones, as in YAML 1.1.
    fn merge_into(&mut self, entries: &mut Vec<(Node, Node)>, merge: Node) {
        let sources = match merge.value {
            Value::Map(_) => vec![merge],
            Value::Seq(items) => items,
            _ => {
                self.errors.push(
                    Diagnostic::error(
                        merge.span,
                        "a merge key `<<` needs a mapping or a list of mappings",
                    )
                    .with_help("write `<<: *anchor` where `&anchor` names a mapping"),
                );
                return;
            }
        };
        for source in sources {
            let Value::Map(extra) = source.value else {
                self.errors.push(
                    Diagnostic::error(source.span, "a merge key `<<` needs mappings")
                        .with_help("write `<<: *anchor` where `&anchor` names a mapping"),
                );
                continue;
            };
            for (k, v) in extra {
                if !entries.iter().any(|(e, _)| e.value == k.value) {
                    entries.push((k, v));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(src: &str) -> Vec<Diagnostic> {
        parse(src).expect_err("expected an error")
    }

    #[test]
    fn keeps_positions() {
        let root = parse("a:\n  b: hello\n").unwrap().unwrap();
        let b = root.get("a").unwrap().get("b").unwrap();
        assert_eq!(b.as_str(), Some("hello"));
        assert_eq!((b.span.line, b.span.col), (2, 6));
    }

    #[test]
    fn null_forms() {
        let root = parse("a:\nb: ~\nc: null\nd: 'null'\n").unwrap().unwrap();
        for k in ["a", "b", "c"] {
            assert_eq!(root.get(k).unwrap().value, Value::Null, "{k}");
        }
        assert_eq!(root.get("d").unwrap().as_str(), Some("null"));
    }

    #[test]
    fn duplicate_keys_point_at_both() {
        let e = errors("a: 1\nb: 2\na: 3\n");
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].span.unwrap().line, 3);
        assert_eq!(e[0].related.as_ref().unwrap().0.line, 1);
    }

    #[test]
    fn tabs_in_indentation() {
        let e = errors("a:\n\tb: 1\n");
        assert_eq!(e[0].span.unwrap(), Span::at(2, 1, 1));
        assert!(e[0].message.contains("tab"));
    }

    #[test]
    fn unclosed_quote_points_at_the_quote() {
        let e = errors("a:\n  b: \"hello\n  c: 1\n");
        assert_eq!(e[0].message, "unclosed quote");
        assert_eq!((e[0].span.unwrap().line, e[0].span.unwrap().col), (2, 6));
    }

    #[test]
    fn merge_keys_and_aliases() {
        let root = parse("base: &b {x: 1, y: 2}\nthing:\n  <<: *b\n  y: 3\n")
            .unwrap()
            .unwrap();
        let thing = root.get("thing").unwrap();
        assert_eq!(thing.get("x").unwrap().as_str(), Some("1"));
        assert_eq!(thing.get("y").unwrap().as_str(), Some("3"));
    }

    #[test]
    fn alias_bomb_is_refused() {
        let mut src = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let prev = i - 1;
            src.push_str(&format!(
                "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
            ));
        }
        let e = errors(&src);
        assert!(e[0].message.contains("too many"), "{:?}", e);
    }

    #[test]
    fn second_document_is_refused() {
        let e = errors("a: 1\n---\nb: 2\n");
        assert!(e[0].message.contains("second YAML document"));
    }

    #[test]
    fn a_closing_bracket_at_the_keys_indentation_is_accepted_as_compose_does() {
        let root = parse("a:\n  test: [\n      \"x\",\n      \"y\",\n  ]\n  b: 1\n")
            .unwrap()
            .unwrap();
        let a = root.get("a").unwrap();
        assert!(matches!(&a.get("test").unwrap().value, Value::Seq(items) if items.len() == 2));
        assert_eq!(a.get("b").unwrap().as_str(), Some("1"));
        // Duplicate keys stay an error.
        assert!(parse("a:\n  t: [\n    x,\n  ]\n  t: 1\n").is_err());
    }

    #[test]
    fn reset_and_override_tags_are_kept() {
        let root = parse("a: !reset []\nb: !override {x: 1}\nc: !custom 1\n")
            .unwrap()
            .unwrap();
        assert_eq!(root.get("a").unwrap().tag, Some(MergeTag::Reset));
        assert_eq!(root.get("b").unwrap().tag, Some(MergeTag::Override));
        assert_eq!(root.get("c").unwrap().tag, None);
    }

    #[test]
    fn empty_file() {
        assert_eq!(parse("").unwrap(), None);
        assert_eq!(parse("# only a comment\n").unwrap(), None);
    }
}
