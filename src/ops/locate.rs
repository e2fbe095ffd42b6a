//! Locate: the objects matching every attribute of the request, newest first (2.1 section 6.1.28), with Maximum
//! Items, Offset Items, Storage Status Mask, Object Group Member and Located Items. Values the store indexes
//! (numbers, enumerations, dates, text, Name Value) are matched by the store's indexes; a date given twice is a
//! range; what no index can answer (structures such as Link, and the usage mask's bitwise test) is checked on
//! the candidates the indexed filters leave.

use crate::kmip::attributes::{self, Attribute, AttributeName, attribute_storage_name};
use crate::kmip::operations::locate::{LocateRequest, LocateResponse};
use crate::kmip::state::State;
use crate::kmip::{KmipError, ProtocolVersion};
use crate::spec::enums::storage_status_mask as ssm;
use crate::spec::tag;
use crate::store::{Filter, LocateQuery, SearchKey};
use crate::ttlv::{Ttlv, Value};

use super::OpContext;
use super::object::{self, Managed};

/// Runs Locate.
pub(super) fn run(
    req: LocateRequest,
    ctx: &mut OpContext<'_>,
) -> Result<LocateResponse, KmipError> {
    let attrs = &req.attributes;
    let maximum = req.maximum_items;
    let offset = req.offset_items.unwrap_or(0);
    let mask = req.storage_status_mask;
    let mut query = LocateQuery::default();
    let mut residual: Vec<Attribute> = Vec::new();
    apply_storage_mask(&mut query, mask, ctx.version);
    if req.fresh_only {
        query.filters.push(Filter::Equals {
            name: attribute_storage_name(&AttributeName::Standard(tag::FRESH)),
            key: SearchKey::Int(1),
        });
    }
    let mut dates: Vec<(AttributeName, i64)> = Vec::new();
    for attr in attrs.iter().cloned() {
        match (&attr.name, &attr.value.value) {
            (AttributeName::Standard(tag::OBJECT_TYPE), Value::Enumeration(t)) => {
                query.object_type = Some(*t)
            }
            // The stored state lags behind dates that have passed since the last change: State is compared
            // with each candidate's state as of now.
            (AttributeName::Standard(tag::STATE), Value::Enumeration(_)) => residual.push(attr),
            (AttributeName::Standard(tag::CRYPTOGRAPHIC_USAGE_MASK), _) => residual.push(attr),
            (name, Value::DateTime(d)) => dates.push((name.clone(), *d)),
            // A structure is narrowed by the index on its key field (Name Value, Linked Object Identifier, ...)
            // and then compared field by field.
            (_, Value::Structure(_)) => {
                query.filters.push(Filter::Equals {
                    name: attribute_storage_name(&attr.name),
                    key: attributes::search_key(&attr),
                });
                residual.push(attr);
            }
            _ => query.filters.push(Filter::Equals {
                name: attribute_storage_name(&attr.name),
                key: attributes::search_key(&attr),
            }),
        }
    }
    // A date once is that date; twice is the range between the two.
    let mut seen: Vec<&AttributeName> = Vec::new();
    for (name, _) in &dates {
        if seen.contains(&name) {
            continue;
        }
        seen.push(name);
        let values: Vec<i64> = dates
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, d)| *d)
            .collect();
        let (min, max) = match values.as_slice() {
            [one] => (*one, *one),
            [a, b, ..] => ((*a).min(*b), (*a).max(*b)),
            [] => continue,
        };
        query.filters.push(Filter::IntRange {
            name: attribute_storage_name(name),
            min: Some(min),
            max: Some(max),
        });
    }
    let mut uids = ctx.store.locate(&query).map_err(|e| e.to_kmip())?;
    // The store answers oldest first; the specification wants the most recently created first.
    uids.reverse();
    // Only what the caller may see, decided on owners, groups and grants before any candidate is loaded and
    // decrypted (no work, and no timing, on objects the caller cannot see); filtered before paging so that
    // Located Items and Offset Items count only it.
    let mut uids = super::authorize::visible(ctx, uids)?;
    if !residual.is_empty() {
        let mut kept = Vec::with_capacity(uids.len());
        for uid in uids {
            // A candidate the caller may see (just decided).
            let managed = object::load_unchecked(ctx, &uid)?;
            if residual.iter().all(|a| matches(&managed, a)) {
                kept.push(uid);
            }
        }
        uids = kept;
    }
    let located = uids.len();
    let page: Vec<String> = uids
        .into_iter()
        .skip(offset)
        .take(maximum.unwrap_or(usize::MAX))
        .collect();
    ctx.batch.located(&page);
    Ok(LocateResponse {
        located_items: req.paged().then_some(located),
        unique_identifiers: page,
    })
}

/// The storage status mask as store conditions: on-line and archival select by the archive flag; destroyed
/// objects are found only when the mask has Destroyed Storage (2.x; 1.x defines no such bit, so a 1.x Locate never
/// finds them, as the 1.4 profile vectors expect).
fn apply_storage_mask(query: &mut LocateQuery, mask: u32, version: ProtocolVersion) {
    let online = mask & ssm::ON_LINE_STORAGE != 0;
    let archival = mask & ssm::ARCHIVAL_STORAGE != 0;
    let destroyed = version.is_2x() && mask & ssm::DESTROYED_STORAGE != 0;
    query.archived = match (online, archival) {
        (true, false) => Some(false),
        (false, true) => Some(true),
        _ => None,
    };
    let states = State::ALL
        .iter()
        .filter(|s| {
            if s.is_destroyed() {
                destroyed
            } else {
                online || archival
            }
        })
        .map(|s| s.code())
        .collect();
    query.state = Some(states);
}

/// Whether an object satisfies a filter the indexes could not decide: the usage mask by bitwise AND, a
/// structure by the fields the filter gives.
fn matches(managed: &Managed, filter: &Attribute) -> bool {
    if filter.name == AttributeName::Standard(tag::STATE) {
        return filter.value.value == Value::Enumeration(managed.state.code());
    }
    if filter.name == AttributeName::Standard(tag::CRYPTOGRAPHIC_USAGE_MASK) {
        let Value::Integer(want) = filter.value.value else {
            return false;
        };
        return managed
            .attrs
            .get_all(&filter.name)
            .any(|a| matches!(a.value.value, Value::Integer(have) if have & want == want));
    }
    managed
        .attrs
        .get_all(&filter.name)
        .any(|a| covers(&a.value, &filter.value))
}

/// Whether `have` carries every field `want` gives, with equal values.
fn covers(have: &Ttlv, want: &Ttlv) -> bool {
    match (&have.value, &want.value) {
        (Value::Structure(_), Value::Structure(fields)) => fields
            .iter()
            .all(|f| have.children_with(f.tag).any(|h| covers(h, f))),
        (a, b) => a == b,
    }
}
