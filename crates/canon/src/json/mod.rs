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

mod parser;
use parser::Parser;

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
    let text = match std::str::from_utf8(input) {
        Ok(t) => t,
        Err(e) => {
            return Err(ParseError {
                kind: ErrorKind::InvalidUtf8,
                offset: e.valid_up_to(),
            })
        }
    };
    let mut p = Parser {
        b: input,
        text,
        pos: 0,
    };
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
