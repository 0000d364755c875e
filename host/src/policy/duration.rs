//! Durations people write (`100ms`, `5s`, `2m`, `1h30m`), parsed and
//! bounded: no duration from a flag, a profile or a policy can overflow a
//! clock, and a typo of many years is refused rather than run.

use std::time::Duration;

/// The longest duration relhost takes anywhere: 30 days.
pub const MAX_DURATION: Duration = Duration::from_secs(30 * 24 * 3600);

/// Parses a duration of at most [`MAX_DURATION`]; the error states the
/// expected form.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let value = humantime::parse_duration(text).map_err(|e| {
        format!("{text:?} is not a duration ({e}); expected one like 100ms, 5s, 2m or 1h30m")
    })?;
    if value > MAX_DURATION {
        return Err(format!(
            "{text:?} is longer than {}, the longest duration relhost takes",
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(value)
}

/// Parses a duration from `min` to `max` (both within [`MAX_DURATION`]).
pub fn parse_duration_within(text: &str, min: Duration, max: Duration) -> Result<Duration, String> {
    let value = parse_duration(text)?;
    if value < min || value > max {
        return Err(format!(
            "{text:?} is out of range; expected from {} to {}",
            humantime::format_duration(min),
            humantime::format_duration(max)
        ));
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_bounded() {
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert!(
            parse_duration("500000000000y")
                .unwrap_err()
                .contains("longer than 30days")
        );
        assert!(parse_duration("soon").unwrap_err().contains("like 100ms"));
        let within =
            |t| parse_duration_within(t, Duration::from_millis(1), Duration::from_secs(600));
        assert!(within("0s").unwrap_err().contains("from 1ms to 10m"));
        assert_eq!(within("100ms"), Ok(Duration::from_millis(100)));
    }
}
