//! Library enums as command-line values. The library's types carry no clap
//! derives (they are no part of the command line); this file says how each is
//! spelled and explained on it. The names are the ones the library writes
//! (`SourceKind::as_str`, `Part::slug`, ...), so a value means the same on the
//! command line, in the config and in the database.

use clap::builder::PossibleValue;

use crate::export::{Part, ReportFormat};
use crate::logging::{Color, LogFormat};
use crate::sync::SourceKind;

/// `impl clap::ValueEnum` for a library enum: each variant with its name and,
/// where it needs one, its help text.
macro_rules! value_enum {
    ($ty:ty { $($variant:ident => $name:expr $(, $help:literal)?;)* }) => {
        impl clap::ValueEnum for $ty {
            fn value_variants<'a>() -> &'a [Self] {
                &[$(<$ty>::$variant),*]
            }

            fn to_possible_value(&self) -> Option<PossibleValue> {
                Some(match self {
                    $(<$ty>::$variant => PossibleValue::new($name)$(.help($help))?,)*
                })
            }
        }
    };
}

value_enum!(SourceKind {
    Leika => "leika", "LeiKa catalogue CSV (FIM Portal download)";
    Xzufi => "xzufi", "XZuFi 2.2.0 XML (transfer message or single-service export)";
    FimApi => "fim-api", "FIM Portal API v0 `leistung-steckbriefe`, paged (base URL of the portal)";
    Gv100ad => "gv100ad", "Destatis GV100AD municipality directory";
    Efa => "efa", "ozgsync's EfA release format, JSON or CSV (schema/efa-release.schema.json)";
    Ozg => "ozg", "OZG-Leistungen CSV (ozg_id;ozg_leistung;lebenslage;themenfeld)";
    OzgMap => "ozg-map", "LeiKa → OZG map CSV (leika_schluessel;ozg_id)";
    Pvog => "pvog", "Dashboard Digitale Verwaltung (Open-PVOG availability), paged: an API base URL (region Land 03) or a URL ending in `/v1/data/<ARS>`; a file is a saved pull";
});

value_enum!(ReportFormat {
    Xlsx => "xlsx";
    Csv => "csv";
    Html => "html";
    Json => "json";
    Md => "md";
});

value_enum!(Part {
    Nachnutzung => "nachnutzung", "The funnel of the EfA-Nachnutzung: how many services reached each stage";
    Kommunen => "kommunen", "What a Kommune can order now, and through whom";
    Leistungen => "leistungen";
    Ressorts => "ressorts";
    Themenfelder => "themenfelder";
    Kreise => "kreise";
    Aenderungen => "aenderungen";
});

value_enum!(LogFormat {
    Text => "text", "Human-readable lines";
    Json => "json", "One JSON object per line";
});

value_enum!(Color {
    Auto => "auto", "When stderr is a terminal (not `TERM=dumb`) and `NO_COLOR` is unset or empty";
    Always => "always", "Always, also into a pipe or file (and despite `NO_COLOR`)";
    Never => "never", "Never";
});

#[cfg(test)]
mod tests {
    use clap::ValueEnum;

    use super::*;

    /// The command line spells every value as the library does.
    #[test]
    fn names_are_the_library_spellings() {
        for kind in SourceKind::value_variants() {
            let value = kind.to_possible_value().unwrap();
            assert_eq!(value.get_name(), kind.as_str());
        }
        for part in Part::value_variants() {
            assert_eq!(part.to_possible_value().unwrap().get_name(), part.slug());
        }
        for format in ReportFormat::value_variants() {
            let name = format.to_possible_value().unwrap();
            assert_eq!(name.get_name(), format.extension());
        }
        assert_eq!(Part::value_variants().len(), Part::ALL.len());
    }
}
