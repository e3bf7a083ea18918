//! Strict JSON parsing and RFC 8785 (JCS) canonical serialization.
//!
//! Everything Airlock signs goes through [`parse`] and [`Value::to_canonical`]: the signature is
//! made over the canonical form of the *parsed value*, so two parsers can never disagree about
//! what was signed. The parser is deliberately stricter than RFC 8259 allows: anything a
//! differential attack could exploit (duplicate names, also names equal only after unescaping,
//! lone surrogates, byte-order marks, non-finite numbers, excessive depth) is an error carrying
//! the byte offset where it was found.

use std::cmp::Ordering;
use std::fmt;

/// Deepest nesting of arrays and objects accepted by [`parse`].
///
/// Rationale: the parser is recursive; a fixed bound keeps hostile input from exhausting the
/// stack, and no Airlock document nests deeper than a handful of levels.
pub const MAX_DEPTH: usize = 64;

/// A parsed JSON value. Object members are kept sorted in RFC 8785 order (UTF-16 code units)
/// and are unique, so serializing a `Value` is always canonical.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`
    Null,
    /// `true` / `false`
    Bool(bool),
    /// A finite IEEE-754 double (RFC 8785 number model).
    Number(f64),
    /// A string of Unicode scalar values.
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object whose members are unique and sorted by UTF-16 code units. [`Members`] can
    /// only be built sorted ([`Value::object`], the parser): canonical order is unforgeable.
    Object(Members),
}

/// The members of a JSON object: unique names, sorted by UTF-16 code units. Read it as a
/// slice; build it with [`Value::object`] (or [`Members::without`]), which keep the order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Members(Vec<(String, Value)>);

impl std::ops::Deref for Members {
    type Target = [(String, Value)];
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl Members {
    /// These members without `name` (still sorted and unique).
    pub fn without(&self, name: &str) -> Members {
        Members(self.0.iter().filter(|(k, _)| k != name).cloned().collect())
    }

    /// The members, by value.
    pub fn into_vec(self) -> Vec<(String, Value)> {
        self.0
    }
}

/// What went wrong while parsing.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The input is empty or only whitespace.
    Empty,
    /// The input starts with a UTF-8 byte-order mark.
    ByteOrderMark,
    /// The input is not valid UTF-8.
    InvalidUtf8,
    /// A byte that cannot start or continue a value here.
    Unexpected(char),
    /// The input ended inside a value.
    UnexpectedEnd,
    /// Non-whitespace data follows the top-level value.
    TrailingData,
    /// An object has two members with this name (compared after unescaping).
    DuplicateName(String),
    /// A `\uD800`–`\uDFFF` escape that is not part of a valid surrogate pair.
    LoneSurrogate,
    /// An unknown escape sequence or malformed `\u` escape.
    InvalidEscape,
    /// A raw control character (below U+0020) inside a string.
    ControlCharacter,
    /// A number that does not follow the JSON grammar (leading zeros, `NaN`, `Infinity`, ...).
    InvalidNumber,
    /// A number whose magnitude overflows an IEEE-754 double.
    NumberOverflow,
    /// Arrays and objects nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

/// A parse error: its kind and the byte offset in the input where it was detected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Byte offset into the input.
    pub offset: usize,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = match &self.kind {
            ErrorKind::Empty => "empty document".to_string(),
            ErrorKind::ByteOrderMark => "byte-order mark is not allowed".to_string(),
            ErrorKind::InvalidUtf8 => "invalid UTF-8".to_string(),
            ErrorKind::Unexpected(c) => format!("unexpected character {c:?}"),
            ErrorKind::UnexpectedEnd => "unexpected end of input".to_string(),
            ErrorKind::TrailingData => "trailing data after the JSON value".to_string(),
            ErrorKind::DuplicateName(n) => format!("duplicate object member name {n:?}"),
            ErrorKind::LoneSurrogate => "lone UTF-16 surrogate in \\u escape".to_string(),
            ErrorKind::InvalidEscape => "invalid escape sequence".to_string(),
            ErrorKind::ControlCharacter => "unescaped control character in string".to_string(),
            ErrorKind::InvalidNumber => "invalid number".to_string(),
            ErrorKind::NumberOverflow => "number overflows an IEEE-754 double".to_string(),
            ErrorKind::TooDeep => format!("nesting deeper than {MAX_DEPTH} levels"),
        };
        write!(f, "json: {what} at byte {}", self.offset)
    }
}

impl std::error::Error for ParseError {}

/// Parses one JSON document strictly.
///
/// Accepts exactly RFC 8259 JSON text (whitespace: space, tab, LF, CR) with the extra
/// restrictions listed in the module documentation.
pub fn parse(input: &[u8]) -> Result<Value, ParseError> {
    if input.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return Err(ParseError {
            kind: ErrorKind::ByteOrderMark,
            offset: 0,
        });
    }
    if let Err(e) = std::str::from_utf8(input) {
        return Err(ParseError {
            kind: ErrorKind::InvalidUtf8,
            offset: e.valid_up_to(),
        });
    }
    let mut p = Parser { b: input, pos: 0 };
    p.skip_ws();
    if p.pos == input.len() {
        return Err(p.err(ErrorKind::Empty));
    }
    let v = p.value(0)?;
    p.skip_ws();
    if p.pos != input.len() {
        return Err(p.err(ErrorKind::TrailingData));
    }
    Ok(v)
}

/// Parses `input` strictly and returns its RFC 8785 canonical bytes.
pub fn canonicalize(input: &[u8]) -> Result<Vec<u8>, ParseError> {
    Ok(parse(input)?.to_canonical())
}

/// Compares two strings by their UTF-16 code units, the RFC 8785 member order.
pub fn cmp_utf16(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

struct Parser<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn err(&self, kind: ErrorKind) -> ParseError {
        ParseError {
            kind,
            offset: self.pos,
        }
    }

    fn unexpected(&self) -> ParseError {
        match self.peek() {
            None => self.err(ErrorKind::UnexpectedEnd),
            Some(_) => {
                // Input is valid UTF-8 (checked up front), so decode the whole character.
                let rest = std::str::from_utf8(&self.b[self.pos..]).unwrap_or("\u{FFFD}");
                self.err(ErrorKind::Unexpected(
                    rest.chars().next().unwrap_or('\u{FFFD}'),
                ))
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    fn expect_literal(&mut self, lit: &[u8]) -> Result<(), ParseError> {
        for &c in lit {
            if self.peek() != Some(c) {
                return Err(self.unexpected());
            }
            self.pos += 1;
        }
        Ok(())
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        match self.peek() {
            None => Err(self.err(ErrorKind::UnexpectedEnd)),
            Some(b'n') => self.expect_literal(b"null").map(|_| Value::Null),
            Some(b't') => self.expect_literal(b"true").map(|_| Value::Bool(true)),
            Some(b'f') => self.expect_literal(b"false").map(|_| Value::Bool(false)),
            Some(b'"') => self.string().map(Value::String),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[') => self.array(depth + 1),
            Some(b'{') => self.object(depth + 1),
            Some(b'N' | b'I') => Err(self.err(ErrorKind::InvalidNumber)),
            Some(_) => Err(self.unexpected()),
        }
    }

    fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err(ErrorKind::TooDeep));
        }
        self.pos += 1; // '['
        let mut items = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b']') {
            self.pos += 1;
            return Ok(Value::Array(items));
        }
        loop {
            self.skip_ws();
            items.push(self.value(depth)?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b']') => {
                    self.pos += 1;
                    return Ok(Value::Array(items));
                }
                _ => return Err(self.unexpected()),
            }
        }
    }

    fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err(ErrorKind::TooDeep));
        }
        self.pos += 1; // '{'
        let mut members: Vec<(String, Value, usize)> = Vec::new();
        self.skip_ws();
        if self.peek() == Some(b'}') {
            self.pos += 1;
            return Ok(Value::Object(Members::default()));
        }
        loop {
            self.skip_ws();
            if self.peek() != Some(b'"') {
                return Err(self.unexpected());
            }
            let at = self.pos;
            let name = self.string()?;
            self.skip_ws();
            if self.peek() != Some(b':') {
                return Err(self.unexpected());
            }
            self.pos += 1;
            self.skip_ws();
            let v = self.value(depth)?;
            members.push((name, v, at));
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.unexpected()),
            }
        }
        // Sort (stable) by UTF-16 code units; equal neighbours are duplicates. Report the
        // occurrence that comes later in the input.
        members.sort_by(|a, b| cmp_utf16(&a.0, &b.0));
        for w in members.windows(2) {
            if w[0].0 == w[1].0 {
                return Err(ParseError {
                    kind: ErrorKind::DuplicateName(w[0].0.clone()),
                    offset: w[0].2.max(w[1].2),
                });
            }
        }
        Ok(Value::Object(Members(
            members.into_iter().map(|(k, v, _)| (k, v)).collect(),
        )))
    }

    fn hex4(&mut self) -> Result<u16, ParseError> {
        let mut v: u16 = 0;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                None => return Err(self.err(ErrorKind::UnexpectedEnd)),
                Some(_) => return Err(self.err(ErrorKind::InvalidEscape)),
            };
            v = (v << 4) | u16::from(d);
            self.pos += 1;
        }
        Ok(v)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            // Copy the longest run of plain bytes at once.
            let start = self.pos;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' || c < 0x20 {
                    break;
                }
                self.pos += 1;
            }
            if self.pos > start {
                // Boundaries are at ASCII bytes, so the run is valid UTF-8 (checked up front).
                match std::str::from_utf8(&self.b[start..self.pos]) {
                    Ok(s) => out.push_str(s),
                    Err(_) => {
                        return Err(ParseError {
                            kind: ErrorKind::InvalidUtf8,
                            offset: start,
                        })
                    }
                }
            }
            match self.peek() {
                None => return Err(self.err(ErrorKind::UnexpectedEnd)),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    let esc_at = self.pos;
                    self.pos += 1;
                    let c = self
                        .peek()
                        .ok_or_else(|| self.err(ErrorKind::UnexpectedEnd))?;
                    self.pos += 1;
                    match c {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let hi = self.hex4()?;
                            let lone = ParseError {
                                kind: ErrorKind::LoneSurrogate,
                                offset: esc_at,
                            };
                            let cp = match hi {
                                0xD800..=0xDBFF => {
                                    if self.b.get(self.pos..self.pos + 2) != Some(b"\\u") {
                                        return Err(lone);
                                    }
                                    self.pos += 2;
                                    let lo = self.hex4()?;
                                    if !(0xDC00..=0xDFFF).contains(&lo) {
                                        return Err(lone);
                                    }
                                    0x10000
                                        + ((u32::from(hi) - 0xD800) << 10)
                                        + (u32::from(lo) - 0xDC00)
                                }
                                0xDC00..=0xDFFF => return Err(lone),
                                _ => u32::from(hi),
                            };
                            out.push(char::from_u32(cp).ok_or(lone)?);
                        }
                        _ => {
                            return Err(ParseError {
                                kind: ErrorKind::InvalidEscape,
                                offset: esc_at,
                            })
                        }
                    }
                }
                Some(_) => return Err(self.err(ErrorKind::ControlCharacter)),
            }
        }
    }

    fn number(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        let invalid = |p: &Self| ParseError {
            kind: ErrorKind::InvalidNumber,
            offset: p.pos,
        };
        if self.peek() == Some(b'-') {
            self.pos += 1;
        }
        match self.peek() {
            Some(b'0') => {
                self.pos += 1;
                if let Some(b'0'..=b'9') = self.peek() {
                    return Err(invalid(self));
                }
            }
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(invalid(self)),
        }
        if self.peek() == Some(b'.') {
            self.pos += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(invalid(self));
            }
            self.digits();
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.pos += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.pos += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return Err(invalid(self));
            }
            self.digits();
        }
        let text = std::str::from_utf8(&self.b[start..self.pos]).map_err(|_| invalid(self))?;
        // Rust's float parser is correctly rounded (round-half-to-even), as RFC 8785 requires.
        let v: f64 = text.parse().map_err(|_| invalid(self))?;
        if !v.is_finite() {
            return Err(ParseError {
                kind: ErrorKind::NumberOverflow,
                offset: start,
            });
        }
        Ok(Value::Number(v))
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
}

impl Value {
    /// Serializes the value in RFC 8785 canonical form.
    pub fn to_canonical(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(256);
        self.write_canonical(&mut out);
        out
    }

    /// Appends the RFC 8785 canonical form of the value to `out`.
    pub fn write_canonical(&self, out: &mut Vec<u8>) {
        match self {
            Value::Null => out.extend_from_slice(b"null"),
            Value::Bool(true) => out.extend_from_slice(b"true"),
            Value::Bool(false) => out.extend_from_slice(b"false"),
            Value::Number(n) => crate::number::write_es6(*n, out),
            Value::String(s) => write_string(s, out),
            Value::Array(items) => {
                out.push(b'[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    v.write_canonical(out);
                }
                out.push(b']');
            }
            Value::Object(members) => {
                out.push(b'{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_string(k, out);
                    out.push(b':');
                    v.write_canonical(out);
                }
                out.push(b'}');
            }
        }
    }

    /// Serializes the value for humans: two-space indentation, members in canonical order.
    /// Parsing the result and canonicalizing it gives back [`Value::to_canonical`].
    pub fn to_pretty(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(512);
        self.write_pretty(&mut out, 0);
        out.push(b'\n');
        out
    }

    fn write_pretty(&self, out: &mut Vec<u8>, indent: usize) {
        match self {
            Value::Array(items) if !items.is_empty() => {
                write_pretty_block(out, indent, *b"[]", items.iter().map(|v| (None, v)))
            }
            Value::Object(members) if !members.is_empty() => write_pretty_block(
                out,
                indent,
                *b"{}",
                members.iter().map(|(k, v)| (Some(k.as_str()), v)),
            ),
            other => other.write_canonical(out),
        }
    }

    /// Builds an object value from members in any order, sorting them canonically.
    /// Returns `None` when two members share a name.
    pub fn object(mut members: Vec<(String, Value)>) -> Option<Value> {
        members.sort_by(|a, b| cmp_utf16(&a.0, &b.0));
        if members.windows(2).any(|w| w[0].0 == w[1].0) {
            return None;
        }
        Some(Value::Object(Members(members)))
    }

    /// Looks up a member of an object by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        match self {
            Value::Object(m) => m
                .binary_search_by(|(k, _)| cmp_utf16(k, name))
                .ok()
                .map(|i| &m[i].1),
            _ => None,
        }
    }

    /// Looks up a member of an object by name, to change its value (names, and so the
    /// canonical order, cannot change).
    pub fn get_mut(&mut self, name: &str) -> Option<&mut Value> {
        match self {
            Value::Object(m) => match m.0.binary_search_by(|(k, _)| cmp_utf16(k, name)) {
                Ok(i) => Some(&mut m.0[i].1),
                Err(_) => None,
            },
            _ => None,
        }
    }

    /// The string, if this is a string.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }
}

/// An array's items or an object's members, one per line, indented by two spaces a level.
fn write_pretty_block<'a>(
    out: &mut Vec<u8>,
    indent: usize,
    brackets: [u8; 2],
    items: impl ExactSizeIterator<Item = (Option<&'a str>, &'a Value)>,
) {
    let pad = |out: &mut Vec<u8>, n: usize| out.extend(std::iter::repeat_n(b' ', n * 2));
    out.extend_from_slice(&[brackets[0], b'\n']);
    let n = items.len();
    for (i, (name, v)) in items.enumerate() {
        pad(out, indent + 1);
        if let Some(k) = name {
            write_string(k, out);
            out.extend_from_slice(b": ");
        }
        v.write_pretty(out, indent + 1);
        if i + 1 < n {
            out.push(b',');
        }
        out.push(b'\n');
    }
    pad(out, indent);
    out.push(brackets[1]);
}

fn write_string(s: &str, out: &mut Vec<u8>) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut run = 0;
    for (i, &c) in bytes.iter().enumerate() {
        let esc: &[u8] = match c {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x09 => b"\\t",
            0x0A => b"\\n",
            0x0C => b"\\f",
            0x0D => b"\\r",
            0x00..=0x1F => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[run..i]);
        run = i + 1;
        if esc.is_empty() {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(c >> 4)]);
            out.push(HEX[usize::from(c & 0xF)]);
        } else {
            out.extend_from_slice(esc);
        }
    }
    out.extend_from_slice(&bytes[run..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(input: &str) -> ErrorKind {
        parse(input.as_bytes()).unwrap_err().kind
    }

    #[test]
    fn rejects_duplicates_also_after_unescaping() {
        assert_eq!(
            kind(r#"{"a":1,"a":2}"#),
            ErrorKind::DuplicateName("a".into())
        );
        assert_eq!(
            kind(r#"{"a":1,"\u0061":2}"#),
            ErrorKind::DuplicateName("a".into())
        );
        let e = parse(br#"{"a":1,"b":{"c":1,"c":2}}"#).unwrap_err();
        assert_eq!(e.offset, 18);
    }

    #[test]
    fn rejects_lone_surrogates() {
        assert_eq!(kind(r#""\ud800""#), ErrorKind::LoneSurrogate);
        assert_eq!(kind(r#""\udc00""#), ErrorKind::LoneSurrogate);
        assert_eq!(kind(r#""\ud800\u0041""#), ErrorKind::LoneSurrogate);
        assert_eq!(kind(r#""\ud800x""#), ErrorKind::LoneSurrogate);
        assert_eq!(
            parse(br#""\ud83d\ude00""#).unwrap(),
            Value::String("\u{1F600}".into())
        );
    }

    #[test]
    fn rejects_invalid_utf8_and_bom() {
        assert_eq!(
            parse(b"\"\xff\"").unwrap_err(),
            ParseError {
                kind: ErrorKind::InvalidUtf8,
                offset: 1
            }
        );
        assert_eq!(
            parse(b"\"\xed\xa0\x80\"").unwrap_err().kind,
            ErrorKind::InvalidUtf8
        );
        assert_eq!(
            parse(b"\xEF\xBB\xBF{}").unwrap_err().kind,
            ErrorKind::ByteOrderMark
        );
    }

    #[test]
    fn rejects_non_finite_and_bad_numbers() {
        assert_eq!(kind("NaN"), ErrorKind::InvalidNumber);
        assert_eq!(kind("Infinity"), ErrorKind::InvalidNumber);
        assert_eq!(kind("-Infinity"), ErrorKind::InvalidNumber);
        assert_eq!(kind("1e400"), ErrorKind::NumberOverflow);
        assert_eq!(kind("-1e309"), ErrorKind::NumberOverflow);
        assert_eq!(kind("01"), ErrorKind::InvalidNumber);
        assert_eq!(kind("1."), ErrorKind::InvalidNumber);
        assert_eq!(kind(".5"), ErrorKind::Unexpected('.'));
        assert_eq!(kind("+1"), ErrorKind::Unexpected('+'));
        assert_eq!(kind("1e"), ErrorKind::InvalidNumber);
        assert_eq!(kind("0x10"), ErrorKind::TrailingData);
        // Underflow is not an error: it rounds to zero, as IEEE-754 says.
        assert_eq!(parse(b"1e-400").unwrap(), Value::Number(0.0));
    }

    #[test]
    fn rejects_deep_nesting_without_overflowing_the_stack() {
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(parse(ok.as_bytes()).is_ok());
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert_eq!(kind(&deep), ErrorKind::TooDeep);
        let hostile = "[".repeat(1_000_000);
        assert_eq!(kind(&hostile), ErrorKind::TooDeep);
        let objs = r#"{"a":"#.repeat(100_000);
        assert_eq!(kind(&objs), ErrorKind::TooDeep);
    }

    #[test]
    fn rejects_non_json_whitespace_and_trailing_data() {
        assert_eq!(kind("\u{a0}1"), ErrorKind::Unexpected('\u{a0}'));
        assert_eq!(kind("\u{c}1"), ErrorKind::Unexpected('\u{c}'));
        assert_eq!(kind("1 2"), ErrorKind::TrailingData);
        assert_eq!(kind("{} x"), ErrorKind::TrailingData);
        assert_eq!(kind(""), ErrorKind::Empty);
        assert_eq!(kind("  \n"), ErrorKind::Empty);
        assert_eq!(kind("\"a\tb\""), ErrorKind::ControlCharacter);
        assert_eq!(kind(r#""\x""#), ErrorKind::InvalidEscape);
        assert_eq!(kind(r#""\u12G4""#), ErrorKind::InvalidEscape);
        assert_eq!(kind(r#"{"a" 1}"#), ErrorKind::Unexpected('1'));
        assert_eq!(kind("[1,]"), ErrorKind::Unexpected(']'));
        assert_eq!(kind("{\"a\":1,}"), ErrorKind::Unexpected('}'));
        assert_eq!(kind("[1"), ErrorKind::UnexpectedEnd);
        assert_eq!(kind("\"abc"), ErrorKind::UnexpectedEnd);
        assert_eq!(kind("nul"), ErrorKind::UnexpectedEnd);
        assert_eq!(kind("True"), ErrorKind::Unexpected('T'));
    }

    #[test]
    fn very_long_strings_parse_in_linear_time() {
        let s = format!("\"{}\"", "x".repeat(4 << 20));
        let v = parse(s.as_bytes()).unwrap();
        assert_eq!(v.as_str().map(str::len), Some(4 << 20));
    }

    #[test]
    fn canonical_escaping_and_order() {
        let v = parse(br#"{"b":"\u000f\u001f\"\\\/","a":[true,false,null],"\u20ac":1,"\ud83d\ude00":2,"\ufb33":3}"#).unwrap();
        let c = String::from_utf8(v.to_canonical()).unwrap();
        assert_eq!(
            c,
            "{\"a\":[true,false,null],\"b\":\"\\u000f\\u001f\\\"\\\\/\",\"\u{20ac}\":1,\"\u{1F600}\":2,\"\u{fb33}\":3}"
        );
    }

    #[test]
    fn pretty_output_canonicalizes_back() {
        let v = parse(br#"{"z":[1,{"y":[]},{}],"a":"x"}"#).unwrap();
        let pretty = v.to_pretty();
        assert_eq!(canonicalize(&pretty).unwrap(), v.to_canonical());
        assert!(pretty.ends_with(b"}\n"));
    }

    #[test]
    fn object_builder_and_lookup() {
        let v = Value::object(vec![
            ("b".into(), Value::Null),
            ("a".into(), Value::Bool(true)),
        ])
        .unwrap();
        assert_eq!(v.get("a"), Some(&Value::Bool(true)));
        assert_eq!(v.get("c"), None);
        assert!(
            Value::object(vec![("a".into(), Value::Null), ("a".into(), Value::Null)]).is_none()
        );
    }
}
