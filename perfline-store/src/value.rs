//! A bound parameter or column value, whatever the backend: what upload binds and the reader
//! gets back.

/// A bound parameter or column value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

impl From<&Option<String>> for Value {
    fn from(v: &Option<String>) -> Value {
        v.as_ref().map_or(Value::Null, |s| Value::Text(s.clone()))
    }
}

impl Value {
    pub fn int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Real(f) => Some(*f as i64),
            Value::Text(s) => s.parse().ok(),
            Value::Null => None,
        }
    }
    pub fn real(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Real(f) => Some(*f),
            Value::Text(s) => s.parse().ok(),
            Value::Null => None,
        }
    }
    pub fn text(&self) -> Option<String> {
        match self {
            Value::Text(s) => Some(s.clone()),
            Value::Int(i) => Some(i.to_string()),
            Value::Real(f) => Some(f.to_string()),
            Value::Null => None,
        }
    }
    /// The text of a `Text` value, `""` for any other.
    pub fn str(&self) -> &str {
        match self {
            Value::Text(s) => s,
            _ => "",
        }
    }
    /// As a MySQL parameter.
    pub fn to_mysql(&self) -> mysql::Value {
        match self {
            Value::Null => mysql::Value::NULL,
            Value::Int(i) => mysql::Value::Int(*i),
            Value::Real(f) => mysql::Value::Double(*f),
            Value::Text(s) => mysql::Value::Bytes(s.as_bytes().to_vec()),
        }
    }
    /// As MySQL statement parameters: none, or positional.
    pub fn mysql_params(params: &[Value]) -> mysql::Params {
        if params.is_empty() {
            return mysql::Params::Empty;
        }
        mysql::Params::Positional(params.iter().map(Value::to_mysql).collect())
    }
}

impl rusqlite::ToSql for Value {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        use rusqlite::types::{ToSqlOutput, ValueRef};
        Ok(ToSqlOutput::Borrowed(match self {
            Value::Null => ValueRef::Null,
            Value::Int(i) => ValueRef::Integer(*i),
            Value::Real(f) => ValueRef::Real(*f),
            Value::Text(s) => ValueRef::Text(s.as_bytes()),
        }))
    }
}
