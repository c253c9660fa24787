//! Store URLs: `sqlite:PATH`, `mysql://USER@HOST[:PORT]/DB`, `opensearch+https://HOST[:PORT]/INDEX`
//! (and `opensearch+http://` for local endpoints). Passwords never appear in a URL.

use perfline::cli::{Failure, Result};
use std::fmt;
use std::path::PathBuf;

/// The default store: an SQLite file in the current directory.
pub const DEFAULT: &str = "sqlite:perf.db";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Store {
    Sqlite { path: PathBuf },
    Mysql { user: String, host: String, port: u16, db: String },
    OpenSearch { base: String, index: String },
}

impl Store {
    /// Parses a store URL. Errors are `Config` and never echo a URL that holds a password.
    pub fn parse(url: &str) -> Result<Store> {
        if let Some(path) = url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            if path.is_empty() {
                return Err(Failure::config("sqlite: store needs a path, e.g. sqlite:perf.db"));
            }
            return Ok(Store::Sqlite { path: PathBuf::from(path) });
        }
        if let Some(rest) = url.strip_prefix("mysql://") {
            return parse_mysql(rest);
        }
        for scheme in ["https", "http"] {
            if let Some(rest) = url.strip_prefix(&format!("opensearch+{scheme}://")) {
                return parse_opensearch(scheme, rest);
            }
        }
        let hint = if !url.contains(':') {
            format!("did you mean sqlite:{url}? ")
        } else if url.starts_with("https://") || url.starts_with("http://") {
            format!("did you mean opensearch+{}? ", redact(url))
        } else if url.starts_with("mariadb://") {
            "MariaDB is mysql://USER@HOST:PORT/DB; ".to_string()
        } else {
            String::new()
        };
        Err(Failure::config(format!(
            "{}: unknown store; {hint}use sqlite:PATH, mysql://USER@HOST:PORT/DB or \
             opensearch+https://HOST/INDEX",
            redact(url)
        )))
    }
}

fn parse_mysql(rest: &str) -> Result<Store> {
    let (authority, db) = rest.split_once('/').unwrap_or((rest, ""));
    let Some((user, hostport)) = authority.rsplit_once('@') else {
        return Err(Failure::config("mysql store URL needs a user: mysql://USER@HOST:PORT/DB"));
    };
    if user.contains(':') {
        return Err(password_in_url("mysql", "PERFLINE_MYSQL_PASSWORD or --password-file FILE"));
    }
    if user.is_empty() {
        return Err(Failure::config("mysql store URL needs a user: mysql://USER@HOST:PORT/DB"));
    }
    let (host, port) = host_port(hostport, 3306)?;
    if db.is_empty() || !db.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return Err(Failure::config(format!(
            "mysql://{user}@{hostport}/{db}: database name must be letters, digits and _"
        )));
    }
    Ok(Store::Mysql { user: user.to_string(), host, port, db: db.to_string() })
}

fn parse_opensearch(scheme: &str, rest: &str) -> Result<Store> {
    let (authority, index) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.contains('@') {
        return Err(password_in_url(
            "opensearch",
            "PERFLINE_OPENSEARCH_USER and PERFLINE_OPENSEARCH_PASSWORD",
        ));
    }
    let default_port = if scheme == "https" { 443 } else { 80 };
    let (host, port) = host_port(authority, default_port)?;
    let index_ok = !index.is_empty()
        && !index.starts_with(['_', '-', '+'])
        && index
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_-.+".contains(&b));
    if !index_ok {
        return Err(Failure::config(format!(
            "opensearch+{scheme}://{authority}/{index}: index must be lowercase letters, digits \
             and _ - . +"
        )));
    }
    Ok(Store::OpenSearch { base: format!("{scheme}://{host}:{port}"), index: index.to_string() })
}

fn host_port(hostport: &str, default: u16) -> Result<(String, u16)> {
    let (host, port) = match hostport.rsplit_once(':') {
        Some((h, p)) => {
            let port = p.parse::<u16>().ok().filter(|p| *p != 0).ok_or_else(|| {
                Failure::config(format!("{hostport}: port must be a number 1-65535"))
            })?;
            (h, port)
        }
        None => (hostport, default),
    };
    let host_ok = !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    if !host_ok {
        return Err(Failure::config(format!("{hostport}: bad host name")));
    }
    Ok((host.to_string(), port))
}

fn password_in_url(kind: &str, instead: &str) -> Failure {
    Failure::config(format!(
        "{kind} store URL must not contain a password (not echoed); pass it via {instead}"
    ))
}

/// A URL for messages: everything between `://` and `@` is dropped.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(a)) if a > s => format!("{}://***@{}", &url[..s], &url[a + 1..]),
        _ => url.to_string(),
    }
}

impl fmt::Display for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Store::Sqlite { path } => write!(f, "sqlite:{}", path.display()),
            Store::Mysql { user, host, port, db } => write!(f, "mysql://{user}@{host}:{port}/{db}"),
            Store::OpenSearch { base, index } => write!(f, "opensearch+{base}/{index}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use perfline::Exit;

    #[test]
    fn parses_the_three_kinds() {
        assert_eq!(
            Store::parse("sqlite:out/perf.db").unwrap(),
            Store::Sqlite { path: "out/perf.db".into() }
        );
        let my = Store::parse("mysql://perf@127.0.0.1:3307/TRT_perf").unwrap();
        assert_eq!(my.to_string(), "mysql://perf@127.0.0.1:3307/TRT_perf");
        assert_eq!(
            Store::parse("mysql://perf@db.example/TRT_perf").unwrap().to_string(),
            "mysql://perf@db.example:3306/TRT_perf"
        );
        let os = Store::parse("opensearch+https://search.example/perf_sanity_info").unwrap();
        assert_eq!(
            os,
            Store::OpenSearch {
                base: "https://search.example:443".into(),
                index: "perf_sanity_info".into()
            }
        );
        assert_eq!(os.to_string(), "opensearch+https://search.example:443/perf_sanity_info");
        assert_eq!(Store::parse(DEFAULT).unwrap(), Store::Sqlite { path: "perf.db".into() });
    }

    #[test]
    fn rejects_passwords_without_echoing_them() {
        for url in ["mysql://perf:hunter2@h:1/db", "opensearch+https://u:hunter2@h/idx"] {
            let err = Store::parse(url).unwrap_err();
            assert_eq!(err.exit, Exit::Config);
            assert!(!err.message.contains("hunter2"), "{}", err.message);
        }
        let err = Store::parse("postgres://u:hunter2@h/db").unwrap_err();
        assert!(!err.message.contains("hunter2"), "{}", err.message);
    }

    #[test]
    fn rejects_bad_parts() {
        for url in [
            "sqlite:",
            "mysql://h:1/db",
            "mysql://u@h:0/db",
            "mysql://u@h:1/",
            "mysql://u@h:1/db;drop",
            "mysql://u@h x/db",
            "opensearch+https://h/",
            "opensearch+https://h/Index",
            "opensearch+https://h/_bulk",
            "ftp://x",
        ] {
            assert_eq!(Store::parse(url).unwrap_err().exit, Exit::Config, "{url}");
        }
    }
}
