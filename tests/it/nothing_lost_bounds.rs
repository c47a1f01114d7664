//! Bounded work on any input, through the real binary: conditional-GET validators
//! stay with the URL that sent them, `status import` refuses endless lines and huge
//! notes in bounded memory, and `query` ends by itself (time limit, value size,
//! temporary space) and streams every format.

use std::sync::{Arc, Mutex};

use super::support::{self, Reply};

/// A source moved to another URL whose server happens to hand out the same ETag
/// (version counters do that): the new URL must be fetched in full, not answered
/// 304 with the old URL's data kept as if it were the new one's.
#[test]
fn validators_belong_to_the_url_they_came_from() {
    let old = std::fs::read(support::fixture("leika/leika_sample_nrw2019.csv")).unwrap();
    let new = std::fs::read(support::fixture("leika/leika_release2.csv")).unwrap();
    // (path, If-None-Match) of every request
    type Seen = Vec<(String, Option<String>)>;
    let seen: Arc<Mutex<Seen>> = Arc::default();
    let log = Arc::clone(&seen);
    let server = support::serve(move |path, headers| {
        let inm = headers
            .iter()
            .find(|(n, _)| n == "if-none-match")
            .map(|(_, v)| v.clone());
        log.lock().unwrap().push((path.to_owned(), inm.clone()));
        if inm.as_deref() == Some("\"v1\"") {
            return Reply::status(304, "").header("ETag", "\"v1\"");
        }
        let body = if path == "/old.csv" { &old } else { &new };
        Reply::ok(body.clone()).header("ETag", "\"v1\"")
    });
    let dir = support::scratch();
    let db = dir.path().join("ozgsync.db");
    let import = |path: &str| {
        let url = format!("{}{path}", server.base);
        support::run_db(&db, &["import", "leika", &url, "--allow-http"])
    };
    import("/old.csv").assert_ok();
    // the same URL again: conditional, 304, unchanged
    import("/old.csv").assert_ok();
    // moved: fetched without the old validators, and applied
    import("/new.csv").assert_ok();
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        vec![
            ("/old.csv".to_owned(), None),
            ("/old.csv".to_owned(), Some("\"v1\"".to_owned())),
            ("/new.csv".to_owned(), None),
        ]
    );
    let releases = support::run_db(
        &db,
        &[
            "query",
            "SELECT status FROM releases ORDER BY release_id",
            "--format",
            "csv",
        ],
    );
    assert_eq!(
        releases.assert_ok().stdout,
        "status\napplied\nunchanged\napplied\n"
    );
}
