//! Log lines as Lambda's advanced logging controls ask for them.
//!
//! lambda_runtime's own subscriber does the same through tracing-subscriber's `env-filter`,
//! which builds a regex engine into the function for span-field matching that nothing here
//! uses. `Targets` reads the same `target=level` directives without it.

use std::str::FromStr;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// The filter for `AWS_LAMBDA_LOG_LEVEL` (a level, default `INFO`) and then `RUST_LOG`
/// (`level` or `target=level` directives, comma-separated), as the environment gives them.
///
/// A level Lambda knows but tracing does not (`FATAL`) or a directive that does not parse is
/// ignored rather than stopping start-up: logging is never a reason not to serve.
pub fn filter(lambda_level: Option<&str>, rust_log: Option<&str>) -> Targets {
    let level = lambda_level.and_then(|l| LevelFilter::from_str(l).ok()).unwrap_or(LevelFilter::INFO);
    let directives = rust_log.and_then(|d| Targets::from_str(d).ok());
    let mut filter = Targets::new().with_default(level);
    if let Some(directives) = directives {
        if let Some(default) = directives.default_level() {
            filter = filter.with_default(default);
        }
        filter = filter.with_targets(directives);
    }
    filter
}

/// Installs the global subscriber: one JSON object per line when `AWS_LAMBDA_LOG_FORMAT` is
/// `JSON` (the template sets it), text otherwise; no timestamps, which CloudWatch adds.
pub fn init() {
    let var = |name| std::env::var(name).ok();
    let filter = filter(var("AWS_LAMBDA_LOG_LEVEL").as_deref(), var("RUST_LOG").as_deref());
    let json = var("AWS_LAMBDA_LOG_FORMAT").is_some_and(|f| f.eq_ignore_ascii_case("json"));
    let lines = tracing_subscriber::fmt::layer().with_target(false).without_time();
    let lines = if json { lines.json().boxed() } else { lines.boxed() };
    tracing_subscriber::registry().with(lines).with(filter).init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    fn enabled(filter: &Targets, target: &str, level: Level) -> bool {
        filter.would_enable(target, &level)
    }

    #[test]
    fn info_unless_told_otherwise() {
        let f = filter(None, None);
        assert!(enabled(&f, "image_ingest", Level::INFO));
        assert!(!enabled(&f, "image_ingest", Level::DEBUG));
    }

    #[test]
    fn lambda_level_sets_the_default_and_an_unknown_one_is_info() {
        let f = filter(Some("WARN"), None);
        assert!(enabled(&f, "aws_smithy_runtime", Level::WARN));
        assert!(!enabled(&f, "image_ingest", Level::INFO));
        assert!(enabled(&filter(Some("FATAL"), None), "x", Level::INFO));
    }

    #[test]
    fn rust_log_directives_narrow_or_widen_one_target() {
        let f = filter(Some("WARN"), Some("image_ingest::store=debug"));
        assert!(enabled(&f, "image_ingest::store::s3", Level::DEBUG));
        assert!(!enabled(&f, "image_ingest::ingest", Level::INFO));
        let f = filter(None, Some("error,image_ingest=trace"));
        assert!(!enabled(&f, "hyper", Level::WARN));
        assert!(enabled(&f, "image_ingest", Level::TRACE));
    }

    #[test]
    fn a_directive_that_does_not_parse_is_ignored() {
        let f = filter(None, Some("image_ingest=loud"));
        assert!(enabled(&f, "image_ingest", Level::INFO));
        assert!(!enabled(&f, "image_ingest", Level::DEBUG));
    }
}
