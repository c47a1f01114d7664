//! The dashboard site published beside the dashboard JSON (`export dashboards
//! --site`): `index.html`, its script and style sheet (kept in `site/` of the
//! repository and embedded here, so the binary is all a deployment needs), the
//! OpenAPI description of the static paths, and `labels.json`, the German labels
//! of every code the JSON uses. The labels are generated from the Rust
//! vocabularies (status, Themenfeld, Textkennzeichen), so the site and
//! third-party dashboards cannot drift from what the exports write. Pure: the
//! files go into the same map as the JSON, and the publisher tracks them alike.

use std::collections::BTreeMap;

use serde::Serialize;

use super::json::DASHBOARD_FORMAT_VERSION;
use super::ExportError;
use crate::model::vocab::Themenfeld;
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
        demo_notice: crate::demo::NOTICE,
    }
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
