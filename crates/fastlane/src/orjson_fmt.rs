//! orjson's printing of a double (LiteLLM's proxy writes embeddings with `ORJSONResponse`):
//! the same shortest round-tripping digits as Python's `repr`, laid out differently.

/// orjson's text for a finite double: the shortest round-tripping digits, positional when
/// the decimal exponent is in [-5, 16) (`0.00001`, `1000000000000000.0`), else scientific
/// with a signed exponent of no padding (`1e-7`, `1.2345e+16`).
pub fn orjson_float(x: f64) -> String {
    let mut out = Vec::new();
    orjson_float_into(x, &mut ryu::Buffer::new(), &mut out);
    String::from_utf8(out).expect("ASCII")
}

pub(crate) fn orjson_float_into(x: f64, buf: &mut ryu::Buffer, out: &mut Vec<u8>) {
    if x == 0.0 {
        out.extend_from_slice(if x.is_sign_negative() { b"-0.0" } else { b"0.0" });
        return;
    }
    // ryu prints the shortest, correctly rounded digits (as Python's repr and orjson pick
    // them) in its own layout; take the digits and the exponent and lay them out again.
    let s = buf.format_finite(x).as_bytes();
    let (neg, s) = if s[0] == b'-' { (true, &s[1..]) } else { (false, s) };
    let (mant, exp_part) = match s.iter().position(|&c| c == b'e' || c == b'E') {
        Some(p) => (&s[..p], std::str::from_utf8(&s[p + 1..]).ok().and_then(|e| e.parse::<i32>().ok()).unwrap_or(0)),
        None => (s, 0),
    };
    // Digits without the point, and the exponent of the first digit.
    let point = mant.iter().position(|&c| c == b'.').unwrap_or(mant.len());
    let mut digits: Vec<u8> = mant.iter().copied().filter(|c| c.is_ascii_digit()).collect();
    let lead = digits.iter().position(|&c| c != b'0').unwrap_or(0);
    let mut exp = exp_part + point as i32 - 1 - lead as i32;
    digits.drain(..lead);
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    if digits.is_empty() {
        digits.push(b'0');
        exp = 0;
    }
    if neg {
        out.push(b'-');
    }
    if (-5..16).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.extend_from_slice(&digits);
                out.extend(std::iter::repeat(b'0').take(int_len - digits.len()));
                out.extend_from_slice(b".0");
            } else {
                out.extend_from_slice(&digits[..int_len]);
                out.push(b'.');
                out.extend_from_slice(&digits[int_len..]);
            }
        } else {
            out.extend_from_slice(b"0.");
            out.extend(std::iter::repeat(b'0').take((-exp - 1) as usize));
            out.extend_from_slice(&digits);
        }
    } else {
        out.push(digits[0]);
        if digits.len() > 1 {
            out.push(b'.');
            out.extend_from_slice(&digits[1..]);
        }
        out.push(b'e');
        out.push(if exp < 0 { b'-' } else { b'+' });
        out.extend_from_slice(exp.unsigned_abs().to_string().as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::orjson_float;

    #[test]
    fn orjson_layout() {
        for (x, want) in [
            (1e-5, "0.00001"),
            (1e-7, "1e-7"),
            (1.2345e-6, "1.2345e-6"),
            (1.2345e-5, "0.000012345"),
            (0.00012, "0.00012"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (1.2345678901234568e17, "1.2345678901234568e+17"),
            (-9.412187e-9, "-9.412187e-9"),
            (0.1, "0.1"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (5e-324, "5e-324"),
            (1.5e300, "1.5e+300"),
            (1.0000000000000001e23, "1.0000000000000001e+23"),
            (12.344999999999999, "12.344999999999999"),
            (-0.000030000000000000004, "-0.000030000000000000004"),
        ] {
            assert_eq!(orjson_float(x), want, "{x:e}");
        }
    }
}
