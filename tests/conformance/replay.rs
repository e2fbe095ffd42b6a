//! Replaying one vector: each request, its placeholders filled, goes to a server (in-process or over TLS) and
//! its answer is compared with the vector's response. The first difference ends the vector.

use std::collections::HashSet;

use kmipd::spec::enums::result_reason;
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};

use super::compare::{Bindings, show};
use super::vectors::Vector;

/// How a vector ended.
pub struct Outcome {
    pub name: String,
    pub profile: &'static str,
    /// `None` when every response matched.
    pub failure: Option<Failure>,
}

/// Where and why a vector failed.
pub struct Failure {
    /// Index of the exchange (request/response pair) that failed, from 0.
    pub exchange: usize,
    /// The full first difference, for the log.
    pub detail: String,
    /// A short reason for expected-failures.txt.
    pub reason: String,
}

/// Runs a vector against `send`, which takes a request tree and returns the server's response tree.
/// `generated` names the objects with server-generated keys already on the server (rule 5); the set is updated.
pub fn replay(
    vector: &Vector,
    now: i64,
    generated: &mut HashSet<String>,
    send: &mut dyn FnMut(&Ttlv) -> Ttlv,
) -> Outcome {
    let mut bindings = Bindings::new(now, std::mem::take(generated));
    let mut failure = None;
    for (index, exchange) in vector.exchanges.iter().enumerate() {
        let mut request = exchange.request.clone();
        if let Err(e) = bindings.fill_request(&mut request, &exchange.request_sites) {
            failure = Some(Failure {
                exchange: index,
                reason: e.clone(),
                detail: e,
            });
            break;
        }
        let actual = send(&request);
        if let Err(d) = bindings.compare(&exchange.response, &exchange.response_sites, &actual) {
            failure = Some(Failure {
                exchange: index,
                reason: short_reason(&request, &actual).unwrap_or_else(|| d.to_string()),
                detail: d.to_string(),
            });
            break;
        }
    }
    *generated = bindings.into_generated();
    Outcome {
        name: vector.name.clone(),
        profile: vector.profile,
        failure,
    }
}

/// The reason a line of expected-failures.txt gives when the server refused an item: "Create not implemented
/// yet" when it said the operation is missing, else the operation, the Result Reason and the Result Message.
fn short_reason(request: &Ttlv, actual: &Ttlv) -> Option<String> {
    let (answer, asked) = actual
        .children_with(tag::BATCH_ITEM)
        .zip(request.children_with(tag::BATCH_ITEM))
        .find(|(answer, _)| answer.child(tag::RESULT_REASON).is_some())?;
    let operation = asked.child(tag::OPERATION)?;
    let operation = show(operation.tag, &operation.value);
    let reason = answer.child(tag::RESULT_REASON)?;
    if reason.value == Value::Enumeration(result_reason::OPERATION_NOT_SUPPORTED) {
        return Some(format!("{operation} not implemented yet"));
    }
    let message = match answer.child(tag::RESULT_MESSAGE).map(|m| &m.value) {
        Some(Value::TextString(m)) => m.as_str(),
        _ => "",
    };
    Some(format!(
        "{operation} answered {}: {message}",
        show(reason.tag, &reason.value)
    ))
}
