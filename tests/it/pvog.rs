//! Observed availability: the `pvog` source pulled page by page from a local server on
//! 127.0.0.1, stored as versioned `availability` records (changes only, retired by
//! absence), `v_availability` first/last seen, reconciliation against reported
//! status, and broken payloads that leave nothing behind.

use ozgsync::fetch::{FetchPolicy, Location};
use ozgsync::store;
use ozgsync::sync::{run_source, SourceKind, SourceSpec};

use super::support::{self, fixture, rows, run_db, setup, Reply, Server};

/// Serves `pages[page]` for `GET .../v1/data/<ars>?...&page=N` (`support::serve`),
/// 404 for any other page.
fn serve(pages: Vec<Vec<u8>>) -> Server {
    support::serve(move |target, _| {
        let page: usize = url::Url::parse(&format!("http://x{target}"))
            .ok()
            .and_then(|u| {
                u.query_pairs()
                    .find(|(k, _)| k == "page")
                    .map(|(_, v)| v.parse().unwrap_or(99))
            })
            .unwrap_or(99);
        match pages.get(page) {
            Some(b) => Reply::ok(b.clone()),
            None => Reply::status(404, "{}"),
        }
        .header("content-type", "application/json")
    })
}

fn policy() -> FetchPolicy {
    FetchPolicy {
        allow_http: true,
        max_retries: 0,
        ..FetchPolicy::default()
    }
}

#[test]
fn pulls_all_pages_and_keeps_changes_only() {
    let (_dir, db) = setup();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let pages = (0..3)
        .map(|i| std::fs::read(fixture(&format!("pvog/page{i}.json"))).unwrap())
        .collect();
    let server = serve(pages);
    let base = format!("{}/api/", server.base);
    let mut conn = store::open(&db).unwrap();
    let spec = SourceSpec::new(
        "pvog-ni",
        SourceKind::Pvog,
        Location::parse(&base, None).unwrap(),
        None,
    );
    let summary = run_source(&mut conn, &spec, &policy(), rt.handle()).unwrap();
    assert_eq!((summary.counts.added, summary.counts.rejected), (4, 1));
    assert_eq!(
        server.targets(),
        (0..3)
            .map(|i| format!("/api/v1/data/030000000000?size=100&includeBelow=true&page={i}"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        rows(&db, "SELECT ars, leistungsschluessel, online_status, art_flaechendeckung, current FROM v_availability ORDER BY 1, 2"),
        [
            "030000000000 99102013000000 ok landesweit flächendeckend 1",
            "031010000000 99041006017000 ok in mind. einer Kommune verfügbar 1",
            "031515406001 99102013000000 nicht ok in mind. einer Kommune verfügbar 1",
            "032410001001 99041006017000 ok in mind. einer Kommune verfügbar 1",
        ]
    );

    // Reconciliation against reported status.
    let set = |key: &str, ars: &str, status: &str| {
        let run = run_db(
            &db,
            &[
                "status",
                "set",
                key,
                "--ars",
                ars,
                "--status",
                status,
                "--on",
                "2024-01-01",
                "--by",
                "t",
            ],
        );
        assert!(run.ok(), "{}", run.stderr);
    };
    set("99041006017000", "032410001001", "pilot"); // observed ok, reported pilot
    set("99041006017000", "031515406001", "produktiv"); // not observed at all
    set("99102013000000", "031515406001", "produktiv"); // nicht ok there, but landesweit ok
    set("99041006017000", "031010000000", "produktiv"); // agrees
    assert_eq!(
        rows(&db, "SELECT kind, ars, leistungsschluessel, reported_status, observed_online_status, observed_url FROM v_reconciliation ORDER BY 1, 2"),
        [
            "beobachtet_nicht_produktiv 032410001001 99041006017000 pilot ok https://example.org/hannover/hundesteuer",
            "produktiv_nicht_beobachtet 031515406001 99041006017000 produktiv ∅ ∅",
        ]
    );

    // A later pull from a saved file: one change, one retirement, the rest unchanged.
    let later = SourceSpec::new(
        "pvog-ni",
        SourceKind::Pvog,
        Location::Path(fixture("pvog/pull_changed.json")),
        None,
    );
    let summary = run_source(&mut conn, &later, &policy(), rt.handle()).unwrap();
    let c = &summary.counts;
    assert_eq!(
        (c.added, c.changed, c.retired, c.unchanged, c.rejected),
        (0, 1, 1, 2, 0)
    );
    assert_eq!(
        rows(&db, "SELECT ars, url, current, first_seen < last_seen OR first_seen = last_seen FROM v_availability WHERE leistungsschluessel = '99041006017000' ORDER BY 1"),
        [
            "031010000000 https://example.org/braunschweig/hundesteuer-neu 1 1",
            "032410001001 https://example.org/hannover/hundesteuer 0 1",
        ]
    );
    let first_release: Vec<String> = rows(
        &db,
        "SELECT fetched_at FROM releases WHERE source = 'pvog-ni' ORDER BY release_id",
    );
    assert_eq!(
        rows(
            &db,
            "SELECT first_seen, last_seen FROM v_availability WHERE ars = '032410001001'"
        ),
        [format!("{} {}", first_release[0], first_release[0])],
        "a retired observation was last seen by the release before it disappeared"
    );
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM record_versions WHERE entity = 'availability'"
        ),
        ["5"],
        "history records changes only"
    );
}

#[test]
fn broken_payloads_leave_nothing() {
    let (_dir, db) = setup();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut conn = store::open(&db).unwrap();
    for name in ["error.html", "truncated.json"] {
        let spec = SourceSpec::new(
            "pvog-ni",
            SourceKind::Pvog,
            Location::Path(fixture(&format!("pvog/{name}"))),
            None,
        );
        let err = run_source(&mut conn, &spec, &policy(), rt.handle()).unwrap_err();
        assert!(
            err.to_string()
                .contains("not a Dashboard Digitale Verwaltung (PVOG) page array"),
            "{name}: {err}"
        );
    }
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM releases WHERE source = 'pvog-ni'"
        ),
        ["0"]
    );
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM record_versions WHERE entity = 'availability'"
        ),
        ["0"]
    );

    // A server answering HTML instead of a page fails the pull before anything is stored.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let server = serve(vec![b"<html>oops</html>".to_vec()]);
    let base = format!("{}/api/", server.base);
    let spec = SourceSpec::new(
        "pvog-ni",
        SourceKind::Pvog,
        Location::parse(&base, None).unwrap(),
        None,
    );
    let err = run_source(&mut conn, &spec, &policy(), rt.handle()).unwrap_err();
    assert!(
        err.to_string()
            .contains("not a Dashboard Digitale Verwaltung page"),
        "{err}"
    );
    assert_eq!(
        rows(
            &db,
            "SELECT count(*) FROM releases WHERE source = 'pvog-ni'"
        ),
        ["0"]
    );
}
