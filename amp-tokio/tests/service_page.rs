//! docs/service.md shows the key-value service as the code that is compiled
//! and interop-tested (amp-tokio/examples/kv.rs, and its Twisted twin
//! interop/kv.py, run against each other by interop/run-kv.sh), and its
//! size goal holds: the Rust service in at most 1.5 times the lines of the
//! Twisted one, blank and comment lines left out.

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lines that are neither blank nor comments.
fn code_lines(text: &str, comment: &str) -> usize {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(comment))
        .count()
}

#[test]
fn the_page_shows_the_compiled_example_and_its_twin() {
    let page = read("docs/service.md");
    for (file, fence) in [
        ("amp-tokio/examples/kv.rs", "```rust,ignore\n"),
        ("interop/kv.py", "```python\n"),
    ] {
        let block = format!("{fence}{}```", read(file));
        assert!(
            page.contains(&block),
            "docs/service.md does not show {file} as it is"
        );
    }
}

#[test]
fn the_rust_service_is_at_most_one_and_a_half_times_the_twisted_one() {
    let rust = code_lines(&read("amp-tokio/examples/kv.rs"), "//");
    let python = code_lines(&read("interop/kv.py"), "#");
    assert!(
        python > 40,
        "the Twisted twin lost its body: {python} lines"
    );
    assert!(
        rust * 2 <= python * 3,
        "{rust} lines of Rust against {python} of Python"
    );
    let page = read("docs/service.md");
    let claim = format!("are {rust} lines, the Twisted twin {python}");
    assert!(page.contains(&claim), "docs/service.md should say: {claim}");
}

#[test]
fn comment_and_blank_lines_are_not_counted() {
    assert_eq!(code_lines("a\n\n  // c\n  b // d\n", "//"), 2);
    assert_eq!(code_lines("# c\nx = 1\n   \n", "#"), 1);
}
