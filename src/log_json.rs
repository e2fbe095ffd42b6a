//! `--log-format json`: one JSON object per log line, for collectors that parse structured logs. The layout is
//! tracing-subscriber's JSON one (`timestamp`, `level`, `fields` with `message`, `target`, `spans`), but every
//! text value first goes through [`escape_control`](crate::log_text::escape_control), as the text format's
//! fields do: JSON escaping alone leaves C1 controls (a terminal's CSI, NEL) raw, and client text must not
//! carry them into an operator's terminal.

use std::fmt;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

use crate::log_text::escape_control;

/// The JSON line format (see the module documentation).
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

/// Collects an event's fields as JSON values, text escaped. A name given twice (a `message` field beside the
/// event's message) keeps both: the later one as `name#2`.
struct Fields(Map<String, Value>);

impl Fields {
    fn put(&mut self, name: &str, value: Value) {
        let mut key = name.to_string();
        let mut n = 1;
        while self.0.contains_key(&key) {
            n += 1;
            key = format!("{name}#{n}");
        }
        self.0.insert(key, value);
    }
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        let text = format!("{value:?}");
        self.put(
            field.name(),
            Value::String(escape_control(&text).into_owned()),
        );
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(
            field.name(),
            Value::String(escape_control(value).into_owned()),
        );
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field.name(), Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field.name(), Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field.name(), Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field.name(), Value::from(value));
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut fields = Fields(Map::new());
        event.record(&mut fields);
        let meta = event.metadata();
        let mut line = Map::new();
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        line.insert("timestamp".into(), Value::String(now));
        line.insert("level".into(), Value::String(meta.level().to_string()));
        line.insert("fields".into(), Value::Object(fields.0));
        line.insert("target".into(), Value::String(meta.target().to_string()));
        if let Some(scope) = ctx.event_scope() {
            let spans: Vec<Value> = scope
                .from_root()
                .map(|span| Value::String(span.name().to_string()))
                .collect();
            if !spans.is_empty() {
                line.insert("spans".into(), Value::Array(spans));
            }
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buffer {
        fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
            self.0
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .extend_from_slice(data);
            Ok(data.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn each_event_is_one_json_line_with_client_text_escaped() {
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .event_format(JsonLines)
            .with_writer(move || writer.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            let client = "forged\n{\"level\":\"ERROR\"}\x1b[2K\u{9b}31m";
            tracing::info!(client, count = 3u64, ok = true, "client log message");
            tracing::info!(message = "second", "first");
            tracing::warn!(peer = %"10.0.0.1:5", "plain");
        });
        let bytes = buffer.0.lock().unwrap().clone();
        let text = String::from_utf8(bytes).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(
            !text.contains('\u{1b}') && !text.contains('\u{9b}'),
            "{text:?}"
        );
        let first: Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(first["level"], "INFO");
        assert_eq!(first["fields"]["message"], "client log message");
        assert_eq!(
            first["fields"]["client"],
            "forged\\n{\"level\":\"ERROR\"}\\u{1b}[2K\\u{9b}31m"
        );
        assert_eq!(first["fields"]["count"], 3);
        assert_eq!(first["fields"]["ok"], true);
        let both: Value = serde_json::from_str(lines[1]).unwrap();
        let mut messages = [
            both["fields"]["message"].as_str().unwrap_or_default(),
            both["fields"]["message#2"].as_str().unwrap_or_default(),
        ];
        messages.sort_unstable();
        assert_eq!(messages, ["first", "second"], "{}", lines[1]);
        let second: Value = serde_json::from_str(lines[2]).unwrap();
        assert_eq!(second["fields"]["message"], "plain");
        assert_eq!(second["fields"]["peer"], "10.0.0.1:5");
        assert_eq!(second["level"], "WARN");
    }
}
