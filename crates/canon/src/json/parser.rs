//! The strict parser: RFC 8259 JSON, refusing what two parsers could read differently
//! (duplicate names also after unescaping, lone surrogates, invalid UTF-8, a byte-order mark,
//! non-finite numbers, nesting deeper than [`super::MAX_DEPTH`]).

use super::*;

pub(super) struct Parser<'a> {
    pub(super) b: &'a [u8],
    /// The same bytes, validated as UTF-8 once up front: runs of plain characters are sliced
    /// from it without a second check.
    pub(super) text: &'a str,
    pub(super) pos: usize,
}

impl Parser<'_> {
    pub(super) fn err(&self, kind: ErrorKind) -> ParseError {
        ParseError {
            kind,
            offset: self.pos,
        }
    }

    pub(super) fn unexpected(&self) -> ParseError {
        match self.peek() {
            None => self.err(ErrorKind::UnexpectedEnd),
            Some(_) => {
                // Input is valid UTF-8 (checked up front), so decode the whole character.
                let rest = self.text.get(self.pos..).unwrap_or("\u{FFFD}");
                self.err(ErrorKind::Unexpected(
                    rest.chars().next().unwrap_or('\u{FFFD}'),
                ))
            }
        }
    }

    pub(super) fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    pub(super) fn skip_ws(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.pos += 1;
        }
    }

    pub(super) fn expect_literal(&mut self, lit: &[u8]) -> Result<(), ParseError> {
        for &c in lit {
            if self.peek() != Some(c) {
                return Err(self.unexpected());
            }
            self.pos += 1;
        }
        Ok(())
    }

    pub(super) fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
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

    pub(super) fn array(&mut self, depth: usize) -> Result<Value, ParseError> {
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

    pub(super) fn object(&mut self, depth: usize) -> Result<Value, ParseError> {
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

    pub(super) fn hex4(&mut self) -> Result<u16, ParseError> {
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

    pub(super) fn string(&mut self) -> Result<String, ParseError> {
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
                // Boundaries are at ASCII bytes, so the run is whole characters of the text
                // (checked up front); `get` still refuses a slice that is not.
                match self.text.get(start..self.pos) {
                    Some(s) => out.push_str(s),
                    None => {
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

    pub(super) fn number(&mut self) -> Result<Value, ParseError> {
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

    pub(super) fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.pos += 1;
        }
    }
}
