//! Property tests: no input makes the parser or the validator panic, and every error
//! they report can be rendered with a position.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;
use std::path::Path;

use holdfast_spec::{LoadOptions, load_str};
use proptest::prelude::*;

const SEED: &str = include_str!("good/compose_forms.yaml");
const ROUTES_SEED: &str = include_str!("good/routes.yaml");

fn check(src: &str) {
    let opts = LoadOptions {
        variables: Some(HashMap::new()),
        check_files: false,
        ..holdfast_spec::LoadOptions::default()
    };
    if let Err(report) = load_str(Path::new("fuzz.yaml"), src, &opts) {
        assert!(report.has_errors());
        let text = report.render();
        assert!(text.contains("fuzz.yaml"));
    }
}

/// Fragments that exercise YAML's corners: indentation, flow collections, anchors,
/// quotes, tabs, document markers and the fields of a service.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("\n".to_string()),
        Just("  ".to_string()),
        Just("\t".to_string()),
        Just(": ".to_string()),
        Just("- ".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just("{".to_string()),
        Just("}".to_string()),
        Just(", ".to_string()),
        Just("\"".to_string()),
        Just("'".to_string()),
        Just("&a ".to_string()),
        Just("*a".to_string()),
        Just("<<: ".to_string()),
        Just("---\n".to_string()),
        Just("|\n".to_string()),
        Just("${X:-".to_string()),
        Just("services".to_string()),
        Just("web".to_string()),
        Just("image".to_string()),
        Just("ports".to_string()),
        Just("depends_on".to_string()),
        Just("volumes".to_string()),
        Just("networks".to_string()),
        Just("healthcheck".to_string()),
        Just("8080:80".to_string()),
        Just("1m30s".to_string()),
        Just("routes".to_string()),
        Just("proxy".to_string()),
        Just("hosts".to_string()),
        Just("paths".to_string()),
        Just("tls".to_string()),
        Just("*.".to_string()),
        Just("/".to_string()),
        Just("~".to_string()),
        "[a-z0-9_./:-]{0,8}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_never_panics(src in "\\PC{0,300}") {
        check(&src);
    }

    #[test]
    fn yaml_like_fragments_never_panic(parts in prop::collection::vec(fragment(), 0..60)) {
        check(&parts.concat());
    }

    #[test]
    fn mutated_valid_file_never_panics(edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, fragment()), 1..6)) {
        check(&mutate(SEED, edits));
    }

    #[test]
    fn mutated_routes_file_never_panics(edits in prop::collection::vec((any::<prop::sample::Index>(), 0usize..4, fragment()), 1..6)) {
        check(&mutate(ROUTES_SEED, edits));
    }
}

/// `seed` with each edit applied: at an index, delete up to a few characters and insert
/// a fragment.
fn mutate(seed: &str, edits: Vec<(prop::sample::Index, usize, String)>) -> String {
    let mut src: Vec<char> = seed.chars().collect();
    for (at, delete, insert) in edits {
        let i = at.index(src.len() + 1);
        let end = (i + delete).min(src.len());
        src.splice(i..end, insert.chars());
    }
    src.into_iter().collect()
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = format!("a: {}{}", "[".repeat(10_000), "]".repeat(10_000));
    check(&deep);
    let deep_block: String = (0..500)
        .map(|i| format!("{}k{i}:\n", " ".repeat(i)))
        .collect();
    check(&deep_block);
}
