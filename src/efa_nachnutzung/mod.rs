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

use crate::annotations::csv::{Sheet as GenericSheet, SheetColumns};
use crate::annotations::{overflow, parse_cell, remark, RawRow as GenericRow, RowError, CLEAR};
use crate::model::date::parse_date;
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
    #[allow(
        clippy::indexing_slicing,
        reason = "`ALL` has one stage more than there are steps, so any count of steps reached indexes it"
    )]
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
        let reached = steps.iter().take_while(|ok| **ok).count();
        Stage::ALL[reached]
    }
}

/// The sheet's fields, in sheet order. `column` is the database column and the
/// field name in the audit trail.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Bewertung,
    Bewertungsgrund,
    BewertetAm,
    Ressort,
    Parametrisierung,
    ParametrisiertAm,
    Kanal,
    BereitgestelltAb,
    KostenLand,
    Kontakt,
    Bemerkung,
}

impl Field {
    pub const ALL: [Field; 11] = [
        Field::Bewertung,
        Field::Bewertungsgrund,
        Field::BewertetAm,
        Field::Ressort,
        Field::Parametrisierung,
        Field::ParametrisiertAm,
        Field::Kanal,
        Field::BereitgestelltAb,
        Field::KostenLand,
        Field::Kontakt,
        Field::Bemerkung,
    ];

    pub fn column(self) -> &'static str {
        match self {
            Field::Bewertung => "bewertung",
            Field::Bewertungsgrund => "bewertungsgrund",
            Field::BewertetAm => "bewertet_am",
            Field::Ressort => "ressort",
            Field::Parametrisierung => "parametrisierung",
            Field::ParametrisiertAm => "parametrisiert_am",
            Field::Kanal => "kanal",
            Field::BereitgestelltAb => "bereitgestellt_ab",
            Field::KostenLand => "kosten_land",
            Field::Kontakt => "kontakt",
            Field::Bemerkung => "bemerkung",
        }
    }

    pub fn header(self) -> &'static str {
        match self {
            Field::Bewertung => "Bewertung",
            Field::Bewertungsgrund => "Bewertungsgrund",
            Field::BewertetAm => "Bewertet am",
            Field::Ressort => "Ressort",
            Field::Parametrisierung => "Parametrisierung",
            Field::ParametrisiertAm => "Parametrisiert am",
            Field::Kanal => "Kanal",
            Field::BereitgestelltAb => "Bereitgestellt ab",
            Field::KostenLand => "Kosten Land",
            Field::Kontakt => "Kontakt",
            Field::Bemerkung => "Bemerkung",
        }
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
    sheet_columns("EfA-Nachnutzung sheet (CSV)", |spec| {
        crate::annotations::csv::read_sheet(input, spec)
    })
}

/// The sheet's columns, for `f` (CSV and XLSX alike); `expected` names the file
/// kind in "not the format" messages.
fn sheet_columns<T>(expected: &'static str, f: impl FnOnce(&SheetColumns<'_, Field>) -> T) -> T {
    let fields: Vec<(Field, &str)> = Field::ALL.iter().map(|f| (*f, f.header())).collect();
    f(&SheetColumns {
        key: KEY_HEADER,
        informational: &[NAME_HEADER],
        fields: &fields,
        expected,
        template: "ozgsync template efa-nachnutzung",
    })
}

/// The template's columns in order.
pub fn headers() -> Vec<&'static str> {
    let mut h = vec![KEY_HEADER, NAME_HEADER];
    h.extend(Field::ALL.iter().map(|f| f.header()));
    h
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
        self.ressorts
            .iter()
            .find(|(_, i)| *i == id)
            .map_or_else(|| format!("#{id}"), |(k, _)| k.clone())
    }
}

/// A row that passed: the service's state before and after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidRow {
    pub line: u64,
    pub efa_id: String,
    pub before: Option<State>,
    pub after: State,
}

impl ValidRow {
    /// The fields that change, as audit text: (field, old, new).
    pub fn changes(&self, known: &Known) -> Vec<(Field, Option<String>, Option<String>)> {
        let before = self.before.clone().unwrap_or_default().values(known, false);
        before
            .into_iter()
            .zip(self.after.values(known, false))
            .filter(|((_, old), (_, new))| old != new)
            .map(|((field, old), (_, new))| (field, old, new))
            .collect()
    }

    pub fn is_noop(&self) -> bool {
        self.before.clone().unwrap_or_default() == self.after
    }
}

/// The outcome of validating a sheet.
pub type Validation = crate::annotations::Validation<ValidRow>;

fn date_cell(s: &str) -> Result<NaiveDate, String> {
    parse_date(s).ok_or_else(|| format!("{s:?} is not a date; write 15.01.2026 or 2026-01-15"))
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

/// Validates every row against `known`, pure, before anything is written.
pub fn validate(rows: &[RawRow], known: &Known) -> Validation {
    let mut out = Validation::default();
    let mut first_line: HashMap<String, u64> = HashMap::new();
    for row in rows {
        let mut errors = Vec::new();
        let mut err = |column: Option<&'static str>, message: String| {
            errors.push(RowError {
                line: row.line,
                column,
                message,
            });
        };
        if let Some(message) = overflow(row.overflow) {
            err(None, message);
        }
        let id = row.key.trim();
        let key_col = Some(KEY_HEADER);
        if id.is_empty() {
            err(
                key_col,
                "missing; every row needs the EfA-ID of a service in the EfA catalogue".into(),
            );
        } else if let Some(first) = first_line.get(id) {
            err(
                key_col,
                format!("{id} already appears on line {first}; give each service one row"),
            );
        } else {
            first_line.insert(id.to_owned(), row.line);
            if known.retired.contains(id) {
                err(key_col, format!("{id} has been retired from the EfA catalogue; its Nachnutzung history is kept but can no longer be changed"));
            } else if !known.current.contains(id) {
                err(key_col, format!("unknown EfA service {id:?}: not in the current EfA catalogue (`ozgsync import efa FILE`, ids in view v_efa_services)"));
            }
        }

        let cell = |f: Field| row.cells.get(&f).map(|s| s.trim()).unwrap_or_default();
        let mut cell_errors = Vec::new();
        let e = &mut cell_errors;
        let bewertung = parse_cell(cell(Field::Bewertung), Field::Bewertung, e, |s| {
            Bewertung::parse(&slug(s)).ok_or_else(|| {
                format!("{s:?} is not a Bewertung; allowed: offen, geeignet, geeignet mit Anpassung, nicht geeignet")
            })
        });
        let grund = parse_cell(
            cell(Field::Bewertungsgrund),
            Field::Bewertungsgrund,
            e,
            remark,
        );
        let bewertet_am = parse_cell(cell(Field::BewertetAm), Field::BewertetAm, e, date_cell);
        let ressort = parse_cell(cell(Field::Ressort), Field::Ressort, e, |s| {
            known
                .ressorts
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(s))
                .map(|(_, id)| *id)
                .ok_or_else(|| {
                    let names: Vec<&str> = known.ressorts.iter().map(|(k, _)| k.as_str()).collect();
                    format!("unknown Ressort {s:?}; known: {}", names.join(", "))
                })
        });
        let parametrisierung = parse_cell(
            cell(Field::Parametrisierung),
            Field::Parametrisierung,
            e,
            |s| {
                Parametrisierung::parse(&slug(s)).ok_or_else(|| {
                    format!("{s:?} is not a Parametrisierung; allowed: nicht nötig, offen, in Arbeit, erledigt")
                })
            },
        );
        let parametrisiert_am = parse_cell(
            cell(Field::ParametrisiertAm),
            Field::ParametrisiertAm,
            e,
            date_cell,
        );
        let kanal = parse_cell(cell(Field::Kanal), Field::Kanal, e, |s| {
            Kanal::read(s).ok_or_else(|| {
                format!("{s:?} is not a Kanal; allowed: GovConnect, govdigital, Land, keiner")
            })
        });
        let bereitgestellt_ab = parse_cell(
            cell(Field::BereitgestelltAb),
            Field::BereitgestelltAb,
            e,
            date_cell,
        );
        let kosten_land = parse_cell(cell(Field::KostenLand), Field::KostenLand, e, |s| {
            KostenLand::parse(&slug(s)).ok_or_else(|| {
                format!("{s:?} is not a Kosten-Land value; allowed: ja, nein, anteilig")
            })
        });
        let kontakt = parse_cell(cell(Field::Kontakt), Field::Kontakt, e, kontakt);
        let bemerkung = parse_cell(cell(Field::Bemerkung), Field::Bemerkung, e, remark);
        let cells_ok = cell_errors.is_empty();
        for (field, message) in cell_errors {
            err(Some(field.header()), message);
        }

        let before = known.existing.get(id).cloned();
        let base = before.clone().unwrap_or_default();
        let after = State {
            bewertung: bewertung.apply(&base.bewertung),
            bewertungsgrund: grund.apply(&base.bewertungsgrund),
            bewertet_am: bewertet_am.apply(&base.bewertet_am),
            ressort_id: ressort.apply(&base.ressort_id),
            parametrisierung: parametrisierung.apply(&base.parametrisierung),
            parametrisiert_am: parametrisiert_am.apply(&base.parametrisiert_am),
            kanal: kanal.apply(&base.kanal),
            bereitgestellt_ab: bereitgestellt_ab.apply(&base.bereitgestellt_ab),
            kosten_land: kosten_land.apply(&base.kosten_land),
            kontakt: kontakt.apply(&base.kontakt),
            bemerkung: bemerkung.apply(&base.bemerkung),
        };
        // Cross-field rules only once each cell is valid on its own.
        if cells_ok {
            for (field, message) in consistency(&after) {
                err(Some(field.header()), message);
            }
        }
        let valid = ValidRow {
            line: row.line,
            efa_id: id.to_owned(),
            before,
            after,
        };
        out.settle(row.line, errors, valid);
    }
    out
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

    fn known() -> Known {
        Known {
            current: ["EFA-1".to_string(), "EFA-2".to_string()].into(),
            retired: ["EFA-OLD".to_string()].into(),
            ressorts: vec![("MI".into(), 2), ("MS".into(), 4)],
            existing: HashMap::new(),
        }
    }

    fn row(line: u64, key: &str, cells: &[(Field, &str)]) -> RawRow {
        RawRow {
            line,
            key: key.into(),
            cells: cells.iter().map(|(f, s)| (*f, s.to_string())).collect(),
            overflow: None,
        }
    }

    fn check(rows: &[RawRow], expected: &[&str]) {
        let got: Vec<String> = validate(rows, &known())
            .errors
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(got, expected);
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
