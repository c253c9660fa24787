//! MySQL / MariaDB store (schema `TRT_perf` by convention; the URL names the database).
//! Plain TCP: meant for a database on the cluster's network or this host.

use crate::retry::StoreError;
use crate::sql::{Conn, Dialect, Value};
use mysql::prelude::Queryable;
use perfline::cli::Failure;
use perfline::Exit;
use perfline_store::schema::Backend;
use std::time::Duration;

pub static DIALECT: Dialect = Dialect {
    name: "mysql",
    backend: Backend::Mysql,
    insert_ignore: "INSERT IGNORE",
    begin: "START TRANSACTION",
    max_params: 65_535,
};

pub struct Mysql {
    conn: mysql::Conn,
}

/// Where and as whom to connect.
pub struct Target<'a> {
    pub user: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub db: &'a str,
    pub password: &'a str,
    pub timeout: Duration,
}

impl Mysql {
    /// Connects, creates the database when missing and selects it. `db` was checked to be
    /// letters, digits and `_` (store URL parsing), so it can be quoted as an identifier.
    pub fn connect(t: &Target<'_>) -> Result<Mysql, StoreError> {
        let opts = mysql::OptsBuilder::new()
            .ip_or_hostname(Some(t.host))
            .tcp_port(t.port)
            .user(Some(t.user))
            .pass(Some(t.password))
            .prefer_socket(false)
            .tcp_connect_timeout(Some(t.timeout))
            .read_timeout(Some(t.timeout.max(Duration::from_secs(30))))
            .write_timeout(Some(t.timeout.max(Duration::from_secs(30))))
            .stmt_cache_size(64);
        let mut conn = mysql::Conn::new(opts).map_err(classify)?;
        conn.query_drop("SET NAMES utf8mb4 COLLATE utf8mb4_bin").map_err(classify)?;
        conn.query_drop(format!("CREATE DATABASE IF NOT EXISTS `{}` CHARACTER SET utf8mb4", t.db))
            .map_err(classify)?;
        conn.select_db(t.db).map_err(classify)?;
        Ok(Mysql { conn })
    }
}

impl Conn for Mysql {
    fn dialect(&self) -> &'static Dialect {
        &DIALECT
    }
    fn exec(&mut self, sql: &str, params: &[Value]) -> Result<i64, StoreError> {
        if params.is_empty() {
            // DDL and transaction control go over the text protocol.
            self.conn.query_drop(sql).map_err(classify)?;
        } else {
            self.conn.exec_drop(sql, Value::mysql_params(params)).map_err(classify)?;
        }
        Ok(i64::try_from(self.conn.last_insert_id()).unwrap_or(i64::MAX))
    }
    fn query_ints(&mut self, sql: &str, params: &[Value]) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<Option<i64>> =
            self.conn.exec(sql, Value::mysql_params(params)).map_err(classify)?;
        Ok(rows.into_iter().flatten().collect())
    }
    fn query_pairs(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<(i64, String)>, StoreError> {
        self.conn
            .exec_map(sql, Value::mysql_params(params), |(id, key): (i64, String)| (id, key))
            .map_err(classify)
    }
    fn query_id_texts(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<(i64, String, String, String)>, StoreError> {
        self.conn.exec(sql, Value::mysql_params(params)).map_err(classify)
    }
}

/// Server codes worth retrying: lock wait timeout, deadlock, too many connections, shutdown
/// in progress, server gone away, lost connection, query interrupted.
const TRANSIENT_CODES: [u16; 7] = [1205, 1213, 1040, 1053, 2006, 2013, 1317];

fn classify(e: mysql::Error) -> StoreError {
    match &e {
        mysql::Error::MySqlError(se) if se.code == 1062 && se.message.contains("run_key") => {
            StoreError::Duplicate
        }
        mysql::Error::MySqlError(se) if TRANSIENT_CODES.contains(&se.code) => {
            StoreError::transient(format!("mysql: {e}"))
        }
        // Access denied (to the server, a database, a table).
        mysql::Error::MySqlError(se) if matches!(se.code, 1044 | 1045 | 1142) => {
            StoreError::Fatal(Failure::new(Exit::NoPerm, format!("mysql: {e}")))
        }
        mysql::Error::MySqlError(_) => StoreError::Fatal(Failure::software(format!("mysql: {e}"))),
        mysql::Error::IoError(_) | mysql::Error::DriverError(_) | mysql::Error::CodecError(_) => {
            StoreError::transient(format!("mysql: {e}"))
        }
        _ => StoreError::Fatal(Failure::software(format!("mysql: {e}"))),
    }
}
