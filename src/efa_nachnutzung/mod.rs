//! EfA-Nachnutzung in Lower Saxony (Handlungsplan B.1.3.3): per EfA service the
//! evaluation for reuse, the parametrisation to Lower Saxony's law and the channel
//! through which the Kommunen get it. The typed values, the sheet's columns and
//! the pure validation of an imported sheet against what the database knows; no
//! I/O here (`store::efa_nachnutzung` loads [`Known`] and applies valid rows).
//!
//! Cell rules as for the annotation sheets: empty keeps, `-` clears, anything else
//! sets. The rules between fields (README, "EfA-Nachnutzung") are checked on the
//! state a row leads to, so a sheet may change one column at a time.

use std::collections::{HashMap, HashSet};

use chrono::NaiveDate;
use serde::Serialize;

use crate::annotations::csv::Sheet as GenericSheet;
use crate::annotations::sheet::{
    self, kuerzel_of, ressort_cell, sheet_fields, with_columns, Catalogue, SheetKind,
};
use crate::annotations::{remark, RawRow as GenericRow, CLEAR};
use crate::model::date::{not_a_date, parse_date};
use crate::model::vocab::{slug, vocabulary};

pub mod xlsx;

vocabulary! {
    /// The result of the standard procedure that evaluates an EfA service for reuse.
    Bewertung {
        Offen => "offen",
        Geeignet => "geeignet",
        GeeignetMitAnpassung => "geeignet_mit_anpassung",
        NichtGeeignet => "nicht_geeignet",
    }
}

vocabulary! {
    /// Adapting the service to Lower Saxony's law.
    Parametrisierung {
        NichtNoetig => "nicht_noetig",
        Offen => "offen",
        InArbeit => "in_arbeit",
        Erledigt => "erledigt",
    }
}

vocabulary! {
    /// How the Kommunen get the service.
    Kanal {
        /// Roll-out by GovConnect, the municipal representative.
        Govconnect => "govconnect",
        /// Sold directly to Kommunen through the govdigital marketplace.
        Govdigital => "govdigital",
        /// The Land provides it itself.
        Land => "land",
        Keiner => "keiner",
    }
}

vocabulary! {
    /// Whether the Land bears the running costs for the Kommunen.
    KostenLand {
        Ja => "ja",
        Nein => "nein",
        Anteilig => "anteilig",
    }
}

impl Bewertung {
    pub fn label(self) -> &'static str {
        match self {
            Bewertung::Offen => "offen",
            Bewertung::Geeignet => "geeignet",
            Bewertung::GeeignetMitAnpassung => "geeignet mit Anpassung",
            Bewertung::NichtGeeignet => "nicht geeignet",
        }
    }

    /// Whether the service may be reused.
    pub fn suitable(self) -> bool {
        matches!(self, Bewertung::Geeignet | Bewertung::GeeignetMitAnpassung)
    }
}

impl Parametrisierung {
    pub fn label(self) -> &'static str {
        match self {
            Parametrisierung::NichtNoetig => "nicht nötig",
            Parametrisierung::Offen => "offen",
            Parametrisierung::InArbeit => "in Arbeit",
            Parametrisierung::Erledigt => "erledigt",
        }
    }

    /// Whether the service fits Lower Saxony's law (nothing left to adapt).
    pub fn done(self) -> bool {
        matches!(
            self,
            Parametrisierung::NichtNoetig | Parametrisierung::Erledigt
        )
    }
}

impl Kanal {
    /// The published spelling.
    pub fn label(self) -> &'static str {
        match self {
            Kanal::Govconnect => "GovConnect",
            Kanal::Govdigital => "govdigital",
            Kanal::Land => "Land",
            Kanal::Keiner => "keiner",
        }
    }

    /// Reads the stored form and published spellings (`GovConnect`, `govdigital
    /// Marktplatz`, `kein`).
    fn read(s: &str) -> Option<Kanal> {
        match slug(s).as_str() {
            "govconnect" | "gov_connect" => Some(Kanal::Govconnect),
            "govdigital" | "gov_digital" | "govdigital_marktplatz" | "marktplatz" => {
                Some(Kanal::Govdigital)
            }
            "land" => Some(Kanal::Land),
            "keiner" | "kein" | "keine" => Some(Kanal::Keiner),
            _ => None,
        }
    }

    /// Whether the Kommunen can get the service through this channel.
    pub fn provides(self) -> bool {
        self != Kanal::Keiner
    }
}

impl KostenLand {
    pub fn label(self) -> &'static str {
        self.as_str()
    }
}

vocabulary! {
    /// How far an EfA service has come on its way to the Kommunen, in order
    /// (Handlungsplan B.1.3.3). Schema 0012's `v_efa_nachnutzung` derives the same
    /// stage in SQL as of today; [`Stage::of`] as of any date for the report.
    Stage {
        Angeboten => "angeboten",
        Bewertet => "bewertet",
        Geeignet => "geeignet",
        Parametrisiert => "parametrisiert",
        LandProduktiv => "land_produktiv",
        Bereitgestellt => "bereitgestellt",
        KommunenProduktiv => "kommunen_produktiv",
    }
}

impl Stage {
    /// The words the report uses.
    pub fn label(self) -> &'static str {
        match self {
            Stage::Angeboten => "angeboten",
            Stage::Bewertet => "bewertet",
            Stage::Geeignet => "geeignet",
            Stage::Parametrisiert => "parametrisiert",
            Stage::LandProduktiv => "in der Landesverwaltung produktiv",
            Stage::Bereitgestellt => "für Kommunen bereitgestellt",
            Stage::KommunenProduktiv => "in Kommunen produktiv",
        }
    }

    /// 1 (angeboten) to 7 (in Kommunen produktiv), as `v_efa_nachnutzung.stufe`.
    pub fn stufe(self) -> usize {
        Stage::ALL
            .iter()
            .position(|s| *s == self)
            .map_or(0, |i| i + 1)
    }

    /// The furthest stage reached in order as of `as_of`: each needs the one
    /// before, so a service live in the Land but never evaluated stays angeboten.
    pub fn of(
        state: Option<&State>,
        land_produktiv: bool,
        kommunen_produktiv: u32,
        as_of: NaiveDate,
    ) -> Stage {
        let Some(s) = state else {
            return Stage::Angeboten;
        };
        let steps = [
            s.bewertung.is_some_and(|b| b != Bewertung::Offen),
            s.bewertung.is_some_and(Bewertung::suitable),
            s.parametrisierung.is_some_and(Parametrisierung::done),
            land_produktiv,
            s.available_on(as_of),
            kommunen_produktiv > 0,
        ];
        // Each step reached leads to the next stage; the first one missed stops.
        let mut stage = Stage::Angeboten;
        for (next, reached) in Stage::ALL.iter().skip(1).zip(steps) {
            if !reached {
                break;
            }
            stage = *next;
        }
        stage
    }
}

sheet_fields! {
    /// The sheet's fields, in sheet order. `column` is the database column and the
    /// field name in the audit trail.
    Field {
        Bewertung => "bewertung", "Bewertung",
        Bewertungsgrund => "bewertungsgrund", "Bewertungsgrund",
        BewertetAm => "bewertet_am", "Bewertet am",
        Ressort => "ressort", "Ressort",
        Parametrisierung => "parametrisierung", "Parametrisierung",
        ParametrisiertAm => "parametrisiert_am", "Parametrisiert am",
        Kanal => "kanal", "Kanal",
        BereitgestelltAb => "bereitgestellt_ab", "Bereitgestellt ab",
        KostenLand => "kosten_land", "Kosten Land",
        Kontakt => "kontakt", "Kontakt",
        Bemerkung => "bemerkung", "Bemerkung",
    }
}

/// A stored value of `field` (as in the audit trail) in the words of the sheet:
/// labels for codes, German dates; other text as it is.
pub fn value_label(field: Field, stored: &str) -> String {
    let label = match field {
        Field::Bewertung => Bewertung::parse(stored).map(Bewertung::label),
        Field::Parametrisierung => Parametrisierung::parse(stored).map(Parametrisierung::label),
        Field::Kanal => Kanal::parse(stored).map(Kanal::label),
        Field::BewertetAm | Field::ParametrisiertAm | Field::BereitgestelltAb => {
            return stored
                .parse::<NaiveDate>()
                .map_or_else(|_| stored.to_owned(), |d| d.format("%d.%m.%Y").to_string())
        }
        _ => None,
    };
    label.map_or_else(|| stored.to_owned(), str::to_owned)
}

/// Header of the key column.
pub const KEY_HEADER: &str = "EfA-ID";
/// The service's name beside its id (filled by the template, ignored on import).
pub const NAME_HEADER: &str = "Onlinedienst";

/// A Nachnutzung sheet as read.
pub type Sheet = GenericSheet<Field>;
/// One data row of a Nachnutzung sheet.
pub type RawRow = GenericRow<Field>;

/// Reads a sheet: an XLSX workbook (recognised by content, whatever the file is
/// called) or CSV (`;` or `,`, UTF-8 or Windows-1252).
pub fn read<R: std::io::BufRead + std::io::Seek>(
    mut input: R,
) -> Result<Sheet, crate::parse::ParseError> {
    if crate::parse::xlsx_sheet::is_xlsx(input.fill_buf()?) {
        return xlsx::read(input);
    }
    with_columns::<State, _>("EfA-Nachnutzung sheet (CSV)", |spec| {
        crate::annotations::csv::read_sheet(input, spec)
    })
}

/// The template's columns in order.
pub fn headers() -> Vec<&'static str> {
    sheet::headers::<State>()
}

/// The Nachnutzung state of one EfA service.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct State {
    pub bewertung: Option<Bewertung>,
    pub bewertungsgrund: Option<String>,
    pub bewertet_am: Option<NaiveDate>,
    /// The evaluating Ressort.
    pub ressort_id: Option<i64>,
    pub parametrisierung: Option<Parametrisierung>,
    pub parametrisiert_am: Option<NaiveDate>,
    pub kanal: Option<Kanal>,
    pub bereitgestellt_ab: Option<NaiveDate>,
    pub kosten_land: Option<KostenLand>,
    pub kontakt: Option<String>,
    pub bemerkung: Option<String>,
}

impl State {
    /// Whether the Kommunen can order the service on `day`: a channel other than
    /// keiner, provided from that day or earlier.
    pub fn available_on(&self, day: NaiveDate) -> bool {
        self.kanal.is_some_and(Kanal::provides) && self.bereitgestellt_ab.is_some_and(|d| d <= day)
    }

    /// Each field as audit text (codes in stored form, dates ISO, the Ressort by
    /// its Kürzel); also the sheet text of a filled template, with labels.
    pub fn values(&self, known: &Known, labels: bool) -> Vec<(Field, Option<String>)> {
        let date = |d: Option<NaiveDate>| {
            d.map(|d| {
                if labels {
                    d.format("%d.%m.%Y").to_string()
                } else {
                    d.to_string()
                }
            })
        };
        let code = |stored: &'static str, label: &'static str| {
            if labels {
                label.to_owned()
            } else {
                stored.to_owned()
            }
        };
        vec![
            (
                Field::Bewertung,
                self.bewertung.map(|b| code(b.as_str(), b.label())),
            ),
            (Field::Bewertungsgrund, self.bewertungsgrund.clone()),
            (Field::BewertetAm, date(self.bewertet_am)),
            (
                Field::Ressort,
                self.ressort_id.map(|id| known.kuerzel_of(id)),
            ),
            (
                Field::Parametrisierung,
                self.parametrisierung.map(|p| code(p.as_str(), p.label())),
            ),
            (Field::ParametrisiertAm, date(self.parametrisiert_am)),
            (
                Field::Kanal,
                self.kanal.map(|k| code(k.as_str(), k.label())),
            ),
            (Field::BereitgestelltAb, date(self.bereitgestellt_ab)),
            (
                Field::KostenLand,
                self.kosten_land.map(|k| code(k.as_str(), k.label())),
            ),
            (Field::Kontakt, self.kontakt.clone()),
            (Field::Bemerkung, self.bemerkung.clone()),
        ]
    }
}

/// What the database knows that a sheet is checked against.
#[derive(Debug, Clone, Default)]
pub struct Known {
    /// EfA ids current in the EfA catalogue.
    pub current: HashSet<String>,
    /// EfA ids that were in the catalogue and are retired.
    pub retired: HashSet<String>,
    /// Current Ressort Kürzel → ressort_id.
    pub ressorts: Vec<(String, i64)>,
    /// Current states by EfA id.
    pub existing: HashMap<String, State>,
}

impl Known {
    pub fn kuerzel_of(&self, id: i64) -> String {
        kuerzel_of(&self.ressorts, id)
    }
}

/// A row that passed: the service's state before and after.
pub type ValidRow = sheet::ValidRow<State>;

/// The outcome of validating a sheet.
pub type Validation = crate::annotations::Validation<ValidRow>;

fn date_cell(s: &str) -> Result<NaiveDate, String> {
    parse_date(s).ok_or_else(|| format!("{s:?} is {}", not_a_date(s)))
}

/// A role mailbox: an e-mail address, not a person's name.
fn kontakt(s: &str) -> Result<String, String> {
    let ok = s.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.contains(char::is_whitespace)
    });
    if ok {
        remark(s)
    } else {
        Err(format!(
            "{s:?} is not an e-mail address; give a role mailbox (e.g. efa@mi.niedersachsen.de), not a person's name"
        ))
    }
}

/// Validates every row against `known` ([`sheet::validate`]), pure, before
/// anything is written.
pub fn validate(rows: &[RawRow], known: &Known) -> Validation {
    sheet::validate(rows, known)
}

impl SheetKind for State {
    type Field = Field;
    type Known = Known;
    const KEY_HEADER: &'static str = KEY_HEADER;
    const NAME_HEADER: &'static str = NAME_HEADER;
    const TEMPLATE: &'static str = "ozgsync template efa-nachnutzung";
    const ONE_ROW_EACH: &'static str = "give each service one row";

    fn key(cell: &str) -> (&str, Option<String>) {
        let id = cell.trim();
        let missing = id.is_empty().then(|| {
            "missing; every row needs the EfA-ID of a service in the EfA catalogue".to_owned()
        });
        (id, missing)
    }

    fn catalogue(known: &Known) -> Catalogue<'_, State> {
        Catalogue {
            current: &known.current,
            retired: &known.retired,
            existing: &known.existing,
        }
    }

    fn refused(id: &str, retired: bool) -> String {
        if retired {
            format!("{id} has been retired from the EfA catalogue; its Nachnutzung history is kept but can no longer be changed")
        } else {
            format!("unknown EfA service {id:?}: not in the current EfA catalogue (`ozgsync import efa FILE`, ids in view v_efa_services)")
        }
    }

    fn edit(row: &RawRow, known: &Known, base: &State, e: &mut Vec<(Field, String)>) -> State {
        State {
            bewertung: row.edit(Field::Bewertung, &base.bewertung, e, |s| {
                Bewertung::parse(&slug(s)).ok_or_else(|| {
                    format!("{s:?} is not a Bewertung; allowed: offen, geeignet, geeignet mit Anpassung, nicht geeignet")
                })
            }),
            bewertungsgrund: row.edit(Field::Bewertungsgrund, &base.bewertungsgrund, e, remark),
            bewertet_am: row.edit(Field::BewertetAm, &base.bewertet_am, e, date_cell),
            ressort_id: row.edit(Field::Ressort, &base.ressort_id, e, |s| {
                ressort_cell(&known.ressorts, s)
            }),
            parametrisierung: row.edit(Field::Parametrisierung, &base.parametrisierung, e, |s| {
                Parametrisierung::parse(&slug(s)).ok_or_else(|| {
                    format!("{s:?} is not a Parametrisierung; allowed: nicht nötig, offen, in Arbeit, erledigt")
                })
            }),
            parametrisiert_am: row.edit(
                Field::ParametrisiertAm,
                &base.parametrisiert_am,
                e,
                date_cell,
            ),
            kanal: row.edit(Field::Kanal, &base.kanal, e, |s| {
                Kanal::read(s).ok_or_else(|| {
                    format!("{s:?} is not a Kanal; allowed: GovConnect, govdigital, Land, keiner")
                })
            }),
            bereitgestellt_ab: row.edit(
                Field::BereitgestelltAb,
                &base.bereitgestellt_ab,
                e,
                date_cell,
            ),
            kosten_land: row.edit(Field::KostenLand, &base.kosten_land, e, |s| {
                KostenLand::parse(&slug(s)).ok_or_else(|| {
                    format!("{s:?} is not a Kosten-Land value; allowed: ja, nein, anteilig")
                })
            }),
            kontakt: row.edit(Field::Kontakt, &base.kontakt, e, kontakt),
            bemerkung: row.edit(Field::Bemerkung, &base.bemerkung, e, remark),
        }
    }

    fn consistency(&self) -> Vec<(Field, String)> {
        consistency(self)
    }

    fn audit_values(&self, known: &Known) -> Vec<(Field, Option<String>)> {
        self.values(known, false)
    }
}
/// The rules between fields (README, "EfA-Nachnutzung"), on the state a row leads
/// to. Two are mirrored by CHECKs in schema 0012.
fn consistency(s: &State) -> Vec<(Field, String)> {
    let mut out = Vec::new();
    let mut rule = |broken: bool, field: Field, message: &str| {
        if broken {
            out.push((field, message.to_owned()));
        }
    };
    let evaluated = s.bewertung.is_some_and(|b| b != Bewertung::Offen);
    let bewertung = s.bewertung.map_or("empty", Bewertung::label);
    rule(
        evaluated && s.bewertet_am.is_none(),
        Field::BewertetAm,
        "required once the service is evaluated: the date of the Bewertung",
    );
    rule(
        evaluated && s.ressort_id.is_none(),
        Field::Ressort,
        "required once the service is evaluated: the evaluating Ressort",
    );
    rule(
        s.bewertung == Some(Bewertung::NichtGeeignet) && s.bewertungsgrund.is_none(),
        Field::Bewertungsgrund,
        "required when the Bewertung is nicht geeignet: say why the service cannot be reused",
    );
    let p = s.parametrisierung;
    let p_label = p.map_or("empty", Parametrisierung::label);
    rule(
        s.bewertung == Some(Bewertung::Geeignet) && p.is_some_and(|p| p != Parametrisierung::NichtNoetig),
        Field::Parametrisierung,
        &format!("{p_label} is only possible with Bewertung geeignet mit Anpassung; a service geeignet as it is needs nicht nötig"),
    );
    rule(
        s.bewertung == Some(Bewertung::GeeignetMitAnpassung) && p == Some(Parametrisierung::NichtNoetig),
        Field::Parametrisierung,
        "nicht nötig contradicts Bewertung geeignet mit Anpassung; write offen, in Arbeit or erledigt",
    );
    rule(
        !s.bewertung.is_some_and(Bewertung::suitable) && p.is_some(),
        Field::Parametrisierung,
        &format!("only for a service evaluated as geeignet (the Bewertung is {bewertung}); clear it with {CLEAR}"),
    );
    let erledigt = s.parametrisierung == Some(Parametrisierung::Erledigt);
    rule(
        erledigt && s.parametrisiert_am.is_none(),
        Field::ParametrisiertAm,
        "required when the Parametrisierung is erledigt: the date it was finished",
    );
    rule(
        !erledigt && s.parametrisiert_am.is_some(),
        Field::ParametrisiertAm,
        "only with Parametrisierung erledigt; clear it with -",
    );
    let provides = s.kanal.is_some_and(Kanal::provides);
    let ready = s.bewertung.is_some_and(Bewertung::suitable)
        && s.parametrisierung.is_some_and(Parametrisierung::done);
    rule(
        provides && !ready,
        Field::Kanal,
        "a service is made available to the Kommunen only once it is evaluated as geeignet and its Parametrisierung is nicht nötig or erledigt",
    );
    rule(
        provides && s.bereitgestellt_ab.is_none(),
        Field::BereitgestelltAb,
        "required with a Kanal to the Kommunen: the date from which they can order the service",
    );
    rule(
        !provides && s.bereitgestellt_ab.is_some(),
        Field::BereitgestelltAb,
        "only with a Kanal to the Kommunen (GovConnect, govdigital, Land); clear it with -",
    );
    rule(
        !provides && s.kosten_land.is_some(),
        Field::KostenLand,
        "only with a Kanal to the Kommunen (GovConnect, govdigital, Land); clear it with -",
    );
    if let Some(evaluated_on) = s.bewertet_am {
        for (field, date) in [
            (Field::ParametrisiertAm, s.parametrisiert_am),
            (Field::BereitgestelltAb, s.bereitgestellt_ab),
        ] {
            rule(
                date.is_some_and(|d| d < evaluated_on),
                field,
                "lies before the Bewertung (Bewertet am); check both dates",
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::annotations::sheet::test_support::row;

    fn known() -> Known {
        Known {
            current: ["EFA-1".to_string(), "EFA-2".to_string()].into(),
            retired: ["EFA-OLD".to_string()].into(),
            ressorts: vec![("MI".into(), 2), ("MS".into(), 4)],
            existing: HashMap::new(),
        }
    }

    fn check(rows: &[RawRow], expected: &[&str]) {
        sheet::test_support::check_errors::<State>(rows, &known(), expected);
    }

    #[test]
    fn the_issue_example_is_valid() {
        let v = validate(
            &[row(
                2,
                "EFA-1",
                &[
                    (Field::Bewertung, "geeignet"),
                    (Field::BewertetAm, "15.01.2026"),
                    (Field::Ressort, "MI"),
                    (Field::Parametrisierung, "nicht_noetig"),
                    (Field::Kanal, "GovConnect"),
                    (Field::BereitgestelltAb, "01.03.2026"),
                ],
            )],
            &known(),
        );
        assert!(v.errors.is_empty(), "{:?}", v.errors);
        assert_eq!(v.valid[0].after.kanal, Some(Kanal::Govconnect));
        assert_eq!(v.valid[0].changes(&known()).len(), 6);
    }

    #[test]
    fn stages_follow_each_other_as_of_a_date() {
        let day = |s: &str| s.parse::<NaiveDate>().unwrap();
        let ready = State {
            bewertung: Some(Bewertung::Geeignet),
            parametrisierung: Some(Parametrisierung::NichtNoetig),
            kanal: Some(Kanal::Govconnect),
            bereitgestellt_ab: Some(day("2026-03-01")),
            ..State::default()
        };
        let check = |state: Option<&State>, land, kommunen, on: &str, expected: Stage| {
            assert_eq!(Stage::of(state, land, kommunen, day(on)), expected);
        };
        check(None, true, 3, "2026-06-01", Stage::Angeboten);
        check(Some(&ready), false, 3, "2026-06-01", Stage::Parametrisiert);
        check(Some(&ready), true, 0, "2026-02-28", Stage::LandProduktiv);
        check(Some(&ready), true, 0, "2026-03-01", Stage::Bereitgestellt);
        check(
            Some(&ready),
            true,
            2,
            "2026-03-01",
            Stage::KommunenProduktiv,
        );
        let unsuitable = State {
            bewertung: Some(Bewertung::NichtGeeignet),
            ..State::default()
        };
        check(Some(&unsuitable), true, 2, "2026-03-01", Stage::Bewertet);
        assert_eq!(Stage::KommunenProduktiv.stufe(), 7);
    }

    #[test]
    fn bad_cells_and_keys_are_named() {
        check(
            &[
                row(2, "EFA-9", &[(Field::Kanal, "Fax")]),
                row(3, "EFA-OLD", &[]),
                row(4, "EFA-1", &[(Field::Kontakt, "Erika Mustermann")]),
                row(5, "EFA-1", &[]),
            ],
            &[
                "line 2, column EfA-ID: unknown EfA service \"EFA-9\": not in the current EfA catalogue (`ozgsync import efa FILE`, ids in view v_efa_services)",
                "line 2, column Kanal: \"Fax\" is not a Kanal; allowed: GovConnect, govdigital, Land, keiner",
                "line 3, column EfA-ID: EFA-OLD has been retired from the EfA catalogue; its Nachnutzung history is kept but can no longer be changed",
                "line 4, column Kontakt: \"Erika Mustermann\" is not an e-mail address; give a role mailbox (e.g. efa@mi.niedersachsen.de), not a person's name",
                "line 5, column EfA-ID: EFA-1 already appears on line 4; give each service one row",
            ],
        );
    }

    #[test]
    fn the_stages_must_follow_each_other() {
        check(
            &[
                row(2, "EFA-1", &[(Field::Bewertung, "nicht geeignet")]),
                row(
                    3,
                    "EFA-2",
                    &[
                        (Field::Bewertung, "geeignet"),
                        (Field::BewertetAm, "2026-02-01"),
                        (Field::Ressort, "ms"),
                        (Field::Parametrisierung, "in Arbeit"),
                        (Field::Kanal, "govdigital"),
                        (Field::KostenLand, "ja"),
                    ],
                ),
            ],
            &[
                "line 2, column Bewertet am: required once the service is evaluated: the date of the Bewertung",
                "line 2, column Ressort: required once the service is evaluated: the evaluating Ressort",
                "line 2, column Bewertungsgrund: required when the Bewertung is nicht geeignet: say why the service cannot be reused",
                "line 3, column Parametrisierung: in Arbeit is only possible with Bewertung geeignet mit Anpassung; a service geeignet as it is needs nicht nötig",
                "line 3, column Kanal: a service is made available to the Kommunen only once it is evaluated as geeignet and its Parametrisierung is nicht nötig or erledigt",
                "line 3, column Bereitgestellt ab: required with a Kanal to the Kommunen: the date from which they can order the service",
            ],
        );
        check(
            &[row(
                2,
                "EFA-1",
                &[
                    (Field::Bewertung, "geeignet mit Anpassung"),
                    (Field::BewertetAm, "2026-02-01"),
                    (Field::Ressort, "MI"),
                    (Field::Parametrisierung, "erledigt"),
                    (Field::ParametrisiertAm, "2026-01-01"),
                ],
            )],
            &["line 2, column Parametrisiert am: lies before the Bewertung (Bewertet am); check both dates"],
        );
    }
}
