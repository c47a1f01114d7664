//! Deterministic test-data generator for the benchmarks: LeiKa CSV releases (and a
//! "next release" with a chosen share of changes) and a national GV100AD-like
//! directory. Everything is driven by a hand-written SplitMix64 so that the same seed
//! gives the same bytes forever, whatever crate versions the project moves to.
//!
//! This file must stay self-contained (only `std` and `encoding_rs`): the integration
//! test `tests/it/bench_gen.rs` includes it with `#[path]`, because a `harness = false`
//! bench target cannot hold unit tests of its own.

// ---------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------

/// SplitMix64 (Steele, Lea, Flood 2014): tiny, fast, and fixed forever, unlike the
/// generators behind `rand`, whose streams may change between versions.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        SplitMix64 { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n == 0`), by multiply-shift (bias below 2^-64 · n).
    pub fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }

    /// Uniform in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.below(hi.saturating_sub(lo) + 1)
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next_u64() >> 11) as f64 / (1u64 << 53) as f64) < p
    }

    /// One item of a list; "" for an empty list (the lists here are constants).
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        let i = self.below(items.len() as u64) as usize;
        items.get(i).copied().unwrap_or("")
    }

    /// Weighted pick from `(item, weight)` pairs.
    pub fn pick_weighted<'a>(&mut self, items: &[(&'a str, u64)]) -> &'a str {
        let total: u64 = items.iter().map(|(_, w)| w).sum();
        let mut r = self.below(total);
        for (item, w) in items {
            if r < *w {
                return item;
            }
            r -= w;
        }
        ""
    }
}

/// Pads or cuts `s` to exactly `width` characters (not bytes: names carry umlauts).
fn fixed(s: &str, width: usize) -> String {
    let mut out: String = s.chars().take(width).collect();
    let len = out.chars().count();
    out.extend(std::iter::repeat_n(' ', width - len));
    out
}

// ---------------------------------------------------------------------------------
// LeiKa
// ---------------------------------------------------------------------------------

/// The header of the official LeiKa CSV download, in order (the parser's list).
pub const LEIKA_HEADER: [&str; 11] = ozgsync::parse::leika_csv::COLUMN_NAMES;

/// Largest release [`leika_release`] can make with unique keys (999 groups of at most
/// 999 Leistungsobjekte, a few rows each, with room to spare).
pub const MAX_LEIKA_ROWS: usize = 2_000_000;

/// One CSV row, all fields as text exactly as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeikaRow {
    pub schluessel: String,
    pub leistungsgruppierung: String,
    pub leistungskennung: String,
    pub verrichtung: String,
    pub verrichtungsdetail: String,
    pub bezeichnung: String,
    pub bezeichnung2: String,
    pub typ: String,
    pub veroeffentlichungsdatum: String,
    pub besondere_merkmale: String,
    pub synonyme: String,
}

impl LeikaRow {
    fn fields(&self) -> [&str; 11] {
        [
            &self.schluessel,
            &self.leistungsgruppierung,
            &self.leistungskennung,
            &self.verrichtung,
            &self.verrichtungsdetail,
            &self.bezeichnung,
            &self.bezeichnung2,
            &self.typ,
            &self.veroeffentlichungsdatum,
            &self.besondere_merkmale,
            &self.synonyme,
        ]
    }
}

/// A whole LeiKa release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeikaRelease {
    pub rows: Vec<LeikaRow>,
}

impl LeikaRelease {
    /// The CSV as text: `;`, CRLF, fields quoted only when they must be.
    pub fn to_csv_utf8(&self) -> String {
        let mut out = String::with_capacity(self.rows.len() * 160);
        push_record(&mut out, &LEIKA_HEADER);
        for row in &self.rows {
            push_record(&mut out, &row.fields());
        }
        out
    }

    /// The CSV as the FIM Portal ships it: Windows-1252. Every generated character is
    /// in that code page (the word lists below keep to it).
    pub fn to_csv_windows1252(&self) -> Vec<u8> {
        let text = self.to_csv_utf8();
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(&text);
        bytes.into_owned()
    }
}

fn push_record(out: &mut String, fields: &[&str]) {
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(';');
        }
        if field.contains([';', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&field.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(field);
        }
    }
    out.push_str("\r\n");
}

const GRUPPEN: &[&str] = &[
    "Abfall",
    "Arbeit",
    "Aufenthalt",
    "Ausbildung",
    "Bauen",
    "Bestattung",
    "Bildung",
    "Datenschutz",
    "Ehe und Lebenspartnerschaft",
    "Energie",
    "Familie",
    "Feuerwehr",
    "Fischerei",
    "Forst",
    "Gaststätten",
    "Gesundheit",
    "Gewerbe",
    "Gewässer",
    "Handwerk",
    "Hochschule",
    "Hunde und Tierhaltung",
    "Jagd",
    "Jugend",
    "Justiz",
    "Kinderbetreuung",
    "Kultur",
    "Landwirtschaft",
    "Lebensmittel",
    "Melderecht",
    "Naturschutz",
    "Personenstand",
    "Rente",
    "Schule",
    "Soziales",
    "Sport",
    "Staatsangehörigkeit",
    "Steuern",
    "Straßenverkehr",
    "Tourismus",
    "Umweltschutz",
    "Verbraucherschutz",
    "Vereine",
    "Verkehr",
    "Versammlungen",
    "Waffen",
    "Wahlen",
    "Wasser",
    "Wohnen",
    "Zoll",
];

const OBJEKTE: &[&str] = &[
    "Abfallgebühr",
    "Abwasserbeseitigung",
    "Anwohnerparkausweis",
    "Arbeitslosengeld",
    "Aufenthaltserlaubnis",
    "Ausbildungsförderung",
    "Baugenehmigung",
    "Bauvorbescheid",
    "Beglaubigung",
    "Bescheinigung über Lebensmittelhygiene",
    "Bewohnerparkausweis",
    "Brandschutzprüfung",
    "Bußgeld",
    "Denkmalschutzrechtliche Genehmigung",
    "Einbürgerung",
    "Elterngeld",
    "Erbschein",
    "Fahrerlaubnis",
    "Fahrzeugzulassung",
    "Fischereischein",
    "Förderung für Kleinunternehmen",
    "Friedhofsgebühr",
    "Führungszeugnis",
    "Gaststättenerlaubnis",
    "Geburtsurkunde",
    "Gewerbeanzeige",
    "Grundsteuer",
    "Hundesteuer",
    "Jagdschein",
    "Kindergeld",
    "Kita-Platz",
    "Kraftfahrzeugsteuer",
    "Lärmschutzmaßnahme",
    "Marktzulassung",
    "Meldebescheinigung",
    "Mutterschaftsgeld",
    "Namensänderung",
    "Parkerleichterung für Schwerbehinderte",
    "Personalausweis",
    "Pflegegeld",
    "Reisepass",
    "Schülerbeförderung",
    "Schwerbehindertenausweis",
    "Sondernutzung öffentlicher Straßen",
    "Sperrzeitverkürzung",
    "Sprengstofferlaubnis",
    "Straßenausbaubeitrag",
    "Tierhaltung",
    "Trinkwasseruntersuchung",
    "Übernachtungssteuer",
    "Umzugskostenbeihilfe",
    "Unterhaltsvorschuss",
    "Veranstaltungsgenehmigung",
    "Vergnügungssteuer",
    "Waffenbesitzkarte",
    "Wasserrechtliche Erlaubnis",
    "Wohngeld",
    "Wohnberechtigungsschein",
    "Zweitwohnungsteuer",
];

const QUALIFIER: &[&str] = &[
    "für Gaststätten",
    "für Unternehmen",
    "für Privatpersonen",
    "für Schwerbehinderte",
    "für Minderjährige",
    "für Ausländerinnen und Ausländer",
    "nach dem Bundesimmissionsschutzgesetz",
    "nach dem Waffengesetz",
    "nach § 14 GewO",
    "nach Landesrecht",
    "im Straßenverkehr",
    "an Gewässern",
    "an öffentlichen Schulen",
    "in Schutzgebieten",
    "bei Großveranstaltungen",
    "im Außenbereich",
    "für landwirtschaftliche Betriebe",
    "für Heilberufe",
    "für Übungsleiter",
    "für Fahrzeuge über 3,5 t",
];

const VERRICHTUNGEN: &[&str] = &[
    "Erteilung",
    "Änderung",
    "Verlängerung",
    "Ausstellung",
    "Festsetzung",
    "Bewilligung",
    "Abmeldung",
    "Anmeldung",
    "Ummeldung",
    "Rücknahme",
    "Widerruf",
    "Entgegennahme",
    "Erstattung",
    "Ermäßigung",
    "Befreiung",
    "Prüfung",
    "Anerkennung",
    "Auskunft",
    "Zulassung",
    "Untersagung",
    "Stundung",
    "Übertragung",
    "Ersatzausstellung",
    "Löschung",
    "Berichtigung",
    "Beglaubigung",
    "Genehmigung",
    "Verlegung",
    "Zuteilung",
    "Einstufung",
];

const DETAILS: &[&str] = &[
    "bei Verlust",
    "im Ausland",
    "für Minderjährige",
    "wegen Umzug",
    "nach Fristablauf",
    "auf Antrag",
    "von Amts wegen",
    "mit Härtefall",
    "in elektronischer Form",
    "für Gewerbetreibende",
];

const MERKMALE: &[&str] = &[
    "Einheitlicher Ansprechpartner",
    "EU-DLR",
    "SDG-relevant",
    "Genehmigungsfiktion",
    "Bundesrecht",
    "Landesrecht",
    "Gebührenpflichtig",
];

const SYNONYME: &[&str] = &[
    "Antrag",
    "Genehmigung",
    "Bescheid",
    "Anzeige",
    "Meldung",
    "Zulassung",
    "Erlaubnis",
    "Führerschein",
    "Ausweis",
    "Förderung",
    "Zuschuss",
    "Gebühr",
    "Steuer",
    "Bürgerbüro",
    "Prüfbescheinigung",
    "Nachweis",
];

/// Typisierung codes weighted roughly as they occur (2/3, 4, 5 dominate).
const TYPEN: &[(&str, u64)] = &[
    ("1", 6),
    ("2", 3),
    ("2a", 1),
    ("2b", 1),
    ("3", 3),
    ("3a", 1),
    ("3b", 1),
    ("2/3", 22),
    ("2/3a", 1),
    ("2/3b", 1),
    ("4", 10),
    ("4a", 5),
    ("4b", 5),
    ("5", 16),
    ("6", 3),
    ("7", 1),
    ("8", 1),
    ("9", 1),
    ("10", 3),
    ("11", 1),
    ("12", 1),
];

const RENAME_SUFFIX: &[&str] = &[
    "(Neufassung)",
    "nach Landesrecht",
    "– digital",
    "für Privatpersonen",
    "einschließlich Folgeverfahren",
];

fn typ(rng: &mut SplitMix64) -> String {
    let first = rng.pick_weighted(TYPEN);
    // A service can carry several types; the download writes them as `2/3, 4a`.
    if rng.chance(0.06) {
        let second = rng.pick_weighted(TYPEN);
        if second != first {
            return format!("{first}, {second}");
        }
    }
    first.to_string()
}

fn datum(rng: &mut SplitMix64, first_year: u64, last_year: u64) -> String {
    format!(
        "{:02}.{:02}.{} {:02}:{:02}",
        rng.range(1, 28),
        rng.range(1, 12),
        rng.range(first_year, last_year),
        rng.range(0, 23),
        rng.range(0, 59)
    )
}

fn bar_list(rng: &mut SplitMix64, items: &[&str], p: f64, max: u64) -> String {
    if !rng.chance(p) {
        return String::new();
    }
    let n = rng.range(1, max);
    let mut chosen: Vec<&str> = Vec::new();
    for _ in 0..n {
        let item = rng.pick(items);
        if !chosen.contains(&item) {
            chosen.push(item);
        }
    }
    chosen.join("|")
}

/// Appends the rows of Leistungsobjekt `kennung` in group `gruppe` (1-based numbers):
/// sometimes the `lo` row, one to five `lov` rows, sometimes `lovd` rows below them.
fn push_objekt(rng: &mut SplitMix64, rows: &mut Vec<LeikaRow>, gruppe: u64, kennung: u64) {
    let gruppe_name = match GRUPPEN.get(((gruppe - 1) % GRUPPEN.len() as u64) as usize) {
        Some(name) if gruppe as usize <= GRUPPEN.len() => name.to_string(),
        Some(name) => format!("{name} {}", (gruppe - 1) / GRUPPEN.len() as u64 + 1),
        None => String::new(),
    };
    let objekt = if rng.chance(0.6) {
        format!("{} {}", rng.pick(OBJEKTE), rng.pick(QUALIFIER))
    } else {
        rng.pick(OBJEKTE).to_string()
    };
    let objekt_typ = typ(rng);
    let objekt_datum = datum(rng, 2019, 2025);
    let synonyme = bar_list(rng, SYNONYME, 0.35, 3);
    let merkmale = bar_list(rng, MERKMALE, 0.2, 2);
    let base = |verrichtung: u64, detail: u64| LeikaRow {
        schluessel: format!("99{gruppe:03}{kennung:03}{verrichtung:03}{detail:03}"),
        leistungsgruppierung: gruppe_name.clone(),
        leistungskennung: objekt.clone(),
        verrichtung: String::new(),
        verrichtungsdetail: String::new(),
        bezeichnung: objekt.clone(),
        bezeichnung2: String::new(),
        typ: objekt_typ.clone(),
        veroeffentlichungsdatum: objekt_datum.clone(),
        besondere_merkmale: merkmale.clone(),
        synonyme: synonyme.clone(),
    };

    if rng.chance(0.5) {
        rows.push(base(0, 0));
    }
    let lov_count = rng.range(1, 5);
    let mut used = [false; VERRICHTUNGEN.len()];
    for _ in 0..lov_count {
        let start = rng.below(VERRICHTUNGEN.len() as u64) as usize;
        // Next free Verrichtung from a random start: distinct codes, no rejection loop.
        let Some(v) = (0..VERRICHTUNGEN.len())
            .map(|i| (start + i) % VERRICHTUNGEN.len())
            .find(|&i| !used.get(i).copied().unwrap_or(true))
        else {
            break;
        };
        if let Some(slot) = used.get_mut(v) {
            *slot = true;
        }
        let verrichtung = VERRICHTUNGEN.get(v).copied().unwrap_or("");
        let mut row = base(v as u64 + 1, 0);
        row.verrichtung = verrichtung.to_string();
        row.bezeichnung = format!("{objekt} {verrichtung}");
        if rng.chance(0.3) {
            row.bezeichnung2 = format!("{verrichtung} – {objekt}");
        }
        if rng.chance(0.1) {
            row.typ = typ(rng);
        }
        let details = if rng.chance(0.15) { rng.range(1, 2) } else { 0 };
        let detail_start = rng.below(DETAILS.len() as u64);
        rows.push(row.clone());
        for d in 0..details {
            let detail = DETAILS
                .get(((detail_start + d) % DETAILS.len() as u64) as usize)
                .copied()
                .unwrap_or("");
            let mut lovd = row.clone();
            lovd.schluessel = format!("99{gruppe:03}{kennung:03}{:03}{:03}", v + 1, d + 1);
            lovd.verrichtungsdetail = detail.to_string();
            lovd.bezeichnung = format!("{objekt} {verrichtung} {detail}");
            rows.push(lovd);
        }
    }
}

/// Turns a generated row into one of the kinds of dirt seen in real downloads.
fn make_dirty(rng: &mut SplitMix64, row: &mut LeikaRow) {
    match rng.below(6) {
        0 => row.schluessel = "nicht im LeiKa".to_string(),
        // A numeric key that lost its leading digits (spreadsheet round trip).
        1 => row.schluessel = row.schluessel.chars().skip(3).collect(),
        2 => row.typ = "1;2/3".to_string(),
        3 => row.typ = String::new(),
        4 => row.typ = "13".to_string(),
        _ => row.schluessel = format!("98{}", row.schluessel.chars().skip(2).collect::<String>()),
    }
}

/// Generates `rows` rows (at most [`MAX_LEIKA_ROWS`]) from `seed`. About 0.4 % of the
/// rows are dirty (see [`make_dirty`]); all valid keys are unique.
pub fn leika_release(rows: usize, seed: u64) -> LeikaRelease {
    let rows = rows.min(MAX_LEIKA_ROWS);
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(rows + 16);
    // About three rows per Leistungsobjekt; spread them over groups like the real
    // catalogue (a few hundred groups, up to 999 objects each).
    let per_group = (rows as u64 / 3 / 200).clamp(20, 999);
    let mut gruppe = 1;
    while out.len() < rows && gruppe <= 999 {
        let objekte = rng.range(per_group / 2, (per_group * 3 / 2).min(999));
        for kennung in 1..=objekte {
            if out.len() >= rows {
                break;
            }
            push_objekt(&mut rng, &mut out, gruppe, kennung);
        }
        gruppe += 1;
    }
    out.truncate(rows);
    for row in &mut out {
        if rng.chance(0.004) {
            make_dirty(&mut rng, row);
        } else if rng.chance(0.002) {
            // Quotes inside a field force CSV quoting, as in real exports.
            row.bezeichnung = format!("{} \"{}\"", row.bezeichnung, rng.pick(SYNONYME));
        }
    }
    LeikaRelease { rows: out }
}

/// Whether `key` is a well-formed Leistungsschlüssel (14 digits starting with 99).
pub fn is_valid_schluessel(key: &str) -> bool {
    key.len() == 14 && key.starts_with("99") && key.bytes().all(|b| b.is_ascii_digit())
}

/// How a next release differs from its base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReleaseChanges {
    pub renamed: usize,
    pub retyped: usize,
    pub removed: usize,
    pub added: usize,
}

/// The release after `base`: `round(share · rows)` rows with valid keys change, 40 %
/// of them renamed, 30 % retyped and the rest removed; as many rows as were removed
/// are added under new keys (in new groups), so the size stays the same.
pub fn leika_next_release(
    base: &LeikaRelease,
    share: f64,
    seed: u64,
) -> (LeikaRelease, ReleaseChanges) {
    let mut rng = SplitMix64::new(seed ^ 0x6E65_7874_5F72_656C);
    let mut candidates: Vec<usize> = base
        .rows
        .iter()
        .enumerate()
        .filter(|(_, row)| is_valid_schluessel(&row.schluessel))
        .map(|(i, _)| i)
        .collect();
    let wanted = (share.clamp(0.0, 1.0) * base.rows.len() as f64).round() as usize;
    let k = wanted.min(candidates.len());
    // Partial Fisher-Yates: the first k candidates become a uniform sample.
    for i in 0..k {
        let j = i + rng.below((candidates.len() - i) as u64) as usize;
        candidates.swap(i, j);
    }
    let chosen = candidates.get(..k).unwrap_or(&[]);
    let renamed = k * 4 / 10;
    let retyped = k * 3 / 10;
    let removed = k - renamed - retyped;

    let mut rows = base.rows.clone();
    let mut gone = vec![false; rows.len()];
    for (n, &i) in chosen.iter().enumerate() {
        let new_datum = datum(&mut rng, 2026, 2026);
        let Some(row) = rows.get_mut(i) else { continue };
        if n < renamed {
            row.bezeichnung = format!("{} {}", row.bezeichnung, rng.pick(RENAME_SUFFIX));
            row.veroeffentlichungsdatum = new_datum;
        } else if n < renamed + retyped {
            let mut new_typ = typ(&mut rng);
            // Bounded retries, then a code that differs from any single code.
            for _ in 0..8 {
                if new_typ != row.typ {
                    break;
                }
                new_typ = typ(&mut rng);
            }
            if new_typ == row.typ {
                new_typ = format!("{}, 6", row.typ);
            }
            row.typ = new_typ;
            row.veroeffentlichungsdatum = new_datum;
        } else if let Some(flag) = gone.get_mut(i) {
            *flag = true;
        }
    }
    let mut next: Vec<LeikaRow> = rows
        .into_iter()
        .zip(gone)
        .filter(|(_, gone)| !gone)
        .map(|(row, _)| row)
        .collect();

    // New services go into groups after the highest one in use, so keys are new.
    let max_gruppe = base
        .rows
        .iter()
        .filter(|row| is_valid_schluessel(&row.schluessel))
        .filter_map(|row| row.schluessel.get(2..5)?.parse::<u64>().ok())
        .max()
        .unwrap_or(0);
    let mut added_rows = Vec::with_capacity(removed + 8);
    let mut gruppe = max_gruppe + 1;
    let mut kennung = 1;
    while added_rows.len() < removed && gruppe <= 999 {
        push_objekt(&mut rng, &mut added_rows, gruppe, kennung);
        kennung += 1;
        if kennung > 999 {
            kennung = 1;
            gruppe += 1;
        }
    }
    added_rows.truncate(removed);
    let added = added_rows.len();
    next.extend(added_rows);
    (
        LeikaRelease { rows: next },
        ReleaseChanges {
            renamed,
            retyped,
            removed,
            added,
        },
    )
}

// ---------------------------------------------------------------------------------
// GV100AD
// ---------------------------------------------------------------------------------

/// Characters per GV100AD line.
pub const GV100AD_LINE_CHARS: usize = 220;

/// One generated record: the line and what it is meant to say, so tests can check
/// that the line's character layout really says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GvRecord {
    /// 10 Land, 20 Regierungsbezirk/region, 30 Region (BW), 40 Kreis, 50 Verband,
    /// 60 Gemeinde.
    pub satzart: u8,
    /// The 12-digit ARS, right-padded with `0` for the upper levels.
    pub ars: String,
    pub name: String,
    /// Textkennzeichen (blank for types 10–30).
    pub textkennzeichen: String,
    pub line: String,
}

/// A whole generated directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gv100adDirectory {
    pub records: Vec<GvRecord>,
}

impl Gv100adDirectory {
    /// The file as Destatis ships it: UTF-8, LF, one record per line.
    pub fn to_text(&self) -> String {
        let mut out = String::with_capacity(self.records.len() * 224);
        for record in &self.records {
            out.push_str(&record.line);
            out.push('\n');
        }
        out
    }

    /// Gemeinden proper (type 60 with a Gemeinde Textkennzeichen, as ozgsync counts them).
    pub fn gemeinden(&self) -> usize {
        self.records
            .iter()
            .filter(|r| {
                r.satzart == 60
                    && ozgsync::model::GEMEINDE_TEXTKENNZEICHEN
                        .contains(&r.textkennzeichen.as_str())
            })
            .count()
    }
}

struct LandSpec {
    key: u8,
    name: &'static str,
    sitz: &'static str,
    /// Regierungsbezirke (or NI's statistical regions); empty: RB digit 0, no type 20.
    bezirke: &'static [&'static str],
    kreisfreie: u32,
    landkreise: u32,
    /// All Gemeinden, kreisfreie Städte included (Destatis counts, end of 2024).
    gemeinden: u32,
    /// Textkennzeichen of this Land's Gemeindeverbände.
    verband_tk: &'static str,
    /// Share of the Gemeinden of a Landkreis that belong to a Verband.
    verband_share: f64,
    gemeindefrei: u32,
}

#[rustfmt::skip]
const LAENDER: &[LandSpec] = &[
    LandSpec { key: 1, name: "Schleswig-Holstein", sitz: "Kiel", bezirke: &[], kreisfreie: 4, landkreise: 11, gemeinden: 1104, verband_tk: "51", verband_share: 0.95, gemeindefrei: 2 },
    LandSpec { key: 2, name: "Hamburg", sitz: "Hamburg", bezirke: &[], kreisfreie: 1, landkreise: 0, gemeinden: 1, verband_tk: "50", verband_share: 0.0, gemeindefrei: 0 },
    LandSpec { key: 3, name: "Niedersachsen", sitz: "Hannover", bezirke: &["Statistische Region Braunschweig", "Statistische Region Hannover", "Statistische Region Lüneburg", "Statistische Region Weser-Ems"], kreisfreie: 8, landkreise: 37, gemeinden: 939, verband_tk: "52", verband_share: 0.66, gemeindefrei: 25 },
    LandSpec { key: 4, name: "Bremen", sitz: "Bremen", bezirke: &[], kreisfreie: 2, landkreise: 0, gemeinden: 2, verband_tk: "50", verband_share: 0.0, gemeindefrei: 0 },
    LandSpec { key: 5, name: "Nordrhein-Westfalen", sitz: "Düsseldorf", bezirke: &["Düsseldorf", "Köln", "Münster", "Detmold", "Arnsberg"], kreisfreie: 22, landkreise: 31, gemeinden: 396, verband_tk: "50", verband_share: 0.0, gemeindefrei: 0 },
    LandSpec { key: 6, name: "Hessen", sitz: "Wiesbaden", bezirke: &["Darmstadt", "Gießen", "Kassel"], kreisfreie: 5, landkreise: 21, gemeinden: 421, verband_tk: "50", verband_share: 0.0, gemeindefrei: 4 },
    LandSpec { key: 7, name: "Rheinland-Pfalz", sitz: "Mainz", bezirke: &[], kreisfreie: 12, landkreise: 24, gemeinden: 2301, verband_tk: "53", verband_share: 0.98, gemeindefrei: 0 },
    LandSpec { key: 8, name: "Baden-Württemberg", sitz: "Stuttgart", bezirke: &["Stuttgart", "Karlsruhe", "Freiburg", "Tübingen"], kreisfreie: 9, landkreise: 35, gemeinden: 1101, verband_tk: "54", verband_share: 0.6, gemeindefrei: 2 },
    LandSpec { key: 9, name: "Bayern", sitz: "München", bezirke: &["Oberbayern", "Niederbayern", "Oberpfalz", "Oberfranken", "Mittelfranken", "Unterfranken", "Schwaben"], kreisfreie: 25, landkreise: 71, gemeinden: 2056, verband_tk: "54", verband_share: 0.47, gemeindefrei: 20 },
    LandSpec { key: 10, name: "Saarland", sitz: "Saarbrücken", bezirke: &[], kreisfreie: 0, landkreise: 6, gemeinden: 52, verband_tk: "50", verband_share: 0.0, gemeindefrei: 0 },
    LandSpec { key: 11, name: "Berlin", sitz: "Berlin", bezirke: &[], kreisfreie: 1, landkreise: 0, gemeinden: 1, verband_tk: "50", verband_share: 0.0, gemeindefrei: 0 },
    LandSpec { key: 12, name: "Brandenburg", sitz: "Potsdam", bezirke: &[], kreisfreie: 4, landkreise: 14, gemeinden: 411, verband_tk: "51", verband_share: 0.65, gemeindefrei: 0 },
    LandSpec { key: 13, name: "Mecklenburg-Vorpommern", sitz: "Schwerin", bezirke: &[], kreisfreie: 2, landkreise: 6, gemeinden: 726, verband_tk: "51", verband_share: 0.95, gemeindefrei: 0 },
    LandSpec { key: 14, name: "Sachsen", sitz: "Dresden", bezirke: &[], kreisfreie: 3, landkreise: 10, gemeinden: 418, verband_tk: "56", verband_share: 0.45, gemeindefrei: 0 },
    LandSpec { key: 15, name: "Sachsen-Anhalt", sitz: "Magdeburg", bezirke: &[], kreisfreie: 3, landkreise: 11, gemeinden: 218, verband_tk: "53", verband_share: 0.5, gemeindefrei: 0 },
    LandSpec { key: 16, name: "Thüringen", sitz: "Erfurt", bezirke: &[], kreisfreie: 5, landkreise: 17, gemeinden: 605, verband_tk: "54", verband_share: 0.75, gemeindefrei: 0 },
];

/// Sum of the Gemeinden of all Länder in the generated directory.
#[allow(dead_code)] // for tests/it/bench_gen.rs
pub fn gv100ad_expected_gemeinden() -> usize {
    LAENDER.iter().map(|l| l.gemeinden as usize).sum()
}

const ORT_PREFIX: &[&str] = &[
    "Alt", "Neu", "Groß", "Klein", "Bad", "Ober", "Nieder", "Hohen", "Unter", "Wester", "Oster",
];
const ORT_STAMM: &[&str] = &[
    "Adel", "Ahl", "Bären", "Bück", "Dör", "Eich", "Fürsten", "Grün", "Hasel", "Königs", "Linden",
    "Lüne", "Mühl", "Rosen", "Schön", "Sonnen", "Tann", "Wald", "Weiß", "Wolfs", "Brüg", "Hütt",
    "Kirch", "Stein", "Sand", "Marien", "Ilse", "Ebers", "Göt", "Rüders",
];
const ORT_ENDUNG: &[&str] = &[
    "dorf", "hausen", "heim", "stedt", "büttel", "ingen", "burg", "feld", "beck", "rode", "au",
    "bach", "berg", "born", "hagen", "kirchen", "loh", "münde", "wede", "horst",
];

fn ortsname(rng: &mut SplitMix64) -> String {
    let stem = format!("{}{}", rng.pick(ORT_STAMM), rng.pick(ORT_ENDUNG));
    if rng.chance(0.15) {
        format!("{} {}", rng.pick(ORT_PREFIX), stem)
    } else {
        stem
    }
}

/// Columns 125–220 of a type-60 record: area, population, postcode, court and
/// agency districts, Bundestag constituency.
fn gemeinde_tail(rng: &mut SplitMix64, population: u64, gemeindefrei: bool) -> String {
    let area = rng.range(300, 40_000);
    let (pop, male, plz, plz_multi) = if gemeindefrei {
        (0, 0, "     ".to_string(), "     ")
    } else {
        let multi = if population > 40_000 {
            "*****"
        } else {
            "     "
        };
        (
            population,
            population * 49 / 100,
            format!("{:05}", rng.range(1_067, 99_998)),
            multi,
        )
    };
    let tail = format!(
        "{:4}{area:011}{pop:011}{male:011}{:4}{plz}{plz_multi}{:2}{:04}{}{}{:02}{:05}{:03}{:3}",
        "",
        "",
        "",
        rng.range(1000, 9999),
        rng.range(1, 9),
        rng.range(1, 9),
        rng.range(1, 40),
        rng.range(10_000, 99_999),
        rng.range(1, 299),
        "",
    );
    fixed(&tail, 96)
}

#[allow(clippy::too_many_arguments)]
fn record(
    satzart: u8,
    stand: &str,
    key: &str,
    ars: String,
    name: &str,
    sitz: &str,
    tk: &str,
    tail: &str,
) -> GvRecord {
    let line = format!(
        "{satzart}{}{}{}{}{}{}",
        fixed(stand, 8),
        fixed(key, 12),
        fixed(name, 50),
        fixed(sitz, 50),
        fixed(tk, 2),
        fixed(tail, GV100AD_LINE_CHARS - 124),
    );
    GvRecord {
        satzart,
        ars,
        name: name
            .chars()
            .take(50)
            .collect::<String>()
            .trim_end()
            .to_string(),
        textkennzeichen: tk.trim().to_string(),
        line,
    }
}

/// Splits `total` into `parts` shares of random size (each 50–150 % of the mean).
fn split(rng: &mut SplitMix64, total: u32, parts: u32) -> Vec<u32> {
    if parts == 0 {
        return Vec::new();
    }
    let weights: Vec<u64> = (0..parts).map(|_| rng.range(50, 150)).collect();
    let sum: u64 = weights.iter().sum();
    let mut shares: Vec<u32> = weights
        .iter()
        .map(|w| (u64::from(total) * w / sum) as u32)
        .collect();
    // Flooring leaves fewer than `parts` over: one more for the first few.
    let rest = total - shares.iter().sum::<u32>();
    for share in shares.iter_mut().take(rest as usize) {
        *share += 1;
    }
    shares
}

/// Returns the counter of Bezirk `rb` and advances it.
fn bump(counters: &mut [u32; 10], rb: u32) -> u32 {
    match counters.get_mut(rb as usize) {
        Some(v) => {
            *v += 1;
            *v - 1
        }
        None => 0,
    }
}

/// Generates a national directory (16 Länder, about 10,750 Gemeinden with their Kreise
/// and Verbände) as of `stand` (`YYYYMMDD`), in the GV100AD layout: positions count
/// characters; type-60 keys put the Gemeinde (16–18) before the Verband (19–22).
pub fn gv100ad_directory(seed: u64, stand: &str) -> Gv100adDirectory {
    let mut rng = SplitMix64::new(seed);
    let mut records = Vec::with_capacity(13_000);
    for land in LAENDER {
        let ll = format!("{:02}", land.key);
        records.push(record(
            10,
            stand,
            &ll,
            format!("{ll}0000000000"),
            land.name,
            land.sitz,
            "",
            "",
        ));
        for (i, bezirk) in land.bezirke.iter().enumerate() {
            let key = format!("{ll}{}", i + 1);
            let sitz = if bezirk.starts_with("Statistische") {
                ""
            } else {
                bezirk
            };
            records.push(record(
                20,
                stand,
                &key,
                format!("{key}000000000"),
                bezirk,
                sitz,
                "",
                "",
            ));
            // Baden-Württemberg also has Regionen (type 30) below its Bezirke.
            if land.key == 8 {
                for r in 1..=3 {
                    let rkey = format!("{key}{r}");
                    let name = format!("Region {}", ortsname(&mut rng));
                    records.push(record(
                        30,
                        stand,
                        &rkey,
                        format!("{rkey}00000000"),
                        &name,
                        "",
                        "",
                        "",
                    ));
                }
            }
        }
        let bezirk_digit = |i: u32| -> u32 {
            if land.bezirke.is_empty() {
                0
            } else {
                i % land.bezirke.len() as u32 + 1
            }
        };

        // Kreisfreie Städte: Kreis, Verband 0000 and Gemeinde 000 share one ARS.
        let mut next_kreis = [1u32; 10];
        for i in 0..land.kreisfreie {
            let rb = bezirk_digit(i);
            let kk = if land.kreisfreie == 1 && land.landkreise == 0 {
                0 // Hamburg, Berlin: the whole Land is one city
            } else {
                bump(&mut next_kreis, rb)
            };
            let kreis = format!("{ll}{rb}{kk:02}");
            let stadt = if land.kreisfreie == 1 && land.landkreise == 0 {
                land.name.to_string()
            } else {
                ortsname(&mut rng)
            };
            let name = format!("{stadt}, Stadt");
            let (kreis_tk, gem_tk) = if land.key == 8 {
                ("42", "62")
            } else {
                ("41", "61")
            };
            let ars = format!("{kreis}0000000");
            records.push(record(
                40,
                stand,
                &kreis,
                ars.clone(),
                &name,
                &stadt,
                kreis_tk,
                "",
            ));
            records.push(record(
                50,
                stand,
                &format!("{kreis}   0000"),
                ars.clone(),
                &name,
                "",
                "50",
                "",
            ));
            let population = rng.range(100_000, 1_800_000);
            let tail = gemeinde_tail(&mut rng, population, false);
            records.push(record(
                60,
                stand,
                &format!("{kreis}0000000"),
                ars,
                &name,
                "",
                gem_tk,
                &tail,
            ));
        }

        // Landkreise: numbered from 51 within their Bezirk.
        let lk_gemeinden = split(&mut rng, land.gemeinden - land.kreisfreie, land.landkreise);
        let mut next_lk = [51u32; 10];
        for (i, &count) in lk_gemeinden.iter().enumerate() {
            let rb = bezirk_digit(i as u32);
            let kk = bump(&mut next_lk, rb);
            let kreis = format!("{ll}{rb}{kk:02}");
            let kreis_name = ortsname(&mut rng);
            let kreis_tk = match land.key {
                10 if i == 0 => "45",
                1 | 5 => "43",
                _ => "44",
            };
            records.push(record(
                40,
                stand,
                &kreis,
                format!("{kreis}0000000"),
                &kreis_name,
                &kreis_name,
                kreis_tk,
                "",
            ));
            push_landkreis(&mut rng, &mut records, land, stand, &kreis, count, i as u32);
        }
    }
    Gv100adDirectory { records }
}

/// The type-50 and type-60 records of one Landkreis with `count` Gemeinden.
#[allow(clippy::too_many_arguments)]
fn push_landkreis(
    rng: &mut SplitMix64,
    records: &mut Vec<GvRecord>,
    land: &LandSpec,
    stand: &str,
    kreis: &str,
    count: u32,
    index: u32,
) {
    struct Gemeinde {
        code: u32,
        verband: String,
        name: String,
        tk: &'static str,
    }
    let mut gemeinden = Vec::with_capacity(count as usize);
    let mut verbaende: Vec<(String, String, String, &str)> = Vec::new(); // key, name, sitz, tk
    let mut open: Option<(String, u64)> = None; // Verband key, places left
    let mut next_verband = 401;
    for code in 1..=count {
        let mut name = ortsname(rng);
        let tk = if rng.chance(0.15) {
            name.push_str(", Stadt");
            "63"
        } else if land.key == 9 && rng.chance(0.05) {
            name.push_str(", M");
            "60"
        } else {
            "64"
        };
        let verband = if rng.chance(land.verband_share) {
            match open.as_mut() {
                Some((key, left)) if *left > 0 => {
                    *left -= 1;
                    key.clone()
                }
                _ => {
                    let key = format!("5{next_verband:03}");
                    next_verband += 1;
                    let verband_name = ortsname(rng);
                    verbaende.push((key.clone(), verband_name, name.clone(), land.verband_tk));
                    open = Some((key.clone(), rng.range(1, 11)));
                    key
                }
            }
        } else {
            let key = format!("0{code:03}");
            verbaende.push((key.clone(), name.clone(), String::new(), "50"));
            key
        };
        gemeinden.push(Gemeinde {
            code,
            verband,
            name,
            tk,
        });
    }
    // Gemeindefreie Gebiete: spread evenly over the Landkreise of the Land.
    let per_kreis =
        |i: u32| u64::from(land.gemeindefrei) * u64::from(i) / u64::from(land.landkreise.max(1));
    let frei = per_kreis(index + 1) - per_kreis(index);
    let mut frei_records = Vec::new();
    for f in 1..=frei {
        let name = format!("{}, gemfr. Gebiet", ortsname(rng));
        let verband = format!("95{f:02}");
        verbaende.push((verband.clone(), name.clone(), String::new(), "50"));
        frei_records.push(Gemeinde {
            code: 500 + f as u32,
            verband,
            name,
            tk: "66",
        });
    }
    verbaende.sort_by(|a, b| a.0.cmp(&b.0));
    for (key, name, sitz, tk) in &verbaende {
        let ars = format!("{kreis}{key}000");
        records.push(record(
            50,
            stand,
            &format!("{kreis}   {key}"),
            ars,
            name,
            sitz,
            tk,
            "",
        ));
    }
    for g in gemeinden.iter().chain(frei_records.iter()) {
        let ags_tail = format!("{:03}", g.code);
        // The trap: the line holds AGS (11-18) then Verband (19-22); the ARS puts the
        // Verband before the Gemeinde.
        let ars = format!("{kreis}{}{ags_tail}", g.verband);
        let population = rng.range(150, 60_000);
        let tail = gemeinde_tail(rng, population, g.tk == "66");
        let key = format!("{kreis}{ags_tail}{}", g.verband);
        records.push(record(60, stand, &key, ars, &g.name, "", g.tk, &tail));
    }
}
