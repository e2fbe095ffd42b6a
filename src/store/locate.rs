//! Locate as SQL: each filter becomes `uid IN (SELECT uid FROM attributes WHERE name = ? AND ...)`, served by
//! the covering indexes on (name, int_key, uid) and (name, text_key, uid), so a filter reads only the matching
//! index range — never every attribute. Filters combine with AND; within one filter, any instance of a
//! multi-instance attribute may match. Results come in creation order (the object's first change sequence).

use rusqlite::types::Value;

use super::SearchKey;

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

/// The SQL and its parameters for a query, or `None` when the query cannot match anything.
pub(crate) fn build(query: &LocateQuery) -> Option<(String, Vec<Value>)> {
    let mut sql = String::from("SELECT uid FROM objects WHERE 1 = 1");
    let mut params: Vec<Value> = Vec::new();
    if let Some(t) = query.object_type {
        sql.push_str(" AND object_type = ?");
        params.push(Value::Integer(i64::from(t)));
    }
    if let Some(states) = &query.state {
        if states.is_empty() {
            return None;
        }
        sql.push_str(" AND state IN (");
        for (i, s) in states.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            params.push(Value::Integer(i64::from(*s)));
        }
        sql.push(')');
    }
    if let Some(archived) = query.archived {
        sql.push_str(" AND archived = ?");
        params.push(Value::Integer(i64::from(archived)));
    }
    for filter in &query.filters {
        sql.push_str(" AND uid IN (SELECT uid FROM attributes WHERE name = ?");
        match filter {
            Filter::Equals { name, key } => {
                params.push(Value::Text(name.clone()));
                match key {
                    SearchKey::None => {}
                    SearchKey::Int(i) => {
                        sql.push_str(" AND int_key = ?");
                        params.push(Value::Integer(*i));
                    }
                    SearchKey::Text(t) => {
                        sql.push_str(" AND text_key = ?");
                        params.push(Value::Text(t.clone()));
                    }
                }
            }
            Filter::IntRange { name, min, max } => {
                params.push(Value::Text(name.clone()));
                match min {
                    Some(min) => {
                        sql.push_str(" AND int_key >= ?");
                        params.push(Value::Integer(*min));
                    }
                    None => sql.push_str(" AND int_key IS NOT NULL"),
                }
                if let Some(max) = max {
                    sql.push_str(" AND int_key <= ?");
                    params.push(Value::Integer(*max));
                }
            }
        }
        sql.push(')');
    }
    sql.push_str(" ORDER BY created_seq LIMIT ? OFFSET ?");
    let limit = query.max.and_then(|m| i64::try_from(m).ok()).unwrap_or(-1);
    params.push(Value::Integer(limit));
    params.push(Value::Integer(
        i64::try_from(query.offset).unwrap_or(i64::MAX),
    ));
    Some((sql, params))
}
