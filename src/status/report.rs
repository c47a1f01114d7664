//! Status reports (rollout lists, municipal reports) as CSV or XLSX: decoding, header mapping
//! and validation of every row against what the database knows, without touching
//! the database. The caller applies the valid rows (all or nothing, or `--partial`).
//!
//! Format (documented in docs/status-report.md):
//! - UTF-8 (with or without BOM) or Windows-1252; `;` or `,` as delimiter, detected
//!   from the header line; quoted fields allowed.
//! - Columns by header name, in any order, case and umlaut spelling free
//!   (`Leistungsschlüssel` = `Leistungsschluessel`): `Leistungsschluessel` and/or
//!   `EfA-ID` (each row fills exactly one), `Ressort` and/or `ARS` (each row fills
//!   exactly one), `Status`, `Gueltig ab` (`YYYY-MM-DD` or `DD.MM.YYYY`), optional
//!   `Bemerkung`. Other columns are ignored (spreadsheets carry names and remarks).

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::io::{Read, Seek};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

use chrono::NaiveDate;
use serde::Serialize;

use super::sorted::ReportRows;
use super::{Scope, Status, Subject};
use crate::error::ShowPath;
use crate::model::date::parse_date;
use crate::model::keys::{lost_leading_digits, Ars, Leistungsschluessel};
use crate::parse::csv_text;
use crate::parse::xlsx_sheet::StreamError;
use crate::parse::ParseError;

/// A set of catalogue keys, probed twice per row of a report: foldhash, not
/// SipHash, as the LeiKa import's key maps (its keys are the database's own).
pub type KeySet = HashSet<String, foldhash::fast::RandomState>;

/// What rows are checked against: the current catalogue, municipalities, Ressorts.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    /// Current LeiKa keys.
    pub leika: KeySet,
    /// Current EfA service ids.
    pub efa: KeySet,
    /// ARS of current municipality-directory records (any level).
    pub ars: KeySet,
    /// Current Kürzel, lower-cased → Ressort id.
    pub ressorts: HashMap<String, i64>,
}

/// One valid row, ready to become an event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub line: u64,
    pub subject: Subject,
    pub scope: Scope,
    pub status: Status,
    pub effective_on: NaiveDate,
    pub note: Option<String>,
}

/// One problem in one cell (or row).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowError {
    pub line: u64,
    pub column: String,
    pub value: String,
    pub message: String,
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)?;
        if !self.value.is_empty() {
            write!(f, " ({:?})", self.value)?;
        }
        write!(f, ": {}", self.message)
    }
}

/// The file as a whole cannot be read as a status report.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReportError {
    /// Not a CSV text at all (empty, binary, an endless line), or unreadable.
    #[error("{0}")]
    NotCsv(String),
    #[error("header line: {0}")]
    Header(String),
    #[error("line {line}: {reason}")]
    Csv { line: u64, reason: String },
    /// The rows could not be set aside for sorting (disk full, no temp directory).
    #[error("{0}")]
    Spill(String),
}

/// The outcome of validating a whole file: the valid rows, collected in `R` (a
/// `Vec` for small reports and tests, [`ReportRows`] for an import of any size),
/// and the problems.
#[derive(Debug, Default)]
pub struct Validated<R = Vec<StatusRow>> {
    pub rows: R,
    /// The first [`MAX_ERRORS_KEPT`] problems, in file order.
    pub errors: Vec<RowError>,
    /// Every problem, kept or not.
    pub error_count: u64,
    /// Data lines with at least one problem.
    pub bad_lines: u64,
    /// Number of data lines read (blank lines excluded).
    pub lines: u64,
    /// The data rows a workbook hides (Excel row numbers; none for CSV), read
    /// like the others: the caller warns about them.
    pub hidden_rows: Vec<u64>,
}

/// Problems kept for display: a file that is wrong in every one of its millions of
/// rows must not hold a message per cell; the count still covers all of them.
pub const MAX_ERRORS_KEPT: usize = 10_000;

/// Where valid rows go while a report is read.
pub trait RowSink {
    fn push_row(&mut self, row: StatusRow) -> Result<(), ReportError>;
}

impl RowSink for Vec<StatusRow> {
    fn push_row(&mut self, row: StatusRow) -> Result<(), ReportError> {
        self.push(row);
        Ok(())
    }
}

impl RowSink for ReportRows {
    fn push_row(&mut self, row: StatusRow) -> Result<(), ReportError> {
        self.push(row).map_err(|e| {
            ReportError::Spill(format!(
                "could not spill sorted rows to a temporary file in {}: {e}; set TMPDIR to a writable directory with room (or free space there)",
                std::env::temp_dir().shown()
            ))
        })
    }
}

impl<R> Validated<R> {
    fn new(rows: R) -> Validated<R> {
        Validated {
            rows,
            errors: Vec::new(),
            error_count: 0,
            bad_lines: 0,
            lines: 0,
            hidden_rows: Vec::new(),
        }
    }

    /// Records the problems of one line.
    fn line_errors(&mut self, errors: Vec<RowError>) {
        if errors.is_empty() {
            return;
        }
        self.bad_lines += 1;
        self.error_count += errors.len() as u64;
        let room = MAX_ERRORS_KEPT.saturating_sub(self.errors.len());
        self.errors.extend(errors.into_iter().take(room));
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Column {
    Leika,
    Efa,
    Ressort,
    Ars,
    Status,
    Date,
    Note,
}

impl Column {
    fn from_header(h: &str) -> Option<Column> {
        let norm: String = h
            .trim()
            .trim_start_matches('\u{feff}')
            .to_lowercase()
            .replace('ä', "ae")
            .replace('ö', "oe")
            .replace('ü', "ue")
            .replace('ß', "ss")
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        Some(match norm.as_str() {
            "leistungsschluessel" | "leikaschluessel" | "leika" | "leikakey" => Column::Leika,
            "efaid" | "efa" => Column::Efa,
            "ressort" => Column::Ressort,
            "ars" | "regionalschluessel" => Column::Ars,
            "status" => Column::Status,
            "gueltigab" | "gueltig" | "datum" | "stichtag" => Column::Date,
            "bemerkung" | "notiz" | "hinweis" => Column::Note,
            _ => return None,
        })
    }

    /// The documented column name, for messages.
    fn name(self) -> &'static str {
        match self {
            Column::Leika => "Leistungsschluessel",
            Column::Efa => "EfA-ID",
            Column::Ressort => "Ressort",
            Column::Ars => "ARS",
            Column::Status => "Status",
            Column::Date => "Gueltig ab",
            Column::Note => "Bemerkung",
        }
    }
}

/// What the whole-file errors call a report.
const EXPECTED: &str = "status report (CSV)";

/// Validates every row of a report held in memory (see [`validate_from`]).
pub fn validate(
    bytes: &[u8],
    catalog: &Catalog,
    today: NaiveDate,
) -> Result<Validated, ReportError> {
    validate_from(std::io::Cursor::new(bytes), catalog, today)
}

/// Validates every row of a report, reading it as a stream: the file is decoded
/// chunk by chunk and no line may be longer than [`csv_text::MAX_LINE_BYTES`], so
/// memory does not grow with one endless line. Whole-file problems (empty, binary,
/// an endless line, unreadable header, missing required columns) are an `Err`; row
/// problems are collected, all of them.
pub fn validate_from<R: Read + Seek + Send>(
    input: R,
    catalog: &Catalog,
    today: NaiveDate,
) -> Result<Validated, ReportError> {
    validate_into(input, catalog, today, Vec::new())
}

/// [`validate_from`], the valid rows pushed into `rows` as they are read.
///
/// Two threads: a second one decodes the text and splits it into records (the
/// `csv` parser), this one checks each record and pushes it into `rows`, so the
/// two halves of reading a report overlap. Records go over in batches through a
/// bounded channel (memory stays bounded whatever the file's size) and the spent
/// batches come back to be filled again, so a record's buffers are reused instead
/// of allocated per line. The outcome is the sequential one: a whole-file problem
/// is the `Err` it was, row problems are collected in file order.
pub fn validate_into<R: Read + Seek + Send, S: RowSink>(
    input: R,
    catalog: &Catalog,
    today: NaiveDate,
    rows: S,
) -> Result<Validated<S>, ReportError> {
    checked_on_two_threads("CSV", catalog, today, rows, move |tx, back| {
        read_records(input, tx, back)
    })
    .map(|(out, ())| out)
}

/// The two threads of [`validate_into`] and [`validate_xlsx_into`]: `read` runs on
/// a second thread (named after `kind`, the format), sending the header and batches
/// of records, and this one checks them ([`check_records`]) and hands the spent
/// batches back. The outcome is the sequential one: a check's error (the header's
/// columns, a spill) comes from a record before any problem the reader met further
/// on, as every record before that problem was handed over first; else the
/// reader's problem; else the checked outcome and what the reader returned.
fn checked_on_two_threads<S: RowSink, T: Send>(
    kind: &str,
    catalog: &Catalog,
    today: NaiveDate,
    rows: S,
    read: impl FnOnce(&SyncSender<Records>, &Receiver<Vec<csv::StringRecord>>) -> Result<T, ReportError>
        + Send,
) -> Result<(Validated<S>, T), ReportError> {
    std::thread::scope(|scope| {
        let (tx, rx) = sync_channel(RECORD_BATCHES_IN_FLIGHT);
        let (back_tx, back_rx) = sync_channel(RECORD_BATCHES_IN_FLIGHT + 1);
        let reader = std::thread::Builder::new()
            .name(format!("ozgsync-{}", kind.to_ascii_lowercase()))
            .spawn_scoped(scope, move || read(&tx, &back_rx))
            .map_err(|e| {
                ReportError::NotCsv(format!("could not start the {kind} reading thread: {e}"))
            })?;
        // Until the reader has ended (its end of the channel closed), then its outcome.
        let outcome = check_records(&rx, &back_tx, catalog, today, rows);
        // A check that stopped early (a spill error) drops its end: the reader's next
        // send fails and it returns.
        drop(rx);
        let read = reader.join().map_err(|_| {
            ReportError::NotCsv(format!(
                "the {kind} reading thread stopped (a bug in ozgsync: please report it with the file); nothing was recorded"
            ))
        })?;
        Ok((outcome?, read?))
    })
}

/// Records per batch handed from the CSV thread to the checking one: the
/// channel's cost is paid per batch, and both threads are busy after the first.
const RECORD_BATCH: usize = 1024;
/// Batches the CSV thread may read ahead of the checks (with [`RECORD_BATCH`],
/// a few hundred KiB of text at most).
const RECORD_BATCHES_IN_FLIGHT: usize = 4;

/// What the CSV or XLSX thread hands over: the header line, then the records in
/// file order.
enum Records {
    Header(csv::StringRecord),
    Batch(Vec<csv::StringRecord>),
}

/// The CSV thread: decodes `input`, reads its header and records and sends them,
/// refilling the batches that come back. Returns when the file ends, at its first
/// whole-file problem, or when the checking side has stopped listening.
fn read_records<R: Read + Seek>(
    input: R,
    tx: &SyncSender<Records>,
    back: &Receiver<Vec<csv::StringRecord>>,
) -> Result<(), ReportError> {
    let not_csv = |e: ParseError| {
        ReportError::NotCsv(format!(
            "{e}; expected a CSV file with a header line such as `Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung`"
        ))
    };
    let mut input = csv_text::open(input, EXPECTED).map_err(not_csv)?;
    let headers = csv_text::header(&mut input.reader, EXPECTED).map_err(not_csv)?;
    // Refused before the header is handed over, so before any row is checked.
    if headers.len() < 2 {
        return Err(ReportError::Header(format!(
            "no `;` or `,` between column names in {:?}",
            crate::parse::shorten(&headers.iter().collect::<Vec<_>>().join(""), 120)
        )));
    }
    if tx.send(Records::Header(headers)).is_err() {
        return Ok(());
    }
    let mut reader = input.reader;
    loop {
        let mut batch = back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(RECORD_BATCH));
        let mut filled = 0;
        let mut failed = None;
        while filled < RECORD_BATCH {
            if filled == batch.len() {
                batch.push(csv::StringRecord::new());
            }
            let Some(record) = batch.get_mut(filled) else {
                break;
            };
            match reader.read_record(record) {
                Ok(true) => filled += 1,
                Ok(false) => break,
                Err(e) => {
                    failed = Some(if e.is_io_error() {
                        // the decoder's refusal of an endless line names the line itself
                        ReportError::NotCsv(e.to_string())
                    } else {
                        ReportError::Csv {
                            line: e.position().map_or(0, csv::Position::line),
                            reason: e.to_string(),
                        }
                    });
                    break;
                }
            }
        }
        let ended = filled < RECORD_BATCH;
        batch.truncate(filled);
        // The records before a problem are checked first, as when read in one pass.
        if !batch.is_empty() && tx.send(Records::Batch(batch)).is_err() {
            return Ok(());
        }
        if let Some(e) = failed {
            return Err(e);
        }
        if ended {
            return Ok(());
        }
    }
}

/// The checking side of [`validate_into`] and [`validate_xlsx_into`]: the header's
/// columns, then every record checked into the outcome in file order, each spent
/// batch handed back.
fn check_records<S: RowSink>(
    rx: &Receiver<Records>,
    back: &SyncSender<Vec<csv::StringRecord>>,
    catalog: &Catalog,
    today: NaiveDate,
    rows: S,
) -> Result<Validated<S>, ReportError> {
    let mut out = Validated::new(rows);
    // No header: the reader ended with an error (returned by the caller).
    let Ok(Records::Header(headers)) = rx.recv() else {
        return Ok(out);
    };
    let index = column_index(&headers)?;
    for records in rx {
        let Records::Batch(batch) = records else {
            continue;
        };
        for record in &batch {
            check_record(record, &headers, &index, catalog, today, &mut out)?;
        }
        // Never waits: a batch the reader has no room for is freed here.
        let _ = back.try_send(batch);
    }
    Ok(out)
}

/// Validates every row of a report saved as an Excel workbook (its first sheet):
/// the same columns, rules and messages as CSV, lines being Excel rows.
pub fn validate_xlsx<R: Read + Seek + Send>(
    input: R,
    catalog: &Catalog,
    today: NaiveDate,
) -> Result<Validated, ReportError> {
    validate_xlsx_into(input, catalog, today, Vec::new())
}

/// [`validate_xlsx`], the valid rows pushed into `rows` as the worksheet is
/// streamed row by row (`xlsx_sheet::stream`): memory does not grow with the
/// number of rows, as for CSV.
///
/// Two threads, as [`validate_into`] for CSV: a second one unpacks the workbook,
/// parses the worksheet's XML and decodes its cells into records
/// ([`read_sheet_records`]), this one checks them and pushes the valid rows into
/// `rows`, through the same bounded channel of batches handed back to be refilled.
/// The outcome is the sequential one: the checks' error (a header without the
/// required columns, a spill) comes from a row before any problem of the sheet
/// that follows it, and row problems are collected in sheet order.
pub fn validate_xlsx_into<R: Read + Seek + Send, S: RowSink>(
    input: R,
    catalog: &Catalog,
    today: NaiveDate,
    rows: S,
) -> Result<Validated<S>, ReportError> {
    let (mut out, hidden) =
        checked_on_two_threads("XLSX", catalog, today, rows, move |tx, back| {
            read_sheet_records(input, tx, back)
        })?;
    out.hidden_rows = hidden;
    Ok(out)
}

/// The checking side stopped listening (its error is the outcome).
struct Stopped;

/// The XLSX thread: streams the worksheet, sends its first row as the header and
/// the others in batches, refilling the batches that come back. Returns the
/// sheet's hidden data rows, its whole-file problem, or nothing when the checking
/// side has stopped listening.
fn read_sheet_records<R: Read + Seek>(
    input: R,
    tx: &SyncSender<Records>,
    back: &Receiver<Vec<csv::StringRecord>>,
) -> Result<Vec<u64>, ReportError> {
    let mut header_sent = false;
    let mut batch: Vec<csv::StringRecord> = Vec::with_capacity(RECORD_BATCH);
    let mut filled = 0;
    let streamed = crate::parse::xlsx_sheet::stream(input, "status report (XLSX)", |record| {
        if !header_sent {
            header_sent = true;
            return tx
                .send(Records::Header(record.clone()))
                .map_err(|_| Stopped);
        }
        if filled == batch.len() {
            batch.push(csv::StringRecord::new());
        }
        if let Some(slot) = batch.get_mut(filled) {
            // Into the slot's buffers, not a clone: a spent record is reused.
            slot.clear();
            for field in record {
                slot.push_field(field);
            }
            slot.set_position(record.position().cloned());
            filled += 1;
        }
        if filled == RECORD_BATCH {
            let next = back
                .try_recv()
                .unwrap_or_else(|_| Vec::with_capacity(RECORD_BATCH));
            let full = std::mem::replace(&mut batch, next);
            filled = 0;
            tx.send(Records::Batch(full)).map_err(|_| Stopped)?;
        }
        Ok(())
    });
    // The rows before a problem are checked first, as when read in one pass.
    batch.truncate(filled);
    if !batch.is_empty() && tx.send(Records::Batch(batch)).is_err() {
        return Ok(Vec::new());
    }
    match streamed {
        Ok(hidden) => Ok(hidden),
        Err(StreamError::Row(Stopped)) => Ok(Vec::new()),
        Err(StreamError::Sheet(e)) => Err(ReportError::NotCsv(format!(
            "{e}; write the template with `ozgsync template status --format xlsx`"
        ))),
    }
}

/// The columns of the status report template (`ozgsync template status`).
pub const TEMPLATE_HEADERS: [&str; 7] = [
    "Leistungsschlüssel",
    "EfA-ID",
    "Ressort",
    "ARS",
    "Status",
    "Gültig ab",
    "Bemerkung",
];

/// The empty status report as an XLSX workbook: text columns, the Status
/// drop-down, a frozen header and German instructions.
pub fn template_xlsx() -> Result<Vec<u8>, rust_xlsxwriter::XlsxError> {
    crate::parse::xlsx_sheet::write_template(&crate::parse::xlsx_sheet::Template {
        data_sheet: "Statusmeldung",
        headers: TEMPLATE_HEADERS.to_vec(),
        rows: Vec::new(),
        lists: vec![(4, Status::ALL.iter().map(|s| s.as_str().to_owned()).collect())],
        widths: vec![(6, 60.0)],
        guide: &[
            "Statusmeldung des Landes Niedersachsen – Anleitung",
            "",
            "1. Eine Zeile je Meldung: Leistungsschlüssel (14 Ziffern) oder EfA-ID – genau eins von beiden.",
            "2. Ressort (Kürzel, z. B. MI) oder ARS (12 Ziffern, Gemeinde) – genau eins von beiden.",
            "3. Status aus der Liste der Zelle: nicht_begonnen, geplant, beauftragt, in_umsetzung, pilot, produktiv, eingestellt, abgelehnt.",
            "4. Gültig ab als TT.MM.JJJJ oder JJJJ-MM-TT, nicht in der Zukunft.",
            "5. Bemerkung nach Bedarf.",
            "",
            "Beim Einlesen wird die ganze Datei geprüft; jeder Fehler wird mit Zeile (Excel-Zeilennummer) und Spalte gemeldet.",
            "Meldungen werden nie gelöscht: eine neue Meldung löst die vorige ab.",
        ],
    })
}

/// Maps the header to the columns, or says which required ones are missing.
fn column_index(headers: &csv::StringRecord) -> Result<Cells<Option<usize>>, ReportError> {
    let mut columns: HashMap<Column, usize> = HashMap::new();
    for (i, h) in headers.iter().enumerate() {
        if let Some(c) = Column::from_header(h) {
            if columns.insert(c, i).is_some() {
                return Err(ReportError::Header(format!(
                    "column {} appears twice",
                    c.name()
                )));
            }
        }
    }
    let mut missing = Vec::new();
    if !columns.contains_key(&Column::Leika) && !columns.contains_key(&Column::Efa) {
        missing.push("Leistungsschluessel or EfA-ID");
    }
    if !columns.contains_key(&Column::Ressort) && !columns.contains_key(&Column::Ars) {
        missing.push("Ressort or ARS");
    }
    if !columns.contains_key(&Column::Status) {
        missing.push("Status");
    }
    if !columns.contains_key(&Column::Date) {
        missing.push("Gueltig ab");
    }
    if !missing.is_empty() {
        return Err(ReportError::Header(format!(
            "missing column(s) {}; found {:?}",
            missing.join(", "),
            headers.iter().collect::<Vec<_>>()
        )));
    }
    // Field index per column, looked up once rather than per cell.
    let at = |c: Column| columns.get(&c).copied();
    Ok(Cells {
        leika: at(Column::Leika),
        efa: at(Column::Efa),
        ressort: at(Column::Ressort),
        ars: at(Column::Ars),
        status: at(Column::Status),
        date: at(Column::Date),
        note: at(Column::Note),
    })
}

/// Checks one data record into `out` (blank records, which spreadsheets save,
/// are skipped).
fn check_record<S: RowSink>(
    record: &csv::StringRecord,
    headers: &csv::StringRecord,
    index: &Cells<Option<usize>>,
    catalog: &Catalog,
    today: NaiveDate,
    out: &mut Validated<S>,
) -> Result<(), ReportError> {
    if record.iter().all(|f| f.trim().is_empty()) {
        return Ok(());
    }
    out.lines += 1;
    let line = record.position().map(|p| p.line()).unwrap_or(0);
    // One pass over the whole record for the lead byte of UNDECODABLE's UTF-8
    // (U+FFFD is EF BF BD): a `str::contains` per field set up a substring search
    // per cell, a tenth of a large import's instructions. Only a record with that
    // byte (rare: U+F000–U+FFFF) is searched field by field.
    let undecodable = memchr::memchr(0xEF, record.as_slice().as_bytes()).and_then(|_| {
        record
            .iter()
            .enumerate()
            .find(|(_, c)| c.contains(crate::parse::text::UNDECODABLE))
    });
    if let Some((i, bad)) = undecodable {
        out.line_errors(vec![RowError {
            line,
            column: headers.get(i).unwrap_or("?").trim().to_owned(),
            value: crate::parse::shorten(bad.trim(), 80),
            message: crate::parse::text::undecodable_reason("the row"),
        }]);
        return Ok(());
    }
    let cell =
        |i: Option<usize>| -> &str { i.and_then(|i| record.get(i)).map(str::trim).unwrap_or("") };
    let cells = Cells {
        leika: cell(index.leika),
        efa: cell(index.efa),
        ressort: cell(index.ressort),
        ars: cell(index.ars),
        status: cell(index.status),
        date: cell(index.date),
        note: cell(index.note),
    };
    match check_row(line, &cells, catalog, today) {
        Ok(row) => out.rows.push_row(row)?,
        Err(errors) => out.line_errors(errors),
    }
    Ok(())
}

/// The cells of one row (or of one `status set` call), trimmed; empty when absent.
/// (As `Cells<Option<usize>>`, the field index of each column.)
#[derive(Debug, Clone, Copy, Default)]
pub struct Cells<T> {
    pub leika: T,
    pub efa: T,
    pub ressort: T,
    pub ars: T,
    pub status: T,
    pub date: T,
    pub note: T,
}

/// Checks one row; every problem is reported, not only the first. Columns in the
/// errors carry the documented CSV column names.
pub fn check_row(
    line: u64,
    cells: &Cells<&str>,
    catalog: &Catalog,
    today: NaiveDate,
) -> Result<StatusRow, Vec<RowError>> {
    let mut errors = Vec::new();
    let mut err = |c: Column, value: &str, message: String| {
        errors.push(RowError {
            line,
            column: c.name().to_owned(),
            value: crate::parse::shorten(value, 80),
            message,
        });
    };
    let subject = check_subject(cells.leika, cells.efa, catalog, &mut err);
    let scope = check_scope(cells.ressort, cells.ars, catalog, &mut err);
    let status = Status::parse(cells.status);
    if status.is_none() {
        err(
            Column::Status,
            cells.status,
            format!("unknown status; use one of {}", Status::vocabulary()),
        );
    }
    let effective_on = match parse_date(cells.date) {
        None => {
            err(
                Column::Date,
                cells.date,
                crate::model::date::not_a_date(cells.date),
            );
            None
        }
        Some(d) if d > today => {
            err(
                Column::Date,
                cells.date,
                format!("date is in the future (today is {today}); report a status once it holds"),
            );
            None
        }
        Some(d) => Some(d),
    };
    let note = Some(cells.note.trim())
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    if let Some(message) = note.as_deref().and_then(csv_text::note_too_long) {
        err(Column::Note, cells.note, message);
    }
    match (subject, scope, status, effective_on) {
        (Some(subject), Some(scope), Some(status), Some(effective_on)) if errors.is_empty() => {
            Ok(StatusRow {
                line,
                subject,
                scope,
                status,
                effective_on,
                note,
            })
        }
        _ => Err(errors),
    }
}

fn check_subject(
    leika: &str,
    efa: &str,
    catalog: &Catalog,
    err: &mut impl FnMut(Column, &str, String),
) -> Option<Subject> {
    match (leika.is_empty(), efa.is_empty()) {
        (true, true) => {
            err(
                Column::Leika,
                "",
                "empty; fill Leistungsschluessel or EfA-ID".into(),
            );
            None
        }
        (false, false) => {
            err(
                Column::Efa,
                efa,
                "fill either Leistungsschluessel or EfA-ID, not both".into(),
            );
            None
        }
        (false, true) => {
            let key = Leistungsschluessel::strip_urn(leika);
            if !Leistungsschluessel::is_valid(key) {
                let hint = if let Some(cause) = crate::model::keys::invisible_cause(key) {
                    format!(": {cause}")
                } else if lost_leading_digits(key, 14) {
                    " (did the spreadsheet turn it into a number? format the column as text)"
                        .to_owned()
                } else {
                    String::new()
                };
                err(
                    Column::Leika,
                    leika,
                    format!("not a 14-digit Leistungsschluessel{hint}"),
                );
                None
            } else if !catalog.leika.contains(key) {
                err(
                    Column::Leika,
                    leika,
                    "unknown Leistungsschluessel: not in the current service catalogue".into(),
                );
                None
            } else {
                Some(Subject::Leika(key.to_owned()))
            }
        }
        (true, false) => {
            if catalog.efa.contains(efa) {
                Some(Subject::Efa(efa.to_owned()))
            } else {
                let hint = if catalog.efa.is_empty() {
                    " (no EfA catalogue has been imported)"
                } else {
                    ""
                };
                err(
                    Column::Efa,
                    efa,
                    format!("unknown EfA-ID: not in the current EfA catalogue{hint}"),
                );
                None
            }
        }
    }
}

fn check_scope(
    ressort: &str,
    ars: &str,
    catalog: &Catalog,
    err: &mut impl FnMut(Column, &str, String),
) -> Option<Scope> {
    match (ressort.is_empty(), ars.is_empty()) {
        (true, true) => {
            err(Column::Ars, "", "empty; fill Ressort or ARS".into());
            None
        }
        (false, false) => {
            err(
                Column::Ars,
                ars,
                "fill either Ressort (Land services) or ARS (municipal services), not both".into(),
            );
            None
        }
        (false, true) => match catalog.ressorts.get(&ressort.to_lowercase()) {
            Some(&id) => Some(Scope::Ressort(id)),
            None => {
                let mut known: Vec<&str> = catalog.ressorts.keys().map(String::as_str).collect();
                known.sort_unstable();
                err(
                    Column::Ressort,
                    ressort,
                    format!(
                        "unknown Ressort Kürzel; known (case-insensitive): {}",
                        known.join(", ")
                    ),
                );
                None
            }
        },
        (true, false) => {
            if !Ars::is_valid(ars) {
                let hint = if let Some(cause) = crate::model::keys::invisible_cause(ars) {
                    format!(": {cause}")
                } else if ars.len() == 11 && lost_leading_digits(ars, 12) {
                    " (leading zero lost? format the column as text)".to_owned()
                } else {
                    String::new()
                };
                err(Column::Ars, ars, format!("not a 12-digit ARS{hint}"));
                None
            } else if !catalog.ars.contains(ars) {
                err(
                    Column::Ars,
                    ars,
                    "unknown ARS: not a current municipality in the municipality directory".into(),
                );
                None
            } else {
                Some(Scope::Ars(ars.to_owned()))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog() -> Catalog {
        Catalog {
            leika: ["99012001001000", "99041006017000"]
                .map(String::from)
                .into_iter()
                .collect(),
            efa: ["EFA-0001"].map(String::from).into_iter().collect(),
            ars: ["032410001001", "031010000000"]
                .map(String::from)
                .into_iter()
                .collect(),
            ressorts: [("mi".to_owned(), 2), ("mf".to_owned(), 3)].into(),
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 30).unwrap()
    }

    /// Validates `input` and compares rows as `subject scope status date` strings and
    /// errors as their display form.
    fn check(input: &[u8], rows: &[&str], errors: &[&str]) {
        let v = validate(input, &catalog(), today()).unwrap();
        let got_rows: Vec<String> = v
            .rows
            .iter()
            .map(|r| {
                format!(
                    "{} {} {} {}{}",
                    r.subject.id(),
                    r.scope.id(),
                    r.status.as_str(),
                    r.effective_on,
                    r.note
                        .as_deref()
                        .map(|n| format!(" [{n}]"))
                        .unwrap_or_default()
                )
            })
            .collect();
        let got_errors: Vec<String> = v.errors.iter().map(ToString::to_string).collect();
        assert_eq!(got_rows, rows);
        assert_eq!(got_errors, errors);
    }

    #[test]
    fn semicolon_utf8_with_bom_and_mixed_scopes() {
        check(
            "\u{feff}Leistungsschlüssel;EfA-ID;Ressort;ARS;Status;Gültig ab;Bemerkung\n\
             99012001001000;;MI;;produktiv;2025-01-15;\n\
             ;EFA-0001;;032410001001;In Umsetzung;01.02.2025;Rollout \"Welle 2\"\n\
             \n"
            .as_bytes(),
            &[
                "99012001001000 2 produktiv 2025-01-15",
                "EFA-0001 032410001001 in_umsetzung 2025-02-01 [Rollout \"Welle 2\"]",
            ],
            &[],
        );
    }

    #[test]
    fn comma_windows_1252_quoted() {
        let text = "Leistungsschluessel,ARS,Status,Gueltig ab,Bemerkung\r\n\
                    99041006017000,031010000000,pilot,2025-05-01,\"Stra\u{df}e, Hausnr.\"\r\n";
        let (bytes, _, _) = encoding_rs::WINDOWS_1252.encode(text);
        check(
            &bytes,
            &["99041006017000 031010000000 pilot 2025-05-01 [Straße, Hausnr.]"],
            &[],
        );
    }

    #[test]
    fn every_error_with_line_and_column() {
        check(
            b"Leistungsschluessel;Ressort;ARS;Status;Gueltig ab\n\
              99012001001000;;032410001001;produktiv;2025-01-01\n\
              99999999999999;;032410001001;produktiv;2025-01-01\n\
              9901200100100;;32410001001;live;2025-13-01\n\
              99012001001000;XY;;geplant;2099-01-01\n\
              99012001001000;MI;032410001001;geplant;2025-01-01\n\
              ;;;geplant;2025-01-01\n\
              99012001001000;;039999999999;geplant;2025-01-01\n",
            &["99012001001000 032410001001 produktiv 2025-01-01"],
            &[
                "line 3, column Leistungsschluessel (\"99999999999999\"): unknown Leistungsschluessel: not in the current service catalogue",
                "line 4, column Leistungsschluessel (\"9901200100100\"): not a 14-digit Leistungsschluessel (did the spreadsheet turn it into a number? format the column as text)",
                "line 4, column ARS (\"32410001001\"): not a 12-digit ARS (leading zero lost? format the column as text)",
                "line 4, column Status (\"live\"): unknown status; use one of nicht_begonnen, geplant, beauftragt, in_umsetzung, pilot, produktiv, eingestellt, abgelehnt",
                "line 4, column Gueltig ab (\"2025-13-01\"): not a date; write YYYY-MM-DD or DD.MM.YYYY (a four-digit year)",
                "line 5, column Ressort (\"XY\"): unknown Ressort Kürzel; known (case-insensitive): mf, mi",
                "line 5, column Gueltig ab (\"2099-01-01\"): date is in the future (today is 2025-06-30); report a status once it holds",
                "line 6, column ARS (\"032410001001\"): fill either Ressort (Land services) or ARS (municipal services), not both",
                "line 7, column Leistungsschluessel: empty; fill Leistungsschluessel or EfA-ID",
                "line 7, column ARS: empty; fill Ressort or ARS",
                "line 8, column ARS (\"039999999999\"): unknown ARS: not a current municipality in the municipality directory",
            ],
        );
    }

    #[test]
    fn endless_lines_and_long_notes_are_refused() {
        let long_line = format!(
            "Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n99012001001000;032410001001;geplant;2025-01-01;{}\n",
            "x".repeat(csv_text::MAX_LINE_BYTES)
        );
        let err = validate(long_line.as_bytes(), &catalog(), today()).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("line 2 is longer than 1048576 bytes"),
            "{err}"
        );
        let note = "n".repeat(csv_text::MAX_NOTE_BYTES + 1);
        let v = validate(
            format!(
                "Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n\
                 99012001001000;032410001001;geplant;2025-01-01;{note}\n\
                 99012001001000;031010000000;geplant;2025-01-01;{}\n",
                &note[1..]
            )
            .as_bytes(),
            &catalog(),
            today(),
        )
        .unwrap();
        assert_eq!(v.rows.len(), 1, "a note at the bound is fine");
        assert_eq!(v.errors.len(), 1);
        assert_eq!(
            (v.errors[0].line, v.errors[0].column.as_str()),
            (2, "Bemerkung")
        );
        assert_eq!(
            v.errors[0].message,
            "4097 bytes is longer than the 4096 bytes a remark may have; shorten it or put a link to a document"
        );
    }

    #[test]
    fn unknown_efa_says_when_no_catalogue_exists() {
        let mut c = catalog();
        c.efa.clear();
        let v = validate(
            b"EfA-ID;Ressort;Status;Gueltig ab\nEFA-0001;MI;geplant;2025-01-01\n",
            &c,
            today(),
        )
        .unwrap();
        assert_eq!(
            v.errors[0].message,
            "unknown EfA-ID: not in the current EfA catalogue (no EfA catalogue has been imported)"
        );
    }

    /// A report of several of the CSV thread's batches: rows and row errors in file
    /// order across batch boundaries, and a whole-file problem after thousands of
    /// good rows still refuses the file.
    #[test]
    fn rows_and_errors_across_batches_keep_file_order() {
        let mut text = String::from("Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung\n");
        let lines = 3 * RECORD_BATCH + 7;
        for i in 0..lines {
            // every 500th row has an unknown status
            let status = if i % 500 == 499 { "fertig" } else { "pilot" };
            text.push_str(&format!(
                "99012001001000;032410001001;{status};2025-01-01;row {i}\n"
            ));
        }
        let v = validate(text.as_bytes(), &catalog(), today()).unwrap();
        let bad: Vec<u64> = (0..lines as u64)
            .filter(|i| i % 500 == 499)
            .map(|i| i + 2)
            .collect();
        assert_eq!(v.lines, lines as u64);
        assert_eq!(v.errors.iter().map(|e| e.line).collect::<Vec<_>>(), bad);
        assert_eq!(v.rows.len(), lines - bad.len());
        let notes: Vec<u64> = v
            .rows
            .iter()
            .map(|r| r.note.as_deref().unwrap()[4..].parse().unwrap())
            .collect();
        assert!(notes.windows(2).all(|w| w[0] < w[1]), "file order kept");

        let endless = format!(
            "{text}99012001001000;032410001001;pilot;2025-01-01;{}\n",
            "x".repeat(csv_text::MAX_LINE_BYTES)
        );
        let err = validate(endless.as_bytes(), &catalog(), today()).unwrap_err();
        let expected = format!("line {} is longer than 1048576 bytes", lines + 2);
        assert!(err.to_string().starts_with(&expected), "{err}");
    }

    /// A workbook of several of the XLSX thread's batches: rows and row errors in
    /// sheet order across batch boundaries, the hidden rows returned, and a damaged
    /// sheet found after thousands of good rows still refuses the file.
    #[test]
    fn workbook_rows_and_errors_across_batches_keep_sheet_order() {
        let lines = 3 * RECORD_BATCH + 7;
        let book = |status_header: &str| {
            let mut book = rust_xlsxwriter::Workbook::new();
            let sheet = book.add_worksheet();
            let headers = ["Leistungsschluessel", "ARS", status_header, "Gueltig ab"];
            for (c, h) in (0u16..).zip(headers.into_iter().chain(["Bemerkung"])) {
                sheet.write_string(0, c, h).unwrap();
            }
            for i in 0..lines {
                let row = u32::try_from(i).unwrap() + 1;
                // every 500th row has an unknown status
                let status = if i % 500 == 499 { "fertig" } else { "pilot" };
                let cells = ["99012001001000", "032410001001", status, "2025-01-01"];
                for (c, v) in (0u16..).zip(cells) {
                    sheet.write_string(row, c, v).unwrap();
                }
                sheet.write_string(row, 4, format!("row {i}")).unwrap();
            }
            sheet.set_row_hidden(2000).unwrap();
            book.save_to_buffer().unwrap()
        };
        // The last two rows swapped, which only a damaged file does.
        let (a, b) = (lines, lines + 1);
        let damaged = |bytes: &[u8]| {
            crate::parse::test_support::edited(bytes, |xml| {
                let at_a = xml.find(&format!("<row r=\"{a}\"")).unwrap();
                let at_b = xml.find(&format!("<row r=\"{b}\"")).unwrap();
                let end = xml.find("</sheetData>").unwrap();
                let (head, tail) = (&xml[..at_a], &xml[end..]);
                format!("{head}{}{}{tail}", &xml[at_b..end], &xml[at_a..at_b])
            })
        };
        let read = |bytes: &[u8]| validate_xlsx(std::io::Cursor::new(bytes), &catalog(), today());

        let good = book("Status");
        let v = read(&good).unwrap();
        let bad: Vec<u64> = (0..lines as u64)
            .filter(|i| i % 500 == 499)
            .map(|i| i + 2)
            .collect();
        assert_eq!(v.lines, lines as u64);
        assert_eq!(v.errors.iter().map(|e| e.line).collect::<Vec<_>>(), bad);
        assert_eq!(v.hidden_rows, [2001]);
        assert_eq!(v.rows.len(), lines - bad.len());
        let notes: Vec<u64> = v
            .rows
            .iter()
            .map(|r| r.note.as_deref().unwrap()[4..].parse().unwrap())
            .collect();
        assert!(notes.windows(2).all(|w| w[0] < w[1]), "sheet order kept");
        assert_eq!(v.rows.first().map(|r| r.line), Some(2));

        // Damaged after thousands of good rows: refused as a whole.
        let err = read(&damaged(&good)).unwrap_err();
        let expected = format!("(line {a}): the worksheet lists row {a} after row {b}");
        assert!(err.to_string().contains(&expected), "{err}");

        // A header without a required column is the checks' error, found before
        // the damage below it, as in one pass.
        let err = read(&damaged(&book("Zustand"))).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("header line: missing column(s) Status;"),
            "{err}"
        );
    }

    #[test]
    fn whole_file_errors() {
        let check_err = |input: &[u8], expected: &str| {
            let err = validate(input, &catalog(), today()).unwrap_err();
            assert_eq!(err.to_string(), expected);
        };
        let empty = "not a status report (CSV) payload (line 1): the file is empty or starts with an empty line; the first line must be the header; expected a CSV file with a header line such as `Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung`";
        check_err(b"", empty);
        check_err(b"\n\n", empty);
        check_err(
            b"\x00\x01",
            "not a status report (CSV) payload (byte 0): binary data (NUL byte); save the spreadsheet as CSV text; expected a CSV file with a header line such as `Leistungsschluessel;ARS;Status;Gueltig ab;Bemerkung`",
        );
        check_err(
            b"<html><body>Error</body></html>\n",
            "header line: no `;` or `,` between column names in \"<html><body>Error</body></html>\"",
        );
        check_err(
            b"Leistungsschluessel;Status\n99012001001000;geplant\n",
            "header line: missing column(s) Ressort or ARS, Gueltig ab; found [\"Leistungsschluessel\", \"Status\"]",
        );
        check_err(
            b"ARS;ARS;Leika;Status;Datum\n",
            "header line: column ARS appears twice",
        );
    }
}
