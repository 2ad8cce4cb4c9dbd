//! Reading a few fields of a JSON document without building its tree.
//!
//! What functions mostly do is JSON in, a few fields out. Parsing the whole
//! document into a [`Value`] and then looking fields up with
//! [`Value::pointer`] builds every string, number and map of it, and each
//! lookup allocates its unescaped tokens: for the transformer's 968-byte
//! trade that was ~115k of its ~200k instructions per event (callgrind,
//! issue 15). [`pointers`] walks the document once with `serde_json`'s own
//! parser and keeps only the values the pointers name: the rest is checked
//! exactly as a [`Value`] would check it (same parser, same number and
//! nesting limits), but never stored.
//!
//! Hand-written on `serde`'s visitor traits rather than a crate: what must
//! hold is byte-for-byte agreement with `serde_json::from_slice::<Value>`
//! followed by `pointer`, errors included, which only its own parser gives.

use std::borrow::Cow;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The value at each of `pointers` (JSON Pointers, RFC 6901, as
/// [`Value::pointer`] reads them) in the JSON document `data`, in the order
/// given; `None` where a pointer does not resolve.
///
/// The same as `serde_json::from_slice::<Value>(data)` and then
/// `value.pointer(p).cloned()` for each pointer — the same values, the same
/// errors — without building the document's tree.
pub fn pointers(data: &[u8], pointers: &[&str]) -> Result<Vec<Option<Value>>, serde_json::Error> {
    let parsed: Vec<Option<Vec<Cow<'_, str>>>> = pointers.iter().map(|p| tokens(p)).collect();
    let mut found = vec![None; pointers.len()];
    let active: Vec<usize> = (0..pointers.len())
        .filter(|&i| parsed[i].is_some())
        .collect();
    let root = Node {
        pointers: &parsed,
        active,
        depth: 0,
        found: &mut found,
    };
    // Valid UTF-8 checked once, as a whole: the `str` reader then skips the
    // per-string check `from_slice` makes (with the move of a found value
    // below: 296.4k -> 281.6k instructions per transformer event,
    // bench/results/instructions.md). Anything else goes the `from_slice`
    // way, so its errors are that parser's, position and all.
    match std::str::from_utf8(data) {
        Ok(text) => walk(root, serde_json::Deserializer::from_str(text))?,
        Err(_) => walk(root, serde_json::Deserializer::from_slice(data))?,
    }
    Ok(found)
}

/// Runs `root` over the whole document `de` reads.
fn walk<'de, R: serde_json::de::Read<'de>>(
    root: Node<'_, '_, '_>,
    mut de: serde_json::Deserializer<R>,
) -> Result<(), serde_json::Error> {
    root.deserialize(&mut de)?;
    de.end()
}

/// The unescaped reference tokens of `pointer`, as [`Value::pointer`] splits
/// them; `None` for a pointer that can never resolve (no leading `/`).
fn tokens(pointer: &str) -> Option<Vec<Cow<'_, str>>> {
    if pointer.is_empty() {
        return Some(Vec::new());
    }
    let rest = pointer.strip_prefix('/')?;
    Some(
        rest.split('/')
            .map(|token| match token.contains('~') {
                true => Cow::Owned(token.replace("~1", "/").replace("~0", "~")),
                false => Cow::Borrowed(token),
            })
            .collect(),
    )
}

/// An array index as [`Value::pointer`] reads one: no sign, no leading zero.
fn index(token: &str) -> Option<usize> {
    if token.starts_with('+') || (token.starts_with('0') && token.len() != 1) {
        return None;
    }
    token.parse().ok()
}

/// The value of `value` at `tokens`, as [`Value::pointer`] resolves them.
fn resolve<'v>(value: &'v Value, tokens: &[Cow<'_, str>]) -> Option<&'v Value> {
    tokens.iter().try_fold(value, |target, token| match target {
        Value::Object(map) => map.get(token.as_ref()),
        Value::Array(list) => index(token).and_then(|i| list.get(i)),
        _ => None,
    })
}

/// One node of the document, at `depth`, on the path of the `active`
/// pointers (their first `depth` tokens lead here).
struct Node<'p, 'f, 't> {
    pointers: &'p [Option<Vec<Cow<'t, str>>>],
    active: Vec<usize>,
    depth: usize,
    found: &'f mut [Option<Value>],
}

impl Node<'_, '_, '_> {
    fn tokens(&self, pointer: usize) -> &[Cow<'_, str>] {
        self.pointers[pointer].as_deref().unwrap_or_default()
    }

    /// The active pointers whose next token is `key` (an object member).
    fn member(&self, key: &str) -> Vec<usize> {
        let depth = self.depth;
        self.active
            .iter()
            .copied()
            .filter(|&p| self.tokens(p).get(depth).is_some_and(|t| t == key))
            .collect()
    }

    /// The active pointers whose next token is array index `i`.
    fn element(&self, i: usize) -> Vec<usize> {
        let depth = self.depth;
        self.active
            .iter()
            .copied()
            .filter(|&p| {
                self.tokens(p)
                    .get(depth)
                    .is_some_and(|t| index(t) == Some(i))
            })
            .collect()
    }

    fn child(&mut self, active: Vec<usize>) -> Node<'_, '_, '_> {
        Node {
            pointers: self.pointers,
            active,
            depth: self.depth + 1,
            found: self.found,
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_, '_, '_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        // A later duplicate of a member replaces an earlier one, as in a
        // `Value`'s map: forget what an earlier visit found.
        for &p in &self.active {
            self.found[p] = None;
        }
        let depth = self.depth;
        if self.active.iter().any(|&p| self.tokens(p).len() == depth) {
            // A pointer names this node: keep it whole, and find the
            // deeper pointers in it.
            let value = <Value as serde::Deserialize>::deserialize(deserializer)?;
            if let [p] = self.active[..]
                && self.tokens(p).len() == depth
            {
                // The one pointer here names this node: it takes the value
                // itself rather than a copy.
                self.found[p] = Some(value);
                return Ok(());
            }
            for &p in &self.active {
                self.found[p] = resolve(&value, &self.tokens(p)[depth..]).cloned();
            }
            return Ok(());
        }
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_none<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            let on_path = self.element(i);
            let more = if on_path.is_empty() {
                seq.next_element::<IgnoredValue>()?.is_some()
            } else {
                seq.next_element_seed(self.child(on_path))?.is_some()
            };
            if !more {
                return Ok(());
            }
            i += 1;
        }
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(on_path) = map.next_key_seed(Key { node: &self })? {
            if on_path.is_empty() {
                map.next_value::<IgnoredValue>()?;
            } else {
                map.next_value_seed(self.child(on_path))?;
            }
        }
        Ok(())
    }
}

/// An object member's name, read as a [`Value`] reads it (a string);
/// yields the active pointers it leads on to.
struct Key<'n, 'p, 'f, 't> {
    node: &'n Node<'p, 'f, 't>,
}

impl<'de> DeserializeSeed<'de> for Key<'_, '_, '_, '_> {
    type Value = Vec<usize>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<usize>, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_, '_, '_, '_> {
    type Value = Vec<usize>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E>(self, key: &str) -> Result<Vec<usize>, E> {
        Ok(self.node.member(key))
    }
}

/// A value off every pointer's path: parsed and checked as a [`Value`]
/// would be (numbers, strings, nesting), never stored.
struct IgnoredValue;

impl<'de> serde::Deserialize<'de> for IgnoredValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IgnoredVisitor)
    }
}

struct IgnoredVisitor;

impl<'de> Visitor<'de> for IgnoredVisitor {
    type Value = IgnoredValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<IgnoredValue, E> {
        Ok(IgnoredValue)
    }

    fn visit_i64<E>(self, _: i64) -> Result<IgnoredValue, E> {
        Ok(IgnoredValue)
    }

    fn visit_u64<E>(self, _: u64) -> Result<IgnoredValue, E> {
        Ok(IgnoredValue)
    }

    fn visit_f64<E>(self, _: f64) -> Result<IgnoredValue, E> {
        Ok(IgnoredValue)
    }

    fn visit_str<E>(self, _: &str) -> Result<IgnoredValue, E> {
        Ok(IgnoredValue)
    }

    fn visit_unit<E>(self) -> Result<IgnoredValue, E> {
        Ok(IgnoredValue)
    }

    fn visit_none<E>(self) -> Result<IgnoredValue, E> {
        Ok(IgnoredValue)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<IgnoredValue, A::Error> {
        while seq.next_element::<IgnoredValue>()?.is_some() {}
        Ok(IgnoredValue)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<IgnoredValue, A::Error> {
        while map.next_key_seed(IgnoredKey)?.is_some() {
            map.next_value::<IgnoredValue>()?;
        }
        Ok(IgnoredValue)
    }
}

/// A member name off every pointer's path, read as a string.
struct IgnoredKey;

impl<'de> DeserializeSeed<'de> for IgnoredKey {
    type Value = IgnoredAny;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<IgnoredAny, D::Error> {
        deserializer.deserialize_str(IgnoredAny)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What [`pointers`] must equal: the whole tree, then `pointer`.
    fn by_tree(data: &[u8], ptrs: &[&str]) -> Result<Vec<Option<Value>>, String> {
        let value: Value = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        Ok(ptrs.iter().map(|p| value.pointer(p).cloned()).collect())
    }

    fn agree(data: &str, ptrs: &[&str]) {
        let fast = pointers(data.as_bytes(), ptrs).map_err(|e| e.to_string());
        assert_eq!(fast, by_tree(data.as_bytes(), ptrs), "{data} {ptrs:?}");
    }

    const POINTERS: &[&str] = &[
        "/id",
        "/px",
        "/meta/venue",
        "/meta",
        "/list/0",
        "/list/1/a",
        "/list/01",
        "/list/+1",
        "/list/-1",
        "/a~1b",
        "/m~0n",
        "/~01",
        "",
        "/",
        "no-slash",
        "/meta/venue/deeper",
        "/id",
        "/esc\"aped",
        "/é",
    ];

    #[test]
    fn values_agree_with_the_tree() {
        for data in [
            r#"{"id": "T-1", "px": 101.50, "meta": {"venue": "LME"}}"#,
            r#"{"id": 42, "px": -0.5e3, "meta": {"venue": null, "x": [1, {"y": 2}]}}"#,
            r#"{"id": "a", "id": "b", "meta": {"venue": 1}, "meta": 5}"#,
            r#"{"meta": 5, "meta": {"venue": "later"}}"#,
            r#"{"list": [10, {"a": "\u00e9\n"}, 3], "a/b": 1, "m~n": 2, "~1": 3}"#,
            r#"{"": "empty key", "esc\"aped": true, "\u00e9": "é", "big": 18446744073709551615, "neg": -9223372036854775808}"#,
            r#"[1, 2, 3]"#,
            r#""just a string""#,
            r#"  {"id" : "spaced" }  "#,
            r#"{"id": 1e-7, "px": 12345678901234567890123, "meta": {}}"#,
        ] {
            agree(data, POINTERS);
            // Without the empty pointer, which keeps the whole document.
            let no_root: Vec<&str> = POINTERS.iter().copied().filter(|p| !p.is_empty()).collect();
            agree(data, &no_root);
        }
    }

    #[test]
    fn errors_agree_with_the_tree() {
        let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
        let deep_off_path = format!(
            r#"{{"id": 1, "x": {}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        for data in [
            "not json",
            "",
            r#"{"id": 1} trailing"#,
            r#"{"id": 1e400}"#,
            r#"{"x": 1e400, "id": 1}"#,
            r#"{"x": "\ud800", "id": 1}"#,
            r#"{"x": "\q", "id": 1}"#,
            "{\"x\": \"a\u{1}b\", \"id\": 1}",
            r#"{"x": [1, 2,], "id": 1}"#,
            r#"{"id": 1,}"#,
            r#"{"id" 1}"#,
            r#"{"x": "café ☕ \u00e9", "id": "é"}"#,
            &deep,
            &deep_off_path,
        ] {
            agree(data, &["/id", "/x/0"]);
        }
        let invalid_utf8 = b"{\"x\": \"\xff\", \"id\": 1}";
        assert_eq!(
            pointers(invalid_utf8, &["/id"]).map_err(|e| e.to_string()),
            by_tree(invalid_utf8, &["/id"])
        );
    }
}
