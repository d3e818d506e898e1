//! Canonical Kubernetes quantities and Go duration strings, as metrics-server writes them.

const DECIMAL_SUFFIXES: [&str; 10] = ["n", "u", "m", "", "k", "M", "G", "T", "P", "E"];

/// A DecimalSI quantity `value × 10^exp` in Go's canonical form: strip factors of ten, then lower
/// the exponent to a multiple of three (`250000000n` → `250m`, `1500000000n` → `1500m`).
fn format_decimal(mut value: u64, mut exp: i32) -> String {
    if value == 0 {
        return "0".to_string();
    }
    while value.is_multiple_of(10) && exp < 18 {
        value /= 10;
        exp += 1;
    }
    let rem = exp.rem_euclid(3);
    let mut v = u128::from(value);
    for _ in 0..rem {
        v *= 10;
    }
    exp -= rem;
    let idx = ((exp + 9) / 3) as usize;
    format!(
        "{v}{}",
        DECIMAL_SUFFIXES[idx.min(DECIMAL_SUFFIXES.len() - 1)]
    )
}

/// CPU in nanocores as Go writes `resource.NewScaledQuantity(n, -9)`: `0`, `250m`, `1`, `1234567n`.
pub fn format_cpu_nanocores(n: u64) -> String {
    format_decimal(n, -9)
}

/// Memory in bytes as Go writes a BinarySI quantity: `123456`, `10Ki`, `12240Ki`, `1Gi`; values
/// under 1024 are written in DecimalSI (`1000` → `1k`), as apimachinery does.
pub fn format_memory_bytes(b: u64) -> String {
    if b < 1024 {
        return format_decimal(b, 0);
    }
    const SUFFIXES: [&str; 7] = ["", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei"];
    let mut v = b;
    let mut i = 0;
    while v.is_multiple_of(1024) && i < SUFFIXES.len() - 1 {
        v /= 1024;
        i += 1;
    }
    format!("{v}{}", SUFFIXES[i])
}

/// Go's `time.Duration.String()` of a millisecond duration: `0s`, `500ms`, `15.012s`, `1m0s`, `1h0m0s`.
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

/// Parses a quantity to base units (`250m` → 0.25, `12240Ki` → 12533760, `1e3` → 1000); tests and
/// the simulator use it to compare what the API served with what was expected.
pub fn parse_quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == '+'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let value: f64 = num.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse().ok()?),
        _ => return None,
    };
    Some(value * scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_go_canonical() {
        for (n, want) in [
            (0, "0"),
            (250_000_000, "250m"),
            (1_500_000_000, "1500m"),
            (4_000_000_000, "4"),
            (1_000_000_000, "1"),
            (1_234_567, "1234567n"),
            (12_345_678, "12345678n"),
            (7_338_891, "7338891n"),
            (5_000_000, "5m"),
            (10_000, "10u"),
            (2_000_000_000_000, "2k"),
            (100_000_000, "100m"),
        ] {
            assert_eq!(format_cpu_nanocores(n), want, "{n}");
        }
    }

    #[test]
    fn memory_is_go_canonical() {
        for (b, want) in [
            (0, "0"),
            (1000, "1k"),
            (999, "999"),
            (10_240, "10Ki"),
            (123_456, "123456"),
            (12_533_760, "12240Ki"),
            (1 << 30, "1Gi"),
            (1536 << 20, "1536Mi"),
        ] {
            assert_eq!(format_memory_bytes(b), want, "{b}");
        }
    }

    #[test]
    fn durations_match_go() {
        for (ms, want) in [
            (0, "0s"),
            (500, "500ms"),
            (15_000, "15s"),
            (15_012, "15.012s"),
            (15_500, "15.5s"),
            (60_000, "1m0s"),
            (90_500, "1m30.5s"),
            (3_600_000, "1h0m0s"),
        ] {
            assert_eq!(format_go_duration_ms(ms), want, "{ms}");
        }
    }

    #[test]
    fn quantities_parse_back() {
        assert_eq!(parse_quantity("250m"), Some(0.25));
        assert_eq!(parse_quantity("12240Ki"), Some(12_533_760.0));
        assert_eq!(parse_quantity("1234567n"), Some(0.001234567));
        assert_eq!(
            parse_quantity("1.5Gi"),
            Some(1.5 * 1024.0 * 1024.0 * 1024.0)
        );
        assert_eq!(parse_quantity("2e3"), Some(2000.0));
        assert_eq!(parse_quantity("7"), Some(7.0));
        assert_eq!(parse_quantity("12Xi"), None);
        assert_eq!(parse_quantity(""), None);
        for n in [0u64, 1, 999, 1_000_000, 123_456_789, 4_000_000_000] {
            let back = parse_quantity(&format_cpu_nanocores(n)).unwrap() * 1e9;
            assert!((back - n as f64).abs() < 1e-3, "{n}");
        }
    }
}
