//! Closed vocabularies of the catalogues (Themenfeld, Land) and the macro that
//! defines them: each is an enum whose stored string form never changes, with a
//! parser that names the allowed values when it refuses one.

/// Defines a vocabulary enum: variants with their stored text, `ALL`, `as_str`,
/// a case-insensitive `parse` and `allowed()` for error messages.
macro_rules! vocabulary {
    (
        $(#[$meta:meta])*
        $name:ident {
            $( $(#[$vmeta:meta])* $variant:ident => $text:literal ),+ $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, ::serde::Serialize, ::serde::Deserialize)]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant ),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The stored form.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $text),+
                }
            }

            /// Parses the stored form, ignoring case and surrounding blanks.
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(s))
            }

            /// The allowed values, comma-separated, for error messages.
            pub fn allowed() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}
pub(crate) use vocabulary;

vocabulary! {
    /// Who executes a service in Lower Saxony (annotation `vollzug`).
    Vollzug {
        Land => "land",
        Kommune => "kommune",
        Beide => "beide",
    }
}

impl Vollzug {
    /// The spreadsheet label.
    pub fn label(self) -> &'static str {
        match self {
            Vollzug::Land => "Land",
            Vollzug::Kommune => "Kommune",
            Vollzug::Beide => "beide",
        }
    }

    /// Whether municipalities execute the service (alone or beside the Land): the
    /// one "municipal service" rule. A stored value that is not a Vollzug (or none)
    /// is not municipal.
    pub fn is_municipal(self) -> bool {
        matches!(self, Vollzug::Kommune | Vollzug::Beide)
    }

    /// [`Vollzug::is_municipal`] of a stored value (`annotations.vollzug`).
    pub fn is_municipal_code(code: Option<&str>) -> bool {
        code.and_then(Vollzug::parse)
            .is_some_and(Vollzug::is_municipal)
    }
}

vocabulary! {
    /// The 14 OZG Themenfelder of the OZG-Umsetzungskatalog, as slugs.
    Themenfeld {
        MobilitaetReisen => "mobilitaet_reisen",
        Bildung => "bildung",
        EngagementHobby => "engagement_hobby",
        EinAuswanderung => "ein_auswanderung",
        UnternehmensfuehrungEntwicklung => "unternehmensfuehrung_entwicklung",
        SteuernZoll => "steuern_zoll",
        Umwelt => "umwelt",
        ArbeitRuhestand => "arbeit_ruhestand",
        FamilieKind => "familie_kind",
        Querschnittsleistungen => "querschnittsleistungen",
        BauenWohnen => "bauen_wohnen",
        ForschungFoerderung => "forschung_foerderung",
        Gesundheit => "gesundheit",
        RechtOrdnung => "recht_ordnung",
    }
}

impl Themenfeld {
    /// Parses a slug or a display name as published (`Bauen & Wohnen`,
    /// `Mobilität & Reisen`, `Querschnitt`).
    pub fn parse_lenient(s: &str) -> Option<Themenfeld> {
        let folded = slug(s);
        match folded.as_str() {
            // The OZG catalogue names this Themenfeld just "Querschnitt".
            "querschnitt" => Some(Themenfeld::Querschnittsleistungen),
            other => Themenfeld::parse(other),
        }
    }
}

vocabulary! {
    /// A Land by its two-letter code (ISO 3166-2:DE without `DE-`), or the Bund.
    Land {
        BW => "BW",
        BY => "BY",
        BE => "BE",
        BB => "BB",
        HB => "HB",
        HH => "HH",
        HE => "HE",
        MV => "MV",
        NI => "NI",
        NW => "NW",
        RP => "RP",
        SL => "SL",
        SN => "SN",
        ST => "ST",
        SH => "SH",
        TH => "TH",
        Bund => "BUND",
    }
}

/// Folds a label to a slug: lower case, umlauts and ß spelled out, every run of other
/// characters one `_`, no `_` at the ends. `Unternehmensführung & -entwicklung` →
/// `unternehmensfuehrung_entwicklung`; `EfA-ID` → `efa_id`.
pub fn slug(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut gap = false;
    for c in s.chars().flat_map(char::to_lowercase) {
        let spelled = match c {
            'ä' => Some("ae"),
            'ö' => Some("oe"),
            'ü' => Some("ue"),
            'ß' => Some("ss"),
            _ => None,
        };
        if spelled.is_some() || c.is_alphanumeric() {
            if gap && !out.is_empty() {
                out.push('_');
            }
            gap = false;
            match spelled {
                Some(text) => out.push_str(text),
                None => out.push(c),
            }
        } else {
            gap = true;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(input: &str, expected: Option<Themenfeld>) {
        assert_eq!(Themenfeld::parse_lenient(input), expected, "{input}");
    }

    #[test]
    fn themenfeld_from_slugs_and_published_names() {
        check("bauen_wohnen", Some(Themenfeld::BauenWohnen));
        check("Bauen & Wohnen", Some(Themenfeld::BauenWohnen));
        check("Mobilität & Reisen", Some(Themenfeld::MobilitaetReisen));
        check("Ein- & Auswanderung", Some(Themenfeld::EinAuswanderung));
        check(
            "Unternehmensführung & -entwicklung",
            Some(Themenfeld::UnternehmensfuehrungEntwicklung),
        );
        check(
            "Forschung & Förderung",
            Some(Themenfeld::ForschungFoerderung),
        );
        check("Querschnitt", Some(Themenfeld::Querschnittsleistungen));
        check("Wohnen", None);
        check("", None);
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("EfA-ID"), "efa_id");
        assert_eq!(slug("  Leistungsschlüssel "), "leistungsschluessel");
        assert_eq!(slug("Priorität"), "prioritaet");
        assert_eq!(slug("ÄÖÜ ß"), "aeoeue_ss");
    }

    #[test]
    fn land_codes_ignore_case() {
        assert_eq!(Land::parse("ni"), Some(Land::NI));
        assert_eq!(Land::parse("Bund"), Some(Land::Bund));
        assert_eq!(Land::parse("Niedersachsen"), None);
        assert!(Land::allowed().starts_with("BW, BY"));
    }
}
