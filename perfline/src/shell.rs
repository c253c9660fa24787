//! Shell safety: quoting for every value that reaches a generated script, and the id check
//! that keeps test ids usable as file names and shell words.

/// Quotes `s` as one POSIX shell word. Safe words pass unchanged; anything else is wrapped in
/// single quotes (`'` becomes `'\''`). Newlines are kept literally inside the quotes.
/// NUL cannot be represented in a shell word and is rejected.
pub fn quote(s: &str) -> Result<String, String> {
    if s.contains('\0') {
        return Err("value contains a NUL byte".into());
    }
    let safe = !s.is_empty()
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-.,/:=+@%^".contains(&b))
        && !s.starts_with('=');
    if safe {
        Ok(s.to_string())
    } else {
        Ok(format!("'{}'", s.replace('\'', r"'\''")))
    }
}

/// [`quote`] for an element of a bash array literal `( … )`: a word holding a comma is quoted
/// even when it is safe, which tells shellcheck (SC2054) and readers that the comma does not
/// separate elements.
pub fn quote_array_word(s: &str) -> Result<String, String> {
    let word = quote(s)?;
    if s.contains(',') && !word.starts_with('\'') {
        Ok(format!("'{word}'"))
    } else {
        Ok(word)
    }
}

/// Quotes and joins words with spaces.
pub fn join<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> Result<String, String> {
    let quoted: Result<Vec<String>, String> =
        words.into_iter().map(|w| quote(w.as_ref())).collect();
    Ok(quoted?.join(" "))
}

/// The longest id accepted, in characters (upstream ids are under 120; a path component
/// must stay under 255 bytes with the suffixes perfline adds).
pub const MAX_ID_LEN: usize = 200;

/// Checks a test id (or any name that becomes a path component or a shell word): ASCII
/// letters, digits and `_ - . , + =` only; no `..`; not empty; at most [`MAX_ID_LEN`]
/// characters; no leading `-` or `.`.
pub fn check_id(id: &str) -> Result<(), String> {
    if id.is_empty() {
        return Err("empty id".into());
    }
    if id.len() > MAX_ID_LEN {
        return Err(format!("id is {} bytes long; at most {MAX_ID_LEN} allowed", id.len()));
    }
    if let Some(c) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || "_-.,+=".contains(*c))) {
        let what = match c {
            c if c.is_whitespace() => "whitespace".to_string(),
            '/' => "'/'".to_string(),
            c if c.is_control() => format!("control character U+{:04X}", c as u32),
            c => format!("character {c:?}"),
        };
        return Err(format!("id contains {what}; allowed: letters, digits and _ - . , + ="));
    }
    if id.contains("..") {
        return Err("id contains '..'".into());
    }
    if id.starts_with('-') || id.starts_with('.') {
        return Err("id must not start with '-' or '.'".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_needs_it() {
        assert_eq!(quote("aggr-x_y.yaml").unwrap(), "aggr-x_y.yaml");
        assert_eq!(quote("").unwrap(), "''");
        assert_eq!(quote("$(touch X)").unwrap(), "'$(touch X)'");
        assert_eq!(quote("it's").unwrap(), r"'it'\''s'");
        assert_eq!(quote("a\nb").unwrap(), "'a\nb'");
        assert_eq!(quote("`id`").unwrap(), "'`id`'");
        assert!(quote("a\0b").is_err());
        assert_eq!(join(["a b", "c"]).unwrap(), "'a b' c");
        assert_eq!(quote_array_word("a,b").unwrap(), "'a,b'");
        assert_eq!(quote_array_word("a b,'c").unwrap(), r"'a b,'\''c'");
        assert_eq!(quote_array_word("ab").unwrap(), "ab");
    }

    #[test]
    fn quoted_words_survive_a_real_shell() {
        let nasty =
            ["$(touch /tmp/perfline-pwned)", "`id`", "a'b\"c", "x\ny", "; rm -rf /", "$HOME", "*"];
        for s in nasty {
            let out = std::process::Command::new("bash")
                .arg("-c")
                .arg(format!("printf %s {}", quote(s).unwrap()))
                .output()
                .unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }

    #[test]
    fn rejects_unsafe_ids() {
        for bad in ["", "a b", "a/b", "a..b", "$(x)", "a;b", "a`b", "-rf", "a\tb", "a'b", "ä"] {
            assert!(check_id(bad).is_err(), "{bad:?} accepted");
        }
        for good in ["aggr_upload-deepseek_r1-r1_fp4,tp4", "disagg-e2e-x_ccb-UCX.yaml", "a=b+c"] {
            assert!(check_id(good).is_ok(), "{good:?} rejected");
        }
        assert!(check_id(&"a".repeat(MAX_ID_LEN)).is_ok());
        assert_eq!(
            check_id(&"a".repeat(10 << 20)).unwrap_err(),
            "id is 10485760 bytes long; at most 200 allowed"
        );
    }
}
