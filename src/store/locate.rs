//! Locate as SQL over the covering indexes on (name, int_key, uid) and (name, text_key, uid). The most
//! selective filter (counted with a bounded index read) drives: `uid IN (SELECT uid FROM attributes WHERE
//! name = ? AND ...)` reads only its index range; the other filters are `EXISTS` probes on the same indexes
//! per candidate. When every filter matches many rows, objects are walked in creation order with each filter
//! probed, so `max` stops the walk early. Filters combine with AND; within one filter, any instance of a
//! multi-instance attribute may match. Results come in creation order (the object's first change sequence).

use rusqlite::Connection;
use rusqlite::types::Value;

use super::SearchKey;
use super::error::StoreError;

/// What Locate looks for. `Default` matches every object, live or archived.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LocateQuery {
    /// Only objects of this type.
    pub object_type: Option<u32>,
    /// Only objects in one of these states (an empty list matches nothing).
    pub state: Option<Vec<u32>>,
    /// `Some(false)`: live (online) objects only; `Some(true)`: archived only; `None`: both.
    pub archived: Option<bool>,
    /// Every filter must match.
    pub filters: Vec<Filter>,
    /// Skip this many matches (in creation order).
    pub offset: usize,
    /// Return at most this many.
    pub max: Option<usize>,
}

/// One attribute condition; it holds when ANY instance of the named attribute satisfies it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// The attribute's search key equals `key`. `SearchKey::None` means "the attribute is present".
    Equals {
        /// Attribute name as stored.
        name: String,
        /// The key to compare with.
        key: SearchKey,
    },
    /// The attribute's integer key lies in `min..=max` (open ends when `None`); dates are integers.
    IntRange {
        /// Attribute name as stored.
        name: String,
        /// Inclusive lower bound.
        min: Option<i64>,
        /// Inclusive upper bound.
        max: Option<i64>,
    },
}

/// The condition a filter puts on one `attributes` row whose columns are named with `prefix` (e.g. "a."),
/// pushing its parameters.
fn condition(filter: &Filter, prefix: &str, params: &mut Vec<Value>) -> String {
    let mut sql = format!("{prefix}name = ?");
    match filter {
        Filter::Equals { name, key } => {
            params.push(Value::Text(name.clone()));
            match key {
                SearchKey::None => {}
                SearchKey::Int(i) => {
                    sql.push_str(&format!(" AND {prefix}int_key = ?"));
                    params.push(Value::Integer(*i));
                }
                SearchKey::Text(t) => {
                    sql.push_str(&format!(" AND {prefix}text_key = ?"));
                    params.push(Value::Text(t.clone()));
                }
            }
        }
        Filter::IntRange { name, min, max } => {
            params.push(Value::Text(name.clone()));
            match min {
                Some(min) => {
                    sql.push_str(&format!(" AND {prefix}int_key >= ?"));
                    params.push(Value::Integer(*min));
                }
                None => sql.push_str(&format!(" AND {prefix}int_key IS NOT NULL")),
            }
            if let Some(max) = max {
                sql.push_str(&format!(" AND {prefix}int_key <= ?"));
                params.push(Value::Integer(*max));
            }
        }
    }
    sql
}

/// How many attribute rows match `filter`, counting no further than `cap` (one bounded index range read).
pub(crate) fn count_matches(
    conn: &Connection,
    filter: &Filter,
    cap: usize,
) -> Result<usize, StoreError> {
    let mut params = Vec::new();
    let cond = condition(filter, "", &mut params);
    params.push(Value::Integer(i64::try_from(cap).unwrap_or(i64::MAX)));
    let sql = format!("SELECT count(*) FROM (SELECT 1 FROM attributes WHERE {cond} LIMIT ?)");
    let n: i64 = conn
        .prepare_cached(&sql)?
        .query_row(rusqlite::params_from_iter(params), |r| r.get(0))?;
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// Plans `query` on `conn`: a filter matching fewer than `driver_max` rows drives the query (its index range
/// gives the candidate uids, the rest are checked per candidate); when every filter matches more, the
/// objects are walked in creation order and each filter checked per object, so a paged query stops early.
/// Returns `None` when the query cannot match anything.
pub(crate) fn plan(
    conn: &Connection,
    query: &LocateQuery,
    driver_max: usize,
) -> Result<Option<(String, Vec<Value>)>, StoreError> {
    let mut driver = None;
    let mut fewest = driver_max;
    for (i, filter) in query.filters.iter().enumerate() {
        // Counting to at least 1 tells "no match at all" apart even when no filter may drive.
        let n = count_matches(conn, filter, fewest.max(1))?;
        if n == 0 {
            return Ok(None);
        }
        if n < fewest {
            fewest = n;
            driver = Some(i);
        }
    }
    Ok(build(query, driver))
}

/// The SQL and its parameters for a query, driven by filter `driver` if given, or `None` when the query
/// cannot match anything.
pub(crate) fn build(query: &LocateQuery, driver: Option<usize>) -> Option<(String, Vec<Value>)> {
    let mut sql = String::from("SELECT o.uid FROM objects o WHERE 1 = 1");
    let mut params: Vec<Value> = Vec::new();
    if let Some(t) = query.object_type {
        // With a driving filter, `+` keeps SQLite from walking the whole type index instead.
        sql.push_str(if driver.is_some() {
            " AND +o.object_type = ?"
        } else {
            " AND o.object_type = ?"
        });
        params.push(Value::Integer(i64::from(t)));
    }
    if let Some(states) = &query.state {
        if states.is_empty() {
            return None;
        }
        sql.push_str(" AND o.state IN (");
        for (i, s) in states.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            params.push(Value::Integer(i64::from(*s)));
        }
        sql.push(')');
    }
    if let Some(archived) = query.archived {
        sql.push_str(" AND o.archived = ?");
        params.push(Value::Integer(i64::from(archived)));
    }
    for (i, filter) in query.filters.iter().enumerate() {
        if Some(i) == driver {
            let cond = condition(filter, "", &mut params);
            sql.push_str(&format!(
                " AND o.uid IN (SELECT uid FROM attributes WHERE {cond})"
            ));
        } else {
            let cond = condition(filter, "a.", &mut params);
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM attributes a WHERE a.uid = o.uid AND {cond})"
            ));
        }
    }
    sql.push_str(" ORDER BY o.created_seq LIMIT ? OFFSET ?");
    let limit = query.max.and_then(|m| i64::try_from(m).ok()).unwrap_or(-1);
    params.push(Value::Integer(limit));
    params.push(Value::Integer(
        i64::try_from(query.offset).unwrap_or(i64::MAX),
    ));
    Some((sql, params))
}
