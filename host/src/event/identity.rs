//! An event's identity, (`source`, `id`), as one unambiguous string: the key
//! of the dedup window and the name the output ids are derived from.
//!
//! The two parts are joined by U+0000, and inside each part U+0000 and U+0001
//! are escaped (`\u{1}0`, `\u{1}1`), so distinct pairs never share a string —
//! (`a\0b`, `c`) and (`a`, `b\0c`) differ — even for pairs validation would
//! refuse. For every pair without those two characters (all valid events,
//! since CloudEvents strings exclude controls) the string is the plain
//! `source \0 id` wasmfn has always used, so output ids did not change.

/// Marks an escaped character inside a part.
const ESCAPE: char = '\u{1}';
/// Separates the parts.
const SEPARATOR: char = '\u{0}';

/// `source` and `id` as one string that no other pair maps to.
pub fn identity(source: &str, id: &str) -> String {
    let mut key = String::with_capacity(source.len() + id.len() + 1);
    push_escaped(&mut key, source);
    key.push(SEPARATOR);
    push_escaped(&mut key, id);
    key
}

fn push_escaped(key: &mut String, part: &str) {
    if !part.contains([SEPARATOR, ESCAPE]) {
        key.push_str(part);
        return;
    }
    for c in part.chars() {
        match c {
            SEPARATOR => key.push_str("\u{1}0"),
            ESCAPE => key.push_str("\u{1}1"),
            c => key.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_pairs_keep_the_historical_form() {
        assert_eq!(identity("/exchange", "42"), "/exchange\u{0}42");
    }

    #[test]
    fn pairs_that_joined_alike_now_differ() {
        assert_ne!(identity("a\u{0}b", "c"), identity("a", "b\u{0}c"));
        assert_ne!(identity("a\u{1}0", ""), identity("a\u{0}", ""));
        assert_ne!(identity("a", "bc"), identity("ab", "c"));
    }
}
