//! Canonical Kubernetes quantities and Go duration strings, as metrics-server writes them.
//!
//! Clients diff and parse these strings, so they must be byte-identical to what
//! `k8s.io/apimachinery/pkg/api/resource` (`Quantity.String()`) and Go's `time.Duration.String()`
//! produce for the same values.

/// Suffixes of DecimalSI for exponents -9, -6, ... 18.
const DECIMAL_SUFFIXES: [&str; 10] = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"];
/// Suffixes of BinarySI for powers 1024^0 ... 1024^6.
const BINARY_SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];

/// `value × 10^exp` in Go's canonical DecimalSI form (`int64Amount.AsCanonicalBytes`): strip
/// factors of ten, then lower the exponent to a multiple of three.
fn format_decimal(value: u64, exp: i32) -> String {
    if value == 0 {
        return "0".to_string();
    }
    let mut mantissa = u128::from(value);
    let mut exp = exp;
    while mantissa % 10 == 0 {
        mantissa /= 10;
        exp += 1;
    }
    let rem = exp.rem_euclid(3);
    mantissa *= 10u128.pow(rem.unsigned_abs());
    exp -= rem;
    match usize::try_from((exp + 9) / 3)
        .ok()
        .and_then(|i| DECIMAL_SUFFIXES.get(i))
    {
        Some(suffix) => format!("{mantissa}{suffix}"),
        // Beyond `E`; unreachable from u64 inputs, but still a correct quantity.
        None => format!("{mantissa}e{exp}"),
    }
}

/// CPU in nanocores as a Go-canonical DecimalSI quantity string ("0", "250m", "1", "1500m", "1234567n", "12345678n", "2k"...): strip factors of ten, lower exponent to multiple of 3, suffixes n u m "" k M G T P E.
///
/// Values above `i64::MAX` lose their last digit, as metrics-server's `uint64Quantity` does.
pub fn format_cpu_nanocores(n: u64) -> String {
    if n > i64::MAX as u64 {
        format_decimal(n / 10, -8)
    } else {
        format_decimal(n, -9)
    }
}

/// Memory in bytes as Go-canonical BinarySI ("0", "123456", "10Ki", "12240Ki", "1Gi"; values < 1024 formatted as DecimalSI e.g. 1000 -> "1k").
///
/// This is `Quantity.CanonicalizeBytes`: below 1024 Go switches to DecimalSI, otherwise it
/// divides by 1024 while exact. Values above `i64::MAX` lose their last digit, as in metrics-server.
pub fn format_memory_bytes(b: u64) -> String {
    if b < 1024 {
        return format_decimal(b, 0);
    }
    let mut v = if b > i64::MAX as u64 { b / 10 * 10 } else { b };
    let mut i = 0;
    while v.is_multiple_of(1024) && i < BINARY_SUFFIXES.len() - 1 {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", BINARY_SUFFIXES[i])
}

/// Go time.Duration.String() of a millisecond duration: "0s", "500ms", "15s", "15.012s", "1m0s", "1m30.5s", "1h0m0s".
///
/// Clients read `window` back with `time.ParseDuration`, so the shape must be Go's exactly.
pub fn format_go_duration_ms(ms: u64) -> String {
    if ms == 0 {
        return "0s".to_string();
    }
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let h = ms / 3_600_000;
    let m = (ms / 60_000) % 60;
    let s = (ms / 1000) % 60;
    let frac = ms % 1000;
    let mut secs = s.to_string();
    if frac > 0 {
        let f = format!("{frac:03}");
        secs.push('.');
        secs.push_str(f.trim_end_matches('0'));
    }
    if h > 0 {
        format!("{h}h{m}m{secs}s")
    } else if m > 0 {
        format!("{m}m{secs}s")
    } else {
        format!("{secs}s")
    }
}

/// The pieces of a quantity string as Go's `parseQuantityString` splits them.
struct RawQuantity<'a> {
    negative: bool,
    num: &'a str,
    denom: &'a str,
    suffix: &'a str,
}

/// Port of `parseQuantityString`: `[+-]digits[.digits]suffix`, suffix `[eEinumkKMGTP]*[-+]?[0-9]*`.
fn split_quantity(s: &str) -> Option<RawQuantity<'_>> {
    let b = s.as_bytes();
    let end = b.len();
    let mut pos = 0;
    let mut negative = false;
    match b.first() {
        Some(b'-') => {
            negative = true;
            pos += 1;
        }
        Some(b'+') => pos += 1,
        _ => {}
    }
    let mut raw = RawQuantity {
        negative,
        num: "0",
        denom: "",
        suffix: "",
    };
    while b.get(pos) == Some(&b'0') {
        pos += 1;
    }
    if pos >= end {
        return Some(raw);
    }
    let start = pos;
    while b.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    if pos > start {
        raw.num = s.get(start..pos)?;
    }
    if pos >= end {
        return Some(raw);
    }
    if b.get(pos) == Some(&b'.') {
        pos += 1;
        let start = pos;
        while b.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        raw.denom = s.get(start..pos)?;
        if pos >= end {
            return Some(raw);
        }
    }
    let suffix_start = pos;
    while b.get(pos).is_some_and(|c| b"eEinumkKMGTP".contains(c)) {
        pos += 1;
    }
    if matches!(b.get(pos), Some(b'-' | b'+')) {
        pos += 1;
    }
    while b.get(pos).is_some_and(u8::is_ascii_digit) {
        pos += 1;
    }
    if pos < end {
        return None;
    }
    raw.suffix = s.get(suffix_start..)?;
    Some(raw)
}

/// Parse a Kubernetes quantity back to f64 base units (used by tests and the simulator to compare): "250m" -> 0.25, "12240Ki" -> 12533760, "1234567n", "1.5Gi", "2e3" ...; None if invalid.
///
/// Accepts exactly what Go's `resource.ParseQuantity` accepts (including its oddities: `"."`, `"+"`
/// and `"1.G"` parse), but returns the value as written: Go's rounding of sub-nano fractions up to
/// `1n` and its 2^63−1 cap are not applied. None also when the value overflows f64.
pub fn parse_quantity(s: &str) -> Option<f64> {
    if s.is_empty() {
        return None;
    }
    let raw = split_quantity(s)?;
    let decimal_exp: Option<i64> = match raw.suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    let binary_pow: Option<i32> = match raw.suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    let magnitude = if let Some(exp) = decimal_exp {
        format!("{}.{}e{exp}", raw.num, raw.denom)
            .parse::<f64>()
            .ok()?
    } else if let Some(pow) = binary_pow {
        format!("{}.{}", raw.num, raw.denom).parse::<f64>().ok()? * 2f64.powi(pow)
    } else {
        // DecimalExponent: `e`/`E` followed by a Go int64.
        let rest = raw
            .suffix
            .strip_prefix(['e', 'E'])
            .filter(|r| !r.is_empty())?;
        let exp: i64 = rest.parse().ok()?;
        format!("{}.{}e{exp}", raw.num, raw.denom)
            .parse::<f64>()
            .ok()?
    };
    if !magnitude.is_finite() {
        return None;
    }
    Some(if raw.negative { -magnitude } else { magnitude })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected strings are what Go's `resource.NewScaledQuantity(n, -9)` (DecimalSI) prints.
    #[test]
    fn cpu_nanocores_are_go_canonical() {
        for (n, want) in [
            (0, "0"),
            (1, "1n"),
            (10, "10n"),
            (999, "999n"),
            (1_000, "1u"),
            (10_000, "10u"),
            (1_234_567, "1234567n"),
            (12_345_678, "12345678n"),
            (7_338_891, "7338891n"),
            (1_200_000, "1200u"),
            (5_000_000, "5m"),
            (100_000_000, "100m"),
            (250_000_000, "250m"),
            (999_000_000, "999m"),
            (1_000_000_000, "1"),
            (1_500_000_000, "1500m"),
            (1_000_000_001, "1000000001n"),
            (4_000_000_000, "4"),
            (12_000_000_000, "12"),
            (1_000_000_000_000, "1k"),
            (2_000_000_000_000, "2k"),
            (1_500_000_000_000, "1500"),
            (3_000_000_000_000_000, "3M"),
            (i64::MAX as u64, "9223372036854775807n"),
            // Above i64::MAX metrics-server drops the last digit (scale -8).
            (u64::MAX, "18446744073709551610n"),
            (10_000_000_000_000_000_000, "10G"),
        ] {
            assert_eq!(format_cpu_nanocores(n), want, "{n}");
        }
    }

    /// Expected strings are what Go's BinarySI `Quantity.String()` prints.
    #[test]
    fn memory_bytes_are_go_canonical() {
        for (b, want) in [
            (0, "0"),
            (1, "1"),
            (10, "10"),
            (999, "999"),
            (1000, "1k"),
            (1020, "1020"),
            (1023, "1023"),
            (1024, "1Ki"),
            (1025, "1025"),
            (2000, "2000"),
            (10_240, "10Ki"),
            (123_456, "123456"),
            (1_000_000, "1000000"),
            (12_533_760, "12240Ki"),
            (14_868_480, "14520Ki"),
            (1 << 20, "1Mi"),
            (1 << 30, "1Gi"),
            (1536 << 20, "1536Mi"),
            (3 << 40, "3Ti"),
            (1 << 50, "1Pi"),
            (1 << 60, "1Ei"),
            (1 << 62, "4Ei"),
            // Above i64::MAX metrics-server keeps b/10 at scale 1, so the last digit is lost.
            (8 << 60, "9223372036854775800"),
            (i64::MAX as u64, "9223372036854775807"),
            (u64::MAX, "18446744073709551610"),
        ] {
            assert_eq!(format_memory_bytes(b), want, "{b}");
        }
    }

    /// Expected strings are Go's `time.Duration(ms * time.Millisecond).String()`.
    #[test]
    fn durations_match_go() {
        for (ms, want) in [
            (0, "0s"),
            (1, "1ms"),
            (500, "500ms"),
            (999, "999ms"),
            (1_000, "1s"),
            (1_001, "1.001s"),
            (1_010, "1.01s"),
            (15_000, "15s"),
            (15_012, "15.012s"),
            (15_500, "15.5s"),
            (59_999, "59.999s"),
            (60_000, "1m0s"),
            (61_000, "1m1s"),
            (90_500, "1m30.5s"),
            (3_599_000, "59m59s"),
            (3_600_000, "1h0m0s"),
            (3_600_001, "1h0m0.001s"),
            (3_661_000, "1h1m1s"),
            (90_000_000, "25h0m0s"),
        ] {
            assert_eq!(format_go_duration_ms(ms), want, "{ms}");
        }
        // No overflow at the extreme.
        assert!(format_go_duration_ms(u64::MAX).ends_with("s"));
    }

    #[test]
    fn quantities_parse_back() {
        let table: &[(&str, f64)] = &[
            ("0", 0.0),
            ("7", 7.0),
            ("250m", 0.25),
            ("1234567n", 0.001234567),
            ("10u", 0.00001),
            ("2k", 2000.0),
            ("3M", 3e6),
            ("4G", 4e9),
            ("5T", 5e12),
            ("6P", 6e15),
            ("7E", 7e18),
            ("12240Ki", 12_533_760.0),
            ("10Ki", 10_240.0),
            ("1Mi", 1_048_576.0),
            ("1.5Gi", 1.5 * 1024.0 * 1024.0 * 1024.0),
            ("2Ti", 2.0 * 1024f64.powi(4)),
            ("1Pi", 1024f64.powi(5)),
            ("1Ei", 1024f64.powi(6)),
            ("2e3", 2000.0),
            ("2E3", 2000.0),
            ("2e+3", 2000.0),
            ("25e-2", 0.25),
            ("1.5", 1.5),
            ("-1.5", -1.5),
            ("+1500m", 1.5),
            ("0.1", 0.1),
            ("007", 7.0),
            (".5", 0.5),
            ("1.", 1.0),
            ("1.G", 1e9),
            ("000", 0.0),
            // Go's oddities: these parse as zero.
            (".", 0.0),
            ("+", 0.0),
            ("e3", 0.0),
            ("Ki", 0.0),
        ];
        for (s, want) in table {
            assert_eq!(parse_quantity(s), Some(*want), "{s:?}");
        }
        // Invalid for Go too, except "1e999": valid in Go, but beyond f64.
        for s in [
            "", " 1", "1 ", "12Xi", "1K", "1i", "1e", "1ee3", "1m3", "1Ki3", "1.2.3", "abc",
            "1e3.5", "--1", "1e999", "1 Ki", "\u{661}",
        ] {
            assert_eq!(parse_quantity(s), None, "{s:?}");
        }
    }

    #[test]
    fn formatted_quantities_round_trip() {
        for n in [
            0u64,
            1,
            999,
            1_000_000,
            123_456_789,
            4_000_000_000,
            7_338_891,
            i64::MAX as u64,
        ] {
            let s = format_cpu_nanocores(n);
            let back = parse_quantity(&s).expect("cpu parses") * 1e9;
            assert!((back - n as f64).abs() <= n as f64 * 1e-15, "{n}: {s}");
        }
        for b in [
            0u64,
            1,
            1000,
            1023,
            1024,
            123_456,
            12_533_760,
            1 << 30,
            1 << 62,
        ] {
            let s = format_memory_bytes(b);
            assert_eq!(parse_quantity(&s), Some(b as f64), "{b}: {s}");
        }
    }
}
