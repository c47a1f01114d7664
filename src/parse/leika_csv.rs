//! The LeiKa catalogue CSV as the FIM Portal publishes it ("Kataloge" download): one
//! row per service with the columns `Schluessel; Leistungsgruppierung; Leistungskennung;
//! Verrichtung; Verrichtungsdetail; Bezeichnung; Bezeichnung2; Typ;
//! Veröffentlichungsdatum; Besondere Merkmale; Synonyme`.
//!
//! Neither the encoding nor the delimiter is documented, and both vary between copies:
//! the parser first streams over the whole input once to decide between UTF-8 and
//! Windows-1252 by evidence ([`super::text`]; a row of a UTF-8 file with bytes that do
//! not decode is rejected) and to refuse binary, UTF-16 and HTML, seeks back, decodes
//! with the shared decoder, detects the delimiter from the header line and then reads rows one at
//! a time with the `csv` crate. Memory stays bounded: no pass holds more than one
//! record, and a record that grows past [`MAX_RECORD_BYTES`] (an unclosed quote)
//! fails the payload instead of swallowing the file.

use std::collections::VecDeque;
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};

use chrono::{NaiveDate, NaiveDateTime};
use csv::{ByteRecord, StringRecord};

use super::text::{DecodeReader, Legacy, Sniffer, TextEncoding, UNDECODABLE};
use super::{shorten, unknown_typisierung, Change, Item, Items, ParseError, Queued, Reject, Step};
use crate::model::{leistungstyp_of, Leistungsschluessel, ServiceRecord};

/// The name of the format in `ParseError::NotFormat`.
pub(super) const EXPECTED: &str = "LeiKa CSV";

/// A longer record is taken as a broken file (an unclosed quote reading on to the end)
/// rather than data: real rows are well under 10 KiB.
pub const MAX_RECORD_BYTES: u64 = 1024 * 1024;

/// The header line must end within this many bytes.
const MAX_HEADER_BYTES: u64 = 64 * 1024;

/// The column names of the official download, in their usual order.
pub const COLUMN_NAMES: [&str; 11] = [
    "Schluessel",
    "Leistungsgruppierung",
    "Leistungskennung",
    "Verrichtung",
    "Verrichtungsdetail",
    "Bezeichnung",
    "Bezeichnung2",
    "Typ",
    "Veröffentlichungsdatum",
    "Besondere Merkmale",
    "Synonyme",
];

/// Indexes into [`COLUMN_NAMES`] and [`Columns::index`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Schluessel = 0,
    Leistungsgruppierung,
    Leistungskennung,
    Verrichtung,
    Verrichtungsdetail,
    Bezeichnung,
    Bezeichnung2,
    Typ,
    Veroeffentlichungsdatum,
    BesondereMerkmale,
    Synonyme,
}

/// Parses a LeiKa CSV download. Fails as a whole (`ParseError::NotFormat`) when the
/// input is not such a file at all: binary or UTF-16 bytes, an HTML page, or a header
/// without at least `Schluessel` and `Bezeichnung`. Bad rows become rejects.
pub fn parse<'a, R: Read + Seek + 'a>(
    mut input: R,
) -> Result<Items<'a, ServiceRecord>, ParseError> {
    let start = input.stream_position()?;
    let encoding = sniff_encoding(&mut input)?;
    input.seek(SeekFrom::Start(start))?;

    let mut decoded = BufReader::new(DecodeReader::new(input, encoding));
    let header_line = read_header_line(&mut decoded)?;
    let delimiter = detect_delimiter(&header_line);

    // The header line goes back in front of the rest so that the csv reader's line
    // numbers and byte offsets count from the start of the file.
    let guarded = RecordGuard::new(Cursor::new(header_line).chain(decoded));
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .has_headers(false)
        .flexible(true)
        // Only LF ends a record. The default (CR, LF or CRLF) ends a CRLF record at
        // its CR and leaves the LF to the next record, which puts every later record's
        // line number one too low; the CR left at the end of the last field is trimmed
        // with the field.
        .terminator(csv::Terminator::Any(b'\n'))
        .from_reader(guarded);

    let mut header = StringRecord::new();
    match reader.read_record(&mut header) {
        Ok(true) => {}
        Ok(false) => {
            return Err(ParseError::not_format(
                EXPECTED,
                "line 1",
                "the file is empty",
            ))
        }
        Err(e) => return Err(csv_error(e, 1)),
    }
    if header.iter().any(|name| name.contains(UNDECODABLE)) {
        return Err(super::csv_text::mixed_encodings(EXPECTED));
    }
    let columns = Columns::from_header(&header, delimiter)?;
    let pending = columns.repeat_warnings().map(Item::Reject).collect();

    Ok(Box::new(Queued::new(Rows {
        reader,
        columns,
        width: header.len(),
        delimiter,
        record: ByteRecord::new(),
        pending,
    })))
}

/// Reads the whole input once, in fixed-size chunks, and decides the encoding by
/// evidence ([`super::text`]): UTF-8 when the file holds any valid multi-byte UTF-8
/// (its undecodable rows are rejected later), else Windows-1252, in which every byte is
/// a character (the FIM Portal's ISO-8859-1 download is read as its superset
/// Windows-1252, as browsers and `encoding_rs` do). Refuses what no CSV of ours can be.
fn sniff_encoding<R: Read>(input: &mut R) -> Result<TextEncoding, ParseError> {
    let mut chunk = vec![0u8; 64 * 1024];
    let mut sniffer = Sniffer::default();
    let mut first = true;
    loop {
        let n = read_some(input, &mut chunk)?;
        if n == 0 {
            break;
        }
        let bytes = chunk.get(..n).unwrap_or_default();
        if first {
            first = false;
            check_start(bytes)?;
        }
        sniffer.feed(bytes);
    }
    if first {
        return Err(ParseError::not_format(
            EXPECTED,
            "byte 0",
            "the file is empty",
        ));
    }
    let evidence = sniffer.finish();
    if let Some(i) = evidence.nul_at {
        return Err(ParseError::not_format(
            EXPECTED,
            format!("byte {i}"),
            "the file contains NUL bytes: it is binary or UTF-16, expected a text CSV in UTF-8 or Windows-1252",
        ));
    }
    Ok(evidence.decide(Legacy::Windows1252))
}

/// Fills `buf` as far as the input goes, so that short reads do not cut the first
/// chunk (the BOM check looks at it) and 0 means the end.
fn read_some<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while let Some(rest) = buf.get_mut(filled..).filter(|rest| !rest.is_empty()) {
        match input.read(rest) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Refuses UTF-16 and markup by their first bytes, with a reason a user can act on.
fn check_start(bytes: &[u8]) -> Result<(), ParseError> {
    if bytes.starts_with(&[0xFF, 0xFE]) || bytes.starts_with(&[0xFE, 0xFF]) {
        return Err(ParseError::not_format(
            EXPECTED,
            "byte 0",
            "the file is UTF-16 (it starts with a UTF-16 byte order mark); save it as UTF-8 or Windows-1252",
        ));
    }
    let text = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(bytes);
    if text.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<') {
        return Err(ParseError::not_format(
            EXPECTED,
            "line 1",
            format!(
                "the file starts with '<': it is an HTML or XML page (often an error page served instead of the download), \
                 expected a CSV header line starting with Schluessel; it begins: {}",
                shorten(&String::from_utf8_lossy(text.get(..200).unwrap_or(text)), 120)
            ),
        ));
    }
    Ok(())
}

/// Counts the decoded bytes handed to the csv reader and fails the read once the
/// record being read has grown past [`MAX_RECORD_BYTES`]. It also keeps where the
/// last quote it handed on was (one `memrchr` per read), so that the failure can
/// tell an open quoted field from a line that is simply too long.
struct RecordGuard<R> {
    inner: R,
    delivered: u64,
    record_start: u64,
    /// One past the offset of the last `"` delivered; 0 before any.
    quote_end: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("a record is longer than {MAX_RECORD_BYTES} bytes")]
struct RecordTooLong {
    /// Whether the record holds a quote (so is probably an unclosed quoted field).
    quoted: bool,
}

impl<R> RecordGuard<R> {
    fn new(inner: R) -> Self {
        RecordGuard {
            inner,
            delivered: 0,
            record_start: 0,
            quote_end: 0,
        }
    }
}

impl<R: Read> Read for RecordGuard<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.delivered.saturating_sub(self.record_start) > MAX_RECORD_BYTES {
            return Err(io::Error::other(RecordTooLong {
                quoted: self.quote_end > self.record_start,
            }));
        }
        let n = self.inner.read(buf)?;
        if let Some(at) = buf.get(..n).and_then(|read| memchr::memrchr(b'"', read)) {
            self.quote_end = self.delivered + at as u64 + 1;
        }
        self.delivered += n as u64;
        Ok(n)
    }
}

/// Reads the first line (bounded), keeping its line ending.
fn read_header_line<R: BufRead>(input: &mut R) -> Result<Vec<u8>, ParseError> {
    let mut line = Vec::new();
    input.take(MAX_HEADER_BYTES).read_until(b'\n', &mut line)?;
    let body = line.strip_suffix(b"\n").unwrap_or(&line);
    if body.strip_suffix(b"\r").unwrap_or(body).contains(&b'\r') {
        return Err(ParseError::not_format(
            EXPECTED,
            "line 1",
            super::csv_text::BARE_CR,
        ));
    }
    if line.len() as u64 >= MAX_HEADER_BYTES && !line.ends_with(b"\n") {
        return Err(ParseError::not_format(
            EXPECTED,
            "line 1",
            format!(
                "no line break in the first {MAX_HEADER_BYTES} bytes: expected a CSV header line"
            ),
        ));
    }
    Ok(line)
}

/// The delimiter occurring most often outside quotes in the header line; `;` (the
/// FIM Portal's) when none occurs.
fn detect_delimiter(header: &[u8]) -> u8 {
    let mut counts = [(b';', 0usize), (b',', 0), (b'\t', 0)];
    let mut quoted = false;
    for &b in header {
        if b == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, count) in counts.iter_mut() {
                if *d == b {
                    *count += 1;
                }
            }
        }
    }
    // `max_by_key` keeps the last maximum; iterate in reverse so ties go to `;`.
    match counts.iter().rev().max_by_key(|(_, count)| *count) {
        Some(&(d, count)) if count > 0 => d,
        _ => b';',
    }
}

/// Where each known column stands in this file's rows.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Columns {
    index: [Option<usize>; 11],
    /// Known columns the header names more than once: (column, its first field,
    /// the repeat's field), fields counted from 0. The first is read; a row whose
    /// repeat says otherwise is rejected, since which of the two is right cannot
    /// be told.
    repeats: Vec<(usize, usize, usize)>,
}

impl Columns {
    fn from_header(header: &StringRecord, delimiter: u8) -> Result<Columns, ParseError> {
        let mut index = [None; 11];
        let mut repeats = Vec::new();
        for (i, name) in header.iter().enumerate() {
            let name = normalize_name(name);
            if let Some(col) = COLUMN_NAMES.iter().position(|c| normalize_name(c) == name) {
                // A repeated column keeps its first position; the repeat is compared.
                if let Some(slot) = index.get_mut(col) {
                    match *slot {
                        Some(first) => repeats.push((col, first, i)),
                        None => *slot = Some(i),
                    }
                }
            }
        }
        let columns = Columns { index, repeats };
        if columns.get(Col::Schluessel).is_none() || columns.get(Col::Bezeichnung).is_none() {
            let found: Vec<&str> = header.iter().collect();
            return Err(ParseError::not_format(
                EXPECTED,
                "line 1",
                format!(
                    "expected a header line with the columns {} (at least Schluessel and Bezeichnung); found: {}",
                    COLUMN_NAMES.join(", "),
                    shorten(&found.join(&char::from(delimiter).to_string()), 200)
                ),
            ));
        }
        Ok(columns)
    }

    fn get(&self, col: Col) -> Option<usize> {
        self.index.get(col as usize).copied().flatten()
    }

    /// The warnings a header with repeated columns gets, one a repeat.
    fn repeat_warnings(&self) -> impl Iterator<Item = Reject> + '_ {
        self.repeats.iter().map(|&(col, first, other)| {
            Reject::warning(
                "line 1",
                None,
                format!(
                    "the header names the column {} twice, as field {} and field {}: \
                     field {} is read; a row whose field {} says otherwise is rejected \
                     (the service keeps its previous version): remove the wrong column \
                     from the file",
                    COLUMN_NAMES.get(col).copied().unwrap_or("?"),
                    first + 1,
                    other + 1,
                    first + 1,
                    other + 1
                ),
            )
        })
    }

    /// The first repeated column on which `row` disagrees with itself: its name,
    /// both fields (from 1) and both values.
    fn disagreement<'r>(
        &self,
        row: &Row<'r>,
    ) -> Option<(&'static str, usize, usize, &'r str, &'r str)> {
        self.repeats.iter().find_map(|&(col, first, other)| {
            let a = trim(row.get(first).unwrap_or(""));
            let b = trim(row.get(other).unwrap_or(""));
            (a != b).then(|| {
                let name = COLUMN_NAMES.get(col).copied().unwrap_or("?");
                (name, first + 1, other + 1, a, b)
            })
        })
    }

    /// The trimmed field of `col`, empty when the column is absent.
    fn field<'r>(&self, row: &Row<'r>, col: Col) -> &'r str {
        trim(self.get(col).and_then(|i| row.get(i)).unwrap_or(""))
    }
}

/// One data record as text: the csv reader's bytes checked as UTF-8 once for the
/// whole record rather than once per field (as `StringRecord` does for any record
/// that is not pure ASCII). The fields are cut at the delimiter, which is ASCII, so
/// each is a whole-character slice of the one checked text.
struct Row<'r> {
    text: &'r str,
    record: &'r ByteRecord,
}

impl<'r> Row<'r> {
    fn new(record: &'r ByteRecord) -> Result<Row<'r>, std::str::Utf8Error> {
        let bytes = record.as_slice();
        let text = match simdutf8::basic::from_utf8(bytes) {
            Ok(text) => text,
            // The fast check says only whether; std's says where, for the message.
            Err(_) => std::str::from_utf8(bytes)?,
        };
        Ok(Row { text, record })
    }

    fn len(&self) -> usize {
        self.record.len()
    }

    fn get(&self, i: usize) -> Option<&'r str> {
        self.record.range(i).and_then(|range| self.text.get(range))
    }

    fn iter(&self) -> impl Iterator<Item = &'r str> + '_ {
        (0..self.len()).map(|i| self.get(i).unwrap_or_default())
    }
}

/// `text.trim()`, without decoding characters where both ends are ASCII, as
/// nearly every field's are: the ASCII white space `str::trim` removes (space, tab,
/// line feed, vertical tab, form feed, carriage return) is cut byte by byte, and
/// only an end that then starts a multi-byte character is left to `str::trim`.
fn trim(text: &str) -> &str {
    fn space(b: u8) -> bool {
        matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
    }
    let bytes = text.as_bytes();
    let start = bytes.iter().position(|&b| !space(b)).unwrap_or(bytes.len());
    let end = bytes
        .iter()
        .rposition(|&b| !space(b))
        .map_or(start, |i| i + 1);
    // Both cuts are at ASCII bytes, so at character boundaries.
    let rest = text.get(start..end).unwrap_or_default();
    match (rest.as_bytes().first(), rest.as_bytes().last()) {
        (Some(&first), Some(&last)) if first >= 0x80 || last >= 0x80 => rest.trim(),
        _ => rest,
    }
}

/// Header names compare without case, spaces or punctuation, and with umlauts spelled
/// out, so `Veröffentlichungsdatum`, `VEROEFFENTLICHUNGSDATUM ` and
/// `besondere_merkmale` all match.
fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for c in name.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            c if c.is_alphanumeric() => out.push(c),
            _ => {}
        }
    }
    out
}

/// The item iterator over the data rows.
struct Rows<R: Read> {
    reader: csv::Reader<RecordGuard<R>>,
    columns: Columns,
    width: usize,
    delimiter: u8,
    record: ByteRecord,
    pending: VecDeque<Item<ServiceRecord>>,
}

impl<R: Read> Step for Rows<R> {
    type Record = ServiceRecord;

    fn pending(&mut self) -> &mut VecDeque<Item<ServiceRecord>> {
        &mut self.pending
    }

    /// Reads one record and queues what it yields.
    fn step(&mut self) -> Result<bool, ParseError> {
        let before = self.reader.position().clone();
        self.reader.get_mut().record_start = before.byte();
        match self.reader.read_byte_record(&mut self.record) {
            Ok(true) => {
                // The decoder only ever hands on UTF-8, so this does not fail; if it
                // did, the file is refused as a csv reader's UTF-8 error was before.
                let row = Row::new(&self.record).map_err(|e| {
                    ParseError::not_format(
                        EXPECTED,
                        format!("line {}", before.line()),
                        format!("the record is not valid UTF-8 after decoding: {e}"),
                    )
                })?;
                let (inner_breaks, undecodable) = scan_record(row.text);
                let line = start_line(before.line(), self.reader.position().line(), inner_breaks);
                convert_row(
                    line,
                    &row,
                    undecodable,
                    &self.columns,
                    self.width,
                    self.delimiter,
                    &mut self.pending,
                );
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => Err(csv_error(e, before.line())),
        }
    }
}

/// What a record's text (its fields lie back to back in one string) holds beyond its
/// fields: the line breaks inside them, and whether it holds [`UNDECODABLE`] (looked
/// for only when its first UTF-8 byte, 0xEF, occurs at all). `memchr` searches a
/// word or vector at a time; nearly every record has neither.
fn scan_record(text: &str) -> (u64, bool) {
    let bytes = text.as_bytes();
    let breaks = match memchr::memchr(b'\n', bytes) {
        Some(_) => memchr::memchr_iter(b'\n', bytes).count() as u64,
        None => 0,
    };
    let undecodable = memchr::memchr(0xEF, bytes).is_some() && text.contains(UNDECODABLE);
    (breaks, undecodable)
}

/// The physical line a record starts on. The csv reader reports the line before any
/// blank lines it skipped, so count back from where the record ended instead: the
/// line after it, less the line breaks inside its fields, less its own final LF (which
/// the last record may lack, hence the floor).
fn start_line(before: u64, after: u64, inner_breaks: u64) -> u64 {
    after.saturating_sub(inner_breaks + 1).max(before)
}

/// Maps a csv error to the payload error; `line` is where the failing record began.
fn csv_error(e: csv::Error, line: u64) -> ParseError {
    let position = format!("line {line}");
    match e.into_kind() {
        csv::ErrorKind::Io(io) => {
            if let Some(too_long) = io
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<RecordTooLong>())
            {
                let why = if too_long.quoted {
                    "probably a quote (\") that is never closed"
                } else {
                    "it holds no quote, so this is one over-long line: a LeiKa row is a few \
                     KB; check that this is the LeiKa CSV and that its line breaks survived"
                };
                ParseError::not_format(
                    EXPECTED,
                    position,
                    format!(
                        "the record starting here is longer than {MAX_RECORD_BYTES} bytes; {why}"
                    ),
                )
            } else {
                ParseError::Io(io)
            }
        }
        other => ParseError::not_format(EXPECTED, position, format!("{other:?}")),
    }
}

/// `line N`, the position of a record, without the formatting machinery (one per row).
fn line_position(line: u64) -> String {
    let mut digits = [0u8; 20];
    let mut n = line;
    let mut start = digits.len();
    loop {
        start -= 1;
        if let Some(d) = digits.get_mut(start) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || start == 0 {
            break;
        }
    }
    let mut position = String::with_capacity(5 + digits.len() - start);
    position.push_str("line ");
    for &d in digits.get(start..).unwrap_or_default() {
        position.push(char::from(d));
    }
    position
}

/// Turns one data row into a record (plus warnings) or a reject.
fn convert_row(
    line: u64,
    row: &Row<'_>,
    undecodable: bool,
    columns: &Columns,
    width: usize,
    delimiter: u8,
    out: &mut VecDeque<Item<ServiceRecord>>,
) {
    // Spreadsheet exports often end with rows of bare delimiters; they carry nothing.
    if row.iter().all(|f| trim(f).is_empty()) {
        return;
    }
    let position = line_position(line);
    let raw = || {
        let joined = row
            .iter()
            .collect::<Vec<_>>()
            .join(&char::from(delimiter).to_string());
        joined.trim_end_matches('\r').to_owned()
    };
    let key = columns.field(row, Col::Schluessel);
    // Owned only for the rejects and warnings that name it, not for every row.
    let key_opt = || (!key.is_empty()).then(|| key.to_owned());

    // `scan_record` looked at all fields at once for the rare bad row.
    let undecodable = if undecodable {
        row.iter().position(|f| f.contains(UNDECODABLE))
    } else {
        None
    };
    if let Some(i) = undecodable {
        let column = COLUMN_NAMES
            .iter()
            .zip(columns.index.iter())
            .find(|(_, at)| **at == Some(i))
            .map_or_else(
                || format!("field {}", i + 1),
                |(name, _)| (*name).to_owned(),
            );
        out.push_back(Item::Reject(
            Reject::reject(
                format!("{position}, column {column}"),
                key_opt(),
                super::text::undecodable_reason("the row"),
            )
            // A valid key still names a published service: only its text is broken.
            .key_checked(Leistungsschluessel::is_valid)
            .with_raw(raw()),
        ));
        return;
    }
    if row.len() != width {
        out.push_back(Item::Reject(
            Reject::reject(
                position,
                key_opt(),
                format!(
                    "the row has {} fields but the header has {width}; the row was skipped \
                     (a field containing the delimiter '{}' must be quoted)",
                    row.len(),
                    char::from(delimiter).escape_default()
                ),
            )
            // The key column is read where the header puts it; if it holds a valid key
            // the service is still published, however the rest of the row broke.
            .key_checked(Leistungsschluessel::is_valid)
            .with_raw(raw()),
        ));
        return;
    }
    if let Some((name, first, other, a, b)) = columns.disagreement(row) {
        out.push_back(Item::Reject(
            Reject::reject(
                position,
                key_opt(),
                format!(
                    "the column {name} stands twice in the header, and this row gives it \
                     two values: '{}' (field {first}) and '{}' (field {other}); which one \
                     is right cannot be told, so the row was skipped: remove the wrong \
                     column from the file",
                    shorten(a, 80),
                    shorten(b, 80)
                ),
            )
            .key_checked(Leistungsschluessel::is_valid)
            .with_raw(raw()),
        ));
        return;
    }
    if !Leistungsschluessel::is_valid(key) {
        out.push_back(Item::Reject(
            Reject::reject(
                position,
                key_opt(),
                match crate::model::keys::invisible_cause(key) {
                    Some(cause) => format!(
                        "Schluessel '{}' is not a 14-digit Leistungsschlüssel: {cause}; the \
                         row was skipped",
                        key.trim_start_matches('\u{FEFF}')
                    ),
                    None => format!(
                        "Schluessel '{key}' is not a 14-digit Leistungsschlüssel; the row was \
                         skipped"
                    ),
                },
            )
            .with_raw(raw()),
        ));
        return;
    }
    let bezeichnung = columns.field(row, Col::Bezeichnung);
    if bezeichnung.is_empty() {
        out.push_back(Item::Reject(
            Reject::reject(
                position,
                key_opt(),
                "Bezeichnung is empty; the row was skipped",
            )
            .key_checked(Leistungsschluessel::is_valid)
            .with_raw(raw()),
        ));
        return;
    }

    let mut warnings = Vec::new();
    if !key.starts_with("99") {
        warnings.push(Reject::warning(
            position.clone(),
            key_opt(),
            format!(
                "Schluessel '{key}' does not start with 99 as LeiKa keys do; the service was kept"
            ),
        ));
    }

    let typ = columns.field(row, Col::Typ);
    let typisierung = split_typ(typ);
    // The warning's position text is made only for a row that has an unknown code.
    let unknown = typisierung
        .iter()
        .any(|c| !crate::model::TYPISIERUNG_CODES.contains(&c.as_str()));
    let warning = unknown
        .then(|| {
            unknown_typisierung(
                &typisierung,
                format!("{position}, column Typ"),
                "Typ",
                key_opt(),
            )
        })
        .flatten();
    if let Some(warning) = warning {
        warnings.push(warning.with_raw(typ));
    }

    let datum = columns.field(row, Col::Veroeffentlichungsdatum);
    let veroeffentlicht = if datum.is_empty() {
        None
    } else {
        let parsed = parse_datum(datum);
        if parsed.is_none() {
            warnings.push(
                Reject::warning(
                    format!("{position}, column Veröffentlichungsdatum"),
                    key_opt(),
                    format!(
                        "Veröffentlichungsdatum '{datum}' is not a date DD.MM.YYYY or DD.MM.YYYY hh:mm; \
                         the service was kept without a date"
                    ),
                )
                .with_raw(datum),
            );
        }
        parsed
    };

    let optional = |col| {
        let value = columns.field(row, col);
        (!value.is_empty()).then(|| value.to_owned())
    };
    let record = ServiceRecord {
        leistungsschluessel: key.to_owned(),
        bezeichnung: bezeichnung.to_owned(),
        bezeichnung2: optional(Col::Bezeichnung2),
        leistungstyp: leistungstyp_of(key).to_owned(),
        typisierung,
        leistungsgruppierung: optional(Col::Leistungsgruppierung),
        leistungskennung: optional(Col::Leistungskennung),
        verrichtung: optional(Col::Verrichtung),
        verrichtungsdetail: optional(Col::Verrichtungsdetail),
        veroeffentlicht,
        besondere_merkmale: split_list(columns.field(row, Col::BesondereMerkmale)),
        synonyme: split_list(columns.field(row, Col::Synonyme)),
        kurztext: None,
        ozg_ids: Vec::new(),
    };
    out.push_back(Item::Record {
        position,
        change: Change::Upsert(record),
    });
    out.extend(warnings.into_iter().map(Item::Reject));
}

/// Splits a Typ cell into codes. Real files separate several codes with `, ` or `;`
/// (`1, 2/3`, `1;2/3`); `/` belongs to codes such as `2/3` and never splits.
fn split_typ(typ: &str) -> Vec<String> {
    typ.split(|c: char| c == ',' || c == ';' || c == '|' || c.is_whitespace())
        .filter(|code| !code.is_empty())
        .map(str::to_owned)
        .collect()
}

/// Splits a `|`-separated list cell, trimmed, empties dropped.
fn split_list(cell: &str) -> Vec<String> {
    cell.split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `DD.MM.YYYY hh:mm` (or `DD.MM.YYYY`, or with seconds) as `YYYY-MM-DDTHH:MM:SS`.
fn parse_datum(s: &str) -> Option<String> {
    if let Some(exact) = parse_datum_exact(s) {
        return exact;
    }
    parse_datum_chrono(s)
}

/// [`parse_datum`] for the shapes every real row has, two-digit day, month, hour,
/// minute and second and a four-digit year, without chrono's format strings (read
/// anew for every date: a measurable share of parsing 100,000 rows). `None` when
/// `s` has another shape (or a leap second): then chrono decides. A test pins both
/// paths to the same answers.
fn parse_datum_exact(s: &str) -> Option<Option<String>> {
    let b = s.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        b.get(range)
            .filter(|d| d.iter().all(u8::is_ascii_digit))
            .map(|d| d.iter().fold(0u32, |n, &c| n * 10 + u32::from(c - b'0')))
    };
    let (day, month, year) = (digits(0..2)?, digits(3..5)?, digits(6..10)?);
    if b.get(2) != Some(&b'.') || b.get(5) != Some(&b'.') {
        return None;
    }
    let (hour, minute, second) = match b.len() {
        10 => (0, 0, 0),
        16 | 19 if b.get(10) == Some(&b' ') && b.get(13) == Some(&b':') => {
            let second = if b.len() == 19 {
                if b.get(16) != Some(&b':') {
                    return None;
                }
                digits(17..19)?
            } else {
                0
            };
            (digits(11..13)?, digits(14..16)?, second)
        }
        _ => return None,
    };
    if second == 60 {
        return None;
    }
    let valid = i32::try_from(year)
        .ok()
        .and_then(|year| NaiveDate::from_ymd_opt(year, month, day))
        .and_then(|date| date.and_hms_opt(hour, minute, second))
        .is_some();
    if !valid {
        return Some(None);
    }
    // The digits moved into place one by one: the eleven pieces pushed onto a
    // string were a call each, most of this function's cost.
    let mut iso = *b"0000-00-00T00:00:00";
    const DIGITS: [(usize, usize); 14] = [
        (0, 6),
        (1, 7),
        (2, 8),
        (3, 9),
        (5, 3),
        (6, 4),
        (8, 0),
        (9, 1),
        (11, 11),
        (12, 12),
        (14, 14),
        (15, 15),
        (17, 17),
        (18, 18),
    ];
    for (to, from) in DIGITS {
        // A date without a time, or without seconds, keeps the zeros.
        if let (Some(slot), Some(&digit)) = (iso.get_mut(to), b.get(from)) {
            *slot = digit;
        }
    }
    // All ASCII digits and separators; were it not, chrono would decide.
    String::from_utf8(iso.to_vec()).ok().map(Some)
}

/// [`parse_datum`] through chrono, for every shape it accepts.
fn parse_datum_chrono(s: &str) -> Option<String> {
    for format in ["%d.%m.%Y %H:%M", "%d.%m.%Y %H:%M:%S"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Some(iso(t));
        }
    }
    NaiveDate::parse_from_str(s, "%d.%m.%Y")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(iso)
}

/// `t` as chrono's `%Y-%m-%dT%H:%M:%S`, written directly for the years and seconds
/// of every real row (chrono reads the format string anew for every date: a
/// measurable share of parsing 100,000 rows), through chrono for the rest (a
/// year beyond 9999 gets a sign, a leap second is `:60`).
fn iso(t: NaiveDateTime) -> String {
    use chrono::{Datelike, Timelike};
    if (0..=9999).contains(&t.year()) && t.nanosecond() < 1_000_000_000 {
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            t.year(),
            t.month(),
            t.day(),
            t.hour(),
            t.minute(),
            t.second()
        )
    } else {
        t.format("%Y-%m-%dT%H:%M:%S").to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::parse::test_support::{fixture, service};
    use crate::parse::Severity;
    use std::collections::BTreeSet;

    /// The fast `trim` is `str::trim`: ASCII ends, Unicode white space at the ends
    /// (no-break space, ideographic space, line separator, NEL) and what is not
    /// white space to `str::trim` (BOM, zero-width space) and stays.
    #[test]
    fn trim_is_str_trim() {
        let cases = [
            "",
            " ",
            "\t\n\x0b\x0c\r ",
            "a",
            " a ",
            "\x0ba\x0c",
            "a b",
            "  Straße  ",
            "\u{a0}a\u{a0}",
            " \u{a0} a \u{3000}",
            "\u{2028}x",
            "x\u{85}",
            "\u{feff}x\u{feff}",
            "\u{200b}x",
            "ä",
            " ä ",
            "\u{a0}",
            " \u{a0} ",
            "\u{3000}\t",
            "a\u{1680}",
        ];
        for text in cases {
            assert_eq!(trim(text), text.trim(), "{text:?}");
        }
    }

    const HEADER: &str = "Schluessel;Leistungsgruppierung;Leistungskennung;Verrichtung;Verrichtungsdetail;\
                          Bezeichnung;Bezeichnung2;Typ;Veröffentlichungsdatum;Besondere Merkmale;Synonyme";

    /// Everything one payload parses into.
    #[derive(Debug, Default)]
    struct Parsed {
        records: Vec<(String, ServiceRecord)>,
        rejects: Vec<Reject>,
        warnings: Vec<Reject>,
    }

    impl Parsed {
        fn record(&self, key: &str) -> &ServiceRecord {
            self.records
                .iter()
                .map(|(_, r)| r)
                .find(|r| r.leistungsschluessel == key)
                .unwrap_or_else(|| panic!("no record {key}"))
        }

        fn keys(&self) -> BTreeSet<String> {
            self.records
                .iter()
                .map(|(_, r)| r.leistungsschluessel.clone())
                .collect()
        }
    }

    fn parse_bytes(input: &[u8]) -> Result<Parsed, ParseError> {
        let mut parsed = Parsed::default();
        for item in parse(Cursor::new(input.to_vec()))? {
            match item? {
                Item::Record {
                    position,
                    change: Change::Upsert(record),
                } => parsed.records.push((position, record)),
                Item::Record { change, .. } => panic!("unexpected change {change:?}"),
                Item::Reject(r) if r.severity == Severity::Warning => parsed.warnings.push(r),
                Item::Reject(r) => parsed.rejects.push(r),
            }
        }
        Ok(parsed)
    }

    fn ok(input: &[u8]) -> Parsed {
        parse_bytes(input).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Parses `input` as a whole and asserts it is `NotFormat` with a reason containing `needle`.
    fn check_not_format(input: &[u8], needle: &str) {
        match parse_bytes(input) {
            Err(ParseError::NotFormat { reason, .. }) => {
                assert!(
                    reason.contains(needle),
                    "reason {reason:?} lacks {needle:?}"
                )
            }
            Err(other) => panic!("expected NotFormat, got {other}"),
            Ok(parsed) => panic!("expected NotFormat, got {parsed:?}"),
        }
    }

    /// A one-row file with the full header; `row` uses `;`.
    fn one_row(row: &str) -> Parsed {
        ok(format!("{HEADER}\r\n{row}\r\n").as_bytes())
    }

    /// What the fuzz target checks, for machines without cargo-fuzz: no input
    /// panics, with or without a valid header in front.
    fn csv_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            proptest::prop_oneof![
                proptest::num::u8::ANY,
                proptest::sample::select(vec![
                    b';', b'"', b'\n', b'\r', b'9', b'0', b'1', b'.', b':', b' ', b'|', b',', 0xC3,
                    0xA4, 0xE4, 0xEF, 0xBF, 0xBD, 0xA0, 0x00,
                ]),
            ],
            0..400,
        )
    }

    proptest::proptest! {
        #[test]
        fn no_input_panics(tail in csv_bytes(), with_header: bool) {
            let mut input = if with_header {
                format!("{HEADER}\r\n").into_bytes()
            } else {
                Vec::new()
            };
            input.extend_from_slice(&tail);
            let _ = parse_bytes(&input);
        }
    }

    #[test]
    fn a_reject_keeps_its_key_when_the_schluessel_is_valid() {
        let input = format!(
            "{HEADER}\r\n99001001002000;;;;;;;1;;;\r\n99001001001000;;;;;Zu kurz\r\n\
             9900100100;;;;;Kurzer Schlüssel;;1;;;\r\n;;;;;Ohne Schlüssel;;1;;;\r\n"
        );
        let items = parse(Cursor::new(input.into_bytes())).unwrap();
        assert_eq!(
            crate::parse::reject_keys(items),
            [
                "line 2 99001001002000 kept",
                "line 3 99001001001000 kept",
                "line 4 9900100100",
                "line 5 -",
            ]
        );
    }

    #[test]
    fn sample_counts_and_rows() {
        let parsed = ok(&fixture("leika", "leika_sample_nrw2019.csv"));
        assert_eq!(parsed.records.len(), 612);
        assert_eq!(parsed.rejects.len(), 55);
        assert_eq!(parsed.warnings.len(), 0);
        assert!(parsed
            .rejects
            .iter()
            .all(|r| r.key.as_deref() == Some("nicht im LeiKa")));

        let first = &parsed.rejects[0];
        assert_eq!(first.position, "line 2");
        assert_eq!(
            first.reason,
            "Schluessel 'nicht im LeiKa' is not a 14-digit Leistungsschlüssel; the row was skipped"
        );
        assert!(first
            .raw
            .as_deref()
            .is_some_and(|raw| raw.contains("Gefahrengutverpackungen")));

        // Windows-1252 umlauts decoded, date normalised, empty columns absent.
        assert_eq!(parsed.records[0].0, "line 3");
        assert_eq!(
            parsed.records[0].1,
            ServiceRecord {
                veroeffentlicht: Some("2019-10-05T14:38:00".into()),
                ..service("99088026034000", "Abendrealschule Aufnahme", &["4"])
            }
        );
        assert_eq!(
            parsed.record("99001001002000").bezeichnung,
            "Abfallgebühr Festsetzung"
        );
        assert_eq!(parsed.record("99001001002000").leistungstyp, "lov");
        assert_eq!(parsed.record("99111001017002").leistungstyp, "lovd");
        // Line 164: empty Typ is no codes and no warning.
        let empty_typ = &parsed
            .records
            .iter()
            .find(|(p, _)| p == "line 164")
            .unwrap()
            .1;
        assert_eq!(empty_typ.leistungsschluessel, "99109025000000");
        assert!(empty_typ.typisierung.is_empty());
        // Quoted field with doubled quotes.
        assert_eq!(
            parsed.record("99148018000000").bezeichnung,
            "Förderdarlehen der KfW \"Unternehmerkredit Plus\" - Nr. 044, 046"
        );
        // The one kept row with two codes (the other `1, 2/3` row has no key).
        let multi: Vec<_> = parsed
            .records
            .iter()
            .filter(|(_, r)| r.typisierung.len() > 1)
            .map(|(p, r)| (p.as_str(), r.typisierung.clone()))
            .collect();
        assert_eq!(
            multi,
            vec![("line 72", vec!["1".to_owned(), "2/3".to_owned()])]
        );
    }

    #[test]
    fn release2_differs_from_the_sample_as_documented() {
        let old = ok(&fixture("leika", "leika_sample_nrw2019.csv"));
        let new = ok(&fixture("leika", "leika_release2.csv"));
        assert_eq!(new.records.len(), 614);
        assert_eq!(new.rejects.len(), 55);
        assert_eq!(new.warnings.len(), 0);

        let (old_keys, new_keys) = (old.keys(), new.keys());
        let removed: BTreeSet<_> = old_keys.difference(&new_keys).cloned().collect();
        let added: BTreeSet<_> = new_keys.difference(&old_keys).cloned().collect();
        let set = |keys: &[&str]| keys.iter().map(|k| k.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            removed,
            set(&[
                "99012054000000",
                "99110019000000",
                "99012034095000",
                "99136004137000"
            ])
        );
        assert_eq!(
            added,
            set(&[
                "99050012104000",
                "99102005017000",
                "99102005018000",
                "99135099001000",
                "99060014262000",
                "99008001012011"
            ])
        );
        let changed: BTreeSet<_> = old_keys
            .intersection(&new_keys)
            .filter(|k| old.record(k) != new.record(k))
            .cloned()
            .collect();
        assert_eq!(
            changed,
            set(&[
                "99018113000000",
                "99102047012000",
                "99110002001000",
                "99134036000000",
                "99108037226000",
                "99010001020027",
                "99109011000000",
                "99131002000000"
            ])
        );
        assert_eq!(
            new.record("99134036000000").bezeichnung,
            "Hebammenhilfe Leistungen"
        );
        assert_eq!(new.record("99010001020027").typisierung, ["1", "2/3"]);
        assert_eq!(
            new.record("99135099001000"),
            &ServiceRecord {
                veroeffentlicht: Some("2020-01-14T09:30:00".into()),
                ..service(
                    "99135099001000",
                    "Zuschuss für \"Digitale Bildung\", Bewilligung",
                    &["4a"]
                )
            }
        );
        assert_eq!(
            new.record("99008001012011").bezeichnung,
            "Ausbildungsförderung; Vorausleistung Bewilligung"
        );
    }

    #[test]
    fn encodings_decode_to_the_same_records() {
        let text = "Schluessel;Bezeichnung;Veröffentlichungsdatum\n99001001002000;Abfallgebühr Festsetzung – €;05.10.2019\n";
        let expected = ServiceRecord {
            veroeffentlicht: Some("2019-10-05T00:00:00".into()),
            ..service("99001001002000", "Abfallgebühr Festsetzung – €", &[])
        };
        let (cp1252, _, unmappable) = encoding_rs::WINDOWS_1252.encode(text);
        assert!(!unmappable);
        let with_bom = [&[0xEF, 0xBB, 0xBF][..], text.as_bytes()].concat();
        for (name, bytes) in [
            ("utf-8", text.as_bytes().to_vec()),
            ("utf-8 with BOM", with_bom),
            ("windows-1252", cp1252.into_owned()),
        ] {
            let parsed = ok(&bytes);
            assert_eq!(parsed.records.len(), 1, "{name}");
            assert_eq!(parsed.records[0].1, expected, "{name}");
        }
    }

    #[test]
    fn utf8_sequence_across_the_sniffing_chunk_boundary_stays_utf8() {
        let mut text = String::from("Schluessel;Bezeichnung\n99001001002000;");
        // Put the two bytes of 'ü' on both sides of the first 64 KiB chunk.
        while text.len() < 64 * 1024 - 1 {
            text.push('a');
        }
        text.push_str("ü\n");
        let parsed = ok(text.as_bytes());
        assert!(parsed.records[0].1.bezeichnung.ends_with("aü"));
    }

    #[test]
    fn delimiters_are_detected_from_the_header() {
        for (name, input) in [
            ("semicolon", "Schluessel;Bezeichnung;Typ\n99001001002000;Abfall, Gebühr;1, 2/3\n"),
            ("comma", "Schluessel,Bezeichnung,Typ\n99001001002000,\"Abfall, Gebühr\",\"1, 2/3\"\n"),
            ("tab", "Schluessel\tBezeichnung\tTyp\n99001001002000\tAbfall, Gebühr\t1, 2/3\n"),
            ("quoted header", "\"Schluessel\",\"Bezeichnung\",\"Typ\"\n\"99001001002000\",\"Abfall, Gebühr\",\"1, 2/3\"\n"),
        ] {
            let parsed = ok(input.as_bytes());
            assert_eq!(parsed.rejects, vec![], "{name}");
            assert_eq!(
                parsed.records[0].1,
                service("99001001002000", "Abfall, Gebühr", &["1", "2/3"]),
                "{name}"
            );
        }
    }

    #[test]
    fn embedded_newlines_keep_physical_line_numbers() {
        let parsed = ok(b"Schluessel,Bezeichnung\r\n99001001002000,\"Zeile eins\r\nZeile zwei\"\r\nkaputt,X\r\n99001001003000,Y\r\n");
        assert_eq!(parsed.records[0].1.bezeichnung, "Zeile eins\r\nZeile zwei");
        assert_eq!(parsed.records[0].0, "line 2");
        assert_eq!(parsed.rejects[0].position, "line 4");
        assert_eq!(parsed.records[1].0, "line 5");
    }

    #[test]
    fn header_names_match_tolerantly() {
        let parsed = ok(
            " SCHLÜSSEL ; bezeichnung;VEROEFFENTLICHUNGSDATUM;besondere_merkmale;Extra\n\
                         99001001002000;Abfall;05.10.2019 14:38;a| b ||c ;x\n"
                .as_bytes(),
        );
        assert_eq!(
            parsed.records[0].1,
            ServiceRecord {
                veroeffentlicht: Some("2019-10-05T14:38:00".into()),
                besondere_merkmale: vec!["a".into(), "b".into(), "c".into()],
                ..service("99001001002000", "Abfall", &[])
            }
        );
    }

    #[test]
    fn all_columns_are_mapped() {
        let parsed = one_row(
            "99008001012011;Gruppe;Kennung;Bewilligung;Vorausleistung;Ausbildungsförderung;BAföG;4a;01.02.2024 08:05;eins|zwei;Bafög | Studienförderung",
        );
        assert_eq!(
            parsed.records[0].1,
            ServiceRecord {
                bezeichnung2: Some("BAföG".into()),
                leistungsgruppierung: Some("Gruppe".into()),
                leistungskennung: Some("Kennung".into()),
                verrichtung: Some("Bewilligung".into()),
                verrichtungsdetail: Some("Vorausleistung".into()),
                veroeffentlicht: Some("2024-02-01T08:05:00".into()),
                besondere_merkmale: vec!["eins".into(), "zwei".into()],
                synonyme: vec!["Bafög".into(), "Studienförderung".into()],
                ..service("99008001012011", "Ausbildungsförderung", &["4a"])
            }
        );
    }

    /// `(Typ cell, codes kept, unknown codes warned about)`.
    #[test]
    fn dirty_typ_values() {
        for (typ, codes, unknown) in [
            ("1, 2/3", &["1", "2/3"][..], None),
            ("1, 2", &["1", "2"][..], None),
            ("\"1;2/3\"", &["1", "2/3"][..], None),
            ("", &[][..], None),
            (" 4b ", &["4b"][..], None),
            ("13", &["13"][..], Some("'13'")),
            ("2/3, x, 4", &["2/3", "x", "4"][..], Some("'x'")),
        ] {
            let parsed = one_row(&format!(
                "99001001002000;;;;;Abfall;;{typ};05.10.2019 14:38;;"
            ));
            assert_eq!(parsed.records[0].1.typisierung, codes, "{typ}");
            match unknown {
                None => assert_eq!(parsed.warnings, vec![], "{typ}"),
                Some(code) => {
                    let w = &parsed.warnings[0];
                    assert_eq!(w.position, "line 2, column Typ");
                    assert_eq!(w.key.as_deref(), Some("99001001002000"));
                    assert!(w.reason.contains(code), "{}", w.reason);
                    assert_eq!(w.raw.as_deref(), Some(typ.trim()));
                }
            }
        }
    }

    /// `(row, reject reason fragment)`.
    #[test]
    fn bad_rows_are_rejected_with_reasons() {
        for (row, reason) in [
            (
                "nicht im LeiKa;;;;;Abfall;;1;;;",
                "Schluessel 'nicht im LeiKa' is not a 14-digit",
            ),
            (
                "9900100100200;;;;;Abfall;;1;;;",
                "'9900100100200' is not a 14-digit",
            ),
            (";;;;;Abfall;;1;;;", "Schluessel '' is not a 14-digit"),
            ("99001001002000;;;;;  ;;1;;;", "Bezeichnung is empty"),
            (
                "99001001002000;;;;;Abfall;Gebühr;1",
                "the row has 8 fields but the header has 11",
            ),
            (
                "99001001002000;;;;;Abfall; Gebühr;1;;;;;",
                "the row has 13 fields",
            ),
        ] {
            let parsed = one_row(row);
            assert_eq!(parsed.records.len(), 0, "{row}");
            assert_eq!(parsed.rejects.len(), 1, "{row}");
            let r = &parsed.rejects[0];
            assert_eq!(r.position, "line 2");
            assert!(r.reason.contains(reason), "{row}: {}", r.reason);
            assert_eq!(r.raw.as_deref(), Some(row));
        }
    }

    #[test]
    fn rows_of_bare_delimiters_are_skipped() {
        let parsed =
            ok(format!("{HEADER}\r\n;;;;;;;;;;\r\n99001001002000;;;;;Abfall;;1;;;\r\n").as_bytes());
        assert_eq!((parsed.records.len(), parsed.rejects.len()), (1, 0));
    }

    #[test]
    fn suspicious_values_are_kept_with_warnings() {
        let parsed = one_row("12001001002000;;;;;Abfall;;1;2019-10-05;;");
        assert_eq!(
            parsed.records[0].1,
            service("12001001002000", "Abfall", &["1"]),
            "the bad date is left empty"
        );
        let reasons: Vec<_> = parsed
            .warnings
            .iter()
            .map(|w| (w.position.as_str(), w.reason.as_str()))
            .collect();
        assert_eq!(reasons.len(), 2);
        assert_eq!(reasons[0].0, "line 2");
        assert!(reasons[0].1.contains("does not start with 99"));
        assert_eq!(reasons[1].0, "line 2, column Veröffentlichungsdatum");
        assert!(reasons[1].1.contains("'2019-10-05'"));
    }

    #[test]
    fn not_the_format() {
        check_not_format(&fixture("leika", "html_error_page.csv"), "HTML");
        check_not_format(
            &fixture("leika", "wrong_header.csv"),
            "expected a header line with the columns Schluessel",
        );
        check_not_format(b"", "empty");
        check_not_format(b"\xFF\xFES\0c\0h\0", "UTF-16");
        let (utf16_no_bom, _) = [b'S', 0, b'c', 0].split_at(4);
        check_not_format(utf16_no_bom, "NUL");
        check_not_format(&[0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00], "NUL");
        check_not_format(b"  <?xml version=\"1.0\"?><leistung/>", "HTML or XML");
        check_not_format(
            b"Schluessel;Name\n99001001002000;Abfall\n",
            "at least Schluessel and Bezeichnung",
        );
        check_not_format(&vec![b'x'; 70 * 1024], "no line break");
    }

    #[test]
    fn an_unclosed_quote_fails_instead_of_swallowing_the_file() {
        let mut input = String::from("Schluessel;Bezeichnung\n99001001002000;\"offen\n");
        let row = "99001001003000;Abfall\n";
        while input.len() as u64 <= 2 * MAX_RECORD_BYTES {
            input.push_str(row);
        }
        check_not_format(input.as_bytes(), "a quote (\") that is never closed");
    }

    #[test]
    fn an_over_long_line_without_a_quote_is_named_as_such() {
        let mut input = String::from("Schluessel;Bezeichnung\n\"99001001002000\";Abfall\n");
        input.push_str("99001001003000;");
        input.push_str(&"x".repeat(2 * MAX_RECORD_BYTES as usize));
        input.push('\n');
        match parse_bytes(input.as_bytes()) {
            Err(ParseError::NotFormat {
                position, reason, ..
            }) => {
                assert_eq!(position, "line 3");
                assert!(reason.contains("one over-long line"), "{reason}");
                assert!(!reason.contains("never closed"), "{reason}");
            }
            Err(other) => panic!("expected NotFormat, got {other}"),
            Ok(parsed) => panic!("expected NotFormat, got {parsed:?}"),
        }
    }

    #[test]
    fn dates() {
        for (input, expected) in [
            ("05.10.2019 14:38", Some("2019-10-05T14:38:00")),
            ("5.1.2019 4:08", Some("2019-01-05T04:08:00")),
            ("05.10.2019 14:38:12", Some("2019-10-05T14:38:12")),
            ("05.10.2019", Some("2019-10-05T00:00:00")),
            ("31.02.2019", None),
            ("05.10.2019 25:00", None),
            ("gestern", None),
        ] {
            assert_eq!(parse_datum(input).as_deref(), expected, "{input}");
        }
    }

    /// The fast path answers what chrono answers, for every day, month, hour,
    /// minute and second around the valid ranges and for near-miss shapes.
    #[test]
    fn exact_dates_answer_as_chrono() {
        let mut inputs = Vec::new();
        for day in ["00", "01", "28", "29", "30", "31", "32", "99"] {
            for month in ["00", "01", "02", "04", "12", "13"] {
                for year in ["0000", "0001", "1900", "2000", "2020", "2023", "9999"] {
                    inputs.push(format!("{day}.{month}.{year}"));
                    for time in ["00:00", "23:59", "24:00", "12:60", "06:47"] {
                        inputs.push(format!("{day}.{month}.{year} {time}"));
                        for second in ["00", "59", "60", "61", "99"] {
                            inputs.push(format!("{day}.{month}.{year} {time}:{second}"));
                        }
                    }
                }
            }
        }
        inputs.extend(
            [
                "31.12.2016 23:59:60",
                "22.11.2022  06:47",
                "22.11.2022T06:47",
                "22.11.2022 06:47:",
                "22.11.2022 06.47",
                "22-11-2022",
                "22.11.22",
                "2.11.2022 06:47",
                "22.11.2022 6:47",
                "22.11.+2022",
                "22.11.-202",
                "22.11.20222",
                "22.11.2022 06:47 ",
                "22.11.2022 06:47:5",
                "22.1ä.2022",
                "٢٢.11.2022",
                "",
            ]
            .map(str::to_owned),
        );
        for input in &inputs {
            assert_eq!(parse_datum(input), parse_datum_chrono(input), "{input:?}");
        }
        assert!(
            inputs
                .iter()
                .filter(|i| parse_datum_exact(i).is_some())
                .count()
                > 1000
        );
    }

    /// The direct writer says what chrono's format says, at the edges too.
    #[test]
    fn iso_is_chronos_format() {
        let mut dates = vec![
            NaiveDate::from_ymd_opt(1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)),
            NaiveDate::from_ymd_opt(999, 12, 31).and_then(|d| d.and_hms_opt(23, 59, 59)),
            NaiveDate::from_ymd_opt(9999, 12, 31).and_then(|d| d.and_hms_opt(23, 59, 59)),
            NaiveDate::from_ymd_opt(10000, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)),
            NaiveDate::from_ymd_opt(0, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)),
            NaiveDate::from_ymd_opt(-1, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)),
            NaiveDate::from_ymd_opt(2016, 12, 31)
                .and_then(|d| d.and_hms_milli_opt(23, 59, 59, 1500)),
        ];
        dates.extend(
            [
                "31.12.2016 23:59:60",
                "05.10.2019 14:38",
                "1.1.0 0:00",
                "01.01.12345 00:00",
            ]
            .iter()
            .map(|s| {
                NaiveDateTime::parse_from_str(s, "%d.%m.%Y %H:%M:%S")
                    .or_else(|_| NaiveDateTime::parse_from_str(s, "%d.%m.%Y %H:%M"))
                    .ok()
            }),
        );
        let dates: Vec<NaiveDateTime> = dates.into_iter().flatten().collect();
        assert!(dates.len() >= 9, "{dates:?}");
        for t in dates {
            assert_eq!(iso(t), t.format("%Y-%m-%dT%H:%M:%S").to_string(), "{t:?}");
        }
    }
}
