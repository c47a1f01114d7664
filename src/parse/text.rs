//! The one place that decides how a text payload is encoded, for every text parser
//! (LeiKa, GV100AD, EfA and OZG CSV, annotation and status sheets).
//!
//! The rule is evidence, never accident: a file that holds at least one valid
//! multi-byte UTF-8 sequence (or a UTF-8 byte-order mark) is UTF-8, and any bytes in it
//! that do not decode are the fault of the rows that hold them — those rows are
//! rejected with line and reason, the rest is read as UTF-8. Only a file without any
//! valid multi-byte UTF-8 is read in the format's legacy encoding: Windows-1252 for
//! spreadsheet CSV, ISO-8859-1 for GV100AD editions up to 2018. A pure ASCII file is
//! the same in all three.
//!
//! The decision needs the whole file, not a prefix: the first umlaut of a LeiKa file
//! may stand in row 600, after any sniff window, and a stray Windows-1252 byte in row 3
//! must not turn the 600 valid UTF-8 rows behind it into mojibake. So [`sniff`]
//! streams over the whole input once (memory stays one chunk) and the caller rewinds.

use std::borrow::Cow;
use std::io::{self, Read};

use encoding_rs::{UTF_8, WINDOWS_1252};

/// The encoding a format falls back to when a file has no UTF-8 evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Legacy {
    /// What Excel writes as "CSV (Trennzeichen-getrennt)" on German Windows.
    Windows1252,
    /// GV100AD editions up to 2018 (one byte per character, CRLF).
    Latin1,
}

/// The encoding a file is read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextEncoding {
    Utf8,
    Windows1252,
    Latin1,
}

impl TextEncoding {
    /// The name shown to users and stored with sheets: `UTF-8`, `windows-1252`,
    /// `ISO-8859-1`.
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Windows1252 => "windows-1252",
            TextEncoding::Latin1 => "ISO-8859-1",
        }
    }
}

/// What one pass over the bytes found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// Valid multi-byte UTF-8 sequences (the BOM counts as one).
    pub multibyte: u64,
    /// Bytes that are not part of a valid UTF-8 sequence.
    pub invalid: u64,
    /// Offset of the first NUL byte: a text file has none.
    pub nul_at: Option<u64>,
    /// Bytes read.
    pub len: u64,
}

impl Evidence {
    /// The encoding the evidence asks for (see the module comment).
    pub fn decide(&self, legacy: Legacy) -> TextEncoding {
        if self.multibyte > 0 || self.invalid == 0 {
            TextEncoding::Utf8
        } else {
            match legacy {
                Legacy::Windows1252 => TextEncoding::Windows1252,
                Legacy::Latin1 => TextEncoding::Latin1,
            }
        }
    }
}

/// Collects [`Evidence`] chunk by chunk; sequences cut by a chunk boundary are
/// carried to the next chunk.
#[derive(Debug, Default)]
pub struct Sniffer {
    carry: Vec<u8>,
    evidence: Evidence,
}

impl Sniffer {
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.evidence.nul_at.is_none() {
            if let Some(i) = memchr::memchr(0, chunk) {
                self.evidence.nul_at = Some(self.evidence.len + i as u64);
            }
        }
        self.evidence.len += chunk.len() as u64;
        // Only a sequence cut by the last chunk's end is copied; the chunk itself is
        // read where it lies.
        let joined;
        let rest: &[u8] = if self.carry.is_empty() {
            chunk
        } else {
            self.carry.extend_from_slice(chunk);
            joined = std::mem::take(&mut self.carry);
            &joined
        };
        let cut = scan(rest, &mut self.evidence);
        self.carry.clear();
        self.carry.extend_from_slice(cut);
    }

    /// The evidence; an incomplete sequence at the very end counts as invalid.
    pub fn finish(mut self) -> Evidence {
        self.evidence.invalid += self.carry.len() as u64;
        self.evidence
    }
}

/// Counts the valid multi-byte sequences and the bytes that are not part of one in
/// `bytes`, as `std::str::from_utf8` delimits them, and returns the tail that is a
/// sequence cut by the end (to be completed by the next chunk).
///
/// Runs of ASCII are skipped a block at a time; each other byte starts a sequence of
/// at most 4 bytes, so `from_utf8` of the next 4 bytes tells whether it is valid and
/// how many bytes an invalid one spans (its `error_len`), the same answer as over the
/// whole rest. A Windows-1252 file has a non-ASCII byte every few dozen bytes, and
/// checking the whole rest again after each was most of the sniff.
fn scan<'b>(mut rest: &'b [u8], evidence: &mut Evidence) -> &'b [u8] {
    loop {
        while let Some(high) = quiet_block(rest) {
            evidence.invalid += high;
            rest = rest.get(BLOCK..).unwrap_or_default();
        }
        rest = rest.get(ascii_prefix(rest)..).unwrap_or_default();
        let Some(&lead) = rest.first() else {
            return rest;
        };
        // Most non-ASCII bytes of a Windows-1252 file stand before an ASCII byte (or
        // are no lead byte at all): a one-byte error whatever follows, as
        // `from_utf8` would say, without asking it.
        let lone = !(0xC2..=0xF4).contains(&lead)
            || rest
                .get(1)
                .is_some_and(|next| !(0x80..=0xBF).contains(next));
        if lone {
            evidence.invalid += 1;
            rest = rest.get(1..).unwrap_or_default();
            continue;
        }
        let window = rest.get(..4).unwrap_or(rest);
        let valid = match std::str::from_utf8(window) {
            Ok(_) => true,
            Err(e) if e.valid_up_to() > 0 => true,
            Err(e) => match e.error_len() {
                // cut inside a sequence: only possible when the window is short,
                // i.e. at the end
                None => return rest,
                Some(n) => {
                    evidence.invalid += n as u64;
                    rest = rest.get(n..).unwrap_or_default();
                    false
                }
            },
        };
        if valid {
            evidence.multibyte += 1;
            rest = rest.get(utf8_width(lead)..).unwrap_or_default();
        }
    }
}

/// The bytes [`quiet_block`] decides at once, and [`ascii_prefix`] skips at once.
const BLOCK: usize = 32;

/// The first [`BLOCK`] bytes of `bytes`, when no valid multi-byte sequence can
/// start among them: no lead byte (0xC2–0xF4) stands before a continuation byte
/// (0x80–0xBF; the byte after the block is looked at too, so there must be one).
/// Then each of their non-ASCII bytes is a one-byte error, as [`scan`] counts it
/// byte by byte (a lone lead, a continuation without a lead, or a byte that never
/// leads), and the count of them is returned: the whole block is decided in one
/// pass the compiler vectorises. A Windows-1252 file, whose every umlaut stands
/// before an ASCII letter, is read so nearly all of it (its sniff went 7 → 1.5 ms
/// for a 16 MB LeiKa file, where it delays the first record); a UTF-8 file's
/// blocks around a sequence are left to [`scan`]'s byte-wise path.
fn quiet_block(bytes: &[u8]) -> Option<u64> {
    let block: &[u8; BLOCK] = bytes.get(..BLOCK)?.try_into().ok()?;
    let next: &[u8; BLOCK] = bytes.get(1..=BLOCK)?.try_into().ok()?;
    let (mut starts, mut high) = (0u8, 0u8);
    for (&b, &n) in block.iter().zip(next) {
        starts |= u8::from(b.wrapping_sub(0xC2) <= 0xF4 - 0xC2) & u8::from(n & 0xC0 == 0x80);
        high += b >> 7;
    }
    (starts == 0).then_some(u64::from(high))
}

/// The length of the ASCII run `bytes` starts with.
fn ascii_prefix(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(block) = bytes.get(at..at + BLOCK) {
        if !block.is_ascii() {
            break;
        }
        at += BLOCK;
    }
    let tail = bytes.get(at..).unwrap_or_default();
    at + tail
        .iter()
        .position(|b| !b.is_ascii())
        .unwrap_or(tail.len())
}

/// The length of the UTF-8 sequence a valid lead byte (0xC2 and above) starts.
fn utf8_width(lead: u8) -> usize {
    match lead {
        0xF0.. => 4,
        0xE0.. => 3,
        _ => 2,
    }
}

/// Reads `input` to its end and returns what it holds. The caller rewinds.
pub fn sniff<R: Read>(input: &mut R) -> io::Result<Evidence> {
    sniff_while(input, |_| true)
}

/// [`sniff`] for readers that refuse binary data: stops at the first NUL byte, so
/// a file of NULs (`/dev/zero`, a copy that crashed into a sparse file of
/// gigabytes) is refused at once instead of after reading all of it, or never.
pub fn sniff_text<R: Read>(input: &mut R) -> io::Result<Evidence> {
    sniff_while(input, |e| e.nul_at.is_none())
}

fn sniff_while<R: Read>(input: &mut R, more: impl Fn(&Evidence) -> bool) -> io::Result<Evidence> {
    let mut sniffer = Sniffer::default();
    let mut buf = vec![0u8; 64 * 1024];
    while more(&sniffer.evidence) {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        sniffer.feed(buf.get(..n).unwrap_or_default());
    }
    Ok(sniffer.finish())
}

/// Decodes one line (without its line end). In UTF-8 a line with bytes that do not
/// decode is an error carrying the 1-based byte where the first bad one stands.
pub fn decode_line(bytes: &[u8], encoding: TextEncoding) -> Result<Cow<'_, str>, usize> {
    match encoding {
        TextEncoding::Utf8 => std::str::from_utf8(bytes)
            .map(Cow::Borrowed)
            .map_err(|e| e.valid_up_to() + 1),
        TextEncoding::Windows1252 => Ok(WINDOWS_1252.decode_without_bom_handling(bytes).0),
        // ISO-8859-1 maps each byte to the code point of the same number; encoding_rs
        // only knows it as the Windows-1252 label, which differs in 0x80–0x9F.
        TextEncoding::Latin1 => Ok(Cow::Owned(bytes.iter().map(|&b| char::from(b)).collect())),
    }
}

/// Decodes a whole in-memory file (a status sheet), a UTF-8 BOM removed. Bytes that do
/// not decode in a UTF-8 file become [`UNDECODABLE`], which the caller rejects per row.
pub fn decode_all(bytes: &[u8], legacy: Legacy) -> (Cow<'_, str>, TextEncoding) {
    let mut sniffer = Sniffer::default();
    sniffer.feed(bytes);
    let encoding = sniffer.finish().decide(legacy);
    let bytes = bytes.strip_prefix(b"\xef\xbb\xbf").unwrap_or(bytes);
    let text = match encoding {
        TextEncoding::Utf8 => String::from_utf8_lossy(bytes),
        other => decode_line(bytes, other).unwrap_or_default(),
    };
    (text, encoding)
}

/// What a byte that does not decode in a UTF-8 file turns into (U+FFFD): rows holding
/// it are rejected, never stored.
pub const UNDECODABLE: char = '\u{FFFD}';

/// The reject reason for a row of a UTF-8 file that holds bytes which do not decode.
pub fn undecodable_reason(what: &str) -> String {
    format!(
        "{what} holds bytes that are not UTF-8 (shown as {UNDECODABLE}) although the file is \
         UTF-8 elsewhere; the row was skipped: correct the characters or save the whole file as UTF-8"
    )
}

/// Decodes a byte stream to UTF-8 text chunk by chunk; a leading UTF-8 BOM is
/// dropped. In a UTF-8 file, bytes that do not decode come out as [`UNDECODABLE`].
pub struct DecodeReader<R> {
    inner: R,
    encoding: TextEncoding,
    decoder: encoding_rs::Decoder,
    raw: Box<[u8]>,
    /// Decoded text is `out[pos..end]`; `out` may be longer (room for the next chunk).
    out: Vec<u8>,
    pos: usize,
    end: usize,
    done: bool,
}

const CHUNK: usize = 64 * 1024;

impl<R: Read> DecodeReader<R> {
    pub fn new(inner: R, encoding: TextEncoding) -> Self {
        let decoder = match encoding {
            TextEncoding::Utf8 => UTF_8.new_decoder_with_bom_removal(),
            _ => WINDOWS_1252.new_decoder_without_bom_handling(),
        };
        DecodeReader {
            inner,
            encoding,
            decoder,
            raw: vec![0; CHUNK].into_boxed_slice(),
            out: Vec::new(),
            pos: 0,
            end: 0,
            done: false,
        }
    }
}

impl<R: Read> Read for DecodeReader<R> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.end {
            if self.done {
                return Ok(0);
            }
            let n = loop {
                match self.inner.read(&mut self.raw) {
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    other => break other?,
                }
            };
            let last = n == 0;
            let src = self.raw.get(..n).unwrap_or_default();
            self.pos = 0;
            self.done = last;
            if self.encoding == TextEncoding::Latin1 {
                self.out.clear();
                self.out
                    .extend(src.iter().flat_map(|&b| char_utf8(char::from(b))));
                self.end = self.out.len();
                continue;
            }
            // Room for the worst case, so one call consumes all of `src`. The room
            // is kept from chunk to chunk rather than zeroed again for each.
            let capacity = self
                .decoder
                .max_utf8_buffer_length(src.len())
                .unwrap_or(src.len() * 3 + 16);
            if self.out.len() < capacity {
                self.out.resize(capacity, 0);
            }
            let (_, _, written, _) = self.decoder.decode_to_utf8(src, &mut self.out, last);
            self.end = written;
        }
        let available = self.out.get(self.pos..self.end).unwrap_or_default();
        let n = available.len().min(dst.len());
        if let (Some(to), Some(from)) = (dst.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.pos += n;
        Ok(n)
    }
}

/// The UTF-8 bytes of one character.
fn char_utf8(c: char) -> impl Iterator<Item = u8> {
    let mut buf = [0u8; 4];
    let len = c.encode_utf8(&mut buf).len();
    buf.into_iter().take(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn evidence(bytes: &[u8]) -> Evidence {
        sniff(&mut io::Cursor::new(bytes)).unwrap()
    }

    fn decode(bytes: &[u8], encoding: TextEncoding) -> String {
        let mut s = String::new();
        DecodeReader::new(bytes, encoding)
            .read_to_string(&mut s)
            .unwrap();
        s
    }

    #[test]
    fn utf8_with_one_stray_byte_stays_utf8() {
        let e = evidence(b"Abfallgeb\xc3\xbchr\nStra\xdfe\n");
        assert_eq!((e.multibyte, e.invalid), (1, 1));
        assert_eq!(e.decide(Legacy::Windows1252), TextEncoding::Utf8);
        assert_eq!(
            decode(b"Abfallgeb\xc3\xbchr\nStra\xdfe\n", TextEncoding::Utf8),
            "Abfallgebühr\nStra\u{FFFD}e\n"
        );
    }

    #[test]
    fn no_multibyte_utf8_means_legacy() {
        let e = evidence(b"Stra\xdfe;L\xfcbeck\r\n");
        assert_eq!(e.decide(Legacy::Windows1252), TextEncoding::Windows1252);
        assert_eq!(e.decide(Legacy::Latin1), TextEncoding::Latin1);
        assert_eq!(
            evidence(b"plain ascii").decide(Legacy::Latin1),
            TextEncoding::Utf8
        );
        assert_eq!(decode(b"L\xfcbeck", TextEncoding::Latin1), "Lübeck");
        // 0x80 is € in Windows-1252 but a C1 control in ISO-8859-1
        assert_eq!(decode(b"\x80", TextEncoding::Windows1252), "€");
        assert_eq!(decode(b"\x80", TextEncoding::Latin1), "\u{80}");
    }

    #[test]
    fn the_first_umlaut_after_any_window_still_decides() {
        let mut bytes = vec![b'a'; 200 * 1024];
        bytes.extend_from_slice("ü\n".as_bytes());
        assert_eq!(
            evidence(&bytes).decide(Legacy::Windows1252),
            TextEncoding::Utf8
        );
        let mut latin = vec![b'a'; 200 * 1024];
        latin.push(0xFC);
        assert_eq!(
            evidence(&latin).decide(Legacy::Windows1252),
            TextEncoding::Windows1252
        );
    }

    #[test]
    fn sequences_cut_by_chunks_and_the_end() {
        let mut s = Sniffer::default();
        s.feed(b"ab\xc3");
        s.feed(b"\xbccd\xe2\x82");
        let e = s.finish();
        assert_eq!((e.multibyte, e.invalid), (1, 2));
        assert_eq!(evidence(b"a\0b").nul_at, Some(1));
        assert_eq!(evidence(b"\xef\xbb\xbfabc").multibyte, 1);
    }

    /// The definition before the ASCII skip: `from_utf8` over the whole input,
    /// restarted after each invalid stretch, lead bytes counted in the valid parts.
    fn evidence_by_definition(bytes: &[u8]) -> (u64, u64) {
        let (mut multibyte, mut invalid) = (0u64, 0u64);
        let mut rest = bytes;
        loop {
            match std::str::from_utf8(rest) {
                Ok(_) => {
                    multibyte += rest.iter().filter(|&&b| b >= 0xC0).count() as u64;
                    return (multibyte, invalid);
                }
                Err(e) => {
                    let (valid, after) = rest.split_at(e.valid_up_to());
                    multibyte += valid.iter().filter(|&&b| b >= 0xC0).count() as u64;
                    let n = e.error_len().unwrap_or(after.len());
                    invalid += n as u64;
                    rest = &after[n..];
                }
            }
        }
    }

    /// A sequence at every offset around [`BLOCK`]'s edges, in Windows-1252 text
    /// (a lone umlaut every few bytes) and in ASCII: the block that holds it, or
    /// whose last byte leads it, is counted byte by byte.
    #[test]
    fn a_sequence_anywhere_in_a_block_is_found() {
        let legacy: Vec<u8> = b"Stra\xdfe;L\xfcbeck;Geb\xfchr ".repeat(8);
        for filler in [legacy, vec![b'a'; 3 * BLOCK]] {
            for at in 0..=2 * BLOCK + 2 {
                for sequence in [
                    &b"\xc3\xbc"[..],
                    b"\xe2\x80\x93",
                    b"\xf0\x9f\x98\x80",
                    b"\xf4\x8f\xbf\xbf",
                    b"\xc3\x28",
                    b"\xe2\x80",
                ] {
                    let mut bytes = filler.clone();
                    bytes.splice(at..at, sequence.iter().copied());
                    let e = evidence(&bytes);
                    assert_eq!(
                        (e.multibyte, e.invalid),
                        evidence_by_definition(&bytes),
                        "{sequence:x?} at {at}"
                    );
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn the_sniff_counts_as_by_definition(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::num::u8::ANY,
                    proptest::sample::select(vec![
                        b'a', b';', 0xC2, 0xC3, 0xA4, 0xE0, 0xE2, 0xED, 0x80, 0x8F, 0x93, 0xA0, 0xF0,
                        0xF4, 0x9F, 0xBF, 0xEF, 0xBB,
                    ]),
                ],
                0..200,
            ),
            cuts in proptest::collection::vec(0usize..200, 0..4),
        ) {
            let mut sniffer = Sniffer::default();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort_unstable();
            let mut from = 0;
            for cut in cuts.into_iter().chain([bytes.len()]) {
                sniffer.feed(&bytes[from..cut]);
                from = cut;
            }
            let e = sniffer.finish();
            proptest::prop_assert_eq!((e.multibyte, e.invalid), evidence_by_definition(&bytes));
            proptest::prop_assert_eq!(e.nul_at, bytes.iter().position(|&b| b == 0).map(|i| i as u64));
            proptest::prop_assert_eq!(e.len, bytes.len() as u64);
        }
    }

    #[test]
    fn lines_and_whole_files() {
        assert_eq!(decode_line(b"ok \xfc", TextEncoding::Utf8), Err(4));
        assert_eq!(
            decode_line(b"L\xfcbeck", TextEncoding::Latin1).unwrap(),
            "Lübeck"
        );
        let (text, enc) = decode_all(b"\xef\xbb\xbfa;\xc3\xa4\nb;\xe4\n", Legacy::Windows1252);
        assert_eq!(
            (text.as_ref(), enc),
            ("a;ä\nb;\u{FFFD}\n", TextEncoding::Utf8)
        );
        let (text, enc) = decode_all(b"a;\xe4\n", Legacy::Windows1252);
        assert_eq!((text.as_ref(), enc), ("a;ä\n", TextEncoding::Windows1252));
    }
}
