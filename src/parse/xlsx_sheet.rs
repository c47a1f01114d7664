//! The first visible worksheet of an XLSX workbook as the rows a CSV sheet would give:
//! a header and data rows of text cells, each row positioned at its Excel row
//! number, so the annotation and status sheets validate XLSX and CSV with the
//! same code and the same "line N, column C" messages (line = Excel row).
//!
//! Excel turns what looks like a number or a date into one. A whole number comes
//! back as its digits (a 14-digit Leistungsschlüssel survives exactly: f64 holds
//! every integer below 2^53); a date cell comes back as `YYYY-MM-DD`.
//!
//! [`stream`] hands the rows on one by one as calamine's cell reader walks the
//! worksheet's XML, so the status import reads a sheet of Excel's 1,048,576 rows
//! in the memory of one row (plus calamine's shared strings, which it holds
//! whole: capped by [`MAX_SHARED_STRINGS_BYTES`]). [`read`] collects the same
//! rows for the small sheets people fill in by hand (one row per LeiKa key), each
//! as wide as the cells' bounding box, so a box over [`MAX_SHEET_CELLS`] is
//! refused before a row is read. One walk over the worksheet's XML before either
//! finds what calamine does not give a streaming reader: hidden rows, the used
//! range and the merged regions (listed after the cells).
//!
//! [`write_template`] writes the other direction, the workbooks handed out to be
//! filled in: every column text, drop-down lists, a frozen header, a German
//! instruction sheet.

use std::collections::BTreeMap;
use std::io::{Read, Seek};

use calamine::{DataRef, Reader, SheetType, SheetVisible, Xlsx};
use rust_xlsxwriter::{DataValidation, Format, Formula, Workbook, XlsxError};

use super::ParseError;

/// The sheet's first row (the header) and its data rows, each with its Excel row
/// number as the record's line.
#[derive(Debug, Clone, Default)]
pub struct Table {
    pub header: csv::StringRecord,
    pub rows: Vec<csv::StringRecord>,
    /// Excel row numbers of data rows the sheet hides (by an autofilter or by
    /// hand): read like the others, named so the sender learns what was imported.
    pub hidden_rows: Vec<u64>,
}

/// Whether `bytes` start like an XLSX file (a ZIP archive), whatever the file is
/// called: a sheet saved as XLSX under a `.csv` name is still read as XLSX.
pub fn is_xlsx(head: &[u8]) -> bool {
    head.starts_with(b"PK\x03\x04")
}

/// Why a streamed worksheet stopped: the workbook itself (not a workbook, empty,
/// damaged), or what the caller's row function returned.
#[derive(Debug)]
pub enum StreamError<E> {
    Sheet(ParseError),
    Row(E),
}

impl<E> From<ParseError> for StreamError<E> {
    fn from(e: ParseError) -> Self {
        StreamError::Sheet(e)
    }
}

/// Reads the first visible worksheet whole (see [`stream`]): for the small sheets
/// people fill in by hand (one row per LeiKa key or EfA service). Every row has
/// the width of the cells' bounding box, as a CSV export of it would, so a box
/// over [`MAX_SHEET_CELLS`] is refused before any row is read.
pub fn read<R: Read + Seek>(input: R, expected: &'static str) -> Result<Table, ParseError> {
    let mut header = None;
    let mut rows = Vec::new();
    let hidden_rows = walk(input, expected, Layout::Held, |record| {
        match header {
            None => header = Some(record.clone()),
            Some(_) => rows.push(record.clone()),
        }
        Ok::<(), std::convert::Infallible>(())
    })
    .map_err(|e| match e {
        StreamError::Sheet(e) => e,
        StreamError::Row(never) => match never {},
    })?;
    let header: csv::StringRecord = header.unwrap_or_default();
    // Padded to the widest row, as the sheet's box: a CSV export of it has a field
    // per column in every line.
    let width = rows
        .iter()
        .map(csv::StringRecord::len)
        .chain([header.len()])
        .max()
        .unwrap_or(0);
    let pad = |mut r: csv::StringRecord| {
        let position = r.position().cloned();
        while r.len() < width {
            r.push_field("");
        }
        r.set_position(position);
        r
    };
    Ok(Table {
        header: pad(header),
        rows: rows.into_iter().map(pad).collect(),
        hidden_rows,
    })
}

/// Streams the first visible worksheet (a hidden one before it, such as a list of
/// drop-down values someone moved to the front, is not what the sender saw or
/// filled in) row by row into `each`: first the header (the first row holding a
/// value), then every non-blank data row, each record positioned at its Excel row
/// number. Nothing but the row being read (and the open merged regions) is held,
/// so a sheet of Excel's 1,048,576 rows costs what one row costs.
///
/// A merged region reads as its value in every cell it covers, as it shows: Excel
/// keeps the value only in the top-left cell, so a Ressort or status merged over
/// five rows would leave four of them empty, which the sheets read as "keep the
/// current value". Columns left of the used range are dropped (a table that starts
/// in column B reads like one in A); cells right of the header's last column are
/// kept only when they hold a value, one field each after the header's columns
/// (nothing reads them but "is the row blank"), so a stray cell in column XFD
/// costs one field, not 16,384.
///
/// Fails as a whole when the file is not a workbook, the worksheet is empty or
/// damaged; `expected` names the sheet kind for the message. Returns the hidden
/// data rows (below the header).
pub fn stream<R: Read + Seek, E>(
    input: R,
    expected: &'static str,
    each: impl FnMut(&csv::StringRecord) -> Result<(), E>,
) -> Result<Vec<u64>, StreamError<E>> {
    walk(input, expected, Layout::Streamed, each)
}

/// How [`walk`] lays out a row's cells.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// Every column of the used range (up to the row's last value): the caller
    /// holds the rows, so the box is bounded by [`MAX_SHEET_CELLS`].
    Held,
    /// The header's columns, then only the cells with a value (see [`stream`]).
    Streamed,
}

/// A merged region, 1-based and inclusive: (top, left, bottom, right).
type Region = (u64, u64, u64, u64);

/// Most columns and rows a sheet has (Excel's XFD1048576).
const MAX_COLUMN: u64 = 16_384;
const MAX_ROW: u64 = 1_048_576;

fn walk<R: Read + Seek, E>(
    mut input: R,
    expected: &'static str,
    layout: Layout,
    mut each: impl FnMut(&csv::StringRecord) -> Result<(), E>,
) -> Result<Vec<u64>, StreamError<E>> {
    let not_workbook =
        |e: calamine::XlsxError| ParseError::not_format(expected, "workbook", workbook_problem(&e));
    // One pass over the parts before calamine opens the workbook (opening reads the
    // shared strings whole): what each unpacks to, and, while the worksheet's XML
    // is counted, which sheet, its hidden rows, the used range (the cells with a
    // value) and the merged regions, which the worksheet lists after its cells.
    let facts = match survey(&mut input, LIMITS) {
        Survey::TooLarge(problem) => {
            return Err(ParseError::not_format(expected, "workbook", problem).into())
        }
        Survey::Read(facts) => facts,
    };
    let (sheet, facts) = match facts {
        Some((sheet, facts)) => (sheet, Some(facts)),
        // The parts could not be found or read: calamine says which sheet (or why
        // none), and gives the merged regions below.
        None => {
            input.rewind().map_err(ParseError::from)?;
            let workbook: Xlsx<&mut R> =
                calamine::open_workbook_from_rs(&mut input).map_err(not_workbook)?;
            let sheet = first_visible_worksheet(&workbook).ok_or_else(|| {
                ParseError::not_format(
                    expected,
                    "workbook",
                    "the workbook has no visible worksheet",
                )
            })?;
            (sheet, None)
        }
    };
    if layout == Layout::Held {
        if let Some(problem) = facts.as_ref().and_then(Hidden::too_many_cells) {
            return Err(ParseError::not_format(expected, "workbook", problem).into());
        }
    }
    input.rewind().map_err(ParseError::from)?;
    let mut workbook: Xlsx<&mut R> =
        calamine::open_workbook_from_rs(&mut input).map_err(not_workbook)?;
    let mut merged = match facts.as_ref() {
        Some(facts) => facts.merged.clone(),
        // The walk could not find or read the parts: calamine's own list.
        None => workbook
            .worksheet_merge_cells(&sheet)
            .transpose()
            .map_err(not_workbook)?
            .unwrap_or_default()
            .iter()
            .map(|d| {
                let (top, left) = (u64::from(d.start.0) + 1, u64::from(d.start.1) + 1);
                (top, left, u64::from(d.end.0) + 1, u64::from(d.end.1) + 1)
            })
            .collect(),
    };
    merged.sort_unstable();
    // The used range: rows above it are not read, columns left of it dropped; a
    // merged region is clamped to it (a hostile region may claim the whole sheet).
    let (top, first_col, last_row, last_col) =
        facts
            .as_ref()
            .and_then(|f| f.extent)
            .unwrap_or((1, 1, u64::MAX, MAX_COLUMN));
    let last_col = last_col.min(MAX_COLUMN);
    let mut cells = workbook
        .worksheet_cells_reader(&sheet)
        .map_err(not_workbook)?;
    let mut rows = RowBuilder {
        layout,
        first_col,
        last_col,
        top,
        last_row,
        merged,
        next_merge: 0,
        open: Vec::new(),
        header: None,
        expected,
        record: csv::StringRecord::new(),
    };
    // The row being read and its cells by column (later ones win, as in Excel's
    // own reading of a repeated cell).
    let mut current: Option<u64> = None;
    let mut row_cells: BTreeMap<u64, String> = BTreeMap::new();
    while let Some(cell) = cells.next_cell().map_err(not_workbook)? {
        let (r, c) = cell.get_position();
        let (row, col) = (u64::from(r) + 1, u64::from(c) + 1);
        match current {
            Some(at) if row < at => {
                return Err(ParseError::not_format(
                    expected,
                    format!("line {row}"),
                    format!("the worksheet lists row {row} after row {at}, which Excel never writes; open the workbook in Excel or LibreOffice and save it again as .xlsx"),
                )
                .into())
            }
            Some(at) if row > at => {
                rows.finish(at, &mut row_cells, &mut each)?;
                // Rows without cells between: only a merged region can fill them.
                rows.gap(at + 1, row, &mut each)?;
            }
            Some(_) => {}
            None => rows.gap(1, row, &mut each)?,
        }
        current = Some(row);
        let text = cell_text(cell.get_value());
        if !text.is_empty() {
            row_cells.insert(col, text);
        }
    }
    if let Some(at) = current {
        rows.finish(at, &mut row_cells, &mut each)?;
        // A region reaching below the last row with cells (clamped to the used
        // range, so in practice none).
        rows.gap(at + 1, last_row.min(MAX_ROW) + 1, &mut each)?;
    }
    drop(cells);
    drop(workbook);
    let Some((header_row, _)) = rows.header else {
        return Err(ParseError::not_format(
            expected,
            "line 1",
            "the first sheet is empty; write the template again",
        )
        .into());
    };
    Ok(facts
        .map(|h| h.rows)
        .unwrap_or_default()
        .into_iter()
        .filter(|r| *r > header_row)
        .collect())
}

/// The first visible worksheet's name.
fn first_visible_worksheet<R: Read + Seek>(workbook: &Xlsx<R>) -> Option<String> {
    workbook
        .sheets_metadata()
        .iter()
        .find(|s| s.typ == SheetType::WorkSheet && s.visible == SheetVisible::Visible)
        .map(|s| s.name.clone())
}

/// Turns the cells of each row into the record [`walk`] hands on.
struct RowBuilder {
    layout: Layout,
    first_col: u64,
    last_col: u64,
    /// The used range's first and last row.
    top: u64,
    last_row: u64,
    /// Merged regions by top row; those before `next_merge` have been opened.
    merged: Vec<Region>,
    next_merge: usize,
    /// Regions covering the current row, with their top-left cell's value.
    open: Vec<(Region, String)>,
    /// The header's Excel row and width (fields), once read.
    header: Option<(u64, usize)>,
    expected: &'static str,
    record: csv::StringRecord,
}

impl RowBuilder {
    /// Rows `from..to` (exclusive), which hold no cells: emitted only where an open
    /// merged region fills them.
    fn gap<E>(
        &mut self,
        from: u64,
        to: u64,
        each: &mut impl FnMut(&csv::StringRecord) -> Result<(), E>,
    ) -> Result<(), StreamError<E>> {
        let mut row = from;
        let mut empty = BTreeMap::new();
        while row < to {
            if self.open.is_empty() {
                // Skip to the next region's top (or the end of the gap).
                match self.merged.get(self.next_merge) {
                    Some(m) if m.0 < to => row = row.max(m.0),
                    _ => return Ok(()),
                }
            }
            self.finish(row, &mut empty, each)?;
            row += 1;
        }
        Ok(())
    }

    /// Row `row` with `cells` (taken; left empty for the next row): merged values
    /// filled in, then handed to `each` unless blank or outside the used range.
    fn finish<E>(
        &mut self,
        row: u64,
        cells: &mut BTreeMap<u64, String>,
        each: &mut impl FnMut(&csv::StringRecord) -> Result<(), E>,
    ) -> Result<(), StreamError<E>> {
        // Regions that start here take this row's top-left value (a region whose
        // top row holds no cells is empty); regions ended above are closed.
        self.open.retain(|(m, _)| m.2 >= row);
        while let Some(m) = self.merged.get(self.next_merge).copied() {
            if m.0 > row {
                break;
            }
            self.next_merge += 1;
            if m.2 < row {
                continue;
            }
            let value = if m.0 == row {
                cells.get(&m.1).cloned().unwrap_or_default()
            } else {
                String::new()
            };
            if !value.is_empty() && m.1.max(self.first_col) <= m.3.min(self.last_col) {
                self.open.push((m, value));
            }
        }
        // Excel's regions never overlap, so no more are open at once than a row has
        // columns; more is a hostile file that would cost regions × cells.
        if self.open.len() as u64 > MAX_COLUMN {
            return Err(ParseError::not_format(
                self.expected,
                format!("line {row}"),
                format!("the workbook is damaged inside (more than {MAX_COLUMN} merged regions overlap in row {row}); open it in Excel or LibreOffice and save it again as .xlsx"),
            )
            .into());
        }
        // A streamed row is filled only in the header's columns (nothing reads a
        // merged value beyond them), so a region as wide as the sheet costs no more
        // than the table is wide.
        let fill_to = match (self.layout, self.header) {
            (Layout::Streamed, Some((_, width))) => self
                .first_col
                .saturating_add(width as u64)
                .saturating_sub(1)
                .min(self.last_col),
            _ => self.last_col,
        };
        for ((_, left, _, right), value) in &self.open {
            for col in (*left).max(self.first_col)..=(*right).min(fill_to) {
                cells.insert(col, value.clone());
            }
        }
        let cells = std::mem::take(cells);
        if row < self.top || row > self.last_row || cells.values().all(|v| v.trim().is_empty()) {
            return Ok(());
        }
        // Cells right of the header's columns, in a streamed row: one field each.
        let positional = match (self.layout, self.header) {
            (Layout::Streamed, Some((_, width))) => width,
            _ => usize::MAX,
        };
        self.record.clear();
        let mut beyond = Vec::new();
        for (col, value) in cells {
            let Some(i) = col
                .checked_sub(self.first_col)
                .and_then(|i| usize::try_from(i).ok())
            else {
                return Err(ParseError::not_format(
                    self.expected,
                    format!("line {row}"),
                    format!("the workbook is damaged inside (cell {} holds a value left of the cells the worksheet's XML holds values in); open it in Excel or LibreOffice and save it again as .xlsx", cell_name(row, col)),
                )
                .into());
            };
            if i >= positional {
                beyond.push(value);
                continue;
            }
            while self.record.len() < i {
                self.record.push_field("");
            }
            self.record.push_field(&value);
        }
        if !beyond.is_empty() {
            while self.record.len() < positional {
                self.record.push_field("");
            }
        }
        for value in &beyond {
            self.record.push_field(value);
        }
        let mut position = csv::Position::new();
        position.set_line(row);
        self.record.set_position(Some(position));
        if self.header.is_none() {
            self.header = Some((row, self.record.len()));
        }
        each(&self.record).map_err(StreamError::Row)?;
        Ok(())
    }
}

/// Most bytes all parts of a workbook may unpack to together (1 GiB): more than
/// the XML of a sheet filled to the cell limit [`MAX_SHEET_CELLS`] with short
/// values (Excel's 1,048,576 rows of a 7-column status report are about 330 MB).
pub const MAX_UNPACKED_BYTES: u64 = 1 << 30;

/// Most bytes the shared strings part may unpack to (256 MiB): calamine holds every
/// shared string in memory before it reads a cell.
pub const MAX_SHARED_STRINGS_BYTES: u64 = 256 << 20;

/// What a workbook's parts may unpack to: all together, and the shared strings.
#[derive(Debug, Clone, Copy)]
struct Limits {
    total: u64,
    shared_strings: u64,
}

const LIMITS: Limits = Limits {
    total: MAX_UNPACKED_BYTES,
    shared_strings: MAX_SHARED_STRINGS_BYTES,
};

impl Limits {
    fn of(&self, part: &str) -> u64 {
        if part.to_ascii_lowercase().contains("sharedstrings") {
            self.shared_strings
        } else {
            self.total
        }
    }

    /// Why `what` is refused: it unpacks to `size` (text), over `limit`.
    fn too_large(&self, what: &str, size: &str, limit: u64) -> String {
        const MIB: u64 = 1 << 20;
        let held = if limit == self.shared_strings {
            " of shared strings, which are held in memory whole"
        } else {
            ""
        };
        format!(
            "{what} unpacks to {size}, more than the {} MiB this import reads{held}: a small file that unpacks that large is a zip bomb; if it is a real sheet, save it as CSV and import that",
            limit / MIB
        )
    }
}

/// What [`survey`] finds before calamine opens a workbook.
enum Survey {
    /// A part, or all of them together, unpacks to more than the limits: why.
    TooLarge(String),
    /// Within the limits; the first visible worksheet's name and [`Hidden`] facts
    /// when its parts could be found and read (else calamine says which sheet, or
    /// what is wrong with the workbook).
    Read(Option<(String, Hidden)>),
}

/// One pass over a workbook's parts before calamine reads any of them: a 5 KB
/// `.xlsx` whose shared strings inflate to gigabytes (a zip bomb) made calamine
/// allocate them all. The ZIP directory's sizes are checked first; then every
/// part is inflated once and counted, since the directory may lie (deflate stops
/// at its own end marker, not at the size the directory claims). The first
/// visible worksheet, the largest part by far, is counted as [`sheet_facts`]
/// reads it, so its XML is unpacked once for both. A damaged part, or an archive
/// that cannot be read, is left to calamine, which names it.
fn survey<R: Read + Seek>(input: &mut R, limits: Limits) -> Survey {
    let facts = survey_zip(&mut *input, limits);
    // calamine opens the archive again from its start.
    if input.rewind().is_err() {
        return Survey::Read(None);
    }
    facts
}

fn survey_zip<R: Read + Seek>(input: R, limits: Limits) -> Survey {
    let Ok(mut zip) = zip::ZipArchive::new(input) else {
        return Survey::Read(None);
    };
    let together = "the workbook (all its parts together)";
    const MIB: u64 = 1 << 20;
    let mut declared = 0u64;
    for i in 0..zip.len() {
        let Ok(part) = zip.by_index_raw(i) else {
            continue;
        };
        let (name, size) = (part.name().to_owned(), part.size());
        if size > limits.of(&name) {
            let size = format!("{} MiB by its ZIP directory", size / MIB);
            return Survey::TooLarge(limits.too_large(
                &format!("its part {name}"),
                &size,
                limits.of(&name),
            ));
        }
        declared = declared.saturating_add(size);
        if declared > limits.total {
            let size = format!("{} MiB by its ZIP directory", declared / MIB);
            return Survey::TooLarge(limits.too_large(together, &size, limits.total));
        }
    }
    let sheet = first_visible_worksheet_of(&mut zip);
    let sheet_index = sheet
        .as_ref()
        .and_then(|(_, path)| zip.index_for_name(path));
    let mut unpacked = 0u64;
    let mut facts = None;
    // The other parts first, so the worksheet is read last: its facts are only
    // wanted when no part is too large.
    let order = (0..zip.len())
        .filter(|i| Some(*i) != sheet_index)
        .chain(sheet_index);
    for i in order {
        let Ok(part) = zip.by_index(i) else {
            continue;
        };
        let name = part.name().to_owned();
        let left = limits.total.saturating_sub(unpacked);
        let limit = limits.of(&name).min(left);
        let mut counted = Counted {
            inner: part.take(limit + 1),
            read: 0,
        };
        if Some(i) == sheet_index {
            facts = sheet_facts(&mut counted);
        }
        // What the walk left (all of any other part; the rest of a worksheet
        // whose XML broke off) is counted too.
        if std::io::copy(&mut counted, &mut std::io::sink()).is_err() {
            continue;
        }
        let n = counted.read;
        if n > limits.of(&name) {
            let size = format!("more than its ZIP directory says ({} MiB read)", n / MIB);
            return Survey::TooLarge(limits.too_large(
                &format!("its part {name}"),
                &size,
                limits.of(&name),
            ));
        }
        if n > left {
            let size = "more than its ZIP directory says";
            return Survey::TooLarge(limits.too_large(together, size, limits.total));
        }
        unpacked += n;
    }
    Survey::Read(sheet.zip(facts).map(|((name, _), facts)| (name, facts)))
}

/// A reader that counts the bytes read through it.
struct Counted<R> {
    inner: R,
    read: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        Ok(n)
    }
}

/// The first visible worksheet's name and the path of its part (see
/// [`first_visible_worksheet_part`]); None when the parts cannot be found or read.
fn first_visible_worksheet_of<R: Read + Seek>(
    zip: &mut zip::ZipArchive<R>,
) -> Option<(String, String)> {
    let mut part = |name: &str| -> Option<Vec<u8>> {
        let file = zip.by_name(name).ok()?;
        let mut bytes = Vec::new();
        // Workbook and relationship parts are small; a hostile one is cut.
        file.take(16 << 20).read_to_end(&mut bytes).ok()?;
        Some(bytes)
    };
    let workbook = part("xl/workbook.xml")?;
    let rels = part("xl/_rels/workbook.xml.rels")?;
    first_visible_worksheet_part(&workbook, &rels)
}

/// What [`hidden_rows`] finds: the hidden rows, the number of the first row the
/// worksheet holds, and the bounding box of the cells that hold a value.
#[derive(Debug)]
struct Hidden {
    rows: Vec<u64>,
    first_row: Option<u64>,
    /// (first row, first column, last row, last column), 1-based, of the cells
    /// with a value (`<v>` or an inline string); None when there is none.
    extent: Option<(u64, u64, u64, u64)>,
    /// The merged regions (`<mergeCell ref="B2:B4"/>`), in file order.
    merged: Vec<Region>,
}

/// The most cells a worksheet's bounding box may span when [`read`] holds its
/// rows (the annotation and Nachnutzung sheets; the streamed status report has no
/// such limit). Excel's own sheet of 1,048,576 rows fills it with 16 columns; the
/// sheets ozgsync reads have 7 to 10.
const MAX_SHEET_CELLS: u64 = 16 << 20;

impl Hidden {
    /// Why the cells span too much to be read, if they do.
    fn too_many_cells(&self) -> Option<String> {
        let (top, left, bottom, right) = self.extent?;
        let rows = bottom.saturating_sub(top) + 1;
        let cols = right.saturating_sub(left) + 1;
        let cells = rows.saturating_mul(cols);
        (cells > MAX_SHEET_CELLS).then(|| {
            format!(
                "the worksheet's cells span {rows} rows × {cols} columns (from {} to {}), {cells} cells, more than the {MAX_SHEET_CELLS} this import holds in memory; delete the stray cells far to the right or below the table (Ctrl+End in Excel jumps to the last one) and save again",
                cell_name(top, left),
                cell_name(bottom, right)
            )
        })
    }
}

/// A cell reference (`A1`, `XFD1048576`) as 1-based (row, column); None for
/// anything else.
fn parse_cell_ref(r: &str) -> Option<(u64, u64)> {
    let digits = r.find(|c: char| c.is_ascii_digit())?;
    let (letters, number) = r.split_at(digits);
    if letters.is_empty() || letters.len() > 3 || !letters.bytes().all(|b| b.is_ascii_uppercase()) {
        return None;
    }
    let col = letters
        .bytes()
        .fold(0u64, |acc, b| acc * 26 + u64::from(b - b'A' + 1));
    let row = number.parse::<u64>().ok().filter(|r| *r > 0)?;
    Some((row, col))
}

/// A merged region's reference (`B2:C4`, or one cell `B2`) as 1-based (top, left,
/// bottom, right); None for anything else.
fn parse_region(r: &str) -> Option<Region> {
    let (from, to) = r.split_once(':').unwrap_or((r, r));
    let (top, left) = parse_cell_ref(from)?;
    let (bottom, right) = parse_cell_ref(to)?;
    Some((
        top.min(bottom),
        left.min(right),
        top.max(bottom),
        left.max(right),
    ))
}

/// A 1-based (row, column) as Excel names the cell.
fn cell_name(row: u64, col: u64) -> String {
    let mut letters = Vec::new();
    let mut c = col;
    while c > 0 {
        let rem = (c - 1) % 26;
        letters.push(b'A' + rem as u8);
        c = (c - 1) / 26;
    }
    letters.reverse();
    format!("{}{row}", String::from_utf8_lossy(&letters))
}

/// What is wrong with a workbook calamine could not read, and what to do. A ZIP
/// archive whose directory at its end is missing was cut short (a download or a
/// copy that did not finish, an attachment saved while it loaded); a damaged part
/// inside a complete archive was written by a broken tool.
fn workbook_problem(e: &calamine::XlsxError) -> String {
    match e {
        calamine::XlsxError::Zip(zip) => format!(
            "the file starts like an XLSX workbook (a ZIP archive) but is not a whole one ({zip}): it was probably cut short while downloaded or copied; save or send the workbook again"
        ),
        other => format!(
            "the workbook is damaged inside ({other}); open it in Excel or LibreOffice and save it again as .xlsx"
        ),
    }
}

/// Attribute `name` (by local name) of element `e`, unescaped.
fn attr(e: &quick_xml::events::BytesStart<'_>, name: &[u8]) -> Option<String> {
    attr_cow(e, name).map(std::borrow::Cow::into_owned)
}

/// [`attr`] borrowed from the element where nothing is escaped (every cell
/// reference and row number): no allocation for each of a sheet's millions of
/// cells. Without quick-xml's duplicate check, which compares each attribute
/// with every one before it: the first attribute of the name is the one taken
/// either way (the check only turns a later one into an error, skipped here).
fn attr_cow<'a>(
    e: &'a quick_xml::events::BytesStart<'_>,
    name: &[u8],
) -> Option<std::borrow::Cow<'a, str>> {
    e.attributes()
        .with_checks(false)
        .flatten()
        .find(|a| a.key.local_name().as_ref() == name)
        .and_then(|a| a.unescape_value().ok())
}

/// In the XML part `xml`: the first element with local name `element` whose
/// attribute `key_attr` is `key`, and its attribute `want`. None when there is no
/// such element, it lacks `want`, or the XML breaks before it.
fn find_attr(
    xml: &[u8],
    element: &[u8],
    key_attr: &[u8],
    key: &str,
    want: &[u8],
) -> Option<String> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e)
                if e.local_name().as_ref() == element
                    && attr(&e, key_attr).as_deref() == Some(key) =>
            {
                return attr(&e, want);
            }
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

/// The first visible worksheet in `workbook` (`xl/workbook.xml`) as calamine
/// decides it (a `<sheet>` without `state="hidden"` or `"veryHidden"` whose part
/// is under `xl/worksheets/`, not a chart or dialog sheet): its name and the path
/// of its part, from `rels` (`xl/_rels/workbook.xml.rels`). Found here so a
/// workbook is opened by calamine once, which reads its shared strings whole.
fn first_visible_worksheet_part(workbook: &[u8], rels: &[u8]) -> Option<(String, String)> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(workbook);
    let mut buf = Vec::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e)
                if e.local_name().as_ref() == b"sheet"
                    && matches!(attr(&e, b"state").as_deref(), None | Some("visible")) =>
            {
                // `r:id` (relationships namespace; its local name is unique here).
                let (Some(name), Some(id)) = (attr(&e, b"name"), attr(&e, b"id")) else {
                    continue;
                };
                let target = find_attr(rels, b"Relationship", b"Id", &id, b"Target")?;
                let path = if let Some(absolute) = target.strip_prefix('/') {
                    absolute.to_owned()
                } else if target.starts_with("xl/") {
                    target
                } else {
                    format!("xl/{target}")
                };
                if path.split('/').nth(1) == Some("worksheets") {
                    return Some((name, path));
                }
            }
            Event::Eof => return None,
            _ => {}
        }
        buf.clear();
    }
}

/// The row numbers the worksheet's XML marks hidden (`<row r="5" hidden="1">`:
/// an autofilter writes this for every row it filters out, and so does hiding a
/// row by hand), the used range and the merged regions, which calamine does not
/// expose. None when the XML breaks: calamine then reads the rows and says what
/// is wrong; only the warning is lost.
fn sheet_facts(xml: impl Read) -> Option<Hidden> {
    use quick_xml::events::Event;
    // Only `row`, `c`, `v`/`is` and `mergeCell` elements are looked at.
    let mut reader =
        quick_xml::Reader::from_reader(std::io::BufReader::with_capacity(64 << 10, xml));
    let mut buf = Vec::new();
    let mut hidden = Hidden {
        rows: Vec::new(),
        first_row: None,
        extent: None,
        merged: Vec::new(),
    };
    // The row and column of the cell being read (a missing `r` is the next one, as
    // the format allows), and whether its value is still to come.
    let (mut row, mut col, mut open_cell) = (0u64, 0u64, false);
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"row" => {
                let r = attr_cow(&e, b"r").and_then(|r| r.parse::<u64>().ok());
                hidden.first_row = hidden.first_row.or(r);
                if matches!(attr_cow(&e, b"hidden").as_deref(), Some("1" | "true")) {
                    hidden.rows.extend(r);
                }
                row = r.unwrap_or(row + 1);
                col = 0;
            }
            Event::Start(e) if e.local_name().as_ref() == b"c" => {
                match attr_cow(&e, b"r").as_deref().and_then(parse_cell_ref) {
                    Some((r, c)) => (row, col) = (r, c),
                    None => col += 1,
                }
                open_cell = true;
            }
            Event::Empty(e) if e.local_name().as_ref() == b"c" => {
                col = attr_cow(&e, b"r")
                    .as_deref()
                    .and_then(parse_cell_ref)
                    .map_or(col + 1, |(_, c)| c);
            }
            Event::Start(e) if open_cell && matches!(e.local_name().as_ref(), b"v" | b"is") => {
                open_cell = false;
                hidden.extent = Some(match hidden.extent {
                    None => (row, col, row, col),
                    Some((t, l, b, r)) => (t.min(row), l.min(col), b.max(row), r.max(col)),
                });
            }
            Event::End(e) if e.local_name().as_ref() == b"c" => open_cell = false,
            Event::Start(e) | Event::Empty(e) if e.local_name().as_ref() == b"mergeCell" => {
                hidden
                    .merged
                    .extend(attr_cow(&e, b"ref").as_deref().and_then(parse_region));
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Some(hidden)
}

/// Excel's serial of 9999-12-31, the last date it shows, plus the 1,462 days of the
/// 1904 date system's offset.
const EXCEL_LAST_SERIAL: f64 = 2_958_465.0 + 1_462.0;

/// A cell as the text a CSV export of it would hold.
fn cell_text(cell: &DataRef<'_>) -> String {
    match cell {
        DataRef::Empty => String::new(),
        DataRef::String(s) => s.clone(),
        DataRef::SharedString(s) => (*s).to_owned(),
        DataRef::Int(i) => i.to_string(),
        // 2^53: below it every whole number is exact in f64, so the digits typed
        // are the digits read back.
        DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            format!("{f:.0}")
        }
        DataRef::Float(f) => f.to_string(),
        DataRef::Bool(b) => if *b { "WAHR" } else { "FALSCH" }.to_owned(),
        // Only serials of Excel's own date range (up to 9999-12-31) are converted:
        // calamine turns the serial into milliseconds through chrono, which panics
        // for a date cell holding 1e308 (a hostile or broken workbook). Outside it
        // the number stays a number, which no date column accepts.
        DataRef::DateTime(d) if (-1.0..=EXCEL_LAST_SERIAL).contains(&d.as_f64()) => {
            d.as_datetime().map_or_else(
                || d.as_f64().to_string(),
                |t| t.format("%Y-%m-%d").to_string(),
            )
        }
        DataRef::DateTime(d) => d.as_f64().to_string(),
        DataRef::DateTimeIso(s) => match s.get(..10) {
            Some(day) => day.to_owned(),
            None => s.clone(),
        },
        DataRef::DurationIso(s) => s.clone(),
        DataRef::Error(e) => format!("#{e:?}"),
    }
}

/// A workbook to fill in: the data sheet first (the sheet import reads).
#[derive(Debug, Clone, Default)]
pub struct Template<'a> {
    pub data_sheet: &'a str,
    pub headers: Vec<&'a str>,
    /// Data rows, cells in header order (empty cells are left blank).
    pub rows: Vec<Vec<String>>,
    /// Drop-down lists: (column index, allowed values); empty lists are skipped.
    pub lists: Vec<(u16, Vec<String>)>,
    /// Width per column in characters (others 18).
    pub widths: Vec<(u16, f64)>,
    /// The instruction sheet "Anleitung", one line per row, the first bold.
    pub guide: &'a [&'a str],
}

/// Writes `t` as an XLSX workbook (data sheet, "Anleitung", hidden "Listen").
pub fn write_template(t: &Template<'_>) -> Result<Vec<u8>, XlsxError> {
    let mut book = Workbook::new();
    let bold = Format::new().set_bold();
    let text = Format::new().set_num_format("@");

    let data = book.add_worksheet();
    data.set_name(t.data_sheet)?;
    for (col, header) in (0u16..).zip(&t.headers) {
        data.write_string_with_format(0, col, *header, &bold)?;
        // Every column is text: Excel would otherwise turn a key into 9.9E+13, a
        // priority into a number and a date into a serial.
        data.set_column_format(col, &text)?;
        let width = t
            .widths
            .iter()
            .find(|(c, _)| *c == col)
            .map_or(18.0, |w| w.1);
        data.set_column_width(col, width)?;
    }
    for (row, cells) in (1u32..).zip(&t.rows) {
        for (col, cell) in (0u16..).zip(cells) {
            if !cell.is_empty() {
                data.write_string_with_format(row, col, cell, &text)?;
            }
        }
    }
    data.set_freeze_panes(1, 1)?;
    let lists: Vec<&(u16, Vec<String>)> = t.lists.iter().filter(|(_, v)| !v.is_empty()).collect();
    for (i, (col, values)) in (0u8..).zip(&lists) {
        let letter = char::from(b'A' + i);
        let range = format!("=Listen!${letter}$2:${letter}${}", values.len() + 1);
        let validation = DataValidation::new()
            .allow_list_formula(Formula::new(range))
            .set_error_title("Wert nicht in der Liste")?
            .set_error_message(
                "Bitte einen Wert aus der Liste der Zelle wählen (siehe Blatt „Anleitung“).",
            )?;
        data.add_data_validation(1, *col, 1_048_575, *col, &validation)?;
    }

    let guide = book.add_worksheet();
    guide.set_name("Anleitung")?;
    guide.set_column_width(0, 110)?;
    for (row, line) in (0u32..).zip(t.guide) {
        if row == 0 {
            guide.write_string_with_format(row, 0, *line, &bold)?;
        } else {
            guide.write_string(row, 0, *line)?;
        }
    }

    let hidden = book.add_worksheet();
    hidden.set_name("Listen")?;
    for (col, (data_col, values)) in (0u16..).zip(&lists) {
        let header = t
            .headers
            .get(usize::from(*data_col))
            .copied()
            .unwrap_or_default();
        hidden.write_string_with_format(0, col, header, &bold)?;
        for (row, v) in (1u32..).zip(values) {
            hidden.write_string_with_format(row, col, v, &text)?;
        }
    }
    hidden.set_hidden(true);
    book.save_to_buffer()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::test_support::edited;

    #[test]
    fn numbers_and_dates_read_as_typed() {
        assert_eq!(
            cell_text(&DataRef::Float(99_001_001_001_000.0)),
            "99001001001000"
        );
        assert_eq!(cell_text(&DataRef::Float(2.0)), "2");
        assert_eq!(cell_text(&DataRef::Float(9.9001e13)), "99001000000000");
        assert_eq!(cell_text(&DataRef::Float(1.5)), "1.5");
        assert_eq!(
            cell_text(&DataRef::DateTimeIso("2026-12-31T00:00:00".into())),
            "2026-12-31"
        );
        assert_eq!(cell_text(&DataRef::SharedString(" MI ")), " MI ");
    }

    #[test]
    fn cell_references_read_and_name_alike() {
        for (name, at) in [
            ("A1", (1, 1)),
            ("J7", (7, 10)),
            ("Z3", (3, 26)),
            ("AA3", (3, 27)),
            ("XFD1048576", (1_048_576, 16_384)),
        ] {
            assert_eq!(parse_cell_ref(name), Some(at), "{name}");
            assert_eq!(cell_name(at.0, at.1), name);
        }
        for bad in ["", "A", "1", "a1", "A0", "ABCD1", "A1B"] {
            assert_eq!(parse_cell_ref(bad), None, "{bad}");
        }
    }

    #[test]
    fn find_attr_returns_the_wanted_attribute_of_the_matching_element() {
        let xml = br#"<workbook xmlns:r="x"><sheets><sheet name="A" r:id="rId1"/><sheet name="B &amp; C" r:id="rId2"/></sheets></workbook>"#;
        assert_eq!(
            find_attr(xml, b"sheet", b"name", "B & C", b"id").as_deref(),
            Some("rId2")
        );
        assert_eq!(find_attr(xml, b"sheet", b"name", "Z", b"id"), None);
        assert_eq!(find_attr(xml, b"sheet", b"name", "A", b"missing"), None);
        assert_eq!(
            find_attr(b"<a><sheet name=", b"sheet", b"name", "A", b"id"),
            None
        );
    }

    #[test]
    fn a_file_that_is_not_a_workbook_fails_whole() {
        let err = read(
            std::io::Cursor::new(b"PK\x03\x04 broken".to_vec()),
            "annotation sheet",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("not an annotation sheet payload (workbook)"),
            "{err}"
        );
    }

    /// Every record [`stream`] hands on, as (line, fields).
    fn streamed(book: &[u8]) -> Result<Vec<(u64, Vec<String>)>, String> {
        let mut out = Vec::new();
        stream(std::io::Cursor::new(book), "status report (XLSX)", |r| {
            out.push((
                r.position().map_or(0, csv::Position::line),
                r.iter().map(str::to_owned).collect(),
            ));
            Ok::<(), std::convert::Infallible>(())
        })
        .map_err(|e| match e {
            StreamError::Sheet(e) => e.to_string(),
            StreamError::Row(never) => match never {},
        })?;
        Ok(out)
    }

    /// In the ZIP `bytes`, sets the uncompressed size that the central directory
    /// and the local header give for part `name`, as a crafted file would.
    fn claim_size(bytes: &mut [u8], name: &str, size: u32) {
        let name = name.as_bytes();
        let mut patched = 0;
        for at in 0..bytes.len().saturating_sub(46) {
            let (size_at, name_at) = match &bytes[at..at + 4] {
                b"PK\x01\x02" => (at + 24, at + 46),
                b"PK\x03\x04" => (at + 22, at + 30),
                _ => continue,
            };
            if bytes.get(name_at..name_at + name.len()) == Some(name) {
                bytes[size_at..size_at + 4].copy_from_slice(&size.to_le_bytes());
                patched += 1;
            }
        }
        assert_eq!(patched, 2, "local header and central directory entry");
    }

    /// What each part of the ZIP `bytes` unpacks to, by name.
    fn unpacked_sizes(bytes: &[u8]) -> BTreeMap<String, u64> {
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).unwrap();
        (0..zip.len())
            .map(|i| {
                let mut part = zip.by_index(i).unwrap();
                let name = part.name().to_owned();
                (
                    name,
                    std::io::copy(&mut part, &mut std::io::sink()).unwrap(),
                )
            })
            .collect()
    }

    fn surveyed(bytes: &[u8], limits: Limits) -> Result<Option<(String, Hidden)>, String> {
        let mut input = std::io::Cursor::new(bytes);
        match survey(&mut input, limits) {
            Survey::TooLarge(why) => Err(why),
            Survey::Read(facts) => {
                assert_eq!(input.position(), 0, "rewound for calamine");
                Ok(facts)
            }
        }
    }

    /// The worksheet is unpacked once for the size check and its facts: a
    /// worksheet whose ZIP directory understates it is still counted whole, as
    /// the walk reads it, and when its XML breaks off early the rest is counted
    /// all the same. Small limits stand in for the real ones.
    #[test]
    fn the_worksheet_is_counted_while_it_is_walked() {
        const SHEET: &str = "xl/worksheets/sheet1.xml";
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name("Meldung").unwrap();
        sheet.write_string(1, 1, "Key").unwrap();
        for r in 2..3000u32 {
            sheet.write_string(r, 1, "k").unwrap();
            sheet.write_number(r, 2, f64::from(r)).unwrap();
        }
        sheet.set_row_hidden(4).unwrap();
        sheet
            .merge_range(3000, 1, 3001, 2, "m", &Format::new())
            .unwrap();
        let honest = book.save_to_buffer().unwrap();
        let sizes = unpacked_sizes(&honest);
        let sheet_len = sizes[SHEET];
        let all: u64 = sizes.values().sum();
        assert!(sheet_len > all - sheet_len, "{sizes:?}");
        let generous = LIMITS;
        // What the walk finds.
        let (name, facts) = surveyed(&honest, generous).unwrap().unwrap();
        assert_eq!(name, "Meldung");
        assert_eq!(facts.rows, [5]);
        assert_eq!(facts.first_row, Some(2));
        assert_eq!(facts.extent, Some((2, 2, 3001, 3)));
        assert_eq!(facts.merged, [(3001, 2, 3002, 3)]);
        // One byte short of the whole: the directory says so first.
        let tight = Limits {
            total: all - 1,
            shared_strings: MAX_SHARED_STRINGS_BYTES,
        };
        let why = surveyed(&honest, tight).unwrap_err();
        assert!(
            why.starts_with(
                "the workbook (all its parts together) unpacks to 0 MiB by its ZIP directory"
            ),
            "{why}"
        );
        // The directory claims 100 bytes for the worksheet: counted as it is walked.
        let mut lying = honest.clone();
        claim_size(&mut lying, SHEET, 100);
        let (_, facts) = surveyed(&lying, generous).unwrap().unwrap();
        assert_eq!(facts.rows, [5]);
        let why = surveyed(&lying, tight).unwrap_err();
        assert!(
            why.starts_with(
                "the workbook (all its parts together) unpacks to more than its ZIP directory says"
            ),
            "{why}"
        );
        assert!(why.contains("zip bomb"), "{why}");
        // The same, its XML broken right after the declaration: no facts, but
        // the rest of the part is counted.
        let mut broken = edited(&honest, |xml| xml.replacen("?>", "?></nope>", 1));
        assert_eq!(unpacked_sizes(&broken)[SHEET], sheet_len + 7);
        assert!(surveyed(&broken, generous).unwrap().is_none());
        claim_size(&mut broken, SHEET, 100);
        let why = surveyed(&broken, tight).unwrap_err();
        assert!(why.contains("more than its ZIP directory says"), "{why}");
    }

    fn strings(cells: &[&str]) -> Vec<String> {
        cells.iter().map(|c| (*c).to_owned()).collect()
    }

    #[test]
    fn streamed_rows_start_at_the_used_range_and_stray_cells_cost_one_field() {
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        // The table from B3 (two empty rows above, column A empty), a stray value
        // far right in row 4 and one alone in XFD6; row 5 blank.
        for (c, h) in (1u16..).zip(["Key", "Status", "Date"]) {
            sheet.write_string(2, c, h).unwrap();
        }
        sheet.write_string(3, 1, "k1").unwrap();
        sheet.write_number(3, 3, 2.0).unwrap();
        sheet.write_string(3, 200, "far").unwrap();
        sheet.write_string(5, 16_383, "x").unwrap();
        sheet.write_string(6, 2, "pilot").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        assert_eq!(
            streamed(&bytes).unwrap(),
            [
                (3, strings(&["Key", "Status", "Date"])),
                (4, strings(&["k1", "", "2", "far"])),
                (6, strings(&["", "", "", "x"])),
                (7, strings(&["", "pilot"])),
            ]
        );
        // Held whole (the annotation sheets), every row has the box's width, and
        // the box of B3:XFD7 is within the limit.
        let table = read(std::io::Cursor::new(&bytes), "annotation sheet").unwrap();
        assert_eq!(table.header.len(), 16_383);
        assert_eq!(table.rows.len(), 3);
        assert!(table.rows.iter().all(|r| r.len() == 16_383));
        assert_eq!(table.rows[1].get(16_382), Some("x"));
        assert_eq!(table.rows[1].position().map(csv::Position::line), Some(6));
    }

    #[test]
    fn merged_regions_fill_every_row_they_cover_even_rows_without_cells() {
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        let plain = Format::new();
        sheet.write_string(0, 0, "Key").unwrap();
        sheet.write_string(0, 1, "Status").unwrap();
        sheet.merge_range(1, 1, 4, 1, "pilot", &plain).unwrap();
        sheet.write_string(1, 0, "k1").unwrap();
        sheet.write_string(3, 0, "k3").unwrap();
        sheet.write_string(5, 0, "k5").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        // Rows 3 and 5 hold no cell at all (a plain format writes no blank cells
        // for the region): the region still fills them.
        let bytes = edited(&bytes, |xml| {
            assert!(xml.contains(r#"<row r="3" spans="1:2"></row>"#), "{xml}");
            assert!(xml.contains(r#"<row r="5" spans="1:2"></row>"#), "{xml}");
            xml.replace(r#"<row r="5" spans="1:2"></row>"#, "")
        });
        assert_eq!(
            streamed(&bytes).unwrap(),
            [
                (1, strings(&["Key", "Status"])),
                (2, strings(&["k1", "pilot"])),
                (3, strings(&["", "pilot"])),
                (4, strings(&["k3", "pilot"])),
                (5, strings(&["", "pilot"])),
                (6, strings(&["k5"])),
            ]
        );
    }

    #[test]
    fn a_merged_region_as_wide_as_the_sheet_fills_only_the_header_s_columns() {
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        let plain = Format::new();
        sheet.write_string(0, 0, "Key").unwrap();
        sheet.write_string(0, 1, "Status").unwrap();
        sheet.write_string(1, 0, "k2").unwrap();
        sheet.merge_range(2, 0, 4, 16_383, "wide", &plain).unwrap();
        sheet.write_string(5, 16_383, "far").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        assert_eq!(
            streamed(&bytes).unwrap(),
            [
                (1, strings(&["Key", "Status"])),
                (2, strings(&["k2"])),
                (3, strings(&["wide", "wide"])),
                (4, strings(&["wide", "wide"])),
                (5, strings(&["wide", "wide"])),
                (6, strings(&["", "", "far"])),
            ]
        );
    }

    #[test]
    fn overlapping_merged_regions_are_refused_as_damaged() {
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "Key").unwrap();
        sheet.write_string(1, 0, "k2").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let merges = |n: usize| {
            let regions = r#"<mergeCell ref="A2:A3"/>"#.repeat(n);
            move |xml: String| {
                xml.replace(
                    "</sheetData>",
                    &format!("</sheetData><mergeCells count=\"{n}\">{regions}</mergeCells>"),
                )
            }
        };
        // As many as a row has columns: read (the same value twice over).
        let read_back = streamed(&edited(&bytes, merges(16_384))).unwrap();
        assert_eq!(read_back[1], (2, strings(&["k2"])));
        let err = streamed(&edited(&bytes, merges(16_385))).unwrap_err();
        assert!(
            err.contains("more than 16384 merged regions overlap in row 2"),
            "{err}"
        );
    }

    #[test]
    fn rows_out_of_order_are_refused_not_mixed_up() {
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.write_string(0, 0, "Key").unwrap();
        sheet.write_string(1, 0, "k2").unwrap();
        sheet.write_string(2, 0, "k3").unwrap();
        let bytes = book.save_to_buffer().unwrap();
        let bytes = edited(&bytes, |xml| {
            let (a, b) = (
                xml.find("<row r=\"2\"").unwrap(),
                xml.find("<row r=\"3\"").unwrap(),
            );
            let end = xml.find("</sheetData>").unwrap();
            format!("{}{}{}{}", &xml[..a], &xml[b..end], &xml[a..b], &xml[end..])
        });
        let err = streamed(&bytes).unwrap_err();
        assert!(
            err.contains("(line 2): the worksheet lists row 2 after row 3"),
            "{err}"
        );
    }

    /// A repeated attribute (not well-formed XML, but a crafted file may hold
    /// one): the first is taken, as with quick-xml's duplicate check.
    #[test]
    fn the_first_of_a_repeated_attribute_is_taken() {
        let e = quick_xml::events::BytesStart::from_content(
            r#"row r="3" hidden="1" spans="1:5" hidden="0" r="4""#,
            3,
        );
        assert_eq!(attr_cow(&e, b"r").as_deref(), Some("3"));
        assert_eq!(attr_cow(&e, b"hidden").as_deref(), Some("1"));
        assert_eq!(attr_cow(&e, b"spans").as_deref(), Some("1:5"));
        assert_eq!(attr_cow(&e, b"t"), None);
    }

    #[test]
    fn merged_region_references_read() {
        assert_eq!(parse_region("B2:C4"), Some((2, 2, 4, 3)));
        assert_eq!(parse_region("C4:B2"), Some((2, 2, 4, 3)));
        assert_eq!(parse_region("D7"), Some((7, 4, 7, 4)));
        assert_eq!(parse_region("B2:"), None);
        assert_eq!(parse_region(""), None);
    }
}
