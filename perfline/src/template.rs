//! The one template renderer: `{name}` placeholders expanded in a single pass over the
//! template. A value is inserted as the caller renders it (shell-quoted, URL text, …) and is
//! never scanned again, so a value that contains `{other}` or shell metacharacters stays the
//! literal text it was. Unknown placeholders and lone braces stay as written.

/// Expands each `{name}` of `template` whose name `value` knows; `name` is letters, digits and
/// `_`. Errors from `value` (e.g. a value that cannot be quoted) stop the rendering.
pub fn render<E>(
    template: &str,
    mut value: impl FnMut(&str) -> Result<Option<String>, E>,
) -> Result<String, E> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name_len = after.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'));
        match name_len {
            Some(n) if n > 0 && after[n..].starts_with('}') => {
                let name = &after[..n];
                match value(name)? {
                    Some(v) => out.push_str(&v),
                    None => {
                        out.push('{');
                        out.push_str(name);
                        out.push('}');
                    }
                }
                rest = &after[n + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    Ok(out)
}

/// [`render`] with a fixed table of already-rendered values.
pub fn render_with(template: &str, values: &[(&str, &str)]) -> String {
    let r: Result<String, std::convert::Infallible> = render(template, |k| {
        Ok(values.iter().find(|(n, _)| *n == k).map(|(_, v)| (*v).to_string()))
    });
    match r {
        Ok(s) => s,
        Err(never) => match never {},
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_pass_values_are_not_expanded_again() {
        let out = render_with("a {x} b {y} {x}", &[("x", "{y}"), ("y", "$(touch Y)")]);
        assert_eq!(out, "a {y} b $(touch Y) {y}");
    }

    #[test]
    fn unknown_and_malformed_placeholders_stay() {
        let out = render_with("{a} {b {} {c-d} }{ {a}{", &[("a", "1")]);
        assert_eq!(out, "1 {b {} {c-d} }{ 1{");
    }

    #[test]
    fn quoted_value_with_a_later_placeholder_stays_one_word() {
        // The injection case: a config's model name holding a command and a placeholder that
        // a later key would fill. With shell quoting as the value renderer, it stays one word.
        let values = [("model", "x; {job_dir} $(touch PWNED)"), ("job_dir", "/jobs/{model}")];
        let out: Result<String, String> = render("serve {model} --dir {job_dir}", |k| {
            let v = values.iter().find(|(n, _)| *n == k).map(|(_, v)| *v);
            v.map(crate::shell::quote).transpose()
        });
        let out = out.unwrap();
        assert_eq!(out, "serve 'x; {job_dir} $(touch PWNED)' --dir '/jobs/{model}'");
        let words = shlex::split(&out).unwrap();
        assert_eq!(words, ["serve", "x; {job_dir} $(touch PWNED)", "--dir", "/jobs/{model}"]);
    }
}
