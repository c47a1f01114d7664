//! XZuFi 2.2.0 XML (namespace `http://xoev.de/schemata/xzufi/2_2_0`): transfer
//! messages (`nachrichtenkopf`, then `schreibe/leistung`, other `schreibe` classes, and
//! `loesche`) and single-service exports (root `leistung`), read as a stream of events
//! with quick-xml so memory does not grow with the document.
//!
//! Only what a [`ServiceRecord`] holds is taken from a `leistung`: the LeiKa key
//! (`referenzLeiKa/code`), the German texts of the modules 02 Leistungsbezeichnung,
//! 03 Leistungsname and 05 Kurztext, `typisierung/code`, the change time and the
//! Verrichtung. A `loesche` of a leistung that names its LeiKa key becomes a
//! retirement. Elements are matched by local name: XÖV code types carry their `code`
//! child in no namespace, and producers differ in prefixes. The namespace is checked
//! once, on the root.
//!
//! The parser never resolves DTDs or entities (a DOCTYPE fails the payload, only the
//! five predefined entities and character references are expanded) and bounds the
//! nesting depth and the size of a single XML node, so hostile input cannot make it
//! allocate without limit.

use std::collections::{HashMap, VecDeque};
use std::io::{self, BufRead};

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::NsReader;

use super::{unknown_typisierung, Change, Item, Items, ParseError, Queued, Reject, Step};
use crate::model::{leistungstyp_of, Leistungsschluessel, ServiceRecord, LEIKA_URN_PREFIX};

/// The name of the format in `ParseError::NotFormat`.
pub(super) const EXPECTED: &str = "XZuFi 2.2.0";

pub const XZUFI_NAMESPACE: &str = "http://xoev.de/schemata/xzufi/2_2_0";

/// Deeper nesting than this is not XZuFi but an attack on the stack or the heap.
pub const MAX_DEPTH: usize = 256;

/// One XML node (a text, a tag with its attributes) larger than this fails the payload.
pub const MAX_NODE_BYTES: u64 = 16 * 1024 * 1024;

/// Collected text per captured element is cut here; the fields we take are short.
const MAX_TEXT_BYTES: usize = 64 * 1024;

/// Repeated codes (`referenzLeiKa`, `typisierung`) kept per object; real services have
/// a handful, so more is noise that must not grow memory.
const MAX_CODES: usize = 64;

/// Text modules (`leikaTextmodul/code`) that the record uses.
const MODUL_BEZEICHNUNG: &str = "02";
const MODUL_NAME: &str = "03";
const MODUL_KURZTEXT: &str = "05";

/// Parses an XZuFi 2.2.0 document. The first item is `Err(NotFormat)` when the root
/// is not XZuFi 2.2.0; malformed or truncated XML ends the items with `Err(NotFormat)`.
pub fn parse<'a, R: BufRead + 'a>(input: R) -> Result<Items<'a, ServiceRecord>, ParseError> {
    let mut reader = NsReader::from_reader(Counting::new(input));
    // Producers indent; texts are trimmed where they are used.
    reader.config_mut().trim_text(false);
    Ok(Box::new(Queued::new(Parser {
        reader,
        buf: Vec::new(),
        stack: Vec::new(),
        mode: Mode::BeforeRoot,
        current: None,
        capture: None,
        record_no: 0,
        kept: HashMap::new(),
        pending: VecDeque::new(),
    })))
}

/// Where in the document the parser is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    BeforeRoot,
    /// Root `leistung`: the document is one service.
    Single,
    /// Any other XZuFi root: a transfer message.
    Transfer,
    AfterRoot,
}

/// The object (a `leistung` or `loesche` element) being read.
struct Current {
    /// Index of the object's element in the stack.
    depth: usize,
    object: Object,
}

enum Object {
    Leistung(Box<LeistungDraft>),
    Loesche(LoescheDraft),
}

/// A text being collected, finished when its element (at `depth`) ends.
struct Capture {
    depth: usize,
    target: Target,
    text: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Id,
    LeiKa,
    /// Not a text: a `modulText` begins.
    Modul,
    ModulCode,
    Inhalt,
    Typisierung,
    Geaendert,
    Verrichtung,
    Verrichtungsdetail,
}

#[derive(Debug, Default)]
struct LeistungDraft {
    id: Identifier,
    leika: Vec<String>,
    /// German texts of the modules 02, 03, 05 in document order, `(code, text)`.
    texts: Vec<(String, String)>,
    modul: Option<ModulDraft>,
    typisierung: Vec<String>,
    geaendert: Option<String>,
    verrichtung: Option<String>,
    verrichtungsdetail: Option<String>,
}

#[derive(Debug, Default)]
struct ModulDraft {
    code: Option<String>,
    inhalt: Option<String>,
}

#[derive(Debug, Default)]
struct LoescheDraft {
    klasse: Option<String>,
    id: Identifier,
    leika: Vec<String>,
}

/// `id[@schemeAgencyID]`: IDs are unique only together with the agency.
#[derive(Debug, Default)]
struct Identifier {
    agency: Option<String>,
    id: Option<String>,
}

impl Identifier {
    fn describe(&self) -> String {
        match (&self.agency, &self.id) {
            (Some(agency), Some(id)) => format!("{agency}/{id}"),
            (None, Some(id)) => id.clone(),
            (Some(agency), None) => format!("{agency}/?"),
            (None, None) => "none".to_owned(),
        }
    }
}

struct Parser<R: BufRead> {
    reader: NsReader<Counting<R>>,
    buf: Vec<u8>,
    /// Local names of the open elements, root first.
    stack: Vec<String>,
    mode: Mode,
    current: Option<Current>,
    capture: Option<Capture>,
    /// Counts `leistung` and `loesche` elements in document order.
    record_no: usize,
    /// Leistungsschlüssel already given a record in this payload → that record's
    /// position (see [`Parser::finish`]).
    kept: HashMap<String, String>,
    pending: VecDeque<Item<ServiceRecord>>,
}

impl<R: BufRead> Step for Parser<R> {
    type Record = ServiceRecord;

    fn pending(&mut self) -> &mut VecDeque<Item<ServiceRecord>> {
        &mut self.pending
    }

    fn step(&mut self) -> Result<bool, ParseError> {
        let mut buf = std::mem::take(&mut self.buf);
        buf.clear();
        let step = self.event(&mut buf);
        self.buf = buf;
        step
    }
}

impl<R: BufRead> Parser<R> {
    /// Reads and handles one event; `Ok(false)` at the regular end of the document.
    fn event(&mut self, buf: &mut Vec<u8>) -> Result<bool, ParseError> {
        self.reader.get_mut().mark_node_start();
        let (namespace, event) = match self.reader.read_resolved_event_into(buf) {
            Ok((ns, event)) => (owned_namespace(ns), event),
            Err(e) => return Err(self.xml_error(e)),
        };
        match event {
            Event::Start(e) => self.start(&e, namespace)?,
            Event::Empty(e) => {
                self.start(&e, namespace)?;
                self.end()?;
            }
            Event::End(_) => self.end()?,
            Event::Text(t) => {
                if self.capture.is_some() {
                    let text = t.xml_content().map_err(|e| self.error(format!("text is not UTF-8: {e}")))?;
                    self.push_text(&text);
                }
            }
            Event::CData(c) => {
                if self.capture.is_some() {
                    let text = c.xml_content().map_err(|e| self.error(format!("CDATA is not UTF-8: {e}")))?;
                    self.push_text(&text);
                }
            }
            Event::GeneralRef(r) => {
                let text = match r.resolve_char_ref() {
                    Ok(Some(c)) => c.to_string(),
                    Ok(None) => {
                        let name = String::from_utf8_lossy(&r).into_owned();
                        match quick_xml::escape::resolve_predefined_entity(&name) {
                            Some(s) => s.to_owned(),
                            None => {
                                return Err(self.error(format!(
                                    "undefined entity &{name}; (entities other than the five predefined ones are never resolved)"
                                )))
                            }
                        }
                    }
                    Err(e) => return Err(self.error(format!("bad character reference: {e}"))),
                };
                self.push_text(&text);
            }
            Event::DocType(_) => {
                return Err(self.error(
                    "DOCTYPE not allowed: XZuFi documents have none, and DTDs and entities are never resolved",
                ))
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::Eof => return self.eof().map(|()| false),
        }
        Ok(true)
    }

    fn start(&mut self, e: &BytesStart<'_>, namespace: Option<String>) -> Result<(), ParseError> {
        let name = String::from_utf8_lossy(e.local_name().as_ref()).into_owned();
        if self.stack.len() >= MAX_DEPTH {
            return Err(self.error(format!("elements nest deeper than {MAX_DEPTH} levels")));
        }
        self.stack.push(name);

        match self.mode {
            Mode::BeforeRoot => return self.root(e, namespace),
            Mode::AfterRoot => {
                return Err(self.error("a second root element after the end of the document"))
            }
            Mode::Single | Mode::Transfer => {}
        }

        let Some(current) = &self.current else {
            // Outside any object: only the transfer message's objects matter.
            if self.mode == Mode::Transfer {
                let depth = self.stack.len() - 1;
                let path: Vec<&str> = self.stack.iter().skip(1).map(String::as_str).collect();
                match path.as_slice() {
                    ["schreibe", "leistung"] => self.begin(depth, Object::Leistung(Box::default())),
                    ["loesche"] => {
                        let klasse =
                            attribute(e, "klasse", &self.reader).map_err(|m| self.error(m))?;
                        self.begin(
                            depth,
                            Object::Loesche(LoescheDraft {
                                klasse,
                                ..LoescheDraft::default()
                            }),
                        );
                    }
                    _ => {}
                }
            }
            return Ok(());
        };

        let depth = self.stack.len() - 1;
        let is_leistung = matches!(current.object, Object::Leistung(_));
        let path: Vec<&str> = self
            .stack
            .iter()
            .skip(current.depth + 1)
            .map(String::as_str)
            .collect();
        let target = match (is_leistung, path.as_slice()) {
            (_, ["id"]) => Some(Target::Id),
            (_, ["referenzLeiKa", "code"]) => Some(Target::LeiKa),
            (true, ["modulText"]) => Some(Target::Modul),
            (true, ["modulText", "leikaTextmodul", "code"]) => Some(Target::ModulCode),
            (true, ["modulText", "inhalt"]) => Some(Target::Inhalt),
            (true, ["typisierung", "code"]) => Some(Target::Typisierung),
            (true, ["versionsinformation", "geaendertDatumZeit"]) => Some(Target::Geaendert),
            (true, ["struktur", "verrichtung", "verrichtungLeiKa", "code"]) => {
                Some(Target::Verrichtung)
            }
            (true, ["struktur", "verrichtungsdetail"]) => Some(Target::Verrichtungsdetail),
            _ => None,
        };
        let Some(target) = target else {
            return Ok(());
        };
        let target = match target {
            Target::Id => {
                let agency =
                    attribute(e, "schemeAgencyID", &self.reader).map_err(|m| self.error(m))?;
                match self.current.as_mut().map(|c| &mut c.object) {
                    Some(Object::Leistung(draft)) => draft.id.agency = agency,
                    Some(Object::Loesche(draft)) => draft.id.agency = agency,
                    None => {}
                }
                Some(Target::Id)
            }
            Target::Modul => {
                if let Some(Object::Leistung(draft)) = self.current.as_mut().map(|c| &mut c.object)
                {
                    draft.modul = Some(ModulDraft::default());
                }
                None
            }
            Target::Inhalt | Target::Verrichtungsdetail => {
                let lang = attribute(e, "languageCode", &self.reader).map_err(|m| self.error(m))?;
                is_german(lang.as_deref()).then_some(target)
            }
            other => Some(other),
        };
        if let Some(target) = target {
            self.capture = Some(Capture {
                depth,
                target,
                text: String::new(),
            });
        }
        Ok(())
    }

    /// Checks the root element and picks the mode.
    fn root(&mut self, e: &BytesStart<'_>, namespace: Option<String>) -> Result<(), ParseError> {
        let name = self.stack.first().cloned().unwrap_or_default();
        match namespace.as_deref() {
            Some(XZUFI_NAMESPACE) => {}
            Some(ns) if ns.starts_with("http://xoev.de/schemata/xzufi/") => {
                return Err(self.error(format!(
                    "root element <{name}> is in the namespace {ns}, another XZuFi version; expected {XZUFI_NAMESPACE} (XZuFi 2.2.0)"
                )))
            }
            Some(ns) => {
                return Err(self.error(format!(
                    "root element <{name}> is in the namespace {ns}; expected {XZUFI_NAMESPACE} (XZuFi 2.2.0)"
                )))
            }
            None => {
                return Err(self.error(format!(
                    "root element <{name}> has no namespace; expected {XZUFI_NAMESPACE} (XZuFi 2.2.0)"
                )))
            }
        }
        let version = attribute(e, "xzufiVersion", &self.reader).map_err(|m| self.error(m))?;
        if let Some(version) = version {
            if version != "2.2.0" && version != "2.2" {
                return Err(self.error(format!("xzufiVersion is {version}; expected 2.2.0")));
            }
        }
        if name == "leistung" {
            self.mode = Mode::Single;
            self.begin(0, Object::Leistung(Box::default()));
        } else {
            self.mode = Mode::Transfer;
        }
        Ok(())
    }

    fn begin(&mut self, depth: usize, object: Object) {
        self.record_no += 1;
        self.current = Some(Current { depth, object });
    }

    fn push_text(&mut self, text: &str) {
        if let Some(capture) = &mut self.capture {
            let room = MAX_TEXT_BYTES.saturating_sub(capture.text.len());
            // Cut at a character boundary.
            let cut = text
                .char_indices()
                .map(|(i, c)| i + c.len_utf8())
                .take_while(|&end| end <= room)
                .last()
                .unwrap_or(0);
            capture.text.push_str(text.get(..cut).unwrap_or_default());
        }
    }

    fn end(&mut self) -> Result<(), ParseError> {
        let depth = self.stack.len().saturating_sub(1);
        if self.capture.as_ref().is_some_and(|c| c.depth == depth) {
            if let (Some(capture), Some(current)) = (self.capture.take(), &mut self.current) {
                store(
                    &mut current.object,
                    capture.target,
                    capture.text.trim().to_owned(),
                );
            }
        }
        if let Some(current) = &mut self.current {
            if depth == current.depth + 1 && self.stack.last().is_some_and(|n| n == "modulText") {
                if let Object::Leistung(draft) = &mut current.object {
                    finish_modul(draft);
                }
            }
        }
        if self.current.as_ref().is_some_and(|c| c.depth == depth) {
            if let Some(current) = self.current.take() {
                self.finish(current.object);
            }
        }
        self.stack.pop();
        if self.stack.is_empty() {
            self.mode = Mode::AfterRoot;
        }
        Ok(())
    }

    /// Turns a finished object into items.
    fn finish(&mut self, object: Object) {
        let n = self.record_no;
        match object {
            Object::Leistung(draft) => {
                let position = format!("record {n} (leistung id={})", draft.id.describe());
                let items = leistung_items(position.clone(), *draft);
                let key = items.iter().find_map(|item| match item {
                    Item::Record {
                        change: Change::Upsert(r),
                        ..
                    } => Some(r.leistungsschluessel.clone()),
                    _ => None,
                });
                // Real transfer messages carry one `leistung` per region or
                // specialization under the same Leistungsschlüssel. A release holds
                // one service per key: the first object in the document is kept (the
                // fields ozgsync reads do not say which object is the federal one),
                // each further one is a warning naming it, not a reject.
                match key.and_then(|k| self.kept.get(&k).map(|first| (k, first.clone()))) {
                    Some((key, first)) => self.pending.push_back(Item::Reject(Reject::warning(
                        position,
                        Some(key),
                        format!(
                            "another leistung object for this Leistungsschlüssel (a regional variant or specialization); \
                             the service is kept as in {first}, this object only counted"
                        ),
                    ))),
                    None => {
                        if let Some(Item::Record {
                            change: Change::Upsert(r),
                            ..
                        }) = items.first()
                        {
                            self.kept.insert(r.leistungsschluessel.clone(), position);
                        }
                        self.pending.extend(items);
                    }
                }
            }
            Object::Loesche(draft) => {
                let position = format!("record {n} (loesche id={})", draft.id.describe());
                self.pending.extend(loesche_item(position, draft));
            }
        }
    }

    fn eof(&mut self) -> Result<(), ParseError> {
        match self.mode {
            Mode::BeforeRoot => {
                Err(self.error("the document has no root element (empty or not XML)"))
            }
            Mode::AfterRoot => Ok(()),
            Mode::Single | Mode::Transfer => Err(self.error(format!(
                "the document ends inside <{}>: it is truncated",
                self.stack.join("/")
            ))),
        }
    }

    fn position(&self, byte: u64) -> String {
        format!("byte {byte}, line {}", self.reader.get_ref().line())
    }

    /// A payload error at the start of the current event.
    fn error(&self, reason: impl Into<String>) -> ParseError {
        let counting = self.reader.get_ref();
        ParseError::not_format(
            EXPECTED,
            format!("byte {}, line {}", counting.node_start, counting.node_line),
            reason,
        )
    }

    fn xml_error(&self, e: quick_xml::Error) -> ParseError {
        if let quick_xml::Error::Io(io) = &e {
            if io.get_ref().is_some_and(|inner| inner.is::<NodeTooLarge>()) {
                return ParseError::not_format(
                    EXPECTED,
                    self.position(self.reader.get_ref().node_start),
                    format!("an XML node is larger than {MAX_NODE_BYTES} bytes"),
                );
            }
            return ParseError::Io(io::Error::new(io.kind(), io.to_string()));
        }
        // Every syntax error but a bad `<!` is something left open at the end of input.
        if let quick_xml::Error::Syntax(syntax) = &e {
            if !matches!(syntax, quick_xml::errors::SyntaxError::InvalidBangMarkup) {
                return ParseError::not_format(
                    EXPECTED,
                    self.position(self.reader.error_position()),
                    format!("the document ends inside markup ({syntax}): it is truncated"),
                );
            }
        }
        ParseError::not_format(
            EXPECTED,
            self.position(self.reader.error_position()),
            format!("malformed XML: {e}"),
        )
    }
}

fn owned_namespace(ns: ResolveResult<'_>) -> Option<String> {
    match ns {
        ResolveResult::Bound(ns) => Some(String::from_utf8_lossy(ns.as_ref()).into_owned()),
        ResolveResult::Unbound | ResolveResult::Unknown(_) => None,
    }
}

/// The unescaped value of the attribute with the local name `name`.
fn attribute<R>(
    e: &BytesStart<'_>,
    name: &str,
    reader: &NsReader<R>,
) -> Result<Option<String>, String> {
    for attr in e.attributes() {
        let attr = attr.map_err(|err| format!("malformed attribute: {err}"))?;
        if attr.key.local_name().as_ref() == name.as_bytes() {
            let value = attr
                .decode_and_unescape_value(reader.decoder())
                .map_err(|err| format!("attribute {name}: {err}"))?;
            return Ok(Some(value.trim().to_owned()));
        }
    }
    Ok(None)
}

/// German texts: `languageCode` absent, `de` or `de-…`.
fn is_german(lang: Option<&str>) -> bool {
    match lang {
        None | Some("") => true,
        Some(lang) => {
            let lang = lang.to_ascii_lowercase();
            lang == "de" || lang.starts_with("de-")
        }
    }
}

fn store(object: &mut Object, target: Target, text: String) {
    match object {
        Object::Leistung(draft) => match target {
            Target::Id => draft.id.id = Some(text),
            Target::LeiKa => push_bounded(&mut draft.leika, text),
            Target::ModulCode => {
                if let Some(modul) = &mut draft.modul {
                    modul.code = Some(text);
                }
            }
            Target::Inhalt => {
                if let Some(modul) = &mut draft.modul {
                    if modul.inhalt.is_none() && !text.is_empty() {
                        modul.inhalt = Some(text);
                    }
                }
            }
            Target::Typisierung => {
                if !text.is_empty() {
                    push_bounded(&mut draft.typisierung, text)
                }
            }
            Target::Geaendert => draft.geaendert = Some(text),
            Target::Verrichtung => draft.verrichtung = Some(text),
            Target::Verrichtungsdetail => {
                if draft.verrichtungsdetail.is_none() && !text.is_empty() {
                    draft.verrichtungsdetail = Some(text);
                }
            }
            Target::Modul => {}
        },
        Object::Loesche(draft) => match target {
            Target::Id => draft.id.id = Some(text),
            Target::LeiKa => push_bounded(&mut draft.leika, text),
            _ => {}
        },
    }
}

fn push_bounded(codes: &mut Vec<String>, code: String) {
    if codes.len() < MAX_CODES {
        codes.push(code);
    }
}

/// Keeps the German text of a finished `modulText` if it is one of the modules used
/// and the first of its code.
fn finish_modul(draft: &mut LeistungDraft) {
    if let Some(ModulDraft {
        code: Some(code),
        inhalt: Some(inhalt),
    }) = draft.modul.take()
    {
        if [MODUL_BEZEICHNUNG, MODUL_NAME, MODUL_KURZTEXT].contains(&code.as_str())
            && !draft.texts.iter().any(|(c, _)| *c == code)
        {
            draft.texts.push((code, inhalt));
        }
    }
}

fn leistung_items(position: String, draft: LeistungDraft) -> Vec<Item<ServiceRecord>> {
    let mut items = Vec::new();
    let Some(first) = draft.leika.first() else {
        return vec![Item::Reject(Reject::reject(
            position,
            None,
            "the leistung has no referenzLeiKa/code (LeiKa key); it was skipped",
        ))];
    };
    // A LeiKa key as given in `referenzLeiKa/code`: bare or in URN form.
    let key = Leistungsschluessel::strip_urn(first);
    if !Leistungsschluessel::is_valid(key) {
        return vec![Item::Reject(
            Reject::reject(
                position,
                Some(key.to_owned()).filter(|k| !k.is_empty()),
                format!(
                    "referenzLeiKa/code '{first}' is not a 14-digit Leistungsschlüssel \
                     (bare or {LEIKA_URN_PREFIX}<key>); the leistung was skipped"
                ),
            )
            .with_raw(first),
        )];
    }
    let key_opt = Some(key.to_owned());

    let text = |code: &str| {
        draft
            .texts
            .iter()
            .find(|(c, _)| c == code)
            .map(|(_, t)| t.clone())
    };
    let (bezeichnung, bezeichnung2) = match (text(MODUL_BEZEICHNUNG), text(MODUL_NAME)) {
        (Some(b), name) => (b, name),
        (None, Some(name)) => (name, None),
        (None, None) => {
            return vec![Item::Reject(
                Reject::reject(
                    position,
                    key_opt,
                    "the leistung has no German Leistungsbezeichnung (modulText with leikaTextmodul 02) \
                     nor Leistungsname (03); it was skipped",
                )
                .key_checked(Leistungsschluessel::is_valid),
            )]
        }
    };

    let mut warnings = Vec::new();
    if !key.starts_with("99") {
        warnings.push(Reject::warning(
            position.clone(),
            key_opt.clone(),
            format!(
                "LeiKa key '{key}' does not start with 99 as LeiKa keys do; the service was kept"
            ),
        ));
    }
    let others: Vec<&str> = draft
        .leika
        .iter()
        .skip(1)
        .map(|c| Leistungsschluessel::strip_urn(c))
        .filter(|k| *k != key)
        .collect();
    if !others.is_empty() {
        warnings.push(
            Reject::warning(
                position.clone(),
                key_opt.clone(),
                format!(
                    "the leistung references more LeiKa keys ({}); only the first, {key}, is used",
                    others.join(", ")
                ),
            )
            .with_raw(draft.leika.join(", ")),
        );
    }
    if let Some(warning) = unknown_typisierung(
        &draft.typisierung,
        format!("{position}, typisierung"),
        "typisierung",
        key_opt.clone(),
    ) {
        warnings.push(warning.with_raw(draft.typisierung.join(", ")));
    }
    let veroeffentlicht = match draft.geaendert.as_deref().filter(|d| !d.is_empty()) {
        None => None,
        Some(raw) => {
            let parsed = parse_date_time(raw);
            if parsed.is_none() {
                warnings.push(
                    Reject::warning(
                        format!("{position}, geaendertDatumZeit"),
                        key_opt.clone(),
                        format!(
                            "versionsinformation/geaendertDatumZeit '{raw}' is not an xs:dateTime; \
                             the service was kept without a date"
                        ),
                    )
                    .with_raw(raw),
                );
            }
            parsed
        }
    };

    let record = ServiceRecord {
        leistungsschluessel: key.to_owned(),
        bezeichnung,
        bezeichnung2,
        leistungstyp: leistungstyp_of(key).to_owned(),
        typisierung: draft.typisierung,
        leistungsgruppierung: None,
        leistungskennung: None,
        verrichtung: draft.verrichtung.filter(|v| !v.is_empty()),
        verrichtungsdetail: draft.verrichtungsdetail,
        veroeffentlicht,
        besondere_merkmale: Vec::new(),
        synonyme: Vec::new(),
        kurztext: text(MODUL_KURZTEXT),
        ozg_ids: Vec::new(),
    };
    items.push(Item::Record {
        position,
        change: Change::Upsert(record),
    });
    items.extend(warnings.into_iter().map(Item::Reject));
    items
}

/// A `loesche` of a leistung that names its LeiKa key (in `referenzLeiKa/code` or as
/// an id in URN form) retires that key. PVOG sends many `loesche` of other classes
/// and of objects never seen: those are skipped without a reject.
fn loesche_item(position: String, draft: LoescheDraft) -> Option<Item<ServiceRecord>> {
    if !draft
        .klasse
        .as_deref()
        .is_some_and(|k| k.eq_ignore_ascii_case("leistung"))
    {
        return None;
    }
    let from_urn = draft
        .id
        .id
        .as_deref()
        .and_then(|id| id.trim().strip_prefix(LEIKA_URN_PREFIX))
        .map(str::trim);
    let raw = draft.leika.first().map(String::as_str).or(from_urn)?;
    let key = Leistungsschluessel::strip_urn(raw);
    if Leistungsschluessel::is_valid(key) {
        Some(Item::Record {
            position,
            change: Change::Retire {
                key: key.to_owned(),
            },
        })
    } else {
        Some(Item::Reject(
            Reject::reject(
                position,
                Some(key.to_owned()).filter(|k| !k.is_empty()),
                format!("loesche names the LeiKa key '{raw}', which is not a 14-digit Leistungsschlüssel; ignored"),
            )
            .with_raw(raw),
        ))
    }
}

/// An `xs:dateTime` (or `xs:date`) as `YYYY-MM-DDTHH:MM:SS`, the wall-clock time as
/// written (a zone offset is dropped, as the LeiKa CSV carries none).
fn parse_date_time(s: &str) -> Option<String> {
    const OUT: &str = "%Y-%m-%dT%H:%M:%S";
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.naive_local().format(OUT).to_string());
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f") {
        return Some(t.format(OUT).to_string());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.format(OUT).to_string())
}

/// Wraps the input to count lines for error positions and to bound the bytes one
/// XML node may take (quick-xml buffers a whole node).
struct Counting<R> {
    inner: R,
    consumed: u64,
    newlines: u64,
    /// `consumed` and the line when the current node began.
    node_start: u64,
    node_line: u64,
}

#[derive(Debug, thiserror::Error)]
#[error("an XML node is larger than {MAX_NODE_BYTES} bytes")]
struct NodeTooLarge;

impl<R> Counting<R> {
    fn new(inner: R) -> Self {
        Counting {
            inner,
            consumed: 0,
            newlines: 0,
            node_start: 0,
            node_line: 1,
        }
    }

    fn mark_node_start(&mut self) {
        self.node_start = self.consumed;
        self.node_line = self.line();
    }

    /// The 1-based line of the next unread byte.
    fn line(&self) -> u64 {
        self.newlines + 1
    }
}

impl<R: BufRead> io::Read for Counting<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(out.len());
        if let (Some(to), Some(from)) = (out.get_mut(..n), available.get(..n)) {
            to.copy_from_slice(from);
        }
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counting<R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.consumed.saturating_sub(self.node_start) > MAX_NODE_BYTES {
            return Err(io::Error::other(NodeTooLarge));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        // A BufRead hands out the same buffer again until it is consumed, so this
        // second look does no I/O.
        if let Ok(buffer) = self.inner.fill_buf() {
            let seen = buffer.get(..amt).unwrap_or(buffer);
            self.newlines += seen.iter().filter(|&&b| b == b'\n').count() as u64;
        }
        self.consumed += amt as u64;
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::test_support::{fixture, service};
    use crate::parse::Severity;

    const NS: &str = "xmlns=\"http://xoev.de/schemata/xzufi/2_2_0\"";

    /// Everything a document parses into, and the error that ended it, if any.
    #[derive(Debug, Default)]
    struct Parsed {
        upserts: Vec<(String, ServiceRecord)>,
        retired: Vec<(String, String)>,
        rejects: Vec<Reject>,
        warnings: Vec<Reject>,
        error: Option<ParseError>,
    }

    fn run(input: &[u8]) -> Parsed {
        let mut parsed = Parsed::default();
        for item in parse(input).unwrap() {
            match item {
                Ok(Item::Record {
                    position,
                    change: Change::Upsert(record),
                }) => parsed.upserts.push((position, record)),
                Ok(Item::Record {
                    position,
                    change: Change::Retire { key },
                }) => parsed.retired.push((position, key)),
                Ok(Item::Reject(r)) if r.severity == Severity::Warning => parsed.warnings.push(r),
                Ok(Item::Reject(r)) => parsed.rejects.push(r),
                Err(e) => {
                    assert!(parsed.error.is_none(), "items after an error");
                    parsed.error = Some(e);
                }
            }
        }
        parsed
    }

    fn ok(input: &[u8]) -> Parsed {
        let parsed = run(input);
        if let Some(e) = &parsed.error {
            panic!("{e}");
        }
        parsed
    }

    /// Asserts that `input` fails as NotFormat with `needle` in the reason and that the
    /// position contains `at`.
    fn check_not_format(input: &[u8], needle: &str, at: &str) {
        check_not_format_reader(input, needle, at)
    }

    fn check_not_format_reader(input: impl BufRead, needle: &str, at: &str) {
        match parse(input).unwrap().find_map(Result::err) {
            Some(ParseError::NotFormat {
                reason, position, ..
            }) => {
                assert!(
                    reason.contains(needle),
                    "reason {reason:?} lacks {needle:?}"
                );
                assert!(position.contains(at), "position {position:?} lacks {at:?}");
            }
            other => panic!("expected NotFormat, got {other:?}"),
        }
    }

    /// A single-service export with the given children.
    fn single(children: &str) -> Vec<u8> {
        format!("<leistung {NS} xzufiVersion=\"2.2.0\">{children}</leistung>").into_bytes()
    }

    fn modul(code: &str, inhalt: &str) -> String {
        format!(
            "<modulText><leikaTextmodul><code>{code}</code></leikaTextmodul>{inhalt}</modulText>"
        )
    }

    #[test]
    fn transfer_message() {
        let parsed = ok(&fixture("xzufi", "transfer.xml"));
        assert_eq!(parsed.upserts.len(), 4);
        assert_eq!(parsed.retired.len(), 2);
        assert_eq!(parsed.rejects.len(), 1);
        assert_eq!(parsed.warnings.len(), 1);

        assert_eq!(
            parsed.upserts[0],
            (
                "record 1 (leistung id=L100012/L100012.LB.1001)".to_owned(),
                ServiceRecord {
                    bezeichnung2: Some("Erlaubnis zur Einleitung von Abwasser beantragen".into()),
                    verrichtung: Some("001".into()),
                    veroeffentlicht: Some("2024-02-29T13:45:10".into()),
                    kurztext: Some(
                        "Wenn Sie Abwasser in ein Gewässer einleiten wollen, brauchen Sie eine Erlaubnis.".into()
                    ),
                    ..service("99012001001000", "Abwassereinleitung Erlaubnis Erteilung", &["2/3"])
                }
            )
        );
        assert_eq!(
            parsed.upserts[1],
            (
                "record 2 (leistung id=L100012/L100012.LB.1002)".to_owned(),
                ServiceRecord {
                    veroeffentlicht: Some("2023-11-20T09:00:00".into()),
                    ..service("99001001002000", "Abfallgebühr Festsetzung", &["5", "13"])
                }
            )
        );
        assert_eq!(
            parsed.upserts[2].1,
            ServiceRecord {
                verrichtung: Some("012".into()),
                verrichtungsdetail: Some("Vorausleistung".into()),
                veroeffentlicht: Some("2024-01-15T00:00:00".into()),
                ..service(
                    "99008001012011",
                    "Ausbildungsförderung & Vorausleistung <BAföG> Bewilligung–Antrag",
                    &["4a", "4b"]
                )
            }
        );
        assert_eq!(
            parsed.upserts[2].0,
            "record 4 (leistung id=S100003/S100003.4711)"
        );
        assert_eq!(
            parsed.upserts[3].1,
            ServiceRecord {
                veroeffentlicht: Some("2024-03-01T07:30:00".into()),
                ..service("99088026034000", "Abendrealschule Aufnahme", &["4"])
            }
        );

        let reject = &parsed.rejects[0];
        assert_eq!(
            reject.position,
            "record 3 (leistung id=L100012/L100012.LB.1003)"
        );
        assert_eq!(reject.key.as_deref(), Some("nicht im LeiKa"));
        assert!(
            reject.reason.contains("not a 14-digit Leistungsschlüssel"),
            "{}",
            reject.reason
        );

        let warning = &parsed.warnings[0];
        assert_eq!(
            warning.position,
            "record 2 (leistung id=L100012/L100012.LB.1002), typisierung"
        );
        assert!(warning.reason.contains("'13'"), "{}", warning.reason);
        assert_eq!(warning.raw.as_deref(), Some("5, 13"));

        assert_eq!(
            parsed.retired,
            vec![
                (
                    "record 6 (loesche id=L100012/L100012.LB.0999)".to_owned(),
                    "99135011000000".to_owned()
                ),
                (
                    "record 7 (loesche id=B100019/urn:de:fim:leika:leistung:99148018000000)"
                        .to_owned(),
                    "99148018000000".to_owned()
                ),
            ]
        );
    }

    #[test]
    fn single_export() {
        let parsed = ok(&fixture("xzufi", "single.xml"));
        assert_eq!(
            (
                parsed.rejects.len(),
                parsed.warnings.len(),
                parsed.retired.len()
            ),
            (0, 0, 0)
        );
        assert_eq!(
            parsed.upserts,
            vec![(
                "record 1 (leistung id=B100019/B100019.99050012104001)".to_owned(),
                ServiceRecord {
                    verrichtung: Some("104".into()),
                    veroeffentlicht: Some("2019-10-05T14:38:00".into()),
                    kurztext: Some("Sie melden ein Gewerbe in der Land- und Forstwirtschaft an.".into()),
                    ..service(
                        "99050012104001",
                        "Gewerbe Anmeldung Selbstständige Tätigkeit in der Land- und Forstwirtschaft",
                        &["2/3"]
                    )
                }
            )]
        );
    }

    #[test]
    fn broken_documents() {
        check_not_format(&fixture("xzufi", "truncated.xml"), "truncated", "line 39");
        let mut cut = fixture("xzufi", "single.xml");
        cut.truncate(cut.len() - "</leistung>\n".len());
        check_not_format(&cut, "ends inside <leistung>: it is truncated", "line 22");
        check_not_format(
            &fixture("xzufi", "doctype.xml"),
            "DOCTYPE not allowed",
            "line 2",
        );
        check_not_format(
            &fixture("xzufi", "wrong_namespace.xml"),
            "http://xoev.de/schemata/xzufi/2_2_0",
            "byte",
        );
        check_not_format(b"", "no root element", "byte 0");
        check_not_format(
            b"<html><body>503</body></html>",
            "has no namespace",
            "line 1",
        );
        check_not_format(b"<a xmlns=\"urn:other\"/>", "namespace urn:other", "line 1");
        check_not_format(
            format!("<leistung {NS} xzufiVersion=\"2.3.1\"/>").as_bytes(),
            "xzufiVersion is 2.3.1",
            "line 1",
        );
        check_not_format(&single("<id>1</referenzLeiKa>"), "malformed XML", "byte");
        check_not_format(
            &single("<id>&nbsp;</id>"),
            "undefined entity &nbsp;",
            "byte",
        );
    }

    #[test]
    fn content_after_the_root_is_malformed() {
        let mut input = single("");
        input.extend_from_slice(b"<leistung/>");
        let parsed = run(&input);
        assert!(parsed.error.is_some(), "{parsed:?}");
    }

    #[test]
    fn nesting_is_bounded() {
        let deep = format!(
            "{}{}",
            "<x>".repeat(MAX_DEPTH + 1),
            "</x>".repeat(MAX_DEPTH + 1)
        );
        check_not_format(&single(&deep), "nest deeper than 256", "byte");
        // Just inside the bound is fine.
        let ok_depth = format!(
            "{}{}",
            "<x>".repeat(MAX_DEPTH - 2),
            "</x>".repeat(MAX_DEPTH - 2)
        );
        assert!(run(&single(&ok_depth)).error.is_none());
    }

    #[test]
    fn the_first_item_is_the_error_for_other_documents() {
        let mut items =
            parse(&b"<?xml version=\"1.0\"?><rss version=\"2.0\"><channel/></rss>"[..]).unwrap();
        assert!(matches!(
            items.next(),
            Some(Err(ParseError::NotFormat { .. }))
        ));
        assert!(items.next().is_none());
    }

    #[test]
    fn a_leistung_without_bezeichnung_keeps_its_valid_key() {
        let name = modul("02", "<inhalt>Abfall</inhalt>");
        for (children, expected) in [
            (
                "<referenzLeiKa><code>99001001002000</code></referenzLeiKa>".to_owned(),
                "99001001002000 kept",
            ),
            (
                format!("<referenzLeiKa><code>9900100100200</code></referenzLeiKa>{name}"),
                "9900100100200",
            ),
            (name.clone(), "-"),
        ] {
            let got = crate::parse::reject_keys(parse(single(&children).as_slice()).unwrap());
            assert_eq!(got.len(), 1, "{children}: {got:?}");
            assert!(got[0].ends_with(expected), "{children}: {got:?}");
        }
    }

    /// `(children of a single leistung, expected outcome)`.
    #[test]
    fn leistung_variants() {
        let key = "<referenzLeiKa><code>99001001002000</code></referenzLeiKa>";
        let name = modul("02", "<inhalt>Abfall</inhalt>");
        for (children, expected) in [
            // No German text of 02 or 03.
            (
                format!("{key}{}", modul("02", "<inhalt languageCode=\"en\">Waste</inhalt>")),
                Err("no German Leistungsbezeichnung"),
            ),
            (format!("{key}{}", modul("05", "<inhalt>Kurz</inhalt>")), Err("no German Leistungsbezeichnung")),
            (name.clone(), Err("no referenzLeiKa/code")),
            (
                format!("<referenzLeiKa><code>urn:de:fim:leika:leistung:990010010020</code></referenzLeiKa>{name}"),
                Err("'urn:de:fim:leika:leistung:990010010020' is not a 14-digit"),
            ),
            (format!("{key}{name}"), Ok(service("99001001002000", "Abfall", &[]))),
            // The first German inhalt of a module counts; 03 becomes Bezeichnung2.
            (
                format!(
                    "{key}{}{}",
                    modul("02", "<inhalt languageCode=\"DE\">Abfall</inhalt><inhalt>Zweiter</inhalt>"),
                    modul("03", "<inhalt>Abfall entsorgen</inhalt>")
                ),
                Ok(ServiceRecord {
                    bezeichnung2: Some("Abfall entsorgen".into()),
                    ..service("99001001002000", "Abfall", &[])
                }),
            ),
            // An empty element is no text.
            (format!("{key}{name}<typisierung><code/></typisierung>"), Ok(service("99001001002000", "Abfall", &[]))),
        ] {
            let parsed = ok(&single(&children));
            match expected {
                Ok(record) => {
                    assert_eq!(parsed.rejects, vec![], "{children}");
                    assert_eq!(parsed.upserts[0].1, record, "{children}");
                }
                Err(reason) => {
                    assert_eq!(parsed.upserts.len(), 0, "{children}");
                    assert!(parsed.rejects[0].reason.contains(reason), "{children}: {}", parsed.rejects[0].reason);
                }
            }
        }
    }

    #[test]
    fn warnings_keep_the_record() {
        let parsed = ok(&single(&format!(
            "<referenzLeiKa><code>12001001002000</code></referenzLeiKa>\
             <referenzLeiKa><code>99001001003000</code></referenzLeiKa>{}\
             <versionsinformation><geaendertDatumZeit>gestern</geaendertDatumZeit></versionsinformation>",
            modul("02", "<inhalt>Abfall</inhalt>")
        )));
        assert_eq!(
            parsed.upserts[0].1,
            service("12001001002000", "Abfall", &[])
        );
        let reasons: Vec<&str> = parsed.warnings.iter().map(|w| w.reason.as_str()).collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(reasons[0].contains("does not start with 99"));
        assert!(reasons[1].contains("more LeiKa keys (99001001003000)"));
        assert!(reasons[2].contains("'gestern' is not an xs:dateTime"));
    }

    #[test]
    fn loesche_variants() {
        let transfer = |body: &str| format!("<t {NS}><schreibe/>{body}</t>").into_bytes();
        let parsed = ok(&transfer(
            "<loesche klasse=\"leistung\"><referenzLeiKa><code>99001001002000</code></referenzLeiKa></loesche>\
             <loesche klasse=\"Leistung\"><referenzLeiKa><code>kaputt</code></referenzLeiKa></loesche>\
             <loesche klasse=\"Leistung\"><id>99001001002000</id></loesche>\
             <loesche klasse=\"Onlinedienst\"><id>urn:de:fim:leika:leistung:99001001002000</id></loesche>\
             <loesche><id>urn:de:fim:leika:leistung:99001001002000</id></loesche>",
        ));
        assert_eq!(
            parsed.retired,
            vec![(
                "record 1 (loesche id=none)".to_owned(),
                "99001001002000".to_owned()
            )]
        );
        assert_eq!(parsed.rejects.len(), 1);
        assert_eq!(parsed.rejects[0].position, "record 2 (loesche id=none)");
    }

    #[test]
    fn oversized_nodes_fail() {
        let mut input = format!("<leistung {NS}><id>").into_bytes();
        input.resize(input.len() + MAX_NODE_BYTES as usize + 100_000, b'a');
        input.extend_from_slice(b"</id></leistung>");
        // A slice hands out all of itself at once; a real source comes in chunks.
        check_not_format_reader(
            std::io::BufReader::with_capacity(8192, &input[..]),
            "larger than",
            "byte 58, line 1",
        );
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        let long = "ü".repeat(40_000) + &"&amp;".repeat(1_000);
        let parsed = ok(&single(&format!(
            "<referenzLeiKa><code>99001001002000</code></referenzLeiKa>{}",
            modul("02", &format!("<inhalt>{long}</inhalt>"))
        )));
        let bezeichnung = &parsed.upserts[0].1.bezeichnung;
        assert_eq!(bezeichnung.len(), MAX_TEXT_BYTES);
        assert!(bezeichnung.chars().all(|c| c == 'ü'));
    }

    #[test]
    fn dates() {
        for (input, expected) in [
            ("2024-02-29T13:45:10", Some("2024-02-29T13:45:10")),
            ("2024-02-29T13:45:10.123", Some("2024-02-29T13:45:10")),
            ("2024-02-29T13:45:10+01:00", Some("2024-02-29T13:45:10")),
            ("2024-02-29T13:45:10Z", Some("2024-02-29T13:45:10")),
            ("2024-02-29", Some("2024-02-29T00:00:00")),
            ("29.02.2024", None),
            ("2023-02-29", None),
        ] {
            assert_eq!(parse_date_time(input).as_deref(), expected, "{input}");
        }
    }
}
