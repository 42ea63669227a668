//! Compose's variable interpolation: `${VAR}`, `${VAR:-default}`, `${VAR:?error}`, `$$`.

/// The result of interpolating one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Interpolated {
    /// The value with every variable replaced.
    pub text: String,
    /// Variables that were used but are not set (they became empty strings).
    pub unset: Vec<String>,
}

/// Replaces variables in `text` the way Compose does. `lookup` gives a variable's value.
///
/// ```
/// use holdfast_spec::interpolate::interpolate;
/// let env = |name: &str| (name == "TAG").then(|| "1.4".to_string());
/// let out = interpolate("bot:${TAG} ${MISSING:-x} $$HOME", &env).unwrap();
/// assert_eq!(out.text, "bot:1.4 x $HOME");
/// ```
pub fn interpolate(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Interpolated, String> {
    let mut out = Interpolated {
        text: String::with_capacity(text.len()),
        unset: Vec::new(),
    };
    let chars: Vec<char> = text.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c != '$' {
            out.text.push(c);
            i += 1;
            continue;
        }
        match chars.get(i + 1) {
            Some('$') => {
                out.text.push('$');
                i += 2;
            }
            Some('{') => {
                let start = i + 2;
                let mut depth = 1;
                let mut j = start;
                while j < chars.len() {
                    match chars[j] {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    j += 1;
                }
                if j >= chars.len() {
                    return Err(format!(
                        "`${{` without a closing `}}` in `{text}`; write `$${{` for a literal dollar sign"
                    ));
                }
                let inner: String = chars[start..j].iter().collect();
                braced(&inner, lookup, &mut out)?;
                i = j + 1;
            }
            Some(c) if c.is_ascii_alphabetic() || *c == '_' => {
                let mut j = i + 1;
                while j < chars.len() && (chars[j].is_ascii_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                let name: String = chars[i + 1..j].iter().collect();
                match lookup(&name) {
                    Some(v) => out.text.push_str(&v),
                    None => out.unset.push(name),
                }
                i = j;
            }
            _ => {
                out.text.push('$');
                i += 1;
            }
        }
    }
    Ok(out)
}

fn braced(
    inner: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
    out: &mut Interpolated,
) -> Result<(), String> {
    let name_len = inner
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(inner.len());
    let name = &inner[..name_len];
    if name.is_empty() || name.starts_with(|c: char| c.is_ascii_digit()) {
        return Err(format!("`${{{inner}}}` is not a valid variable reference"));
    }
    let op = &inner[name_len..];
    let value = lookup(name);
    let (colon, rest) = match op.strip_prefix(':') {
        Some(rest) => (true, rest),
        None => (false, op),
    };
    // With a colon, an empty value counts as unset.
    let set = match &value {
        Some(v) => !(colon && v.is_empty()),
        None => false,
    };
    let mut nested = |word: &str| -> Result<String, String> {
        let inner = interpolate(word, lookup)?;
        out.unset.extend(inner.unset);
        Ok(inner.text)
    };
    if op.is_empty() {
        match value {
            Some(v) => out.text.push_str(&v),
            None => out.unset.push(name.to_string()),
        }
        return Ok(());
    }
    let (kind, word) = rest.split_at(rest.chars().next().map_or(0, char::len_utf8));
    match kind {
        "-" => {
            let v = if set {
                value.unwrap_or_default()
            } else {
                nested(word)?
            };
            out.text.push_str(&v);
        }
        "+" => {
            if set {
                let v = nested(word)?;
                out.text.push_str(&v);
            }
        }
        "?" => {
            if !set {
                let msg = nested(word)?;
                let msg = if msg.is_empty() {
                    "required variable is not set".to_string()
                } else {
                    msg
                };
                return Err(format!("variable `{name}` is required: {msg}"));
            }
            out.text.push_str(&value.unwrap_or_default());
        }
        _ => {
            return Err(format!(
                "`${{{inner}}}` uses an operator Compose does not know; use `:-`, `-`, `:?`, `?`, `:+` or `+`"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "SET" => Some("v".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn run(s: &str) -> Result<String, String> {
        interpolate(s, &env).map(|i| i.text)
    }

    #[test]
    fn forms() {
        assert_eq!(run("a${SET}b").unwrap(), "avb");
        assert_eq!(run("$SET/x").unwrap(), "v/x");
        assert_eq!(run("${NOPE:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY-d}").unwrap(), "");
        assert_eq!(run("${SET:+alt}").unwrap(), "alt");
        assert_eq!(run("${NOPE:+alt}").unwrap(), "");
        assert_eq!(run("${NOPE:-${SET}}").unwrap(), "v");
        assert_eq!(run("$$SET").unwrap(), "$SET");
        assert_eq!(run("cost: 5$").unwrap(), "cost: 5$");
        assert!(run("${NOPE:?set NOPE}").unwrap_err().contains("set NOPE"));
        assert!(run("${OPEN").is_err());
        assert!(run("${A%%b}").is_err());
        assert_eq!(
            interpolate("${NOPE}", &env).unwrap().unset,
            vec!["NOPE".to_string()]
        );
    }
}
