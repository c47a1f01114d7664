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
pub fn fold(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            // a combining diaeresis after a, o or u is the umlaut written in two
            // code points
            '\u{308}' if out.ends_with(['a', 'o', 'u']) => out.push('e'),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::fold;

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

    #[test]
    fn other_text_is_kept() {
        check("99019004031000", "99019004031000");
        check("Saint-Étienne", "saint-étienne");
        check("", "");
    }
}
