//! The dashboard site published beside the dashboard JSON (`export dashboards
//! --site`): `index.html`, its script and style sheet (kept in `site/` of the
//! repository and embedded here, so the binary is all a deployment needs), the
//! OpenAPI description of the static paths, and `labels.json`, the German labels
//! of every code the JSON uses. The labels are generated from the Rust
//! vocabularies' `label` (status, Themenfeld, Textkennzeichen, Umsetzungsweg,
//! Vollzug, Kostenmodell and the EfA-Nachnutzung's Bewertung, Parametrisierung,
//! Kanal, Kosten Land and stage) — the same words the report prints — so the
//! report, the site and third-party dashboards cannot drift apart. Pure: the
//! files go into the same map as the JSON, and the publisher tracks them alike.

use std::collections::BTreeMap;

use serde::Serialize;

use super::json::DASHBOARD_FORMAT_VERSION;
use super::ExportError;
use crate::annotations::{Umsetzungsweg, Vollzug};
use crate::efa_nachnutzung::{Bewertung, Kanal, KostenLand, Parametrisierung, Stage};
use crate::model::vocab::Themenfeld;
use crate::model::Kostenmodell;
use crate::model::TEXTKENNZEICHEN_LABELS;
use crate::status::Status;

/// The static files of the site, by their path in DIR.
const STATIC: &[(&str, &str)] = &[
    ("index.html", include_str!("../../site/index.html")),
    ("site/app.js", include_str!("../../site/app.js")),
    ("site/site.css", include_str!("../../site/site.css")),
    ("openapi.json", include_str!("../../site/openapi.json")),
];

/// The label file's name in DIR.
pub const LABELS_FILE: &str = "labels.json";

/// `labels.json`: code → German label, per vocabulary.
#[derive(Debug, Serialize)]
struct LabelsJson {
    format: &'static str,
    format_version: u32,
    status: BTreeMap<&'static str, String>,
    /// The phases the counts group statuses into (`CountsJson`).
    phase: BTreeMap<&'static str, &'static str>,
    themenfeld: BTreeMap<&'static str, &'static str>,
    textkennzeichen: BTreeMap<&'static str, &'static str>,
    level: BTreeMap<&'static str, &'static str>,
    /// The annotation vocabularies (`services.json`: `umsetzungsweg`, `vollzug`).
    umsetzungsweg: BTreeMap<&'static str, &'static str>,
    vollzug: BTreeMap<&'static str, &'static str>,
    /// The EfA catalogue's cost model (`services.json` `efa.kostenmodell`).
    kostenmodell: BTreeMap<&'static str, &'static str>,
    /// The EfA-Nachnutzung (`services.json` `efa.nachnutzung`, a Gemeinde's
    /// `efa_kanal`).
    bewertung: BTreeMap<&'static str, &'static str>,
    parametrisierung: BTreeMap<&'static str, &'static str>,
    kanal: BTreeMap<&'static str, &'static str>,
    kosten_land: BTreeMap<&'static str, &'static str>,
    stage: BTreeMap<&'static str, &'static str>,
    /// What a page says when `meta.json` has `"demo": true` ([`crate::demo::NOTICE`]).
    demo_notice: &'static str,
}

/// A label as a heading or table cell shows it: the first letter upper case
/// (`in Umsetzung` → `In Umsetzung`); `Status::label` is for running text.
fn capitalised(label: &str) -> String {
    let mut chars = label.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

fn labels() -> LabelsJson {
    LabelsJson {
        format: "ozgsync-dashboard-labels",
        format_version: DASHBOARD_FORMAT_VERSION,
        status: Status::ALL
            .iter()
            .map(|s| (s.as_str(), capitalised(s.label())))
            .chain([("ohne_status", "Ohne Status".to_owned())])
            .collect(),
        phase: [
            ("relevant", "Relevant"),
            ("produktiv", "Produktiv"),
            ("in_einfuehrung", "In Einführung"),
            ("geplant", "Geplant"),
            ("anteil_produktiv", "Anteil produktiv"),
            ("online_beobachtet", "Online beobachtet"),
        ]
        .into_iter()
        .collect(),
        themenfeld: Themenfeld::ALL
            .iter()
            .map(|t| (t.as_str(), super::model::themenfeld_label(t.as_str())))
            .collect(),
        textkennzeichen: TEXTKENNZEICHEN_LABELS.iter().copied().collect(),
        level: [
            ("land", "Land"),
            ("kreis", "Kreis"),
            ("verband", "Gemeindeverband"),
            ("gemeinde", "Gemeinde"),
        ]
        .into_iter()
        .collect(),
        umsetzungsweg: codes(
            Umsetzungsweg::ALL,
            Umsetzungsweg::as_str,
            Umsetzungsweg::label,
        ),
        vollzug: codes(Vollzug::ALL, Vollzug::as_str, Vollzug::label),
        kostenmodell: codes(Kostenmodell::ALL, Kostenmodell::as_str, Kostenmodell::label),
        bewertung: codes(Bewertung::ALL, Bewertung::as_str, Bewertung::label),
        parametrisierung: codes(
            Parametrisierung::ALL,
            Parametrisierung::as_str,
            Parametrisierung::label,
        ),
        kanal: codes(Kanal::ALL, Kanal::as_str, Kanal::label),
        kosten_land: codes(KostenLand::ALL, KostenLand::as_str, KostenLand::label),
        stage: codes(Stage::ALL, Stage::as_str, Stage::label),
        demo_notice: crate::demo::NOTICE,
    }
}

/// Code → label of a vocabulary, from its own `as_str` and `label`: the labels the
/// report shows, so the site and the report cannot say different things.
fn codes<T: Copy>(
    all: &[T],
    code: fn(T) -> &'static str,
    label: fn(T) -> &'static str,
) -> BTreeMap<&'static str, &'static str> {
    all.iter().map(|v| (code(*v), label(*v))).collect()
}

/// Adds the site's files to a dashboard set. They depend on the binary alone, so
/// an unchanged re-export leaves them (and their mtimes) as they are.
pub fn add(files: &mut BTreeMap<String, Vec<u8>>) -> Result<(), ExportError> {
    for (path, text) in STATIC {
        files.insert((*path).to_owned(), text.as_bytes().to_vec());
    }
    let mut labels = serde_json::to_vec_pretty(&labels()).map_err(ExportError::Json)?;
    labels.push(b'\n');
    files.insert(LABELS_FILE.to_owned(), labels);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GEMEINDEFREI_TEXTKENNZEICHEN, GEMEINDE_TEXTKENNZEICHEN};

    #[test]
    fn every_code_the_json_uses_has_a_label() {
        let l = labels();
        for s in Status::ALL {
            assert!(l.status.contains_key(s.as_str()), "{s:?}");
        }
        assert_eq!(l.status["in_umsetzung"], "In Umsetzung");
        for t in Themenfeld::ALL {
            assert_ne!(
                l.themenfeld[t.as_str()],
                t.as_str(),
                "{t} has a German label"
            );
        }
        for tk in GEMEINDE_TEXTKENNZEICHEN
            .iter()
            .chain(GEMEINDEFREI_TEXTKENNZEICHEN)
        {
            assert!(l.textkennzeichen.contains_key(tk), "{tk}");
        }
        assert_eq!(l.textkennzeichen["52"], "Samtgemeinde");
        // The report's words, from the same vocabularies.
        assert_eq!(l.kanal["govconnect"], Kanal::Govconnect.label());
        assert_eq!(l.kanal["govconnect"], "GovConnect");
        assert_eq!(
            l.stage["land_produktiv"],
            "in der Landesverwaltung produktiv"
        );
        assert_eq!(l.umsetzungsweg["wfu_navo"], "WfU/NAVO");
        for (map, len) in [
            (&l.bewertung, Bewertung::ALL.len()),
            (&l.parametrisierung, Parametrisierung::ALL.len()),
            (&l.kanal, Kanal::ALL.len()),
            (&l.kosten_land, KostenLand::ALL.len()),
            (&l.stage, Stage::ALL.len()),
            (&l.kostenmodell, Kostenmodell::ALL.len()),
            (&l.umsetzungsweg, Umsetzungsweg::ALL.len()),
            (&l.vollzug, Vollzug::ALL.len()),
        ] {
            assert_eq!(map.len(), len, "{map:?}");
        }
        assert_eq!(l.textkennzeichen["67"], "Große Kreisstadt");
    }

    #[test]
    fn the_site_reads_only_its_own_origin() {
        let html = STATIC[0].1;
        assert!(html.contains(r#"<html lang="de">"#));
        assert!(
            html.contains(r#"content="default-src 'self'"#),
            "CSP in index.html"
        );
        for (path, text) in STATIC {
            assert!(
                !text.contains("//cdn") && !text.contains("https://fonts"),
                "{path}"
            );
        }
    }
}
