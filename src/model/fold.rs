//! The one folding of names for look-up and search, so that people find a
//! municipality or a service the way they type it: `GÖTTINGEN`, `Goettingen` and
//! `göttingen` are one name, `Strasse` and `Straße` one word. Pure; the store
//! registers it as the SQL function `fold` and folds the search index with it.
//!
//! Rules: Unicode lower-casing (which also turns `ẞ` into `ß`), then `ä ö ü` become
//! `ae oe ue` and `ß` becomes `ss`, whether typed as one letter or as a vowel with a
//! combining diaeresis (U+0308, as macOS file names and some PDFs carry them).
//! Nothing else is removed, so the folded text still reads as the name.

/// The folded form of `text` (see the module comment). Folding is idempotent.
///
/// Runs of ASCII (most of every German name) are copied and lower-cased in one go;
/// only the other characters take the per-character path, whose result is the same
/// as lower-casing every character by itself (a test pins it against that).
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    fold_into(&mut out, text);
    out
}

/// [`fold`] of `text` appended to `out`, for callers that build a longer text
/// around it (the search document) without a second allocation. What `out` held
/// before does not change how `text` folds.
pub fn fold_into(out: &mut String, text: &str) {
    let from = out.len();
    let mut rest = text;
    while !rest.is_empty() {
        let ascii = rest
            .bytes()
            .position(|b| !b.is_ascii())
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(ascii);
        let start = out.len();
        out.push_str(run);
        if let Some(appended) = out.get_mut(start..) {
            appended.make_ascii_lowercase();
        }
        let mut chars = tail.chars();
        match chars.next() {
            // The German letters of nearly every non-ASCII character in a name,
            // folded without Unicode's case tables (the same as below: a test pins
            // the whole function to the per-character definition).
            Some('ä' | 'Ä') => out.push_str("ae"),
            Some('ö' | 'Ö') => out.push_str("oe"),
            Some('ü' | 'Ü') => out.push_str("ue"),
            Some('ß' | 'ẞ') => out.push_str("ss"),
            Some(c) => {
                for c in c.to_lowercase() {
                    push_folded(out, from, c);
                }
            }
            None => {}
        }
        rest = chars.as_str();
    }
}

/// Appends one lower-cased character, folded; the folded text began at `from`.
fn push_folded(out: &mut String, from: usize, c: char) {
    match c {
        'ä' => out.push_str("ae"),
        'ö' => out.push_str("oe"),
        'ü' => out.push_str("ue"),
        'ß' => out.push_str("ss"),
        // a combining diaeresis after a, o or u is the umlaut written in two
        // code points
        '\u{308}' if out.len() > from && out.ends_with(['a', 'o', 'u']) => out.push('e'),
        c => out.push(c),
    }
}

/// [`fold`] for text a person typed to find something by name (`municipality
/// NAME`, `status set --ars NAME`): also drops combining marks, which no stored
/// name in the municipality directory carries. A Turkish keyboard in caps lock
/// types `İ`, which lower-cases to `i` + U+0307, so `İLSEDE` folded is `i̇lsede` and
/// matched no name. Only the typed side changes; [`fold`] itself, and with it the
/// search index (migration 0014) and the stored names it is compared with, stay as
/// they are. `search` drops the same marks from its query words for the same
/// reason.
pub fn fold_typed(text: &str) -> String {
    fold(text)
        .chars()
        .filter(|&c| !is_combining_mark(c))
        .collect()
}

/// Unicode's blocks of combining diacritical marks (the umlaut's U+0308 is already
/// folded to `e` after a, o, u by [`fold`]).
fn is_combining_mark(c: char) -> bool {
    matches!(
        c,
        '\u{300}'..='\u{36f}'
            | '\u{1ab0}'..='\u{1aff}'
            | '\u{1dc0}'..='\u{1dff}'
            | '\u{20d0}'..='\u{20ff}'
            | '\u{fe20}'..='\u{fe2f}'
    )
}

#[cfg(test)]
mod tests {
    use super::{fold, fold_typed};

    #[test]
    fn typed_text_loses_the_turkish_dot_and_other_marks() {
        assert_eq!(fold("İLSEDE"), "i\u{307}lsede");
        assert_eq!(fold_typed("İLSEDE"), "ilsede");
        assert_eq!(fold_typed("GÖTTİNGEN, STADT"), "goettingen, stadt");
        assert_eq!(fold_typed("Go\u{308}ttingen"), "goettingen");
        assert_eq!(fold_typed("E\u{301}tienne"), "etienne");
        assert_eq!(fold_typed("Bückeburg"), fold("Bückeburg"));
    }

    fn check(input: &str, expected: &str) {
        assert_eq!(fold(input), expected, "{input}");
        assert_eq!(
            fold(expected),
            expected,
            "folding is idempotent: {expected}"
        );
    }

    #[test]
    fn case_umlauts_and_sharp_s() {
        check("GÖTTINGEN", "goettingen");
        check("Goettingen", "goettingen");
        check("Göttingen, Stadt", "goettingen, stadt");
        check("Bückeburg", "bueckeburg");
        check("öhringen", "oehringen");
        check("ÄRGER", "aerger");
        check("Straße", "strasse");
        check("STRAẞE", "strasse");
        check("Bußgelder", "bussgelder");
        check("Müden (Aller)", "mueden (aller)");
    }

    #[test]
    fn a_combining_diaeresis_is_the_same_umlaut() {
        check("Mu\u{308}den", "mueden");
        check("Go\u{308}ttingen", "goettingen");
        // on another letter it is left alone
        check("e\u{308}", "e\u{308}");
    }

    /// The definition before the ASCII fast path: every character lower-cased by
    /// itself, then folded. The fast path must give the same text for any input.
    fn fold_per_char(text: &str) -> String {
        let mut out = String::new();
        for c in text.chars().flat_map(char::to_lowercase) {
            super::push_folded(&mut out, 0, c);
        }
        out
    }

    #[test]
    fn folding_into_text_folds_as_alone() {
        for (before, text) in [
            ("a", "\u{308}x"),
            ("", "\u{308}"),
            ("Mu", "\u{308}den"),
            ("x ", "ÖL"),
        ] {
            let mut out = before.to_owned();
            super::fold_into(&mut out, text);
            assert_eq!(
                out,
                format!("{before}{}", fold(text)),
                "{before:?} + {text:?}"
            );
        }
    }

    #[test]
    fn the_ascii_fast_path_folds_as_per_character() {
        for input in [
            "",
            "A",
            "\u{308}",
            "U\u{308}",
            "Straße Ärger ÖL Übel ẞ",
            "Wohnberechtigungsschein Ermäßigung – Wohnberechtigungsschein",
            "İstanbul ΣΊΣΥΦΟΣ Ǆemal",
            "GO\u{308}TTINGEN e\u{308} Mu\u{308}den",
            // Windows-1252's 0x80–0x9F as decoded: € ‚ ƒ „ … † ‡ ˆ ‰ Š ‹ Œ Ž ‘ ’ “ ” • – — ˜ ™ š › œ ž Ÿ
            "€‚ƒ„…†‡ˆ‰Š‹ŒŽ‘’“”•–—˜™š›œžŸ",
            "\u{FFFD}\"quoted\";;  \t\r\n",
            "99019004031000",
            "ÀÉÎÕÛ àéîõû ÅåØøÆæ",
        ] {
            assert_eq!(fold(input), fold_per_char(input), "{input:?}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_text_folds_as_per_character(input in "([a-zA-Z0-9 äöüÄÖÜßẞ\u{308}İΣ€–]|\\PC)*") {
            proptest::prop_assert_eq!(fold(&input), fold_per_char(&input));
        }
    }

    #[test]
    fn other_text_is_kept() {
        check("99019004031000", "99019004031000");
        check("Saint-Étienne", "saint-étienne");
        check("", "");
    }
}
