//! The one convention for parsing settings from text (`FromStr` of every distill type):
//! a [`ParseError`] that names what was parsed, the text, and what was expected.

/// Text that does not parse as a setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bad {what} '{input}': {expected}")]
pub struct ParseError {
    /// What was being parsed (`layout`, `architecture`, `shard`, …).
    pub what: &'static str,
    /// The text as given.
    pub input: String,
    /// What would have been accepted, or why the text is wrong.
    pub expected: String,
}

impl ParseError {
    /// The error for `input`, read as a `what`.
    pub fn new(what: &'static str, input: &str, expected: impl Into<String>) -> Self {
        ParseError {
            what,
            input: input.to_string(),
            expected: expected.into(),
        }
    }
}

/// Parses an image size: `HxW` (e.g. `224x224`) or one number for a square.
pub fn parse_size(text: &str) -> Result<[usize; 2], ParseError> {
    let bad = || {
        ParseError::new(
            "size",
            text,
            "expected HEIGHTxWIDTH (e.g. 32x32) or one number",
        )
    };
    let (h, w) = text.split_once(['x', 'X']).unwrap_or((text, text));
    let h = h.trim().parse().map_err(|_| bad())?;
    let w = w.trim().parse().map_err(|_| bad())?;
    Ok([h, w])
}

/// Parses a byte count: a number with an optional K, M or G suffix (powers of 1024).
pub fn parse_bytes(text: &str) -> Result<u64, ParseError> {
    let bad = || ParseError::new("size in bytes", text, "expected a size such as 512M or 2G");
    let t = text.trim();
    let (digits, unit) = match t
        .char_indices()
        .find(|(_, c)| !c.is_ascii_digit() && *c != '.')
    {
        Some((i, _)) => (&t[..i], t[i..].trim().to_ascii_uppercase()),
        None => (t, String::new()),
    };
    let scale = match unit.trim_end_matches(['B', 'I']) {
        "" => 1u64,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(bad()),
    };
    let value: f64 = digits.parse().map_err(|_| bad())?;
    Ok((value * scale as f64) as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_byte_counts_parse_or_say_what_was_expected() {
        assert_eq!(parse_size("32x24"), Ok([32, 24]));
        assert_eq!(parse_size("28"), Ok([28, 28]));
        assert!(
            parse_size("axb")
                .unwrap_err()
                .to_string()
                .contains("HEIGHTxWIDTH")
        );
        assert_eq!(parse_bytes("2G"), Ok(2 << 30));
        assert_eq!(parse_bytes("512MiB"), Ok(512 << 20));
        assert_eq!(parse_bytes("1000"), Ok(1000));
        assert!(parse_bytes("3T").unwrap_err().to_string().contains("512M"));
    }
}
