//! The one template renderer, in two forms:
//!
//! - [`render`]: `{name}` placeholders expanded in a single pass over a one-line template (role
//!   commands, SQL names). A value is inserted as the caller renders it (shell-quoted, URL
//!   text, …) and is never scanned again, so a value that contains `{other}` or shell
//!   metacharacters stays the literal text it was. Unknown placeholders and lone braces stay.
//! - [`render_script`]: whole shell scripts (launch's job script, mkprefix's prefix script)
//!   from template files in minijinja syntax (`{{ value }}`, `{% for %}`, `{% if %}`,
//!   `{% macro %}`), where **every value printed is shell-quoted by the renderer**
//!   ([`crate::shell::quote`]): a string becomes one shell word however many quotes, `$`,
//!   backticks or newlines it holds; a number prints as digits. Template text itself is
//!   literal shell. The only unquoted output is the `comment` filter, for text after `#` on a
//!   comment line (its newlines become spaces, so the comment cannot end early). Code outside
//!   this module builds no shell text (tidy rule `shell-text`).

use serde::Serialize;

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

/// Renders the template `name` of `templates` (name, source pairs) with `context` as a shell
/// script: see the module docs and [`Scripts`], which parses the templates once for many
/// renderings.
pub fn render_script(
    templates: &[(&'static str, &'static str)],
    name: &str,
    context: impl Serialize,
) -> Result<String, String> {
    Scripts::new(templates)?.render(name, context)
}

/// Renders macro `macro_name` of template `name` called with the one argument `arg`: see
/// [`Scripts::render_macro`].
pub fn render_macro(
    templates: &[(&'static str, &'static str)],
    name: &str,
    macro_name: &str,
    arg: impl Serialize,
) -> Result<String, String> {
    Scripts::new(templates)?.render_macro(name, macro_name, arg)
}

/// Shell script templates, parsed once; a tool keeps its set in a `static` (`LazyLock`).
///
/// Block tags and `#%` statement lines leave no trace (`trim_blocks`, `lstrip_blocks`); the
/// source's final newline is kept; an undefined value is an error. Filters besides minijinja's
/// builtins (`safe` is removed, so nothing prints unquoted by accident):
/// - `words`: a list as shell words (each quoted), separated by spaces;
/// - `comment`: the value as text for a `#` comment line, unquoted, newlines as spaces;
/// - `array_word`: quoted like any value and also when it holds a comma, which shellcheck
///   would read inside `( … )` as a mistaken element separator (SC2054).
pub struct Scripts {
    strict: minijinja::Environment<'static>,
    chained: minijinja::Environment<'static>,
}

impl Scripts {
    /// Parses `templates` (name, source pairs); a syntax error names the template and line.
    pub fn new(templates: &[(&'static str, &'static str)]) -> Result<Scripts, String> {
        Ok(Scripts {
            strict: script_env(templates, minijinja::UndefinedBehavior::Strict)?,
            chained: script_env(templates, minijinja::UndefinedBehavior::Chainable)?,
        })
    }

    /// Renders template `name` with `context`.
    pub fn render(&self, name: &str, context: impl Serialize) -> Result<String, String> {
        let template = self.strict.get_template(name).map_err(message)?;
        template.render(context).map_err(message)
    }

    /// Renders macro `macro_name` of template `name` called with the one argument `arg`. The
    /// template's own output is discarded: it runs with no context and undefined values chain
    /// (loops over them are empty, `if` on them is false, printing them prints nothing), so a
    /// script template can hold the macros its callers also need alone.
    pub fn render_macro(
        &self,
        name: &str,
        macro_name: &str,
        arg: impl Serialize,
    ) -> Result<String, String> {
        let template = self.chained.get_template(name).map_err(message)?;
        let captured = template.render_captured(()).map_err(message)?;
        let arg = minijinja::Value::from_serialize(arg);
        captured.state().call_macro(macro_name, &[arg]).map_err(message)
    }
}

fn script_env(
    templates: &[(&'static str, &'static str)],
    undefined: minijinja::UndefinedBehavior,
) -> Result<minijinja::Environment<'static>, String> {
    use minijinja::{AutoEscape, Environment, Error, ErrorKind, Value};
    let mut env = Environment::new();
    // Control lines read as bash comments, so a template opens (and `bash -n` checks) as the
    // script it renders: `#% for x in xs` / `#% endfor` are statements, `## …` template
    // comments. `{## … ##}` comments, because bash's `${#array[@]}` holds `{#`.
    let syntax = minijinja::syntax::SyntaxConfig::builder()
        .line_statement_prefix("#%")
        .line_comment_prefix("##")
        .comment_delimiters("{##", "##}")
        .build()
        .map_err(message)?;
    env.set_syntax(syntax);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env.set_keep_trailing_newline(true);
    env.set_undefined_behavior(undefined);
    // Every output is escaped (macro results and `join` come back marked as escaped), and the
    // escaping is shell quoting, done by the formatter below.
    env.set_auto_escape_callback(|_| AutoEscape::Custom("sh"));
    env.remove_filter("safe");
    env.set_formatter(|out, _state, value| {
        // Only reached in render_macro's discarded body (strict mode errors on its own).
        if value.is_undefined() {
            return Ok(());
        }
        let text = quote_value(value)?;
        out.write_str(&text).map_err(|e| Error::new(ErrorKind::WriteFailure, e.to_string()))
    });
    // Filters pass undefined through as nothing: only render_macro's discarded body meets it.
    env.add_filter("comment", |v: Value| -> Result<Value, Error> {
        let text = match v.as_str() {
            Some(s) => s.replace(['\n', '\r'], " "),
            None if v.is_undefined() => String::new(),
            None if v.is_safe() || v.is_number() => v.to_string().replace(['\n', '\r'], " "),
            None => return Err(Error::new(ErrorKind::InvalidOperation, "comment of a non-string")),
        };
        Ok(Value::from_safe_string(text))
    });
    env.add_filter("words", |v: Value| -> Result<Value, Error> {
        let mut words = Vec::new();
        for item in v.try_iter()? {
            words.push(quote_value(&item)?);
        }
        Ok(Value::from_safe_string(words.join(" ")))
    });
    env.add_filter("array_word", |v: Value| -> Result<Value, Error> {
        let Some(s) = v.as_str() else { return quote_value(&v).map(Value::from_safe_string) };
        let word = crate::shell::quote_array_word(s)
            .map_err(|e| Error::new(ErrorKind::InvalidOperation, e))?;
        Ok(Value::from_safe_string(word))
    });
    for (name, source) in templates {
        env.add_template(name, source).map_err(message)?;
    }
    Ok(env)
}

/// A printed value as shell text: a string quoted as one word, a number as digits, an escaped
/// (filter or macro) result as it is.
fn quote_value(value: &minijinja::Value) -> Result<String, minijinja::Error> {
    use minijinja::{Error, ErrorKind};
    if value.is_safe() {
        Ok(value.as_str().unwrap_or_default().to_string())
    } else if let Some(s) = value.as_str() {
        crate::shell::quote(s).map_err(|e| Error::new(ErrorKind::InvalidOperation, e))
    } else if value.is_number() {
        Ok(value.to_string())
    } else {
        let what = format!("cannot print {} as a shell word", value.kind());
        Err(Error::new(ErrorKind::InvalidOperation, what))
    }
}

/// A value's own error (e.g. a NUL byte) as its plain message; template faults in full.
fn message(e: minijinja::Error) -> String {
    match (e.kind(), e.detail()) {
        (minijinja::ErrorKind::InvalidOperation, Some(detail)) => detail.to_string(),
        _ => format!("{e:#}"),
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

    const SCRIPT: &str = "#!/bin/bash\n\
        ## a template comment\n\
        #% macro word(v)\n\
        {{ v }}\n\
        {%- endmacro %}\n\
        # {{ note|comment }}\n\
        #% for v in values\n\
        printf '%s|' {{ v }}\n\
        #% endfor\n\
        args=({% for a in args %} {{ a|array_word }}{% endfor %} )\n\
        echo {{ args|words }} {{ n }}\n";

    fn script(values: &[&str]) -> Result<String, String> {
        let ctx = serde_json::json!({
            "note": "two\nlines", "values": values, "args": ["a,b", "c d"], "n": 3
        });
        render_script(&[("t.sh", SCRIPT)], "t.sh", ctx)
    }

    #[test]
    fn script_values_are_quoted_words_and_statements_leave_no_trace() {
        let out = script(&["x"]).unwrap();
        assert_eq!(
            out,
            "#!/bin/bash\n# two lines\nprintf '%s|' x\nargs=( 'a,b' 'c d' )\necho a,b 'c d' 3\n"
        );
    }

    #[test]
    fn script_values_with_metacharacters_stay_literal_in_a_real_shell() {
        let nasty =
            ["$(touch /tmp/perfline-pwned)", "`id`", "a'b\"c", "x\ny", "; rm -rf /", "*", ""];
        let out = script(&nasty).unwrap();
        let run = std::process::Command::new("bash").arg("-c").arg(&out).output().unwrap();
        let printed = String::from_utf8(run.stdout).unwrap();
        let want: String = nasty.iter().map(|v| format!("{v}|")).collect();
        assert_eq!(printed, format!("{want}a,b c d 3\n"));
    }

    #[test]
    fn script_errors_name_the_value_or_the_template_fault() {
        assert_eq!(script(&["a\0b"]).unwrap_err(), "value contains a NUL byte");
        let undefined = render_script(&[("t.sh", "echo {{ missing }}\n")], "t.sh", ());
        assert!(undefined.unwrap_err().contains("undefined value"));
        // No way around the quoting: `safe` is not a filter here.
        let raw =
            render_script(&[("t.sh", "{{ v|safe }}")], "t.sh", serde_json::json!({"v": "$x"}));
        assert!(raw.unwrap_err().contains("unknown filter"));
        let map = render_script(&[("t.sh", "{{ v }}")], "t.sh", serde_json::json!({"v": {}}));
        assert_eq!(map.unwrap_err(), "cannot print map as a shell word");
    }

    #[test]
    fn a_macro_renders_alone() {
        let out = render_macro(&[("t.sh", SCRIPT)], "t.sh", "word", "it's").unwrap();
        assert_eq!(out, r"'it'\''s'");
    }
}
