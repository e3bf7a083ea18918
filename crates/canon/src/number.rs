//! ES6 `Number.prototype.toString` formatting of IEEE-754 doubles, as RFC 8785 §3.2.2.3
//! requires.
//!
//! Rust's `{:e}` formatting already yields the shortest digit string that round-trips (and the
//! closest one when several are that short), which is exactly the digit selection ECMAScript
//! specifies; this module only places the decimal point and exponent the way ES6 does.

/// Appends the ES6 string form of a finite `v` to `out`.
///
/// Non-finite values cannot come out of [`crate::json::parse`]; if one is passed anyway it is
/// written as `null`, which is what `JSON.stringify` does.
pub fn write_es6(v: f64, out: &mut Vec<u8>) {
    if !v.is_finite() {
        out.extend_from_slice(b"null");
        return;
    }
    if v == 0.0 {
        out.push(b'0'); // also -0
        return;
    }
    // Fast path: integers below 2^53 are exact, so their shortest form is their digits.
    if v.fract() == 0.0 && v.abs() < 9_007_199_254_740_992.0 {
        out.extend_from_slice((v as i64).to_string().as_bytes());
        return;
    }
    if v < 0.0 {
        out.push(b'-');
    }
    let sci = format!("{:e}", v.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    break_tie_to_even(v.abs(), exp, &mut digits);
    let k = digits.len() as i32;
    // Value = 0.d1d2...dk × 10^n in the ECMAScript algorithm's terms.
    let n = exp + 1;
    if k <= n && n <= 21 {
        out.extend_from_slice(&digits);
        out.extend(std::iter::repeat_n(b'0', (n - k) as usize));
    } else if 0 < n && n <= 21 {
        out.extend_from_slice(&digits[..n as usize]);
        out.push(b'.');
        out.extend_from_slice(&digits[n as usize..]);
    } else if -6 < n && n <= 0 {
        out.extend_from_slice(b"0.");
        out.extend(std::iter::repeat_n(b'0', (-n) as usize));
        out.extend_from_slice(&digits);
    } else {
        out.push(digits[0]);
        if k > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if n - 1 > 0 { b'+' } else { b'-' });
        out.extend_from_slice((n - 1).unsigned_abs().to_string().as_bytes());
    }
}

/// ECMAScript picks, among shortest round-tripping digit strings equally close to the value,
/// the one whose last digit is even; Rust's shortest formatter rounds such ties up. When the
/// exact binary value lies exactly halfway between two `k`-digit decimals, pick the even one
/// (if it still round-trips).
fn break_tie_to_even(v: f64, exp: i32, digits: &mut Vec<u8>) {
    let k = digits.len();
    // Rust's precision formatting is exact: 800 significant digits cover every double.
    let exact = format!("{:.799e}", v);
    let Some((m, e)) = exact.split_once('e') else {
        return;
    };
    if e.parse::<i32>().ok() != Some(exp) {
        return;
    }
    let x: Vec<u8> = m.bytes().filter(u8::is_ascii_digit).collect();
    if x.len() <= k || x[k] != b'5' || x[k + 1..].iter().any(|&d| d != b'0') {
        return;
    }
    let lower = x[..k].to_vec();
    let mut upper = lower.clone();
    for d in upper.iter_mut().rev() {
        if *d == b'9' {
            *d = b'0';
        } else {
            *d += 1;
            break;
        }
    }
    if upper.iter().all(|&d| d == b'0') {
        return; // carried out of the leading digit: keep Rust's choice
    }
    let even = if lower[k - 1] % 2 == 0 { lower } else { upper };
    if even == *digits {
        return;
    }
    let text = format!(
        "{}.{}e{exp}",
        char::from(even[0]),
        std::str::from_utf8(&even[1..]).unwrap_or("")
    );
    if text.parse::<f64>().ok() == Some(v) {
        *digits = even;
    }
}

/// Returns the ES6 string form of `v`.
pub fn to_es6(v: f64) -> String {
    let mut out = Vec::new();
    write_es6(v, &mut out);
    String::from_utf8(out).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::to_es6;

    #[test]
    fn es6_forms() {
        // Values from RFC 8785 Appendix B and ECMAScript's own examples.
        let cases: &[(u64, &str)] = &[
            (0x0000000000000000, "0"),
            (0x8000000000000000, "0"),
            (0x0000000000000001, "5e-324"),
            (0x8000000000000001, "-5e-324"),
            (0x7fefffffffffffff, "1.7976931348623157e+308"),
            (0xffefffffffffffff, "-1.7976931348623157e+308"),
            (0x4340000000000000, "9007199254740992"),
            (0xc340000000000000, "-9007199254740992"),
            (0x4430000000000000, "295147905179352830000"),
            (0x44b52d02c7e14af5, "9.999999999999997e+22"),
            (0x44b52d02c7e14af6, "1e+23"),
            (0x44b52d02c7e14af7, "1.0000000000000001e+23"),
            (0x444b1ae4d6e2ef4e, "999999999999999700000"),
            (0x444b1ae4d6e2ef4f, "999999999999999900000"),
            (0x444b1ae4d6e2ef50, "1e+21"),
            (0x3eb0c6f7a0b5ed8c, "9.999999999999997e-7"),
            (0x3eb0c6f7a0b5ed8d, "0.000001"),
            (0x41b3de4355555553, "333333333.3333332"),
            (0x41b3de4355555554, "333333333.33333325"),
            (0x41b3de4355555555, "333333333.3333333"),
            (0x41b3de4355555556, "333333333.3333334"),
            (0x41b3de4355555557, "333333333.33333343"),
            (0xbecbf647612f3696, "-0.0000033333333333333333"),
            (0x43143ff3c1cb0959, "1424953923781206.2"),
        ];
        for &(bits, want) in cases {
            assert_eq!(to_es6(f64::from_bits(bits)), want, "bits {bits:#018x}");
        }
        assert_eq!(to_es6(1.0), "1");
        assert_eq!(to_es6(0.5), "0.5");
        assert_eq!(to_es6(1e-7), "1e-7");
        assert_eq!(to_es6(123e-20), "1.23e-18");
        assert_eq!(to_es6(f64::NAN), "null");
    }
}
