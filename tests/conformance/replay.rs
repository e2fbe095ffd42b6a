//! Replaying one vector: each request, its placeholders filled, goes to a server (in-process or over TLS) and
//! its answer is compared with the vector's response. The first difference ends the vector, except the value
//! differences `expected-failures.txt` accepts (rules.rs, rule 7), after which the vector goes on.

use std::collections::HashSet;

use kmipd::spec::enums::result_reason;
use kmipd::spec::tag;
use kmipd::ttlv::{Ttlv, Value};

use super::compare::{Accepted, Bindings, show};
use super::vectors::Vector;

/// How a vector ended.
pub struct Outcome {
    pub name: String,
    pub profile: &'static str,
    /// `None` when every response matched.
    pub failure: Option<Failure>,
    /// The accepted differences met, as (exchange, path).
    pub differed: Vec<(usize, String)>,
    /// How many exchanges were sent and compared (up to and including a failing one).
    pub exchanges_run: usize,
    /// How many exchanges the vector has.
    pub exchanges_total: usize,
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
/// `accepted` holds the (exchange, path) value differences expected-failures.txt accepts for this vector.
pub fn replay(
    vector: &Vector,
    now: i64,
    generated: &mut HashSet<String>,
    accepted: &[(usize, String)],
    send: &mut dyn FnMut(&Ttlv) -> Ttlv,
) -> Outcome {
    let mut bindings = Bindings::new(now, std::mem::take(generated));
    let mut failure = None;
    let mut differed = Vec::new();
    let mut answers = Vec::new();
    let mut exchanges_run = 0;
    for (index, exchange) in vector.exchanges.iter().enumerate() {
        let mut request = exchange.request.clone();
        if let Err(e) = bindings.fill_request(&mut request, &exchange.request_sites, &answers) {
            failure = Some(Failure {
                exchange: index,
                reason: e.clone(),
                detail: e,
            });
            break;
        }
        exchanges_run += 1;
        let actual = send(&request);
        let mut here: Vec<Accepted> = accepted
            .iter()
            .filter(|(e, _)| *e == index)
            .map(|(_, path)| Accepted {
                path: path.clone(),
                seen: false,
            })
            .collect();
        let compared = bindings.compare(
            &exchange.response,
            &exchange.response_sites,
            &actual,
            &mut here,
        );
        differed.extend(here.into_iter().filter(|a| a.seen).map(|a| (index, a.path)));
        if let Err(d) = compared {
            failure = Some(Failure {
                exchange: index,
                reason: short_reason(&request, &actual).unwrap_or_else(|| d.to_string()),
                detail: d.to_string(),
            });
            break;
        }
        answers.push(actual);
    }
    *generated = bindings.into_generated();
    Outcome {
        name: vector.name.clone(),
        profile: vector.profile,
        failure,
        differed,
        exchanges_run,
        exchanges_total: vector.exchanges.len(),
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
