//! Small display helpers shared by server and browser.

/// `YYYY-MM-DD` (UTC) for a unix-millisecond timestamp.
pub fn date(ms: i64) -> String {
    // Howard Hinnant's days-to-civil conversion.
    let days = ms.div_euclid(86_400_000);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS` (UTC) for a unix-millisecond timestamp.
pub fn clock(ms: i64) -> String {
    let s = ms.div_euclid(1_000).rem_euclid(86_400);
    format!("{:02}:{:02}:{:02}", s / 3_600, (s / 60) % 60, s % 60)
}

/// `m:ss` or `h:mm:ss` for a duration.
pub fn duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    if h > 0 {
        format!("{h}:{m:02}:{s:02}")
    } else {
        format!("{m}:{s:02}")
    }
}

/// Bytes in binary units, one decimal.
pub fn bytes(n: i64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n.max(0) as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit < UNITS.len() - 1 {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[unit])
    }
}

pub fn asset_facts(a: &crate::tracks::AssetInfo) -> String {
    let mut parts = Vec::new();
    if let Some(c) = &a.codec {
        parts.push(c.to_uppercase());
    }
    if let Some(sr) = a.sample_rate {
        parts.push(format!("{:.1} kHz", sr as f64 / 1000.0));
    }
    if let Some(bits) = a.bit_depth {
        parts.push(format!("{bits}-bit"));
    }
    match a.channels {
        Some(1) => parts.push("mono".into()),
        Some(2) => parts.push("stereo".into()),
        Some(n) => parts.push(format!("{n} channels")),
        None => {}
    }
    if let Some(br) = a.bitrate {
        parts.push(format!("{} kbit/s", br / 1000));
    }
    parts.push(bytes(a.size_bytes));
    parts.join(" · ")
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats() {
        assert_eq!(super::date(0), "1970-01-01");
        assert_eq!(super::date(1_795_996_800_000), "2026-11-30");
        assert_eq!(super::duration(61_500), "1:01");
        assert_eq!(super::clock(1_795_996_800_000 + 3_723_000), "01:02:03");
        assert_eq!(super::duration(3_723_000), "1:02:03");
        assert_eq!(super::bytes(512), "512 B");
        assert_eq!(super::bytes(10 * 1024 * 1024 * 1024), "10.0 GiB");
    }
}
