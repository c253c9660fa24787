//! The wait a command line asks for: conditions and watches, every value checked up front.

use crate::Args;
use clap::ArgMatches;
use perfline::cli::Result;
use perfline::Failure;
use perfline_slurm::wait::{self, Condition, LogStart, WaitSpec, Watch};
use std::time::Duration;

/// The longest wait: a week (a deadline past that is a typo, and overflows clocks).
const MAX_TIMEOUT: Duration = Duration::from_secs(7 * 24 * 3600);

/// Pairs each `--count` with the `--glob` before it on the command line.
pub fn count_per_glob(matches: &ArgMatches, args: &Args) -> Result<Vec<usize>> {
    let glob_at: Vec<usize> =
        matches.indices_of("globs").map(Iterator::collect).unwrap_or_default();
    let count_at: Vec<usize> =
        matches.indices_of("counts").map(Iterator::collect).unwrap_or_default();
    let mut counts = vec![None; args.globs.len()];
    for (&at, &count) in count_at.iter().zip(&args.counts) {
        let owner = glob_at.iter().rposition(|&g| g < at).ok_or_else(|| {
            Failure::usage(format!("--count {count} must follow the --glob it counts"))
        })?;
        match counts.get_mut(owner) {
            Some(slot @ None) => *slot = Some(count),
            _ => return Err(Failure::usage(format!("--count {count}: two counts for one --glob"))),
        }
    }
    Ok(counts.into_iter().map(|c| c.unwrap_or(1)).collect())
}

/// A number as given, short: `1e300` stays `1e300` (not 301 digits).
fn shown(value: f64) -> String {
    if value.abs() < 1e15 {
        value.to_string()
    } else {
        format!("{value:e}")
    }
}

/// The wait of `args`, whose n-th `--glob` needs `counts[n]` paths.
pub fn spec(args: &Args, counts: &[usize]) -> Result<WaitSpec> {
    let seconds = |name: &str, value: f64| {
        Duration::try_from_secs_f64(value).map_err(|_| {
            Failure::usage(format!("--{name} {}: not a number of seconds", shown(value)))
        })
    };
    let timeout = seconds("timeout", args.timeout.min(MAX_TIMEOUT.as_secs_f64() + 1.0))?;
    if timeout > MAX_TIMEOUT {
        return Err(Failure::usage(format!(
            "--timeout {}: at most {} seconds (7 days)",
            shown(args.timeout),
            MAX_TIMEOUT.as_secs()
        )));
    }
    let interval = seconds("interval", args.interval)?;
    if !(Duration::from_millis(1)..=Duration::from_secs(60)).contains(&interval) {
        return Err(Failure::usage(format!(
            "--interval {}: between 0.001 and 60 seconds",
            args.interval
        )));
    }
    let mut conditions = Vec::new();
    for (pattern, &count) in args.globs.iter().zip(counts) {
        if pattern.trim().is_empty() {
            return Err(Failure::usage("--glob: empty pattern"));
        }
        if count == 0 {
            return Err(Failure::usage(format!("--glob {pattern}: --count 0 is always true")));
        }
        glob::Pattern::new(pattern)
            .map_err(|e| Failure::usage(format!("--glob {pattern}: invalid pattern: {e}")))?;
        conditions.push(Condition::GlobCount { pattern: pattern.clone(), count });
    }
    conditions.extend(args.files.iter().cloned().map(Condition::FileHasContent));
    for url in &args.urls {
        check_url(url).map_err(|why| Failure::usage(format!("--http {url:?}: {why}")))?;
        conditions.push(Condition::Http200(url.clone()));
    }
    for path in args.files.iter().chain(&args.logs).chain(&args.markers) {
        if path.as_os_str().is_empty() {
            return Err(Failure::usage("empty path"));
        }
    }
    for path in &args.logs {
        // A FIFO or a device would block or never end: only regular files are logs.
        if let Ok(meta) = std::fs::metadata(path) {
            if !meta.is_file() {
                return Err(Failure::usage(format!(
                    "--watch-log {}: not a regular file",
                    path.display()
                )));
            }
        }
    }
    if conditions.is_empty() {
        return Err(Failure::usage("nothing to wait for: give --glob, --file or --http"));
    }
    let keywords = keywords(args);
    let from = if args.from_start { LogStart::Offset(0) } else { LogStart::End };
    let mut watches = Vec::new();
    for &pid in &args.pids {
        if pid <= 0 {
            return Err(Failure::usage(format!("--watch-pid {pid}: not a process id")));
        }
        watches.push(Watch::Pid(pid));
    }
    watches.extend(args.logs.iter().map(|path| Watch::LogKeywords {
        path: path.clone(),
        keywords: keywords.clone(),
        from,
    }));
    watches.extend(args.markers.iter().cloned().map(Watch::FailureMarker));
    Ok(WaitSpec { conditions, watches, timeout, interval })
}

/// The keywords given on the command line, or the incumbent's default list.
fn keywords(args: &Args) -> Vec<String> {
    let given: Vec<String> = args
        .keywords
        .iter()
        .chain(&args.keyword)
        .filter(|k| !k.trim().is_empty())
        .cloned()
        .collect();
    if given.is_empty() {
        wait::DEFAULT_ERROR_KEYWORDS.iter().map(|k| k.to_string()).collect()
    } else {
        given
    }
}

/// An `http://HOST[:PORT][/PATH]` URL with a valid port and no whitespace; why not otherwise.
fn check_url(url: &str) -> std::result::Result<(), String> {
    let rest = url.strip_prefix("http://").ok_or("only http:// URLs are supported")?;
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("contains whitespace".into());
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let (host, port) = if authority.starts_with('[') {
        // [IPv6]:PORT
        let end = authority.find(']').ok_or("unclosed [ in the host")?;
        let after = &authority[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(format!("{after:?} after the host")),
        };
        (&authority[..=end], port)
    } else {
        match authority.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() || host.contains('@') {
        return Err("no host".into());
    }
    if let Some(p) = port {
        match p.parse::<u16>() {
            Ok(n) if n > 0 => {}
            _ => return Err(format!("port {p:?} is not 1..65535")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Args;
    use clap::{CommandFactory, FromArgMatches};
    use perfline::Exit;

    fn parse(argv: &[&str]) -> Result<WaitSpec> {
        let matches = Args::command().try_get_matches_from(argv).unwrap();
        let args = Args::from_arg_matches(&matches).unwrap();
        spec(&args, &count_per_glob(&matches, &args)?)
    }

    #[test]
    fn counts_pair_with_the_glob_before_them() {
        let s =
            parse(&["w", "--glob", "a/*", "--glob", "b/*", "--count", "3", "--file", "f"]).unwrap();
        assert_eq!(
            s.conditions,
            vec![
                Condition::GlobCount { pattern: "a/*".into(), count: 1 },
                Condition::GlobCount { pattern: "b/*".into(), count: 3 },
                Condition::FileHasContent("f".into()),
            ]
        );
        assert_eq!(parse(&["w", "--count", "2", "--glob", "a"]).unwrap_err().exit, Exit::Usage);
        let twice = parse(&["w", "--glob", "a", "--count", "2", "--count", "3"]).unwrap_err();
        assert_eq!(twice.message, "--count 3: two counts for one --glob");
    }

    #[test]
    fn keywords_replace_the_default_list() {
        let s = parse(&["w", "--file", "f", "--watch-log", "l"]).unwrap();
        let Watch::LogKeywords { keywords, .. } = &s.watches[0] else { panic!() };
        assert_eq!(keywords.len(), 10);
        assert_eq!(keywords[0], "RuntimeError");
        let s = parse(&[
            "w",
            "--file",
            "f",
            "--watch-log",
            "l",
            "--keywords",
            "A,B",
            "--keyword",
            "C,D",
        ])
        .unwrap();
        let Watch::LogKeywords { keywords, .. } = &s.watches[0] else { panic!() };
        assert_eq!(keywords, &["A", "B", "C,D"]);
    }

    #[test]
    fn rejects_bad_usage() {
        assert_eq!(parse(&["w"]).unwrap_err().exit, Exit::Usage);
        assert_eq!(parse(&["w", "--file", "f", "--watch-pid", "0"]).unwrap_err().exit, Exit::Usage);
        assert_eq!(parse(&["w", "--file", "f", "--timeout=-1"]).unwrap_err().exit, Exit::Usage);
        let huge = parse(&["w", "--file", "f", "--timeout", "1e300"]).unwrap_err();
        assert_eq!(huge.message, "--timeout 1e300: at most 604800 seconds (7 days)");
        assert_eq!(parse(&["w", "--glob", "a[", "--count", "1"]).unwrap_err().exit, Exit::Usage);
        assert_eq!(parse(&["w", "--http", "https://x/health"]).unwrap_err().exit, Exit::Usage);
    }
}
