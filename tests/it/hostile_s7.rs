//! The hostile tester's list of session 7, each through the real binary: the small
//! mends left open by session 6 and what the sweep found.

use super::support::{self, scratch};

#[test]
fn an_over_long_leika_line_without_a_quote_is_not_blamed_on_a_quote() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    let file = dir.path().join("leika.csv");
    let mut text = String::from("Schluessel;Bezeichnung\n99001001002000;Abfall\n99001001003000;");
    text.push_str(&"x".repeat(3 << 20));
    text.push('\n');
    std::fs::write(&file, text).unwrap();
    let run = support::run_db(&db, &["import", "leika", file.to_str().unwrap()]);
    assert!(!run.ok(), "{run:#?}");
    assert!(run.stderr.contains("line 3"), "{run:#?}");
    assert!(run.stderr.contains("one over-long line"), "{run:#?}");
    assert!(!run.stderr.contains("never closed"), "{run:#?}");
}
