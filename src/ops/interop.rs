//! Log and Interop (2.1 sections 6.1.26 and 6.1.29): a client's message for the server log, and the test
//! harness's Begin / End / Reset markers around each interoperability test case. Interop "SHALL NOT be
//! available in a production server": it answers only when `EngineConfig::interop_tests` is set, and Query lists
//! it only then.

use crate::kmip::KmipError;
use crate::spec::enums::interop_function;
use crate::spec::tag;
use crate::ttlv::{Ttlv, Value};

use super::OpContext;

fn text<'a>(payload: &'a Ttlv, t: u32, what: &str) -> Result<&'a str, KmipError> {
    match payload.child(t).map(|c| &c.value) {
        Some(Value::TextString(s)) => Ok(s),
        Some(_) => Err(KmipError::invalid_message(format!(
            "{what} is not a Text String"
        ))),
        None => Err(KmipError::invalid_message(format!("{what} is missing"))),
    }
}

/// Runs Log: the message goes to the server's log with the caller's identity.
pub(super) fn log(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    let message = text(payload, tag::LOG_MESSAGE, "Log Message")?;
    tracing::info!(identity = %ctx.caller.identity, message, "client log message");
    Ok(Ttlv::structure(tag::RESPONSE_PAYLOAD, Vec::new()))
}

/// Runs Interop: records the test case's boundary in the log.
pub(super) fn interop(payload: &Ttlv, ctx: &mut OpContext<'_>) -> Result<Ttlv, KmipError> {
    if !ctx.config.interop_tests {
        return Err(KmipError::operation_not_supported(
            "Interop is available only on a server configured for interoperability tests",
        ));
    }
    let function = match payload.child(tag::INTEROP_FUNCTION).map(|f| &f.value) {
        Some(Value::Enumeration(f)) => *f,
        _ => return Err(KmipError::invalid_message("Interop Function is missing")),
    };
    let identifier = text(payload, tag::INTEROP_IDENTIFIER, "Interop Identifier")?;
    let step = match function {
        interop_function::BEGIN => "begin",
        interop_function::END => "end",
        interop_function::RESET => "reset",
        other => {
            return Err(KmipError::invalid_field(format!(
                "Interop Function {other} is not defined"
            )));
        }
    };
    tracing::info!(identity = %ctx.caller.identity, test = identifier, step, "interop test case");
    Ok(Ttlv::structure(tag::RESPONSE_PAYLOAD, Vec::new()))
}
