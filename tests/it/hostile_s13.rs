//! The hostile tester's list of session 13, each through the real binary: the
//! items the tenth round left (a file of which no row is usable, control
//! characters in the workbooks), then angles no earlier round tried.

use super::support::{self, scratch};

const LEIKA_HEADER: &str = "\"Schluessel\",\"Leistungsgruppierung\",\"Leistungskennung\",\"Verrichtung\",\"Verrichtungsdetail\",\"Bezeichnung\",\"Bezeichnung2\",\"Typ\",\"Veröffentlichungsdatum\",\"Besondere Merkmale\",\"Synonyme\"";

fn leika_row(key: &str, name: &str, typ: &str) -> String {
    format!(
        "\"{key}\",\"\",\"\",\"\",\"\",\"{name}\",\"\",\"{typ}\",\"05.10.2019 14:38\",\"\",\"\""
    )
}

fn leika_file(path: &std::path::Path, rows: &[String]) {
    let mut all = vec![LEIKA_HEADER.to_owned()];
    all.extend(rows.iter().cloned());
    std::fs::write(path, format!("{}\r\n", all.join("\r\n"))).unwrap();
}

/// A LeiKa (or EfA) file of which every row is rejected was applied into an empty
/// database as release 1 with nothing in it and its rejects, exit 0: a file that
/// holds nothing usable (another kind of file, shifted columns) recorded as the
/// catalogue's first edition. Over an existing catalogue the same file was already
/// refused ("holds no valid record"). Now it is refused into an empty one too,
/// naming the first bad row; `--mode incremental` still records it with its rejects.
#[test]
fn a_file_whose_every_row_is_rejected_is_no_first_edition() {
    let dir = scratch();
    let db = dir.path().join("t.db");
    let leika = dir.path().join("leika.csv");
    leika_file(
        &leika,
        &[
            leika_row("123", "kurz", "4"),
            leika_row("abc", "Buchstaben", "4"),
        ],
    );
    let run = support::run_db(&db, &["import", "leika", leika.to_str().unwrap()]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("none of its 2 row(s) is a valid record")
            && run.stderr.contains("line 2")
            && run.stderr.contains("'123'")
            && run.stderr.contains("nothing was applied"),
        "{run:#?}"
    );
    assert_eq!(support::rows(&db, "SELECT count(*) FROM releases"), ["0"]);
    assert_eq!(support::rows(&db, "SELECT count(*) FROM rejects"), ["0"]);

    // Asked for, the rows are recorded with their rejects.
    let run = support::run_db(
        &db,
        &[
            "import",
            "leika",
            "--mode",
            "incremental",
            leika.to_str().unwrap(),
        ],
    );
    run.assert_ok();
    assert!(run.stdout.contains("2 rejected"), "{run:#?}");

    // EfA goes through the same release: refused the same way.
    let efa = dir.path().join("efa.csv");
    std::fs::write(
        &efa,
        "efa_id;name;ozg_ids;leistungsschluessel;themenfeld;federfuehrendes_land;betreiber;marktplatz_status;reifegrad_modell;reifegrad_stufe;kostenmodell;fit_connect;url;stand\n\
         EFA-0001;x;10056;123;bildung;ST;D;verfuegbar;1.1;3;kostenfrei;ja;https://x.example/;2026-01-15\n",
    )
    .unwrap();
    let run = support::run_db(&db, &["import", "efa", efa.to_str().unwrap()]);
    run.assert_code(1);
    assert!(
        run.stderr.contains("none of its 1 row(s) is a valid record"),
        "{run:#?}"
    );
    assert_eq!(
        support::rows(&db, "SELECT count(*) FROM releases WHERE source = 'efa'"),
        ["0"]
    );
}
