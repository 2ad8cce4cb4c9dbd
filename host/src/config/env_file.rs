//! Env files: the `export KEY="value"` lines a Vault agent template writes
//! (or plain `KEY=value`), read into a function's settings.
//!
//! Hand-written rather than `dotenvy`: its parse errors quote the offending
//! line, and in an env file any line may be a secret.

/// Parses an env file: `export KEY="value"` lines (Vault agent templates) or
/// `KEY=value`; blank lines and `#` comments are skipped. Errors carry the
/// 1-based line number and what the line should look like, never any of
/// its text (a malformed line may be a secret with a typo in it).
pub(super) fn parse_env_file(text: &str) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut pairs = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line.strip_prefix("export ").map_or(line, str::trim_start);
        let Some((key, raw)) = line.split_once('=') else {
            return Err((
                line_no,
                "expected `KEY=value` or `export KEY=\"value\"`".into(),
            ));
        };
        let key = key.trim();
        if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err((
                line_no,
                "the text before `=` is not a variable name (letters, digits and `_`); \
                 write `KEY=value` or `export KEY=\"value\"`"
                    .into(),
            ));
        }
        let value = unquote(raw.trim())
            .ok_or_else(|| (line_no, "the value has an unterminated quote".to_owned()))?;
        pairs.push((key.to_owned(), value));
    }
    Ok(pairs)
}

/// Removes shell-style quotes: `"..."` with `\"`, `\\`, `\n` escapes, or
/// `'...'` taken literally; an unquoted value is taken as it is.
fn unquote(raw: &str) -> Option<String> {
    if let Some(inner) = raw.strip_prefix('\'') {
        return inner.strip_suffix('\'').map(str::to_owned);
    }
    let Some(inner) = raw.strip_prefix('"') else {
        return Some(raw.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next()? {
                'n' => out.push('\n'),
                other => out.push(other),
            },
            c => out.push(c),
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_vault_and_plain_lines() {
        let pairs =
            parse_env_file("# c\nexport A=\"x \\\"y\\\"\"\nB=2\nexport C='a b'\n\n").unwrap();
        assert_eq!(
            pairs,
            vec![
                ("A".to_owned(), "x \"y\"".to_owned()),
                ("B".to_owned(), "2".to_owned()),
                ("C".to_owned(), "a b".to_owned()),
            ]
        );
    }

    #[test]
    fn errors_carry_the_line_and_not_the_value() {
        let (line, message) = parse_env_file("A=1\nexport TOKEN=\"hunter2\n").unwrap_err();
        assert_eq!(line, 2);
        assert!(!message.contains("hunter2"), "{message}");
        assert_eq!(parse_env_file("not a pair").unwrap_err().0, 1);
    }

    #[test]
    fn a_malformed_line_is_reported_by_number_without_any_of_its_text() {
        // The probe's cases: a space instead of `=`, a YAML-style colon, a
        // dash in the name, a bad quote after a good name.
        let lines = [
            "export DSN postgres://app:PASS@db/app=x",
            "API_KEY: sk-live-PASS=abc",
            "MY-PASS=1",
            "export PASS_KEY=\"PASS",
        ];
        for line in lines {
            let (number, message) = parse_env_file(&format!("OK=1\n{line}\n")).unwrap_err();
            assert_eq!(number, 2, "{line}");
            for word in ["PASS", "postgres", "sk-live", "API_KEY", "DSN", "MY-"] {
                assert!(!message.contains(word), "{line}: {message}");
            }
        }
    }
}
