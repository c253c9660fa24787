//! Every tool's `--help` against the code: its exit-status paragraph against the one exit
//! table (`perfline/src/exit.rs`), and every example line against the tool's clap parser
//! (`PERFLINE_CHECK_ARGS=1`: `Args::try_parse_from` on the example's words, nothing run).

use chain_tests::{bin, tool_names, workspace_root};
use perfline::Exit;
use std::collections::BTreeMap;
use std::process::Command;

/// Tools whose `--help` has no exit-status paragraph yet (each is a role or a test double
/// started by perfline itself, not by a person).
const NO_EXIT_PARAGRAPH: [&str; 2] = ["role", "simserve"];

fn help(tool: &str) -> String {
    let out = Command::new(bin(tool)).arg("--help").output().expect("run --help");
    assert_eq!(out.status.code(), Some(0), "{tool} --help");
    String::from_utf8(out.stdout).expect("UTF-8 help")
}

/// The "Exit status:" paragraph (also spelled "Exit:" or "Exit codes:"), joined into one line.
pub fn exit_paragraph(help: &str) -> Option<String> {
    let mut lines = help.lines().skip_while(|l| {
        !(l.starts_with("Exit status:") || l.starts_with("Exit:") || l.starts_with("Exit codes:"))
    });
    let first = lines.next()?;
    let rest = lines.take_while(|l| !l.trim().is_empty());
    Some(std::iter::once(first).chain(rest).map(str::trim).collect::<Vec<_>>().join(" "))
}

/// The codes of an exit paragraph and what each means: `N meaning` after the heading, a `;`
/// or a `,`.
pub fn documented_codes(paragraph: &str) -> BTreeMap<i32, String> {
    let re = regex::Regex::new(r"(?:^Exit(?: status| codes)?:|[;,])\s+(\d{1,3})\s").unwrap();
    let found: Vec<(usize, usize, i32)> = re
        .captures_iter(paragraph)
        .map(|c| {
            let whole = c.get(0).unwrap();
            (whole.start(), whole.end(), c[1].parse().unwrap())
        })
        .collect();
    let mut codes = BTreeMap::new();
    for (i, (_, end, code)) in found.iter().enumerate() {
        let until = found.get(i + 1).map_or(paragraph.len(), |n| n.0);
        let meaning = paragraph[*end..until].trim().trim_end_matches('.').to_string();
        codes.entry(*code).or_insert(meaning);
    }
    codes
}

/// Words one of which the meaning of each class must use (the table in exit.rs, in the words
/// the tools' help texts use).
fn meaning_words(exit: Exit) -> &'static [&'static str] {
    match exit {
        Exit::Ok => &[""],
        Exit::Failed => &["fail", "regress", "mismatch"],
        Exit::Usage => &["usage"],
        Exit::DataErr => &["bad", "invalid", "no result", "unknown"],
        Exit::NoInput => &["missing", "no ", "not found", "not be read", "cannot be read"],
        Exit::Unavailable => &["unavailable", "down", "request failed"],
        Exit::Software => &["internal", "bug"],
        Exit::CantCreat => &["cannot be written", "cannot be created", "cannot create"],
        Exit::IoErr => &["i/o"],
        Exit::TempFail => &["timed out", "timeout"],
        Exit::PeerFailed => &["peer"],
        Exit::NoPerm => &["permission", "others can read", "not writable", "readable by others"],
        Exit::Config => &["config", "profile", "url", "credentials", "password"],
    }
}

#[test]
fn exit_paragraphs_match_the_exit_table() {
    let mut checked = 0;
    for tool in tool_names() {
        let text = help(&tool);
        let Some(paragraph) = exit_paragraph(&text) else {
            assert!(
                NO_EXIT_PARAGRAPH.contains(&tool.as_str()),
                "{tool} --help has no Exit status paragraph"
            );
            continue;
        };
        let codes = documented_codes(&paragraph);
        assert!(codes.contains_key(&0), "{tool}: exit 0 undocumented in {paragraph:?}");
        for (code, meaning) in &codes {
            let exit = Exit::from_code(*code).unwrap_or_else(|| {
                panic!("{tool} --help documents exit {code}, which is not in perfline/src/exit.rs")
            });
            let lower = meaning.to_lowercase();
            assert!(
                meaning_words(exit).iter().any(|w| lower.contains(w)),
                "{tool} --help: exit {code} ({exit:?}) documented as {meaning:?}"
            );
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} tools have an exit paragraph");
}

#[test]
fn the_exit_paragraph_parser_reads_every_shape() {
    let codes = documented_codes(
        "Exit status: 0 ok, 64 usage, 65 a bad test or list (DataErr), 66 a list cannot be read.",
    );
    assert_eq!(codes.keys().copied().collect::<Vec<_>>(), [0, 64, 65, 66]);
    let codes = documented_codes("Exit status: 0 all jobs; 1 a job failed (see 3 lines); 66 no such profile, an input file missing, or --metrics got no record; 75 --wait timed out");
    assert_eq!(codes.keys().copied().collect::<Vec<_>>(), [0, 1, 66, 75]);
    assert_eq!(codes[&66], "no such profile, an input file missing, or --metrics got no record");
}

/// The example commands of a `--help`: the indented lines under "Examples:", `\`
/// continuations joined, comments dropped.
fn examples(help: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for line in help.lines().skip_while(|l| !l.starts_with("Examples:")).skip(1) {
        if !line.is_empty() && !line.starts_with(char::is_whitespace) {
            break;
        }
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (line, more) = match line.strip_suffix('\\') {
            Some(l) => (l.trim_end(), true),
            None => (line, false),
        };
        pending.push_str(line);
        pending.push(' ');
        if !more {
            out.push(std::mem::take(&mut pending).trim().to_string());
        }
    }
    out
}

/// The perfline commands of a shell line: split at `|`, `&&`, `;`, with redirections and a
/// trailing comment dropped; each a tool name and its arguments.
fn commands(line: &str, tools: &[String]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for part in split_shell(line) {
        let words =
            shlex::split(part.trim()).unwrap_or_else(|| panic!("unbalanced quotes: {part:?}"));
        let mut words = words.into_iter().skip_while(|w| w.contains('=') && !w.starts_with('-'));
        let Some(tool) = words.next() else { continue };
        if !tools.contains(&tool) {
            continue;
        }
        let mut args = vec![tool];
        let mut skip = false;
        for w in words {
            if skip {
                skip = false;
            } else if w == "<" || w == ">" || w == ">>" || w == "2>" {
                skip = true;
            } else if w.starts_with('$') {
                // A shell variable ($rc, "$SERVER_PID"): a number stands in for it.
                args.push("1".to_string());
            } else if !(w.starts_with('<') || w.starts_with('>')) {
                args.push(w);
            }
        }
        out.push(args);
    }
    out
}

/// Splits a shell line at `|`, `&&`, `||`, `;` outside quotes, and drops a `#` comment.
fn split_shell(line: &str) -> Vec<String> {
    let mut parts = vec![String::new()];
    let mut quote: Option<char> = None;
    let mut chars = line.chars().peekable();
    let mut prev = ' ';
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), _) => {}
            (None, '\'' | '"') => quote = Some(c),
            (None, '#') if prev.is_whitespace() => break,
            (None, '|' | ';' | '&') => {
                if chars.peek() == Some(&c) {
                    chars.next();
                }
                parts.push(String::new());
                prev = ' ';
                continue;
            }
            _ => {}
        }
        parts.last_mut().unwrap().push(c);
        prev = c;
    }
    parts.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

#[test]
fn every_help_example_parses_and_names_real_profiles() {
    let tools = tool_names();
    let mut checked = 0;
    for tool in &tools {
        for example in examples(&help(tool)) {
            for args in commands(&example, &tools) {
                // `timeout`: a tool that ignored PERFLINE_CHECK_ARGS would otherwise run.
                let out = Command::new("timeout")
                    .arg("20")
                    .arg(bin(&args[0]))
                    .args(&args[1..])
                    .env("PERFLINE_CHECK_ARGS", "1")
                    .stdin(std::process::Stdio::null())
                    .output()
                    .unwrap();
                assert_eq!(
                    out.status.code(),
                    Some(0),
                    "{tool} --help example {example:?}: {args:?} does not parse: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                // A profile named in an example exists (`--cluster gb200` did not).
                for pair in args.windows(2).filter(|p| p[0] == "--cluster") {
                    let name = &pair[1];
                    let path = if name.contains('/') || name.ends_with(".yaml") {
                        workspace_root().join(name)
                    } else {
                        workspace_root().join("ci/clusters").join(format!("{name}.yaml"))
                    };
                    assert!(path.is_file(), "{tool} --help example {example:?}: no profile {name}");
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 30, "only {checked} example commands found");
}

#[test]
fn example_lines_split_into_perfline_commands() {
    let tools: Vec<String> =
        ["classify", "nodecount", "launch", "upload"].map(String::from).to_vec();
    let got = commands(
        "classify < list.txt | nodecount | launch --wait --metrics m.jsonl && upload < m.jsonl   # x",
        &tools,
    );
    assert_eq!(
        got,
        [
            vec!["classify"],
            vec!["nodecount"],
            vec!["launch", "--wait", "--metrics", "m.jsonl"],
            vec!["upload"]
        ]
    );
    let got = commands("PERFLINE_CLUSTER=local launch --nodes n1 < p.jsonl | jq '.x | .y'", &tools);
    assert_eq!(got, [vec!["launch", "--nodes", "n1"]]);
    let got = commands("launch --role-command 'echo {role} | x; y' < p.jsonl", &tools);
    assert_eq!(got, [vec!["launch", "--role-command", "echo {role} | x; y"]]);
    let help = "Examples:\n  # c\n  launch \\\n      --dry-run\n\n  upload x\nExit status: 0 ok";
    assert_eq!(examples(help), ["launch --dry-run", "upload x"]);
}
