//! fnmatch-style patterns (`*gb200*`, `h?00`, `[bg]b200`) for test-db `wildcards.gpu`.

/// True when `name` matches `pattern` (`*`, `?`, `[abc]`, `[a-z]`, `[!abc]`; no escapes).
/// Linear backtracking on the last `*`, so hostile patterns cannot take exponential time.
pub fn matches(pattern: &str, name: &str) -> bool {
    let pat: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = name.chars().collect();
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&ch) = text.get(t) {
        let step = match pat.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some('?') => Some(p + 1),
            Some('[') => class(&pat, p, ch),
            Some(c) if *c == ch => Some(p + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                t += 1;
            }
            (None, Some((star_p, star_t))) => {
                p = star_p + 1;
                t = star_t + 1;
                star = Some((star_p, star_t + 1));
            }
            (None, None) => return false,
        }
    }
    pat.get(p..).unwrap_or_default().iter().all(|c| *c == '*')
}

/// Matches `c` against the class starting at `pat[open] == '['`; returns the index after
/// `]`. An unterminated `[` is a literal `[`, as in fnmatch.
fn class(pat: &[char], open: usize, c: char) -> Option<usize> {
    let mut i = open + 1;
    let negate = matches!(pat.get(i), Some('!' | '^'));
    if negate {
        i += 1;
    }
    let mut found = false;
    let mut first = true;
    loop {
        match pat.get(i) {
            None => return (c == '[').then_some(open + 1),
            Some(']') if !first => break,
            Some(lo) => {
                if let (Some('-'), Some(hi)) = (pat.get(i + 1), pat.get(i + 2)) {
                    if *hi != ']' {
                        found |= *lo <= c && c <= *hi;
                        i += 3;
                        first = false;
                        continue;
                    }
                }
                found |= *lo == c;
                i += 1;
            }
        }
        first = false;
    }
    (found != negate).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn fnmatch_patterns() {
        assert!(matches("*gb200*", "gb200"));
        assert!(matches("*gb200*", "nvidia-gb200-nvl72"));
        assert!(!matches("*gb200*", "gb300"));
        assert!(matches("h?00", "h100"));
        assert!(matches("[bg]b200", "bb200"));
        assert!(matches("g[a-c]200", "gb200"));
        assert!(!matches("g[!a-c]200", "gb200"));
        assert!(matches("[]]x", "]x"));
        assert!(matches("a[", "a["));
        assert!(!matches("a", "ab"));
        assert!(matches("", ""));
        assert!(matches("**", ""));
        assert!(!matches("*a*a*a*a*a*a*a*b", &"a".repeat(64)));
    }
}
