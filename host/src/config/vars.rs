//! `${VAR}` references in `wasmfn.toml` values, expanded from the host's
//! environment at load.

use super::KeyError;

/// The host environment `${VAR}`s expand from, and whether the files the
/// configuration names (`env_files`) are there to be read.
pub(super) struct Vars<'a> {
    env: &'a dyn Fn(&str) -> Option<String>,
    reads_files: bool,
}

impl<'a> Vars<'a> {
    /// Expands from `env` (the process environment, or a test's map).
    pub(super) fn new(env: &'a dyn Fn(&str) -> Option<String>) -> Vars<'a> {
        Vars {
            env,
            reads_files: true,
        }
    }

    /// For `wasmfn check`, away from the pod: expands from `env` but leaves
    /// `env_files` unread (Vault writes them in the pod, not here).
    pub(super) fn without_files(env: &'a dyn Fn(&str) -> Option<String>) -> Vars<'a> {
        Vars {
            env,
            reads_files: false,
        }
    }

    /// Whether `env_files` are read (see [`Self::without_files`]).
    pub(super) fn reads_files(&self) -> bool {
        self.reads_files
    }

    /// `value` with every `${VAR}` expanded; the error names `key` and the
    /// first unset variable. A `$` not followed by `{` is kept as it is.
    pub(super) fn expand(&self, key: &str, value: &str) -> Result<String, KeyError> {
        let mut out = String::with_capacity(value.len());
        let mut rest = value;
        while let Some((before, var, after)) = next_reference(rest) {
            let Some(expanded) = (self.env)(var) else {
                return Err(KeyError::new(
                    key,
                    format!(
                        "environment variable `{var}` is not set; set it in the Service's env or remove `${{{var}}}`"
                    ),
                ));
            };
            out.push_str(before);
            out.push_str(&expanded);
            rest = after;
        }
        out.push_str(rest);
        Ok(out)
    }

    /// The names of the variables `value` refers to, in order.
    pub(super) fn referenced(value: &str) -> Vec<&str> {
        let mut names = Vec::new();
        let mut rest = value;
        while let Some((_, var, after)) = next_reference(rest) {
            names.push(var);
            rest = after;
        }
        names
    }
}

/// The text before the first complete `${VAR}` in `text`, the name, and the
/// text after it.
fn next_reference(text: &str) -> Option<(&str, &str, &str)> {
    let start = text.find("${")?;
    let len = text[start + 2..].find('}')?;
    Some((
        &text[..start],
        &text[start + 2..start + 2 + len],
        &text[start + 3 + len..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(var: &str) -> Option<String> {
        (var == "BROKER_URL").then(|| "http://broker.example/ns/default".to_owned())
    }

    #[test]
    fn expands_with_text_around_and_keeps_literal_dollars() {
        let vars = Vars::new(&env);
        assert_eq!(
            vars.expand("k", "a-${BROKER_URL}-$x-${").unwrap(),
            "a-http://broker.example/ns/default-$x-${"
        );
        let err = vars.expand("sink", "${MISSING}").unwrap_err().to_string();
        assert!(
            err.contains("sink") && err.contains("`MISSING` is not set"),
            "{err}"
        );
        assert_eq!(Vars::referenced("${A}/x/${B}$c"), vec!["A", "B"]);
    }
}
