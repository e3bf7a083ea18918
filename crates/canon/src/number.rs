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
///
/// The test is exact integer arithmetic in constant time (a tie needs the value to equal
/// `N × 10^e` for the `k+1`-digit `N` ending in 5), so hostile input full of numbers such as
/// `5e-324` costs no more than any other number.
fn break_tie_to_even(v: f64, exp: i32, digits: &mut Vec<u8>) {
    let k = digits.len();
    if k == 0 || k > 17 {
        return;
    }
    let d: u64 = digits
        .iter()
        .fold(0u64, |acc, &c| acc * 10 + u64::from(c - b'0'));
    // The value is 0.d1..dk × 10^(exp+1); a tie at k digits is (lower·10 + 5) × 10^(exp−k),
    // where lower is Rust's digits or the k-digit number below them.
    let pow10_k1 = 10u64.pow(k as u32 - 1);
    let mut lower = None;
    for cand in [d.checked_sub(1), Some(d)].into_iter().flatten() {
        if cand < pow10_k1 {
            continue; // fewer than k digits: the exact value has another exponent
        }
        if exactly_equals(v, cand * 10 + 5, exp - k as i32) {
            lower = Some(cand);
        }
    }
    let Some(lower) = lower else {
        return;
    };
    let upper = lower + 1;
    if upper >= pow10_k1 * 10 {
        return; // carried out of the leading digit: keep Rust's choice
    }
    let even = if lower.is_multiple_of(2) {
        lower
    } else {
        upper
    };
    if even == d {
        return;
    }
    let even_digits = even.to_string().into_bytes();
    let text = format!(
        "{}.{}e{exp}",
        char::from(even_digits[0]),
        std::str::from_utf8(&even_digits[1..]).unwrap_or("")
    );
    if text.parse::<f64>().ok() == Some(v) {
        *digits = even_digits;
    }
}

/// Whether the finite, positive `v` is exactly `n × 10^e10`, by comparing odd parts and
/// powers of two: `v = mo·2^a` and `n·10^e10 = no·5^e10·2^(nz+e10)`.
fn exactly_equals(v: f64, n: u64, e10: i32) -> bool {
    let bits = v.to_bits();
    let exp_bits = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1 << 52) - 1);
    let (m, q) = if exp_bits == 0 {
        (frac, -1074)
    } else {
        (frac | (1 << 52), exp_bits - 1075)
    };
    if m == 0 || n == 0 {
        return false;
    }
    let (mz, nz) = (m.trailing_zeros() as i32, n.trailing_zeros() as i32);
    let (mo, no) = (u128::from(m >> mz), u128::from(n >> nz));
    let five = |p: i32| 5u128.checked_pow(p as u32);
    if e10 >= 0 {
        // v = mo·2^(q+mz) vs no·5^e10·2^(nz+e10)
        five(e10).and_then(|f| no.checked_mul(f)) == Some(mo) && q + mz == nz + e10
    } else {
        // v·10^f = n with f = −e10: mo·5^f·2^(q+mz+f) vs no·2^nz
        let f = -e10;
        five(f).and_then(|p| mo.checked_mul(p)) == Some(no) && q + mz + f == nz
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

    /// The former method, kept as an oracle: Rust's exact 800-digit expansion decides ties.
    fn oracle(v: f64) -> String {
        let sci = format!("{:e}", v.abs());
        let (mantissa, exp) = sci.split_once('e').unwrap();
        let exp: i32 = exp.parse().unwrap();
        let mut digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
        let k = digits.len();
        let exact = format!("{:.799e}", v.abs());
        let (m, e) = exact.split_once('e').unwrap();
        let x: Vec<u8> = m.bytes().filter(u8::is_ascii_digit).collect();
        if e.parse::<i32>().unwrap() == exp
            && x.len() > k
            && x[k] == b'5'
            && x[k + 1..].iter().all(|&d| d == b'0')
        {
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
            if !upper.iter().all(|&d| d == b'0') {
                let even = if lower[k - 1].is_multiple_of(2) {
                    lower
                } else {
                    upper
                };
                let text = format!(
                    "{}.{}e{exp}",
                    char::from(even[0]),
                    std::str::from_utf8(&even[1..]).unwrap()
                );
                if text.parse::<f64>().ok() == Some(v.abs()) {
                    digits = even;
                }
            }
        }
        String::from_utf8(digits).unwrap() + "e" + &exp.to_string()
    }

    fn digits_of(v: f64) -> String {
        // The digits and exponent write_es6 chose, normalised like the oracle's output.
        let s = to_es6(v.abs());
        let back: f64 = s.parse().unwrap();
        assert_eq!(back, v.abs(), "{s} does not round-trip");
        let sci = format!("{back:e}");
        let (_, exp) = sci.split_once('e').unwrap();
        let digits: String = s
            .split('e')
            .next()
            .unwrap()
            .chars()
            .filter(char::is_ascii_digit)
            .collect::<String>()
            .trim_start_matches('0')
            .trim_end_matches('0')
            .to_string();
        let digits = if digits.is_empty() {
            "0".into()
        } else {
            digits
        };
        format!("{digits}e{exp}")
    }

    #[test]
    fn tie_breaking_matches_the_exact_oracle() {
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut cases: Vec<f64> = vec![
            f64::from_bits(0x43143ff3c1cb0959) + 0.0, // 1424953923781206.25
            f64::from_bits(0x43143ff3c1cb0959),
            5e-324,
            0.5,
            2.5e-10,
            9007199254740993.0,
            18014398509481985.0,
        ];
        // Halves and small dyadic fractions make ties at many digit counts.
        for i in 0..60 {
            cases.push(f64::from(1u32 << (i % 31)) * 2f64.powi(-i));
            cases.push((123_456_789.0 + f64::from(i)) / 1024.0);
            cases.push(2f64.powi(54 + i) * 5.0);
        }
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = f64::from_bits(x & 0x7fff_ffff_ffff_ffff);
            if v.is_finite() && v != 0.0 {
                cases.push(v);
            }
        }
        for v in cases {
            assert_eq!(
                digits_of(v),
                oracle(v),
                "value {v:e} bits {:#x}",
                v.to_bits()
            );
        }
    }

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
