//! Opening a CSV file of unknown spreadsheet origin: UTF-8 (with or without BOM) or
//! Windows-1252, `;` or `,` (or tab) as delimiter. Shared by the CSV formats whose
//! files are saved by hand from Excel or LibreOffice (EfA, OZG, annotations).
//!
//! The encoding is decided by evidence in one streaming pass over the bytes
//! ([`super::text`]: any valid multi-byte UTF-8 makes the file UTF-8, else
//! Windows-1252), the delimiter by the header line; then the input is rewound and
//! decoded as a stream, so memory does not grow with the file. In a UTF-8 file, a row
//! with bytes that do not decode is rejected by [`undecodable`].

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom};

use super::text::{self, Legacy, TextEncoding, UNDECODABLE};
use super::ParseError;
use crate::model::vocab::slug;

/// A CSV reader over the decoded text, with what was detected.
pub struct CsvInput<'a> {
    pub reader: csv::Reader<Box<dyn Read + 'a>>,
    /// `UTF-8` or `windows-1252`.
    pub encoding: &'static str,
    pub delimiter: u8,
}

/// Detects encoding and delimiter of `input` and returns a CSV reader (headers on,
/// rows may differ in length) over the decoded text. `expected` names the format
/// for the error when the payload is binary or empty.
pub fn open<'a, R: Read + Seek + 'a>(
    mut input: R,
    expected: &'static str,
) -> Result<CsvInput<'a>, ParseError> {
    refuse_utf16(&mut input, expected)?;
    refuse_cut_inside_a_character(&mut input, expected)?;
    let encoding = detect_encoding(&mut input, expected)?;
    input.seek(SeekFrom::Start(0))?;
    let header = first_line(&mut input, encoding)?;
    if header.trim().is_empty() {
        return Err(ParseError::not_format(
            expected,
            "line 1",
            "the file is empty or starts with an empty line; the first line must be the header",
        ));
    }
    // The CSV reader takes a bare CR as a line end but counts lines by LF: every
    // row of such a file was "line 1", and rows refused were counted by line.
    if header.contains('\r') {
        return Err(ParseError::not_format(expected, "line 1", BARE_CR));
    }
    let delimiter = detect_delimiter(&header);
    input.seek(SeekFrom::Start(0))?;
    let decoded: Box<dyn Read + 'a> = Box::new(DecodeReader::new(input, encoding, delimiter));
    let reader = csv::ReaderBuilder::new()
        .delimiter(delimiter)
        .flexible(true)
        .has_headers(true)
        .from_reader(decoded);
    Ok(CsvInput {
        reader,
        encoding: encoding.name(),
        delimiter,
    })
}

/// The signature of an OLE compound file (Microsoft's Compound File Binary format).
const OLE_COMPOUND_FILE: [u8; 8] = [0xD0, 0xCF, 0x11, 0xE0, 0xA1, 0xB1, 0x1A, 0xE1];

/// Whether a payload starts like a gzip file (`1F 8B`): a `.gz` download or report
/// given as it came, which the text readers would call binary data.
pub(super) fn is_gzip(head: &[u8]) -> bool {
    head.starts_with(&[0x1F, 0x8B])
}

/// How much of a payload's end [`refuse_cut_inside_a_character`] reads.
const TAIL_WINDOW: u64 = 64 * 1024;

/// Refuses a payload that ends in the middle of a UTF-8 character: a lead byte at
/// its end with fewer continuation bytes than it announces, in a file that is
/// UTF-8 (a byte-order mark, or a valid multi-byte character in its last 64 KiB,
/// with no invalid byte before the unfinished one). Such a file was cut short, a
/// copy or download that broke off, and the records after the cut are missing: a
/// full release would retire them, so it is refused as a whole rather than losing
/// its last row to a reject about the encoding. A Windows-1252 file ending in
/// `ß` or `ä` without a line break is not UTF-8 elsewhere and passes. Reads the
/// last 64 KiB and the first three bytes; leaves `input` at its start.
pub fn refuse_cut_inside_a_character<R: Read + Seek>(
    input: &mut R,
    expected: &'static str,
) -> Result<(), ParseError> {
    let len = input.seek(SeekFrom::End(0))?;
    let mut head = [0_u8; 3];
    input.seek(SeekFrom::Start(0))?;
    let bom = len >= 3 && {
        input.read_exact(&mut head)?;
        head == [0xEF, 0xBB, 0xBF]
    };
    let from = len.saturating_sub(TAIL_WINDOW);
    input.seek(SeekFrom::Start(from))?;
    let mut tail = Vec::new();
    Read::by_ref(input)
        .take(TAIL_WINDOW)
        .read_to_end(&mut tail)?;
    input.seek(SeekFrom::Start(0))?;
    if let Some(unfinished) = unfinished_character(&tail, from > 0, bom) {
        return Err(ParseError::not_format(
            expected,
            format!("byte {}", len - unfinished as u64),
            format!(
                "the file ends in the middle of a character (its last {unfinished} byte(s) begin a \
                 UTF-8 character that is never finished): it was cut short, as a download or copy \
                 that broke off, and what came after the cut is missing; nothing was applied: \
                 take the file from the source again"
            ),
        ));
    }
    Ok(())
}

/// How many bytes at the end of `tail` begin a UTF-8 character that is not
/// finished, when the rest of `tail` is UTF-8 with evidence of it (`bom`, or a
/// multi-byte character); `window` says `tail` may start inside a character.
fn unfinished_character(tail: &[u8], window: bool, bom: bool) -> Option<usize> {
    let tail = if window {
        let skip = tail
            .iter()
            .take(3)
            .take_while(|&&b| (0x80..0xC0).contains(&b))
            .count();
        tail.get(skip..).unwrap_or_default()
    } else {
        tail
    };
    let e = std::str::from_utf8(tail).err()?;
    // `error_len` None: the input ended inside a character that began validly.
    if e.error_len().is_some() {
        return None;
    }
    let valid = tail.get(..e.valid_up_to()).unwrap_or_default();
    (bom || valid.iter().any(|&b| b >= 0x80)).then_some(tail.len() - e.valid_up_to())
}

/// What to do with a text file whose lines end with a bare CR (every line reader).
pub(super) const BARE_CR: &str = "the lines end with a bare CR (classic Mac OS line ends, no LF): save the file with Windows (CRLF) or Unix (LF) line ends";

/// What to do with a gzip file where text is read.
pub(super) const GZIP_COMPRESSED: &str = "the file is gzip-compressed (.gz): unpack it (gunzip FILE.gz) and import the file inside, or hand it over unpacked through a pipe, e.g. <(zcat FILE.gz)";

/// Excel's "Unicode Text" (and Notepad's "Unicode") saves UTF-16 with a byte order
/// mark: every other byte of German text is NUL, which [`detect_encoding`] would
/// call binary data and send the sender to "save as CSV" without saying what was
/// wrong with what they saved.
/// The same holds for a ZIP archive (an `.xlsx` where only CSV is read, or a zipped
/// download), and for an OLE compound file: an Excel 97-2003 workbook (`.xls`) or
/// a password-protected `.xlsx` (Excel encrypts into one), which would be "binary
/// data" too, with a way out that does not say what to do with it.
fn refuse_utf16<R: Read>(input: &mut R, expected: &'static str) -> Result<(), ParseError> {
    let mut head = Vec::with_capacity(8);
    input.by_ref().take(8).read_to_end(&mut head)?;
    if head == OLE_COMPOUND_FILE {
        return Err(ParseError::not_format(
            expected,
            "byte 0",
            "the file is an Excel 97-2003 workbook (.xls) or a password-protected workbook; save it in Excel as \"Excel-Arbeitsmappe (*.xlsx)\" without a password (or as CSV) and import that",
        ));
    }
    if head.starts_with(b"PK\x03\x04") {
        return Err(ParseError::not_format(
            expected,
            "byte 0",
            "the file is a ZIP archive (an Excel workbook, .xlsx, or a zipped download), not CSV text; save the sheet as \"CSV UTF-8 (durch Trennzeichen getrennt)\", or unzip the download and import the CSV inside",
        ));
    }
    if is_gzip(&head) {
        return Err(ParseError::not_format(expected, "byte 0", GZIP_COMPRESSED));
    }
    if matches!(head.get(..2), Some([0xFF, 0xFE] | [0xFE, 0xFF])) {
        return Err(ParseError::not_format(
            expected,
            "byte 0",
            "the file is UTF-16 text (Excel's \"Unicode Text\", a byte order mark FF FE or FE FF); save the spreadsheet as \"CSV UTF-8 (durch Trennzeichen getrennt)\" or as CSV",
        ));
    }
    Ok(())
}

/// The encoding by evidence (see [`super::text`]). NUL bytes mean the file is not
/// text at all (a spreadsheet saved as .xlsx, a zip).
fn detect_encoding<R: Read>(
    input: &mut R,
    expected: &'static str,
) -> Result<TextEncoding, ParseError> {
    let evidence = text::sniff_text(input)?;
    if let Some(nul) = evidence.nul_at {
        return Err(ParseError::not_format(
            expected,
            format!("byte {nul}"),
            "binary data (NUL byte); save the spreadsheet as CSV text",
        ));
    }
    Ok(evidence.decide(Legacy::Windows1252))
}

/// The first line of the input, decoded (BOM removed).
fn first_line<R: Read>(input: &mut R, encoding: TextEncoding) -> Result<String, ParseError> {
    let mut raw = Vec::new();
    // Bounded: a header longer than this is not a header.
    BufReader::new(text::DecodeReader::new(input, encoding).take(64 * 1024))
        .read_until(b'\n', &mut raw)?;
    Ok(String::from_utf8_lossy(&raw)
        .trim_end_matches(['\r', '\n'])
        .to_owned())
}

/// The most frequent of `;`, `,` and tab outside quotes in the header line; `;`
/// wins ties (German spreadsheets use it, and the LeiKa download does too).
pub fn detect_delimiter(header: &str) -> u8 {
    let mut counts = [(b';', 0usize), (b',', 0), (b'\t', 0)];
    let mut quoted = false;
    for c in header.bytes() {
        if c == b'"' {
            quoted = !quoted;
        } else if !quoted {
            for (d, n) in counts.iter_mut() {
                if *d == c {
                    *n += 1;
                }
            }
        }
    }
    let mut best = counts[0];
    for candidate in &counts[1..] {
        if candidate.1 > best.1 {
            best = *candidate;
        }
    }
    best.0
}

/// The decoded text ([`text::DecodeReader`]) with CRLF turned into LF.
/// Line ends are normalised because the csv crate reports the line of a
/// record that follows a CRLF one too low, and error messages must name the line
/// the user sees in the editor.
struct DecodeReader<R> {
    inner: text::DecodeReader<R>,
    scratch: Vec<u8>,
    decoded: Vec<u8>,
    /// Read position in `decoded`.
    pos: usize,
    /// The last chunk ended in `\r`: drop it if the next starts with `\n`.
    pending_cr: bool,
    done: bool,
    /// The 1-based line of the bytes handed out, for messages.
    line_no: u64,
    /// The bound against one endless record, on one line or with quoted cells
    /// spanning lines (see [`MAX_LINE_BYTES`]): where the bytes handed out stand in
    /// CSV terms, the record's length so far and its first line.
    delimiter: u8,
    quoting: Quoting,
    record_len: usize,
    record_line: u64,
}

/// Where a CSV reader stands within a record, as far as the record's end is
/// concerned (the csv crate's rules: a quote opens a quoted cell only at the start
/// of a cell, `""` inside one is a quote, and a line break inside one belongs to it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    CellStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted cell: its end, or the first half of `""`.
    QuoteInQuoted,
}

impl Quoting {
    /// The state after `b`, and whether `b` ended the record.
    fn next(self, b: u8, delimiter: u8) -> (Quoting, bool) {
        match (self, b) {
            (Quoting::Quoted, b'"') => (Quoting::QuoteInQuoted, false),
            (Quoting::Quoted, _) => (Quoting::Quoted, false),
            (Quoting::CellStart | Quoting::QuoteInQuoted, b'"') => (Quoting::Quoted, false),
            (_, b'\n' | b'\r') => (Quoting::CellStart, true),
            (_, b) if b == delimiter => (Quoting::CellStart, false),
            _ => (Quoting::Unquoted, false),
        }
    }
}

/// Longest record (one line, or more when a quoted cell spans lines) accepted in a
/// spreadsheet CSV. The csv crate holds a whole record in memory, so
/// without a bound one 50 MB cell (or a quote never closed) costs hundreds of MB and
/// lands in the database as one giant name.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// Longest free-text remark (`Bemerkung`, `Depriorisierungsgrund`) accepted from a
/// sheet. Status events and the annotation audit are append-only, so whatever is
/// accepted is stored forever; a remark is a sentence or two, a document belongs
/// behind a link.
pub const MAX_NOTE_BYTES: usize = 4 * 1024;

/// Why a remark cell is refused, if it is longer than [`MAX_NOTE_BYTES`].
pub fn note_too_long(note: &str) -> Option<String> {
    (note.len() > MAX_NOTE_BYTES).then(|| {
        format!(
            "{} bytes is longer than the {MAX_NOTE_BYTES} bytes a remark may have; shorten it or put a link to a document",
            note.len()
        )
    })
}

impl<R: Read> DecodeReader<R> {
    fn new(inner: R, encoding: TextEncoding, delimiter: u8) -> Self {
        DecodeReader {
            inner: text::DecodeReader::new(inner, encoding),
            scratch: vec![0u8; 64 * 1024],
            decoded: Vec::new(),
            pos: 0,
            pending_cr: false,
            done: false,
            line_no: 1,
            delimiter,
            quoting: Quoting::CellStart,
            record_len: 0,
            record_line: 1,
        }
    }

    /// The read error for a record over [`MAX_LINE_BYTES`], named as a line when it
    /// is one: the payload is refused as a whole, as a CSV reader cannot find the
    /// next record after it.
    fn too_long(&self) -> std::io::Error {
        let message = if self.record_line == self.line_no {
            format!(
                "line {} is longer than {MAX_LINE_BYTES} bytes; no spreadsheet cell is that long (a quote never closed?)",
                self.line_no
            )
        } else {
            format!(
                "the record starting on line {} is longer than {MAX_LINE_BYTES} bytes over several lines; a quote that never closes makes the rest of the file one cell",
                self.record_line
            )
        };
        std::io::Error::new(std::io::ErrorKind::InvalidData, message)
    }

    /// The read error for a file that ends inside a quoted cell: the quote never
    /// closed, and the csv crate would end the cell at the end of the file, the
    /// lines after the quote silently swallowed into it (a note holding the rest of
    /// a status report, its rows never applied). Refused as a whole, like a record
    /// over [`MAX_LINE_BYTES`].
    fn never_closed(&self) -> std::io::Error {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!(
                "the file ends inside a quoted cell of the record starting on line {}: a quote (\") there is never closed, and every line after it would be part of that cell; close the quote or remove it",
                self.record_line
            ),
        )
    }

    /// Follows `chunk` (about to be handed out) through lines and records, and
    /// refuses it if it makes a record longer than [`MAX_LINE_BYTES`].
    fn track(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        if self.quoting != Quoting::Quoted
            && chunk.len() <= MAX_LINE_BYTES
            && !chunk.contains(&b'"')
        {
            return self.track_unquoted(chunk);
        }
        self.track_stepwise(chunk)
    }

    /// [`Self::track`] byte by byte, following the quoting.
    fn track_stepwise(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        for &b in chunk {
            if b == b'\n' {
                self.line_no += 1;
            }
            let (quoting, ended) = self.quoting.next(b, self.delimiter);
            self.quoting = quoting;
            if ended {
                self.record_len = 0;
                self.record_line = self.line_no;
            } else {
                self.record_len += 1;
                if self.record_len > MAX_LINE_BYTES {
                    return Err(self.too_long());
                }
            }
        }
        Ok(())
    }

    /// [`Self::track`] for a chunk without quotes, the common case, by searching
    /// rather than stepping: records end only at line breaks, and only the first
    /// can be longer than the chunk.
    fn track_unquoted(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        let is_break = |b: &u8| matches!(b, b'\n' | b'\r');
        let first = chunk.iter().position(is_break).unwrap_or(chunk.len());
        if self.record_len + first > MAX_LINE_BYTES {
            return Err(self.too_long());
        }
        self.line_no += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        match chunk.iter().rposition(is_break) {
            Some(last) => {
                self.record_len = chunk.len() - 1 - last;
                self.record_line = self.line_no;
            }
            None => self.record_len += chunk.len(),
        }
        if let Some(&b) = chunk.last() {
            self.quoting = if is_break(&b) || b == self.delimiter {
                Quoting::CellStart
            } else {
                Quoting::Unquoted
            };
        }
        Ok(())
    }

    /// Refills `decoded`; false at the end of the input.
    fn fill(&mut self) -> std::io::Result<bool> {
        while self.pos >= self.decoded.len() {
            if self.done {
                return Ok(false);
            }
            let n = self.inner.read(&mut self.scratch)?;
            let last = n == 0;
            self.decoded.clear();
            self.pos = 0;
            self.done = last;
            let chunk = self.scratch.get(..n).unwrap_or_default();
            if !self.pending_cr && !chunk.contains(&b'\r') {
                // nothing to normalise (LF-only files, most chunks of CRLF ones)
                self.decoded.extend_from_slice(chunk);
                continue;
            }
            let mut bytes = chunk.iter().copied().peekable();
            if self.pending_cr {
                match bytes.peek() {
                    Some(b'\n') => self.pending_cr = false,
                    Some(_) => {
                        self.decoded.push(b'\r');
                        self.pending_cr = false;
                    }
                    None if last => {
                        self.decoded.push(b'\r');
                        self.pending_cr = false;
                    }
                    None => {}
                }
            }
            while let Some(b) = bytes.next() {
                if b != b'\r' {
                    self.decoded.push(b);
                    continue;
                }
                match bytes.peek() {
                    Some(b'\n') => {}
                    Some(_) => self.decoded.push(b),
                    None if last => self.decoded.push(b),
                    None => self.pending_cr = true,
                }
            }
        }
        Ok(true)
    }
}

impl<R: Read> Read for DecodeReader<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        if !self.fill()? {
            if self.quoting == Quoting::Quoted {
                return Err(self.never_closed());
            }
            return Ok(0);
        }
        let mut available = self.decoded.get(self.pos..).unwrap_or_default();
        // Reading from a slice copies min(available, out) bytes.
        let n = available.read(out)?;
        self.track(out.get(..n).unwrap_or_default())?;
        self.pos += n;
        Ok(n)
    }
}

/// Strips a UTF-8 BOM (`\u{feff}`) a spreadsheet may leave on the first header cell,
/// and surrounding blanks.
pub fn clean_header(cell: &str) -> &str {
    cell.trim_start_matches('\u{feff}').trim()
}

/// The columns of a CSV header, matched by slug (`Leistungsschlüssel`,
/// `leistungsschluessel` and ` LEISTUNGSSCHLÜSSEL ` are one column), so hand-edited
/// headers survive case and umlaut changes. Empty header cells (trailing separators
/// Excel leaves) are ignored.
#[derive(Debug, Clone)]
pub struct Columns {
    index: HashMap<String, usize>,
    /// The header as written, by position, for messages.
    written: Vec<String>,
}

impl Columns {
    /// Matches `header` against `known` slugs. Unknown or repeated columns and missing
    /// `required` ones make the payload not the format; `hint` is appended to that
    /// message (e.g. which other format the header looks like).
    pub fn match_header(
        header: &csv::StringRecord,
        known: &[&str],
        required: &[&str],
        expected: &'static str,
        hint: impl Fn(&[String]) -> Option<String>,
    ) -> Result<Columns, ParseError> {
        let mut index = HashMap::new();
        let mut written = Vec::new();
        let mut slugs = Vec::new();
        for (i, cell) in header.iter().enumerate() {
            let cell = clean_header(cell);
            written.push(cell.to_owned());
            if cell.is_empty() {
                continue;
            }
            let s = slug(cell);
            slugs.push(s.clone());
            match known.iter().find(|k| **k == s) {
                Some(k) => {
                    if index.insert((*k).to_owned(), i).is_some() {
                        return Err(ParseError::not_format(
                            expected,
                            "line 1",
                            format!("column {cell:?} appears twice in the header"),
                        ));
                    }
                }
                None => {
                    let mut reason = format!(
                        "unknown column {cell:?}; known columns: {}",
                        known.join(", ")
                    );
                    if let Some(h) = hint(&slugs) {
                        reason = format!("{reason}; {h}");
                    }
                    return Err(ParseError::not_format(expected, "line 1", reason));
                }
            }
        }
        let missing: Vec<&str> = required
            .iter()
            .filter(|r| !index.contains_key(**r))
            .copied()
            .collect();
        if !missing.is_empty() {
            let mut reason = format!("missing column(s) {}", missing.join(", "));
            if let Some(h) = hint(&slugs) {
                reason = format!("{reason}; {h}");
            }
            return Err(ParseError::not_format(expected, "line 1", reason));
        }
        Ok(Columns { index, written })
    }

    /// The trimmed cell of column `name` (a known slug); empty when the column is
    /// absent or the row is short.
    pub fn get<'r>(&self, record: &'r csv::StringRecord, name: &str) -> &'r str {
        self.index
            .get(name)
            .and_then(|&i| record.get(i))
            .map(str::trim)
            .unwrap_or_default()
    }

    /// Whether the header has column `name`.
    pub fn has(&self, name: &str) -> bool {
        self.index.contains_key(name)
    }

    /// Number of header cells, named or not.
    pub fn width(&self) -> usize {
        self.written.len()
    }
}

/// Whether every cell of the record is blank (spreadsheets save trailing empty rows).
pub fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|c| c.trim().is_empty())
}

/// The 1-based line of the record (the header is line 1).
pub fn line_of(record: &csv::StringRecord) -> u64 {
    record.position().map_or(0, csv::Position::line)
}

/// The record as one line for a reject's `raw`.
pub fn raw_of(record: &csv::StringRecord, delimiter: u8) -> String {
    let sep = char::from(delimiter).to_string();
    record.iter().collect::<Vec<_>>().join(&sep)
}

/// The reject for a record of a UTF-8 file that holds bytes which do not decode
/// (see [`super::text`]); `None` for a clean record.
pub fn undecodable(record: &csv::StringRecord, delimiter: u8) -> Option<super::Reject> {
    let cell = record.iter().position(|c| c.contains(UNDECODABLE))?;
    Some(
        super::Reject::reject(
            format!("line {}, column {}", line_of(record), cell + 1),
            None,
            text::undecodable_reason("the row"),
        )
        .with_raw(raw_of(record, delimiter)),
    )
}

/// Sorts out a CSV reading error: I/O means the payload cannot be read (the whole
/// release fails); anything else is one bad row.
pub fn row_error(err: csv::Error) -> Result<super::Reject, ParseError> {
    let position = err
        .position()
        .map_or("unknown line".to_owned(), |p| format!("line {}", p.line()));
    let reason = err.to_string();
    match err.into_kind() {
        csv::ErrorKind::Io(io) => Err(ParseError::Io(io)),
        _ => Ok(super::Reject::reject(position, None, reason)),
    }
}

/// The items of every data row of `input`, streamed: a row the CSV reader refuses
/// or that does not decode is a reject, a blank row (spreadsheets save them) is
/// skipped, and any other row gives the items `item` makes of it (the record and
/// the delimiter).
pub fn items<'a, T: 'a, I>(
    input: CsvInput<'a>,
    item: impl Fn(&csv::StringRecord, u8) -> I + 'a,
) -> super::Items<'a, T>
where
    I: IntoIterator<Item = super::Item<T>>,
{
    let delimiter = input.delimiter;
    Box::new(input.reader.into_records().flat_map(move |row| {
        let items: Vec<Result<super::Item<T>, ParseError>> = match row {
            Err(err) => vec![row_error(err).map(super::Item::Reject)],
            Ok(record) if is_blank(&record) => vec![],
            Ok(record) => match undecodable(&record, delimiter) {
                Some(reject) => vec![Ok(super::Item::Reject(reject))],
                None => item(&record, delimiter).into_iter().map(Ok).collect(),
            },
        };
        items
    }))
}

/// Reads the header row, or says why the payload is not the format.
pub fn header(
    reader: &mut csv::Reader<Box<dyn Read + '_>>,
    expected: &'static str,
) -> Result<csv::StringRecord, ParseError> {
    match reader.headers() {
        Ok(h) if h.iter().any(|c| c.contains(UNDECODABLE)) => Err(mixed_encodings(expected)),
        Ok(h) => Ok(h.clone()),
        Err(err) => match err.into_kind() {
            csv::ErrorKind::Io(io) => Err(ParseError::Io(io)),
            other => Err(ParseError::not_format(
                expected,
                "line 1",
                format!("unreadable header: {other:?}"),
            )),
        },
    }
}

/// The header of a UTF-8 file holds bytes that do not decode: the file mixes
/// encodings, and no column can be trusted to match.
pub fn mixed_encodings(expected: &'static str) -> ParseError {
    ParseError::not_format(
        expected,
        "line 1",
        format!(
            "the header line holds bytes that are not UTF-8 (shown as {UNDECODABLE}) while the file \
             holds UTF-8 elsewhere: the file mixes encodings; save the whole file as UTF-8"
        ),
    )
}

/// Splits a list of identifiers written in one cell: `|` (as in the LeiKa
/// download), `,`, `;` or blanks all separate.
pub fn split_ids(cell: &str) -> impl Iterator<Item = &str> {
    cell.split(|c: char| matches!(c, '|' | ',' | ';') || c.is_whitespace())
        .filter(|s| !s.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn a_file_cut_inside_a_character_is_told_from_one_in_another_encoding() {
        let check = |tail: &[u8], window: bool, bom: bool, expected: Option<usize>| {
            assert_eq!(
                unfinished_character(tail, window, bom),
                expected,
                "{tail:?}"
            );
        };
        // UTF-8 (an ü earlier), cut after the first byte of ä or of €
        check(b"Gr\xc3\xbcn;Stra\xc3", false, false, Some(1));
        check(b"Gr\xc3\xbcn;\xe2\x82", false, false, Some(2));
        // only ASCII before: UTF-8 only with its byte-order mark
        check(b"Strasse;Stra\xc3", false, false, None);
        check(b"Strasse;Stra\xc3", false, true, Some(1));
        // Windows-1252 ending in ß without a line break; a whole file
        check(b"M\xfcnchen;Stra\xdf", false, false, None);
        check(b"Gr\xc3\xbcn;Stra\xc3\x9f", false, false, None);
        check(b"", false, false, None);
        // a window starting inside a character skips its continuation bytes
        check(b"\xbc\x80n;\xc3\xbc;\xc3", true, false, Some(1));
    }

    fn read_all(bytes: &[u8]) -> (String, u8, Vec<Vec<String>>) {
        let mut input = open(Cursor::new(bytes.to_vec()), "test CSV").unwrap();
        let rows = input
            .reader
            .records()
            .map(|r| r.unwrap().iter().map(str::to_owned).collect())
            .collect();
        (input.encoding.to_owned(), input.delimiter, rows)
    }

    /// The whole-payload error of reading `text`, whose first record is fine.
    fn second_record_error(text: &str) -> String {
        let mut input = open(Cursor::new(text.as_bytes().to_vec()), "test CSV").unwrap();
        let mut records = input.reader.records();
        assert!(records.next().unwrap().is_ok());
        let err = row_error(records.next().unwrap().unwrap_err()).unwrap_err();
        err.to_string()
    }

    #[test]
    fn an_endless_line_is_an_error_not_a_giant_record() {
        let mut text = format!("a;b\r\nx;y\r\n1;{}\r\n", "B".repeat(MAX_LINE_BYTES));
        let err = second_record_error(&text);
        assert!(err.contains("line 3 is longer than 1048576 bytes"), "{err}");
        // exactly at the bound is fine
        text = format!("a;b\n1;{}\n", "B".repeat(MAX_LINE_BYTES - 2));
        assert_eq!(read_all(text.as_bytes()).2.len(), 1);
    }

    #[test]
    fn a_file_that_ends_inside_a_quote_is_an_error_not_one_swallowing_cell() {
        let err = second_record_error("a;b\nx;y\n1;\"open\n2;3\n4;5\n");
        assert!(
            err.contains("ends inside a quoted cell of the record starting on line 3"),
            "{err}"
        );
        // a quote closed on the last line, with or without a line break after it
        for ok in ["a;b\nx;\"y\nz\"", "a;b\nx;\"y\"\"\"\n"] {
            assert_eq!(read_all(ok.as_bytes()).2.len(), 1, "{ok:?}");
        }
    }

    #[test]
    fn a_quote_that_never_closes_is_an_error_not_a_giant_record() {
        // short lines, but from line 3 on all inside one quoted cell
        let mut text = String::from("a;b\nx;y\n1;\"open\n");
        while text.len() <= MAX_LINE_BYTES + 100 {
            text.push_str("ten bytes\n");
        }
        let err = second_record_error(&text);
        assert!(
            err.contains("the record starting on line 3 is longer than 1048576 bytes"),
            "{err}"
        );
        // quoted line breaks, `""` and quotes inside unquoted cells are counted
        // as the csv crate reads them
        let ok = "a;b\n\"x\ny\";\"say \"\"hi\"\"\n\"\nab\"c;d\r\ne;f\n";
        assert_eq!(
            read_all(ok.as_bytes()).2,
            vec![
                vec!["x\ny".to_owned(), "say \"hi\"\n".to_owned()],
                vec!["ab\"c".to_owned(), "d".to_owned()],
                vec!["e".to_owned(), "f".to_owned()],
            ]
        );
        let mut q = Quoting::CellStart;
        let mut ends = Vec::new();
        // (the decoder has turned CRLF into LF by then)
        for b in ok.replace("\r\n", "\n").bytes() {
            let (next, ended) = q.next(b, b';');
            q = next;
            ends.push(ended);
        }
        assert_eq!(ends.iter().filter(|e| **e).count(), 4, "four records end");
    }

    #[test]
    fn searching_an_unquoted_chunk_agrees_with_stepping_through_it() {
        let state =
            |d: &DecodeReader<std::io::Empty>| (d.line_no, d.record_len, d.record_line, d.quoting);
        let long = "x".repeat(MAX_LINE_BYTES - 3);
        let inputs = [
            "a;b\nc;d\n".to_owned(),
            "a;b\r\n\nc;\rd;".to_owned(),
            "no break at all".to_owned(),
            format!("1;{long}\n2;3"),
            format!("1;{long}x\n2"),
            format!("1;{long}xx\n2"),
        ];
        for input in &inputs {
            for size in [1, 3, 64, MAX_LINE_BYTES] {
                let mut fast = DecodeReader::new(std::io::empty(), TextEncoding::Utf8, b';');
                let mut slow = DecodeReader::new(std::io::empty(), TextEncoding::Utf8, b';');
                for chunk in input.as_bytes().chunks(size) {
                    let f = fast.track_unquoted(chunk).map_err(|e| e.to_string());
                    let s = slow.track_stepwise(chunk).map_err(|e| e.to_string());
                    assert_eq!(f, s, "{input:.20}… in chunks of {size}");
                    if f.is_err() {
                        break;
                    }
                    assert_eq!(
                        state(&fast),
                        state(&slow),
                        "{input:.20}… in chunks of {size}"
                    );
                }
            }
        }
    }

    #[test]
    fn utf8_with_bom_and_semicolons() {
        let (enc, delim, rows) = read_all("\u{feff}a;b\r\nÄrger;\"x;y\"\r\n".as_bytes());
        assert_eq!((enc.as_str(), delim), ("UTF-8", b';'));
        assert_eq!(rows, vec![vec!["Ärger".to_string(), "x;y".to_string()]]);
    }

    #[test]
    fn windows_1252_with_commas() {
        // "Prüfung" in Windows-1252: ü = 0xFC
        let bytes = b"a,b\nPr\xfcfung,\xe4\n";
        let (enc, delim, rows) = read_all(bytes);
        assert_eq!((enc.as_str(), delim), ("windows-1252", b','));
        assert_eq!(rows, vec![vec!["Prüfung".to_string(), "ä".to_string()]]);
    }

    #[test]
    fn a_stray_byte_in_a_utf8_file_is_that_rows_reject() {
        let bytes = b"a;b\r\nPr\xc3\xbcfung;1\r\nStra\xdfe;2\r\n".to_vec();
        let mut input = open(Cursor::new(bytes), "test CSV").unwrap();
        assert_eq!(input.encoding, "UTF-8");
        let delimiter = input.delimiter;
        let rows: Vec<csv::StringRecord> = input.reader.records().map(|r| r.unwrap()).collect();
        assert!(undecodable(&rows[0], delimiter).is_none());
        assert_eq!(&rows[0][0], "Prüfung");
        let reject = undecodable(&rows[1], delimiter).unwrap();
        assert_eq!(reject.position, "line 3, column 1");
        assert!(reject.reason.contains("not UTF-8"), "{}", reject.reason);
        // the header itself with such bytes: the file mixes encodings
        let mut mixed = open(
            Cursor::new(b"Gr\xf6\xdfe;\xc3\xa4\nx;y\n".to_vec()),
            "test CSV",
        )
        .unwrap();
        let err = header(&mut mixed.reader, "test CSV").unwrap_err();
        assert!(err.to_string().contains("mixes encodings"), "{err}");
    }

    #[test]
    fn utf8_sequence_split_across_chunks_stays_utf8() {
        let mut text = String::from("a;b\n");
        // push a multi-byte character across the 64 KiB chunk boundary
        text.push_str(&"x".repeat(64 * 1024 - text.len() - 1));
        text.push_str("ü;1\n");
        let (enc, _, rows) = read_all(text.as_bytes());
        assert_eq!(enc, "UTF-8");
        assert!(rows[0][0].ends_with('ü'));
    }

    #[test]
    fn crlf_lines_are_numbered_as_in_an_editor() {
        let mut input = open(
            Cursor::new(b"h;x\r\na;1\r\n\"b\r\nc\";2\r\nd;3\r".to_vec()),
            "test CSV",
        )
        .unwrap();
        let got: Vec<(String, u64)> = input
            .reader
            .records()
            .map(|r| r.unwrap())
            .map(|r| (r[0].to_owned(), line_of(&r)))
            .collect();
        assert_eq!(
            got,
            vec![("a".into(), 2), ("b\nc".into(), 3), ("d".into(), 5)]
        );
    }

    #[test]
    fn crlf_split_between_chunks() {
        let mut text = String::from("a;b\r\n");
        // the row's CR is the last byte of the first 64 KiB chunk, its LF the first
        // of the next
        let filler = 64 * 1024 - text.len() - 3;
        text.push_str(&format!("{};1\r\nz;2\r\n", "x".repeat(filler)));
        let mut input = open(Cursor::new(text.into_bytes()), "test CSV").unwrap();
        let lines: Vec<(u64, String)> = input
            .reader
            .records()
            .map(|r| r.unwrap())
            .map(|r| (line_of(&r), r[1].to_owned()))
            .collect();
        assert_eq!(lines, vec![(2, "1".into()), (3, "2".into())]);
    }

    #[test]
    fn delimiter_ignores_quoted_text() {
        assert_eq!(detect_delimiter("\"a,b,c\";d"), b';');
        assert_eq!(detect_delimiter("a,b;c,d"), b',');
        assert_eq!(detect_delimiter("a\tb"), b'\t');
        assert_eq!(detect_delimiter("single"), b';');
    }

    #[test]
    fn columns_match_by_slug_and_refuse_unknown_ones() {
        let header = csv::StringRecord::from(vec!["\u{feff}Leistungsschlüssel", " EfA-ID", ""]);
        let cols = Columns::match_header(
            &header,
            &["leistungsschluessel", "efa_id", "bemerkung"],
            &["leistungsschluessel"],
            "test CSV",
            |_| None,
        )
        .unwrap();
        let row = csv::StringRecord::from(vec!["99001001001000", " EFA-1 "]);
        assert_eq!(cols.get(&row, "efa_id"), "EFA-1");
        assert_eq!(cols.get(&row, "bemerkung"), "");
        assert_eq!(cols.width(), 3);

        let bad = csv::StringRecord::from(vec!["Leistungsschlüssel", "Farbe"]);
        let err = Columns::match_header(&bad, &["leistungsschluessel"], &[], "test CSV", |_| {
            Some("hint".into())
        })
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a test CSV payload (line 1): unknown column \"Farbe\"; known columns: leistungsschluessel; hint"
        );
        let missing = csv::StringRecord::from(vec!["efa_id"]);
        let err = Columns::match_header(
            &missing,
            &["leistungsschluessel", "efa_id"],
            &["leistungsschluessel"],
            "test CSV",
            |_| None,
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .contains("missing column(s) leistungsschluessel"));
    }

    #[test]
    fn binary_and_empty_input_are_not_csv() {
        for bytes in [&b"PK\x03\x04\x00\x00"[..], b"", b"\n\na;b\n"] {
            assert!(
                open(Cursor::new(bytes.to_vec()), "test CSV").is_err(),
                "{bytes:?}"
            );
        }
    }
}
