//! Log and Interop (2.1 sections 6.1.26 and 6.1.29): a client's message for the server log, and the test
//! harness's Begin / End / Reset markers around each interoperability test case. Interop "SHALL NOT be
//! available in a production server": it answers only when `EngineConfig::interop_tests` is set, and Query lists
//! it only then.

use crate::kmip::KmipError;
use crate::kmip::operations::EmptyResponse;
use crate::kmip::operations::interop::{InteropRequest, LogRequest};
use crate::spec::enums::interop_function;

use super::OpContext;

/// Runs Log: the message goes to the server's log with the caller's identity.
pub(super) fn log(req: LogRequest, ctx: &mut OpContext<'_>) -> Result<EmptyResponse, KmipError> {
    let message = req
        .log_message
        .ok_or_else(|| KmipError::invalid_message("Log Message is missing"))?;
    tracing::info!(identity = %ctx.caller.identity, message, "client log message");
    Ok(EmptyResponse)
}

/// Runs Interop: records the test case's boundary in the log.
pub(super) fn interop(
    req: InteropRequest,
    ctx: &mut OpContext<'_>,
) -> Result<EmptyResponse, KmipError> {
    if !ctx.config.interop_tests {
        return Err(KmipError::operation_not_supported(
            "Interop is available only on a server configured for interoperability tests",
        ));
    }
    let function = req
        .interop_function
        .ok_or_else(|| KmipError::invalid_message("Interop Function is missing"))?;
    let identifier = req
        .interop_identifier
        .ok_or_else(|| KmipError::invalid_message("Interop Identifier is missing"))?;
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
    Ok(EmptyResponse)
}
