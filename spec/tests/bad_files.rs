//! Every file under `tests/bad/` is rejected, and the rendered errors are snapshot-tested.
//! Each error must name `FILE:LINE:COL` and show the offending line.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use holdfast_spec::{LoadOptions, load_str};

fn options() -> LoadOptions {
    LoadOptions {
        variables: Some(HashMap::new()),
        check_files: true,
        ..LoadOptions::default()
    }
}

#[test]
fn bad_files_are_rejected_with_located_errors() {
    let mut count = 0;
    insta::glob!("bad/*.yaml", |path| {
        count += 1;
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let shown = std::path::Path::new("tests/bad").join(&name);
        let source = std::fs::read_to_string(path).unwrap();
        let report =
            load_str(&shown, &source, &options()).expect_err(&format!("{name} should be rejected"));
        assert!(report.has_errors(), "{name}");
        for d in report.diagnostics.iter().filter(|d| d.is_error()) {
            let span = d
                .span
                .unwrap_or_else(|| panic!("{name}: error without a position: {}", d.message));
            let located = format!("{}:{}:{}", shown.display(), span.line, span.col);
            let rendered = report.render_one(d);
            assert!(rendered.contains(&located), "{name}: {rendered}");
            assert!(rendered.contains(" | "), "{name}: no snippet in {rendered}");
        }
        insta::assert_snapshot!(report.render());
    });
    assert!(count >= 20, "only {count} bad files");
}
