//! The coordinators' query interface: one SQL statement on a connection that cannot
//! change anything. Three layers, each enough on its own: the file is opened
//! read-only, `PRAGMA query_only` is on, and an authorizer allows only reading
//! (SELECT, reading tables, functions other than `load_extension`, recursive CTEs and
//! introspection pragmas). The authorizer also names what was refused, so the error
//! is clearer than SQLite's "not authorized".

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};
use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::error::{Error, Result};

/// Pragmas that only describe the schema; every other pragma (and any pragma with
/// a value, `PRAGMA x = y`) is refused.
const READ_PRAGMAS: &[&str] = &[
    "table_info",
    "table_xinfo",
    "table_list",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "collation_list",
    "function_list",
    "pragma_list",
    "compile_options",
];

/// A read-only connection for user SQL.
pub struct QueryConnection {
    conn: Connection,
    /// What the authorizer refused last, for the error message.
    refused: Arc<Mutex<Option<String>>>,
}

/// Why the authorizer refuses `action`, or None to allow it.
fn refusal(action: &AuthAction<'_>) -> Option<String> {
    match action {
        AuthAction::Select | AuthAction::Read { .. } | AuthAction::Recursive => None,
        AuthAction::Function { function_name } => {
            if function_name.eq_ignore_ascii_case("load_extension") {
                Some("loading extensions is not allowed".into())
            } else {
                None
            }
        }
        AuthAction::Pragma {
            pragma_name,
            pragma_value,
        } => {
            let name = pragma_name.to_ascii_lowercase();
            let describes = READ_PRAGMAS.contains(&name.as_str());
            let bare_read = pragma_value.is_none()
                && matches!(
                    name.as_str(),
                    "user_version" | "data_version" | "schema_version"
                );
            if describes || bare_read {
                None
            } else {
                Some(format!(
                    "PRAGMA {pragma_name}{} is not allowed (allowed: {}, and reading user_version)",
                    pragma_value.map(|v| format!(" = {v}")).unwrap_or_default(),
                    READ_PRAGMAS.join(", ")
                ))
            }
        }
        AuthAction::Attach { filename } => Some(format!("ATTACH ({filename:?}) is not allowed")),
        AuthAction::Detach { .. } => Some("DETACH is not allowed".into()),
        AuthAction::Insert { table_name }
        | AuthAction::Update { table_name, .. }
        | AuthAction::Delete { table_name }
            if table_name.starts_with("sqlite_") =>
        {
            Some("changing the schema (CREATE, DROP, ALTER) is not allowed".into())
        }
        AuthAction::Insert { table_name } => {
            Some(format!("writing (INSERT into {table_name}) is not allowed"))
        }
        AuthAction::Update { table_name, .. } => {
            Some(format!("writing (UPDATE of {table_name}) is not allowed"))
        }
        AuthAction::Delete { table_name } => {
            Some(format!("writing (DELETE from {table_name}) is not allowed"))
        }
        AuthAction::Transaction { .. } | AuthAction::Savepoint { .. } => {
            Some("transactions are not allowed (every query runs on its own snapshot)".into())
        }
        AuthAction::Reindex { .. } | AuthAction::Analyze { .. } => {
            Some("REINDEX and ANALYZE are not allowed".into())
        }
        // CREATE, DROP and ALTER of tables, views, indexes, triggers.
        _ => Some("changing the schema (CREATE, DROP, ALTER) is not allowed".into()),
    }
}

impl QueryConnection {
    /// Opens `path` for user queries.
    pub fn open(path: &Path) -> Result<QueryConnection> {
        let conn = super::open_read_only(path)?;
        conn.pragma_update(None, "query_only", true)
            .map_err(Error::db("setting PRAGMA query_only"))?;
        let refused = Arc::new(Mutex::new(None));
        let hook_refused = Arc::clone(&refused);
        conn.authorizer(Some(move |ctx: AuthContext<'_>| {
            match refusal(&ctx.action) {
                None => Authorization::Allow,
                Some(reason) => {
                    if let Ok(mut slot) = hook_refused.lock() {
                        *slot = Some(reason);
                    }
                    Authorization::Deny
                }
            }
        }));
        Ok(QueryConnection { conn, refused })
    }

    /// Runs one statement, handing each row (with the column names) to `on_row`.
    /// Returns the column names (also when there are no rows).
    pub fn run(
        &self,
        sql: &str,
        mut on_row: impl FnMut(&[String], Vec<serde_json::Value>) -> std::io::Result<()>,
    ) -> Result<Vec<String>> {
        if let Ok(mut slot) = self.refused.lock() {
            *slot = None;
        }
        let wrap = |e: rusqlite::Error| -> Error {
            match self.refused.lock().ok().and_then(|mut s| s.take()) {
                Some(reason) => Error::Invalid(format!(
                    "query refused: {reason}; the query interface is read-only"
                )),
                None => Error::Db {
                    context: format!("running query {:?}", crate::parse::shorten(sql, 200)),
                    source: e,
                },
            }
        };
        let mut stmt = self.conn.prepare(sql).map_err(wrap)?;
        if !stmt.readonly() {
            return Err(Error::Invalid(
                "query refused: the statement would change the database; the query interface is read-only".into(),
            ));
        }
        let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
        let n = columns.len();
        let mut rows = stmt.query([]).map_err(wrap)?;
        while let Some(row) = rows.next().map_err(wrap)? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(match row.get_ref(i).map_err(wrap)? {
                    ValueRef::Null => serde_json::Value::Null,
                    ValueRef::Integer(v) => v.into(),
                    ValueRef::Real(v) => v.into(),
                    ValueRef::Text(t) => String::from_utf8_lossy(t).into_owned().into(),
                    ValueRef::Blob(b) => crate::fetch::hex(b).into(),
                });
            }
            on_row(&columns, values).map_err(Error::io("writing", "stdout"))?;
        }
        Ok(columns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals() {
        let check = |action: AuthAction<'_>, refused: bool| {
            assert_eq!(refusal(&action).is_some(), refused, "{action:?}");
        };
        check(AuthAction::Select, false);
        check(
            AuthAction::Function {
                function_name: "json_extract",
            },
            false,
        );
        check(
            AuthAction::Function {
                function_name: "LOAD_EXTENSION",
            },
            true,
        );
        check(
            AuthAction::Pragma {
                pragma_name: "table_info",
                pragma_value: Some("releases"),
            },
            false,
        );
        check(
            AuthAction::Pragma {
                pragma_name: "user_version",
                pragma_value: None,
            },
            false,
        );
        check(
            AuthAction::Pragma {
                pragma_name: "user_version",
                pragma_value: Some("9"),
            },
            true,
        );
        check(
            AuthAction::Pragma {
                pragma_name: "query_only",
                pragma_value: Some("0"),
            },
            true,
        );
        check(AuthAction::Attach { filename: "x.db" }, true);
        check(
            AuthAction::Insert {
                table_name: "releases",
            },
            true,
        );
    }
}
