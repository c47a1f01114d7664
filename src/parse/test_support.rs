//! Helpers the parsers' unit tests share (compiled only for tests): a fixture's
//! bytes, the service record a LeiKa-keyed parser is expected to yield, the
//! rejects of a payload as `position key`, and a workbook with its worksheet's XML
//! edited (as a damaged or crafted file would have it).

use super::{Item, ParseError, Severity};
use crate::model::{leistungstyp_of, ServiceRecord};

/// The bytes of `fixtures/<area>/<name>`; panics naming the file when it is missing.
pub fn fixture(area: &str, name: &str) -> Vec<u8> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(area)
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A service record with the fields every LeiKa-keyed source fills (key, name,
/// Leistungstyp from the key, Typisierung); the rest default.
pub fn service(key: &str, bezeichnung: &str, typisierung: &[&str]) -> ServiceRecord {
    ServiceRecord {
        leistungsschluessel: key.into(),
        bezeichnung: bezeichnung.into(),
        leistungstyp: leistungstyp_of(key).into(),
        typisierung: typisierung.iter().map(|s| s.to_string()).collect(),
        ..ServiceRecord::default()
    }
}

/// The rejects (not warnings) of `items` as `position key`, with ` kept` when the
/// key is valid and the store keeps it: what each parser's tests check about the
/// key rule. A parse error ends the list with `error`.
pub fn reject_keys<T>(items: impl Iterator<Item = Result<Item<T>, ParseError>>) -> Vec<String> {
    let mut out = Vec::new();
    for item in items {
        match item {
            Ok(Item::Reject(r)) if r.severity == Severity::Reject => out.push(format!(
                "{} {}{}",
                r.position,
                r.key.as_deref().unwrap_or("-"),
                if r.key_valid { " kept" } else { "" }
            )),
            Ok(_) => {}
            Err(e) => out.push(format!("error {e}")),
        }
    }
    out
}

/// `book` with the first worksheet's XML passed through `edit`.
pub fn edited(book: &[u8], edit: impl Fn(String) -> String) -> Vec<u8> {
    use std::io::{Read, Write};
    let mut zin = zip::ZipArchive::new(std::io::Cursor::new(book)).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    let mut zout = zip::ZipWriter::new(&mut out);
    for i in 0..zin.len() {
        let mut part = zin.by_index(i).unwrap();
        let name = part.name().to_owned();
        let mut bytes = Vec::new();
        part.read_to_end(&mut bytes).unwrap();
        if name == "xl/worksheets/sheet1.xml" {
            bytes = edit(String::from_utf8(bytes).unwrap()).into_bytes();
        }
        zout.start_file(name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zout.write_all(&bytes).unwrap();
    }
    zout.finish().unwrap();
    out.into_inner()
}
