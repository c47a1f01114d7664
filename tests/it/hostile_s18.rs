//! The hostile tester's list of session 18 (the sixteenth round), each through the
//! real binary: what the fifteenth round left (foreign writes to the tables the
//! exports read: a current status out of step with its packed `cell`), then the
//! sweep.

use std::path::Path;

use super::support::{self, fixture, run_db, scratch};

/// The status the Gemeinde `ars`'s dashboard file shows for `key` (None: none).
fn dashboard_status(dir: &Path, ars: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(format!("gemeinden/{ars}.json"))).unwrap();
    let json: serde_json::Value = serde_json::from_str(&text).unwrap();
    json["services"][key]["status"].as_str().map(str::to_owned)
}

/// One municipal LeiKa cell with a current status: (subject_id, scope_id, key,
/// ars, status).
fn a_municipal_cell(db: &Path) -> (i64, i64, String, String, String) {
    let conn = rusqlite::Connection::open(db).unwrap();
    conn.query_row(
        "SELECT c.subject_id, c.scope_id, s.subject, p.scope, k.status
           FROM status_current_rows c
           JOIN status_subjects s USING (subject_id)
           JOIN status_scopes p USING (scope_id)
           JOIN status_codes k ON k.code = c.status
          WHERE c.scope_id > 0 AND s.subject_kind = 'leika'
          ORDER BY c.subject_id, c.scope_id LIMIT 1",
        [],
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
    )
    .unwrap()
}

/// `status_current_rows.cell` packs a current cell's date, status and previous
/// event (schema 0019), and the dashboards and the XLSX report read only it. A
/// write by another program (Datasette, `sqlite3` by hand) that changed the row's
/// status, date or previous event without it, or left it NULL, was taken: the
/// dashboards then showed the old status while `v_status_current` showed the new
/// one, and nothing said so (the fifteenth round's item left). Schema 0020 refuses
/// each such write, naming the rule and the way that keeps every derived table
/// (an INSERT into the view `status_events`); that way still works, and the
/// dashboards show what `v_status_current` shows.
#[test]
fn a_status_written_beside_its_packed_cell_is_refused() {
    let dir = scratch();
    let db = support::quick_start(dir.path());
    let (subject_id, scope_id, key, ars, status) = a_municipal_cell(&db);
    let other = if status == "produktiv" {
        "pilot"
    } else {
        "produktiv"
    };
    let cell = format!("subject_id = {subject_id} AND scope_id = {scope_id}");
    let code = format!("(SELECT code FROM status_codes WHERE status = '{other}')");
    let foreign_writes = [
        format!("UPDATE status_current_rows SET status = {code} WHERE {cell}"),
        format!("UPDATE status_current_rows SET effective_on = effective_on - 1 WHERE {cell}"),
        format!("UPDATE status_current_rows SET prev_event = 202501013 WHERE {cell}"),
        format!("UPDATE status_current_rows SET cell = NULL WHERE {cell}"),
        format!("UPDATE status_current_rows SET cell = cell + 1 WHERE {cell}"),
        // A new row as a tool adds one, every column but `cell`.
        format!(
            "INSERT INTO status_current_rows (subject_id, scope_id, status, effective_on, event_id)
             SELECT subject_id, (SELECT max(scope_id) FROM status_scopes), status, effective_on, event_id
               FROM status_current_rows WHERE {cell}"
        ),
    ];
    let conn = rusqlite::Connection::open(&db).unwrap();
    for sql in &foreign_writes {
        let refused = conn.execute_batch(sql).map_err(|e| e.to_string());
        let err = refused.expect_err(&format!("taken: {sql}"));
        assert!(
            err.contains(
                "CHECK constraint failed: cell must be ((effective_on * 16 + status) << 31)"
            ) && err.contains("INSERT into the view status_events"),
            "{sql}: {err}"
        );
    }
    let out = dir.path().join("dash");
    let out_s = out.to_str().unwrap();
    run_db(&db, &["export", "dashboards", "--out", out_s]).assert_ok();
    assert_eq!(
        dashboard_status(&out, &ars, &key).as_deref(),
        Some(&*status)
    );

    // The way that keeps `cell`: an event through the view.
    conn.execute_batch(&format!(
        "INSERT INTO status_batches (origin, recorded_at, recorded_by, last_event_id)
         SELECT 'sqlite3', '2026-12-02T12:00:00Z', 'hand', max(last_event_id) + 1 FROM status_batches;
         INSERT INTO status_events (subject_kind, subject, scope_kind, scope, effective_on, event_id, status, note, batch_id)
         SELECT 'leika', '{key}', 'ars', '{ars}', '2026-12-01', last_event_id, '{other}', NULL, batch_id
           FROM status_batches ORDER BY batch_id DESC LIMIT 1;"
    ))
    .unwrap();
    let shown: String = conn
        .query_row(
            "SELECT status FROM v_status_current WHERE subject = ?1 AND scope = ?2",
            [&key, &ars],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(shown, other);
    run_db(&db, &["export", "dashboards", "--out", out_s]).assert_ok();
    assert_eq!(dashboard_status(&out, &ars, &key).as_deref(), Some(other));
}

/// A schema 19 database (`fixtures/migration/schema19.db`) whose current status
/// another program had already changed without `cell`: migration 0020 writes
/// `cell` from the row's columns, so the dashboards show the status
/// `v_status_current` showed before the migration, and the database passes the
/// check from then on.
#[test]
fn a_cell_out_of_step_before_migration_0020_is_mended_by_it() {
    let dir = scratch();
    let db = dir.path().join("ozgsync.db");
    std::fs::copy(fixture("migration/schema19.db"), &db).unwrap();
    let (subject_id, scope_id, key, ars, status) = a_municipal_cell(&db);
    let other = if status == "produktiv" {
        "pilot"
    } else {
        "produktiv"
    };
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(&format!(
            "UPDATE status_current_rows
                SET status = (SELECT code FROM status_codes WHERE status = '{other}')
              WHERE subject_id = {subject_id} AND scope_id = {scope_id}"
        ))
        .unwrap();
    // A writing command migrates (an unchanged release of the OZG-Leistungen).
    run_db(
        &db,
        &[
            "import",
            "ozg",
            fixture("ozg/ozg_leistungen_nrw2019.csv").to_str().unwrap(),
        ],
    )
    .assert_ok();
    assert_eq!(
        support::rows(
            &db,
            "SELECT count(*) FROM status_current_rows
              WHERE cell IS NOT (((effective_on * 16 + status) << 31) | coalesce(prev_event, 0))"
        ),
        ["0"]
    );
    let out = dir.path().join("dash");
    run_db(
        &db,
        &["export", "dashboards", "--out", out.to_str().unwrap()],
    )
    .assert_ok();
    assert_eq!(dashboard_status(&out, &ars, &key).as_deref(), Some(other));
}

/// A stored record that another program changed (`record_versions.data` that is
/// not JSON, or a text field set to a number) failed `export report`/`dashboards`,
/// `query … v_services`, `search` and `status show` with SQLite's "malformed JSON"
/// or rusqlite's "Invalid column type Integer at index: 1, name: name", naming
/// neither the table nor the record (the fifteenth round's item left). On such an
/// error, and only then, the records are looked for and named: entity, key,
/// version, release, the field and what is wrong with it, and what to do (a new
/// import does not rewrite a record its source left unchanged).
#[test]
fn a_stored_record_changed_by_another_program_is_named() {
    let dir = scratch();
    let quick = support::quick_start(dir.path());
    let out = dir.path().join("out-s18");
    let out = out.to_str().unwrap();
    let xlsx = format!("{out}.xlsx");
    // (how the record is changed, what is said of it, commands that meet it)
    let cases: &[(&str, &str, &[&[&str]])] = &[
        (
            "UPDATE record_versions SET data = '{\"leistungsschluessel\":\"99001035000000\", broken'
              WHERE entity = 'service' AND key = '99001035000000'",
            "service 99001035000000 (version_id ",
            &[
                &["export", "report", "--format", "xlsx", "--out", &xlsx],
                &["export", "dashboards", "--out", out],
                &["query", "SELECT * FROM v_services"],
                &["search", "Abfall"],
            ],
        ),
        (
            "UPDATE record_versions SET data = json_set(data, '$.bezeichnung', 5)
              WHERE entity = 'service' AND key = '99001035000000'",
            "service 99001035000000 (version_id ",
            &[&["search", "Abfall"]],
        ),
        (
            "UPDATE record_versions SET data = json_set(data, '$.name', 5)
              WHERE entity = 'municipality' AND key = 'gemeinde:031510025025'",
            "municipality gemeinde:031510025025 (version_id ",
            &[
                &["export", "report", "--format", "xlsx", "--out", &xlsx],
                &["export", "dashboards", "--out", out],
                &["status", "show", "99001035000000"],
            ],
        ),
    ];
    let what = [
        "`data` is not JSON (",
        "field `bezeichnung`: invalid type: integer `5`, expected a string",
        "field `name`: invalid type: integer `5`, expected a string",
    ];
    for ((change, named, commands), what) in cases.iter().zip(what) {
        let db = dir.path().join("changed.db");
        std::fs::copy(&quick, &db).unwrap();
        rusqlite::Connection::open(&db)
            .unwrap()
            .execute_batch(change)
            .unwrap();
        for args in *commands {
            let run = run_db(&db, args);
            assert_eq!(run.code, Some(1), "{args:?}: {run:#?}");
            for said in [
                "holds 1 stored record that ozgsync did not write so: ",
                named,
                ", current): ",
                what,
                "Another program changed it",
                "Restore a backup taken before the change",
            ] {
                assert!(
                    run.stderr.contains(said),
                    "{args:?} does not say {said:?}: {}",
                    run.stderr
                );
            }
            // One line, and the reader's own error still at its end.
            assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        }
    }
    // The quick start's own records are all as ozgsync wrote them: an error of the
    // user's own SQL is left as SQLite said it.
    let run = run_db(&quick, &["query", "SELECT json('{')"]);
    assert_eq!(run.code, Some(1));
    assert!(run.stderr.contains("malformed JSON"), "{}", run.stderr);
    assert!(!run.stderr.contains("did not write"), "{}", run.stderr);
}

/// What `store::damage` calls a changed record is never one ozgsync wrote: none in
/// the quick start's database, nor in the databases earlier releases made
/// (`fixtures/migration/`), whose records every reader still reads.
#[test]
fn no_record_ozgsync_wrote_is_called_damaged() {
    let dir = scratch();
    let mut dbs = vec![support::quick_start(dir.path())];
    for old in [
        "schema12.db",
        "schema15.db",
        "schema17.db",
        "schema18.db",
        "schema19.db",
    ] {
        dbs.push(fixture(&format!("migration/{old}")));
    }
    for db in dbs {
        let conn =
            rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .unwrap();
        let (found, total) = ozgsync::store::damage::damaged_versions(&conn, 5).unwrap();
        assert_eq!((total, found), (0, vec![]), "{}", db.display());
    }
}

/// `backup` onto a disk without room for the copy: SQLite's "database or disk is
/// full: Insertion failed because database is full" named neither the room needed
/// nor that nothing was left, and a file-size limit (`ulimit -f`, as a quota or a
/// small file system cuts a file) gave "disk I/O error: Error writing to disk", a
/// failing disk to any reader. Both now say what the backup needs, what stopped
/// it, and that nothing was left; nothing is. (The full file system by hand: a
/// 1 MiB tmpfs, "its file system has 0 MB free in …".)
#[test]
fn a_backup_without_room_says_what_it_needs_and_leaves_nothing() {
    let dir = scratch();
    let db = support::quick_start(dir.path());
    let target = dir.path().join("backups/b.db");
    std::fs::create_dir(dir.path().join("backups")).unwrap();
    // SIGXFSZ ignored (as a shell or a service may leave it), so the write past the
    // limit fails instead of killing the process; 1000 blocks of 1 KiB, less than
    // the quick start's database.
    let run = support::collect(
        std::process::Command::new("sh")
            .arg("-c")
            .arg("trap '' XFSZ; ulimit -f 1000; exec \"$0\" --db \"$1\" backup \"$2\"")
            .arg(support::binary())
            .arg(&db)
            .arg(&target)
            .env_remove("RUST_LOG")
            .env("XDG_CONFIG_HOME", "/nonexistent/ozgsync-tests/xdg-config"),
    );
    assert_eq!(run.code, Some(1), "{run:#?}");
    for said in [
        "The backup of ",
        " MB, and ",
        "so a file-size limit (`ulimit -f`), a quota or a failing disk stopped the write",
        "nothing was left behind",
    ] {
        assert!(
            run.stderr.contains(said),
            "does not say {said:?}: {}",
            run.stderr
        );
    }
    assert_eq!(
        support::files_starting_with(&dir.path().join("backups"), ""),
        Vec::<String>::new()
    );
}

/// `service KEY` of a record whose stored `data` another program made into text
/// that is not JSON printed the key and its history and no field at all, exit 0,
/// as if the record had none. It now shows the stored text as it is and says what
/// it is.
#[test]
fn service_shows_stored_data_that_is_not_json_and_says_so() {
    let dir = scratch();
    let db = support::quick_start(dir.path());
    rusqlite::Connection::open(&db)
        .unwrap()
        .execute_batch(
            "UPDATE record_versions SET data = '{\"leistungsschluessel\": broken'
              WHERE entity = 'service' AND key = '99001035000000'",
        )
        .unwrap();
    let run = run_db(&db, &["service", "99001035000000"]);
    run.assert_ok();
    assert!(
        run.stdout.contains(
            "stored data (not the JSON object ozgsync writes: another program changed it; \
             restore a backup): {\"leistungsschluessel\": broken"
        ),
        "{}",
        run.stdout
    );
}
