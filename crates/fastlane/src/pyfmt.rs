//! Python's `repr(float)` / `str(float)`: the shortest digits that round-trip,
//! in fixed notation when the decimal exponent is in [-4, 16), else scientific
//! with a signed exponent of at least two digits (`7.8e-06`, `1e+16`).

/// `str(x)` for a Python float.
pub fn float_repr(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return if x.is_sign_negative() { "-0.0".into() } else { "0.0".into() };
    }
    // Rust's `{:e}` prints the shortest round-tripping digits, like Python's repr.
    // Rust's `{:e}` gives the shortest round-tripping length n, but when several
    // n-digit strings round-trip it may not pick the one Python (dtoa mode 0) picks:
    // the closest to the exact value, which is the correctly rounded n-digit form.
    let shortest = format!("{:e}", x);
    let n = shortest.split_once('e').map(|(m, _)| m.chars().filter(|c| c.is_ascii_digit()).count()).unwrap_or(1);
    let s = format!("{:.*e}", n.saturating_sub(1), x);
    let (mant, exp) = s.split_once('e').expect("LowerExp has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    let neg = mant.starts_with('-');
    let digits: String = mant.chars().filter(|c| c.is_ascii_digit()).collect();
    let digits = {
        let t = digits.trim_end_matches('0');
        if t.is_empty() { "0".to_string() } else { t.to_string() }
    };
    let mut out = String::with_capacity(digits.len() + 8);
    if neg {
        out.push('-');
    }
    if !(-4..16).contains(&exp) {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        out.push('e');
        out.push(if exp < 0 { '-' } else { '+' });
        out.push_str(&format!("{:02}", exp.abs()));
    } else if exp >= 0 {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            out.push_str(&digits);
            for _ in digits.len()..int_len {
                out.push('0');
            }
            out.push_str(".0");
        } else {
            out.push_str(&digits[..int_len]);
            out.push('.');
            out.push_str(&digits[int_len..]);
        }
    } else {
        out.push_str("0.");
        for _ in 0..(-exp - 1) {
            out.push('0');
        }
        out.push_str(&digits);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::float_repr;

    #[test]
    fn known_values() {
        for (x, want) in [
            (7.8e-06, "7.8e-06"),
            (6e-06, "6e-06"),
            (0.0125, "0.0125"),
            (0.00015, "0.00015"),
            (0.0001, "0.0001"),
            (0.0007499999999999999, "0.0007499999999999999"),
            (1.0, "1.0"),
            (123.456, "123.456"),
            (1e16, "1e+16"),
            (1234567890123456.0, "1234567890123456.0"),
            (0.0, "0.0"),
            (-2.5e-05, "-2.5e-05"),
            (1.5e-7, "1.5e-07"),
            (1e-100, "1e-100"),
            (1552521411891554.2, "1552521411891554.2"),
            (591812083329507.2, "591812083329507.2"),
        ] {
            assert_eq!(float_repr(x), want, "{x:e}");
        }
    }
}
