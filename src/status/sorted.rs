//! The valid rows of a status report on their way to the store, in bounded memory:
//! rows are pushed in file order, held compactly (subject and scope interned, the
//! date as a day number, notes in one arena) and, once a run is full, sorted and
//! spilled to an anonymous temporary file; [`ReportRows::into_sorted`] merges the
//! runs into one stream in the order `store::status::record` writes (cell by the
//! stored form of subject and scope, then date, then file order).
//!
//! Spill files are `O_TMPFILE`/unlinked files from `tempfile::tempfile` in the
//! temporary directory: they have no name from the moment they exist, so the kernel
//! frees them on every exit path (an error, a stop, SIGTERM or SIGKILL) and nothing
//! is ever left behind or written over. No database here.
#![allow(
    clippy::indexing_slicing,
    reason = "ranks and ids are dense indices into arrays built from the same rows, and \
              run headers are read at fixed offsets of buffers of that size; the hot path \
              of million-row reports, measured in benches"
)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Seek, Write};

use chrono::{Datelike, NaiveDate};

use super::report::StatusRow;
use super::{Scope, Status, Subject};
use crate::parse::csv_text::MAX_NOTE_BYTES;

/// Rows held in memory before a run is sorted and spilled: 32 bytes each, so a
/// full run is 64 MiB (plus its notes).
pub const RUN_ROWS: usize = 1 << 21;
/// Note bytes held in memory before a run is spilled regardless of its rows.
const RUN_NOTE_BYTES: usize = 32 << 20;

/// Rows (and note bytes) up to which a run grows by doubling, as a `Vec` does; the
/// row that passes it gives the run its full size at once ([`RUN_ROWS`], and
/// [`RUN_NOTE_BYTES`] for the notes).
///
/// Grown by doubling to 64 MiB, a run freed 32 + 16 + 8 + … MiB on the way, and
/// mimalloc keeps freed memory resident until it purges it, a second or more
/// later: when the report was read in less than that, SQLite's page cache filled
/// beside those dead pages and the import's peak RSS rose from 170 to 184–208 MiB,
/// depending on the threads' timing (BENCHMARKS.md, "Status import", decision 12).
/// Taken at once, the run's pages are only resident once rows are written into
/// them, so a small report costs no more than it did.
const GROWN_BY_DOUBLING: usize = 1 << 16;

/// One row as held while sorting.
#[derive(Debug, Clone, Copy)]
struct Held {
    /// Position in the file (push order): decides same-day rows of one cell.
    seq: u64,
    subject: u32,
    scope: u32,
    /// Days since 0001-01-01 (ISO dates sort as these do).
    day: i32,
    /// Offset and length of the note in the run's arena; `len == u32::MAX` for none.
    note_at: u32,
    note_len: u32,
    status: u8,
}

/// One row as the store receives it: subject and scope by their index in
/// [`SortedRows::subjects`]/[`SortedRows::scopes`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SortedRow {
    pub subject: u32,
    pub scope: u32,
    pub effective_on: NaiveDate,
    pub status: Status,
    pub note: Option<String>,
}

/// Interns values of a report (a few thousand distinct subjects and scopes for
/// millions of rows).
#[derive(Debug)]
struct Interner<T> {
    /// foldhash, not SipHash: a report grouped by Gemeinde changes its subject on
    /// every row, so this is probed once per row (no untrusted keys can slow it
    /// down much: at most the catalogue's few thousand distinct values get in).
    ids: HashMap<T, u32, foldhash::fast::RandomState>,
    values: Vec<T>,
    /// The id interned last: reports come grouped (a subject's or a Gemeinde's
    /// rows together), so the row before's value is compared first, one compare
    /// instead of a hash for most rows.
    last: Option<u32>,
}

impl<T: std::hash::Hash + Eq + Clone> Interner<T> {
    fn new() -> Self {
        Interner {
            ids: HashMap::default(),
            values: Vec::new(),
            last: None,
        }
    }

    fn intern(&mut self, value: T) -> u32 {
        if let Some(last) = self.last {
            if self.values.get(last as usize) == Some(&value) {
                return last;
            }
        }
        let id = match self.ids.get(&value) {
            Some(&id) => id,
            None => {
                let id = self.values.len() as u32;
                self.values.push(value.clone());
                self.ids.insert(value, id);
                id
            }
        };
        self.last = Some(id);
        id
    }

    /// For each id, its position among the values ordered by `stored`.
    fn ranks<S: Ord>(&self, stored: impl Fn(&T) -> S) -> Vec<u32> {
        let mut order: Vec<(S, u32)> = self
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| (stored(v), i as u32))
            .collect();
        order.sort_by(|a, b| a.0.cmp(&b.0));
        let mut rank = vec![0u32; order.len()];
        for (pos, (_, id)) in order.into_iter().enumerate() {
            rank[id as usize] = pos as u32;
        }
        rank
    }
}

/// The id at each rank of a [`Interner::ranks`] permutation.
fn inverse(rank: &[u32]) -> Vec<u32> {
    let mut id = vec![0u32; rank.len()];
    for (i, &r) in rank.iter().enumerate() {
        id[r as usize] = i as u32;
    }
    id
}

/// The stored order of subjects and scopes: kind, then the stored text.
fn subject_key(s: &Subject) -> (&'static str, String) {
    (s.kind(), s.id().to_owned())
}
fn scope_key(s: &Scope) -> (&'static str, String) {
    (s.kind(), s.id())
}

/// A report's valid rows being collected (see the module docs).
#[derive(Debug)]
pub struct ReportRows {
    subjects: Interner<Subject>,
    scopes: Interner<Scope>,
    run: Vec<Held>,
    notes: String,
    spilled: Vec<File>,
    len: u64,
    run_rows: usize,
    run_note_bytes: usize,
}

impl Default for ReportRows {
    fn default() -> Self {
        ReportRows::new()
    }
}

impl ReportRows {
    pub fn new() -> ReportRows {
        ReportRows::with_run_size(RUN_ROWS, RUN_NOTE_BYTES)
    }

    /// With smaller runs, so tests can make a small report spill.
    pub fn with_run_size(rows: usize, note_bytes: usize) -> ReportRows {
        ReportRows {
            subjects: Interner::new(),
            scopes: Interner::new(),
            run: Vec::new(),
            notes: String::new(),
            spilled: Vec::new(),
            len: 0,
            run_rows: rows.max(1),
            run_note_bytes: note_bytes,
        }
    }

    /// Rows pushed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Runs spilled to temporary files so far.
    pub fn spilled_runs(&self) -> usize {
        self.spilled.len()
    }

    /// Adds the next row of the file.
    pub fn push(&mut self, row: StatusRow) -> io::Result<()> {
        let StatusRow {
            subject,
            scope,
            status,
            effective_on,
            note,
            ..
        } = row;
        let subject = self.subjects.intern(subject);
        let scope = self.scopes.intern(scope);
        if self.run.len() == GROWN_BY_DOUBLING {
            let full = self.run_rows.min(RUN_ROWS);
            self.run
                .reserve_exact(full.saturating_sub(GROWN_BY_DOUBLING));
        }
        let (note_at, note_len) = match note {
            Some(n) => {
                let at = self.notes.len();
                if at < GROWN_BY_DOUBLING && at + n.len() >= GROWN_BY_DOUBLING {
                    // The note that fills the run comes on top of the limit.
                    let full = self.run_note_bytes.min(RUN_NOTE_BYTES);
                    self.notes
                        .reserve_exact(full.saturating_add(MAX_NOTE_BYTES).saturating_sub(at));
                }
                self.notes.push_str(&n);
                (at as u32, n.len() as u32)
            }
            None => (0, u32::MAX),
        };
        self.run.push(Held {
            seq: self.len,
            subject,
            scope,
            day: effective_on.num_days_from_ce(),
            note_at,
            note_len,
            status: status_code(status),
        });
        self.len += 1;
        if self.run.len() >= self.run_rows || self.notes.len() >= self.run_note_bytes {
            self.spill()?;
        }
        Ok(())
    }

    /// Sorts the run in memory by the ranks known now (they order values as their
    /// stored form does, so runs sorted at different times merge consistently).
    ///
    /// The rows carry their ranks instead of their ids while they are sorted, so a
    /// comparison reads the two rows alone (subject and scope as one integer)
    /// instead of looking each row's ranks up again: the sort took a twentieth of
    /// the importing thread's instructions that way (BENCHMARKS.md, "Status import").
    fn sort_run(&mut self) {
        let subject_rank = self.subjects.ranks(subject_key);
        let scope_rank = self.scopes.ranks(scope_key);
        for h in &mut self.run {
            h.subject = subject_rank[h.subject as usize];
            h.scope = scope_rank[h.scope as usize];
        }
        self.run.sort_unstable_by_key(|h| {
            (
                (u64::from(h.subject) << 32) | u64::from(h.scope),
                h.day,
                h.seq,
            )
        });
        let subject_id = inverse(&subject_rank);
        let scope_id = inverse(&scope_rank);
        for h in &mut self.run {
            h.subject = subject_id[h.subject as usize];
            h.scope = scope_id[h.scope as usize];
        }
    }

    fn spill(&mut self) -> io::Result<()> {
        self.sort_run();
        let mut file = BufWriter::with_capacity(1 << 16, tempfile::tempfile()?);
        for h in &self.run {
            file.write_all(&h.seq.to_le_bytes())?;
            file.write_all(&h.subject.to_le_bytes())?;
            file.write_all(&h.scope.to_le_bytes())?;
            file.write_all(&h.day.to_le_bytes())?;
            file.write_all(&[h.status])?;
            file.write_all(&h.note_len.to_le_bytes())?;
            if h.note_len != u32::MAX {
                let note = &self.notes[h.note_at as usize..(h.note_at + h.note_len) as usize];
                file.write_all(note.as_bytes())?;
            }
        }
        let mut file = file.into_inner().map_err(io::IntoInnerError::into_error)?;
        file.rewind()?;
        self.spilled.push(file);
        self.run.clear();
        self.notes.clear();
        Ok(())
    }

    /// All rows, merged into the stored order.
    pub fn into_sorted(mut self) -> io::Result<SortedRows> {
        self.sort_run();
        let subject_rank = self.subjects.ranks(subject_key);
        let scope_rank = self.scopes.ranks(scope_key);
        let mut sources: Vec<Source> = self
            .spilled
            .drain(..)
            .map(|f| Source::File(BufReader::with_capacity(1 << 16, f)))
            .collect();
        sources.push(Source::Memory {
            rows: std::mem::take(&mut self.run).into_iter(),
            notes: std::mem::take(&mut self.notes),
        });
        let mut sorted = SortedRows {
            subjects: self.subjects.values,
            scopes: self.scopes.values,
            len: self.len,
            subject_rank,
            scope_rank,
            sources,
            heads: BinaryHeap::new(),
            pending: Vec::new(),
        };
        for i in 0..sorted.sources.len() {
            sorted.advance(i)?;
        }
        Ok(sorted)
    }
}

fn status_code(s: Status) -> u8 {
    Status::ALL.iter().position(|&a| a == s).unwrap_or(0) as u8
}

/// Where the rows of one sorted run come from.
enum Source {
    File(BufReader<File>),
    Memory {
        rows: std::vec::IntoIter<Held>,
        notes: String,
    },
}

impl Source {
    /// The run's next row with its note.
    fn next(&mut self) -> io::Result<Option<(Held, Option<String>)>> {
        match self {
            Source::Memory { rows, notes } => Ok(rows.next().map(|h| {
                let note = (h.note_len != u32::MAX).then(|| {
                    notes[h.note_at as usize..(h.note_at + h.note_len) as usize].to_owned()
                });
                (h, note)
            })),
            Source::File(r) => {
                let mut head = [0u8; 25];
                match r.read_exact(&mut head) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
                    Err(e) => return Err(e),
                }
                let u32_at =
                    |i: usize| u32::from_le_bytes([head[i], head[i + 1], head[i + 2], head[i + 3]]);
                let mut seq = [0u8; 8];
                seq.copy_from_slice(&head[0..8]);
                let note_len = u32_at(21);
                let note =
                    if note_len == u32::MAX {
                        None
                    } else {
                        let mut bytes = vec![0u8; note_len as usize];
                        r.read_exact(&mut bytes)?;
                        Some(String::from_utf8(bytes).map_err(|e| {
                            io::Error::new(io::ErrorKind::InvalidData, e.utf8_error())
                        })?)
                    };
                let h = Held {
                    seq: u64::from_le_bytes(seq),
                    subject: u32_at(8),
                    scope: u32_at(12),
                    day: u32_at(16) as i32,
                    status: head[20],
                    note_at: 0,
                    note_len,
                };
                Ok(Some((h, note)))
            }
        }
    }
}

/// A row's place in stored order: subject rank, scope rank, day, file position.
type SortKey = (u32, u32, i32, u64);

/// The rows of a report in stored order (see the module docs), read run by run.
pub struct SortedRows {
    /// Subjects by the index rows carry.
    pub subjects: Vec<Subject>,
    /// Scopes by the index rows carry.
    pub scopes: Vec<Scope>,
    len: u64,
    subject_rank: Vec<u32>,
    scope_rank: Vec<u32>,
    sources: Vec<Source>,
    /// The head row of each run that has one, smallest first.
    heads: BinaryHeap<Reverse<(SortKey, usize)>>,
    /// The head row of each run, by run.
    pending: Vec<Option<(Held, Option<String>)>>,
}

impl SortedRows {
    /// Number of rows.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The position of subject `id` in stored order among this report's subjects.
    pub fn subject_rank(&self, id: u32) -> u32 {
        self.subject_rank[id as usize]
    }

    fn advance(&mut self, run: usize) -> io::Result<()> {
        if self.pending.len() <= run {
            self.pending.resize_with(run + 1, || None);
        }
        let next = self.sources[run].next()?;
        if let Some((h, _)) = &next {
            let key = (
                self.subject_rank[h.subject as usize],
                self.scope_rank[h.scope as usize],
                h.day,
                h.seq,
            );
            self.heads.push(Reverse((key, run)));
        }
        self.pending[run] = next;
        Ok(())
    }

    /// The next row in stored order.
    pub fn next_row(&mut self) -> io::Result<Option<SortedRow>> {
        let Some(Reverse((_, run))) = self.heads.pop() else {
            return Ok(None);
        };
        let Some((h, note)) = self.pending[run].take() else {
            return Ok(None);
        };
        self.advance(run)?;
        let effective_on = NaiveDate::from_num_days_from_ce_opt(h.day).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "a spilled status row has no valid date",
            )
        })?;
        let status = Status::ALL.get(h.status as usize).copied().ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "a spilled status row has no valid status",
            )
        })?;
        Ok(Some(SortedRow {
            subject: h.subject,
            scope: h.scope,
            effective_on,
            status,
            note,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        seq: u64,
        subject: &str,
        ars: &str,
        on: &str,
        status: &str,
        note: Option<&str>,
    ) -> StatusRow {
        StatusRow {
            line: seq + 2,
            subject: if subject.starts_with("EFA") {
                Subject::Efa(subject.into())
            } else {
                Subject::Leika(subject.into())
            },
            scope: match ars.parse::<i64>() {
                Ok(id) if ars.len() < 12 => Scope::Ressort(id),
                _ => Scope::Ars(ars.into()),
            },
            status: Status::parse(status).unwrap(),
            effective_on: on.parse().unwrap(),
            note: note.map(str::to_owned),
        }
    }

    fn drain(rows: ReportRows) -> Vec<String> {
        let mut sorted = rows.into_sorted().unwrap();
        let mut out = Vec::new();
        while let Some(r) = sorted.next_row().unwrap() {
            out.push(format!(
                "{} {} {} {} {}",
                sorted.subjects[r.subject as usize].id(),
                sorted.scopes[r.scope as usize].id(),
                r.effective_on,
                r.status.as_str(),
                r.note.as_deref().unwrap_or("-")
            ));
        }
        out
    }

    /// A run grows by doubling only to [`GROWN_BY_DOUBLING`] rows or note bytes, then
    /// takes its full size at once: nothing of that size is freed while a report is
    /// read (see the constant), and a small report never reserves a full run.
    #[test]
    fn a_run_takes_its_full_size_once_past_doubling() {
        let full = GROWN_BY_DOUBLING * 3;
        let mut rows = ReportRows::with_run_size(full, full);
        let note = "n".repeat(16);
        for i in 0..GROWN_BY_DOUBLING {
            let mut r = row(
                i as u64,
                "99000000000001",
                "031010000000",
                "2025-01-01",
                "pilot",
                None,
            );
            if i + 1 < GROWN_BY_DOUBLING / 16 {
                r.note = Some(note.clone());
            }
            rows.push(r).unwrap();
        }
        assert!(rows.run.capacity() < full, "{}", rows.run.capacity());
        assert!(rows.notes.capacity() < full, "{}", rows.notes.capacity());
        let mut r = row(
            0,
            "99000000000001",
            "031010000000",
            "2025-01-02",
            "pilot",
            None,
        );
        r.note = Some(note.clone());
        rows.push(r).unwrap();
        assert_eq!(rows.run.capacity(), full);
        assert_eq!(rows.notes.capacity(), full + MAX_NOTE_BYTES);
        assert_eq!(rows.spilled_runs(), 0);
    }

    /// The same rows come out in the same order whether held in memory or spilled
    /// in runs of every size: cell by stored text (Ressort "10" before "2"), then
    /// date, then file order for same-day rows; notes survive the spill files.
    #[test]
    fn spilled_runs_merge_into_the_stored_order() {
        let input = [
            row(
                0,
                "99000000000002",
                "031010000000",
                "2025-02-01",
                "geplant",
                None,
            ),
            row(
                1,
                "99000000000001",
                "2",
                "2025-01-01",
                "pilot",
                Some("ä note"),
            ),
            row(
                2,
                "99000000000002",
                "031010000000",
                "2025-01-01",
                "pilot",
                None,
            ),
            row(3, "EFA-1", "10", "2025-01-01", "produktiv", None),
            row(
                4,
                "99000000000001",
                "10",
                "2025-03-01",
                "produktiv",
                Some(""),
            ),
            row(
                5,
                "99000000000002",
                "031010000000",
                "2025-02-01",
                "produktiv",
                Some("fix"),
            ),
            row(
                6,
                "99000000000001",
                "031010000000",
                "2024-12-31",
                "abgelehnt",
                None,
            ),
        ];
        let expected = [
            "EFA-1 10 2025-01-01 produktiv -",
            "99000000000001 031010000000 2024-12-31 abgelehnt -",
            "99000000000001 10 2025-03-01 produktiv ",
            "99000000000001 2 2025-01-01 pilot ä note",
            "99000000000002 031010000000 2025-01-01 pilot -",
            "99000000000002 031010000000 2025-02-01 geplant -",
            "99000000000002 031010000000 2025-02-01 produktiv fix",
        ];
        for run in 1..=input.len() + 1 {
            let mut rows = ReportRows::with_run_size(run, usize::MAX);
            for r in &input {
                rows.push(r.clone()).unwrap();
            }
            assert_eq!(rows.spilled_runs(), input.len() / run, "run size {run}");
            assert_eq!(drain(rows), expected, "run size {run}");
        }
        // Spilled because of the notes' size alone.
        let mut rows = ReportRows::with_run_size(usize::MAX, 1);
        for r in &input {
            rows.push(r.clone()).unwrap();
        }
        assert_eq!(rows.spilled_runs(), 2);
        assert_eq!(drain(rows), expected);
    }
}
