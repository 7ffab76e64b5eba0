//! Image tokens as LiteLLM's `calculate_img_tokens` computes them from an
//! inline (base64) image: the image's width and height read from its header
//! (PNG, GIF, JPEG, WebP; the same offsets and the same JPEG marker walk as
//! LiteLLM's `get_image_dimensions`), then the high-resolution resize and the
//! 512-pixel tile arithmetic.
//!
//! Every function answers `None` where LiteLLM would raise (bad base64, a
//! truncated header, a division by zero): the caller then hands the call to
//! LiteLLM so the exception is its own. Remote URLs are never fetched here.

/// The constants LiteLLM reads from `litellm.constants` (environment-tunable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ImageConfig {
    pub default_width: i64,
    pub default_height: i64,
    pub max_short_side: i64,
    pub max_long_side: i64,
    pub tile_width: i64,
    pub tile_height: i64,
    /// `int(MAX_IMAGE_URL_DOWNLOAD_SIZE_MB * 1024 * 1024)`.
    pub max_bytes: i64,
}

impl ImageConfig {
    pub const LITELLM_DEFAULTS: ImageConfig = ImageConfig {
        default_width: 300,
        default_height: 300,
        max_short_side: 768,
        max_long_side: 2000,
        tile_width: 512,
        tile_height: 512,
        max_bytes: 50 * 1024 * 1024,
    };
}

const fn decode_table() -> [u8; 256] {
    let mut t = [255u8; 256];
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut i = 0;
    while i < 64 {
        t[alphabet[i] as usize] = i as u8;
        i += 1;
    }
    t
}

static TABLE: [u8; 256] = decode_table();

/// `binascii.a2b_base64(s)` in its default (non-strict) mode: characters
/// outside the alphabet are skipped, a complete pad sequence ends the input,
/// and a dangling quad is an error (`None`). `s` must be ASCII (Python's
/// `b64decode` rejects other `str` input before decoding).
pub fn a2b_base64(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() / 4 * 3 + 3);
    let mut quad_pos = 0u8;
    let mut left = 0u8;
    let mut pads = 0u8;
    let mut i = 0;
    while i < s.len() {
        // Fast path: a whole quad of alphabet characters.
        if quad_pos == 0 && i + 4 <= s.len() {
            let (a, b, c, d) = (TABLE[s[i] as usize], TABLE[s[i + 1] as usize], TABLE[s[i + 2] as usize], TABLE[s[i + 3] as usize]);
            if (a | b | c | d) < 64 {
                out.extend_from_slice(&[(a << 2) | (b >> 4), (b << 4) | (c >> 2), (c << 6) | d]);
                pads = 0;
                i += 4;
                continue;
            }
        }
        let c = s[i];
        i += 1;
        if c == b'=' {
            if quad_pos >= 2 {
                pads += 1;
                if quad_pos + pads >= 4 {
                    return Some(out);
                }
            }
            continue;
        }
        let v = TABLE[c as usize];
        if v >= 64 {
            continue;
        }
        pads = 0;
        match quad_pos {
            0 => {
                quad_pos = 1;
                left = v;
            }
            1 => {
                quad_pos = 2;
                out.push((left << 2) | (v >> 4));
                left = v & 0x0f;
            }
            2 => {
                quad_pos = 3;
                out.push((left << 4) | (v >> 2));
                left = v & 0x03;
            }
            _ => {
                quad_pos = 0;
                out.push((left << 6) | v);
                left = 0;
            }
        }
    }
    if quad_pos != 0 {
        return None;
    }
    Some(out)
}

/// What `base64.b64decode(s, validate=...)` does with a `str` argument.
#[derive(Debug, PartialEq, Eq)]
pub enum Decoded {
    Bytes(Vec<u8>),
    /// It raises (`binascii.Error` / `ValueError`).
    Error,
    /// It depends on the Python version (padding rules of `strict_mode`
    /// changed between 3.10, 3.11 and later): not decided here.
    Unknown,
}

/// `base64.b64decode(s, validate=...)` for a `str` argument.
pub fn b64decode(s: &str, validate: bool) -> Decoded {
    let b = s.as_bytes();
    if !s.is_ascii() {
        return Decoded::Error; // ValueError: string argument should contain only ASCII characters
    }
    if !validate {
        return match a2b_base64(b) {
            Some(v) => Decoded::Bytes(v),
            None => Decoded::Error,
        };
    }
    // Validated: alphabet characters, then '=' padding. Every Python version
    // accepts the canonical padding and rejects other characters, a dangling
    // character or missing padding; the rest is version-specific.
    let body = b.iter().take_while(|&&c| TABLE[c as usize] < 64).count();
    let rest = &b[body..];
    if rest.iter().any(|&c| c != b'=') {
        return Decoded::Error;
    }
    let pads = rest.len();
    match (body % 4, pads) {
        (0, 0) | (2, 2) | (3, 1) => match a2b_base64(b) {
            Some(v) => Decoded::Bytes(v),
            None => Decoded::Error,
        },
        (1, _) | (2, 0) | (2, 1) | (3, 0) => Decoded::Error,
        _ => Decoded::Unknown,
    }
}

/// LiteLLM's `get_image_type`.
pub fn image_type(d: &[u8]) -> Option<&'static str> {
    if d.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some("png");
    }
    if d.len() >= 6 && &d[0..4] == b"GIF8" && d[5] == b'a' {
        return Some("gif");
    }
    if d.starts_with(b"\xff\xd8\xff") {
        return Some("jpeg");
    }
    if d.len() >= 8 && &d[4..8] == b"ftyp" {
        return Some("heic");
    }
    if d.len() >= 12 && &d[0..4] == b"RIFF" && &d[8..12] == b"WEBP" {
        return Some("webp");
    }
    None
}

fn slice(d: &[u8], a: usize, b: usize) -> &[u8] {
    let a = a.min(d.len());
    let b = b.min(d.len());
    &d[a..b]
}

fn u16_le(s: &[u8]) -> Option<i64> {
    (s.len() == 2).then(|| u16::from_le_bytes([s[0], s[1]]) as i64)
}

fn u24_le(s: &[u8]) -> Option<i64> {
    (s.len() == 3).then(|| (s[0] as i64) | (s[1] as i64) << 8 | (s[2] as i64) << 16)
}

/// LiteLLM's `_image_dimensions_from_bytes`: `None` where it raises
/// (`struct.error` on a short slice, `TypeError` reading past the end of a
/// JPEG); the default size for unknown formats.
pub fn dimensions_from_bytes(d: &[u8], cfg: &ImageConfig) -> Option<(i64, i64)> {
    match image_type(d) {
        Some("png") => {
            let s = slice(d, 16, 24);
            if s.len() != 8 {
                return None;
            }
            let w = u32::from_be_bytes(s[0..4].try_into().unwrap()) as i64;
            let h = u32::from_be_bytes(s[4..8].try_into().unwrap()) as i64;
            Some((w, h))
        }
        Some("gif") => {
            let s = slice(d, 6, 10);
            if s.len() != 4 {
                return None;
            }
            Some((u16::from_le_bytes([s[0], s[1]]) as i64, u16::from_le_bytes([s[2], s[3]]) as i64))
        }
        Some("jpeg") => jpeg_dimensions(d),
        Some("webp") => {
            let kind = slice(d, 12, 16);
            if kind == b"VP8X" {
                let w = u24_le(slice(d, 24, 27))? + 1;
                let h = u24_le(slice(d, 27, 30))? + 1;
                Some((w, h))
            } else if kind == b"VP8 " {
                let w = u16_le(slice(d, 26, 28))? & 0x3FFF;
                let h = u16_le(slice(d, 28, 30))? & 0x3FFF;
                Some((w, h))
            } else if kind == b"VP8L" {
                let s = slice(d, 21, 25);
                if s.len() != 4 {
                    return None;
                }
                let bits = u32::from_le_bytes(s.try_into().unwrap()) as i64;
                Some(((bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1))
            } else {
                Some((cfg.default_width, cfg.default_height))
            }
        }
        _ => Some((cfg.default_width, cfg.default_height)),
    }
}

/// The JPEG marker walk of LiteLLM, on an `io.BytesIO` model: seeking clamps
/// at 0 and may pass the end; reads past the end return nothing.
fn jpeg_dimensions(d: &[u8]) -> Option<(i64, i64)> {
    let len = d.len() as i64;
    let mut pos: i64 = 0;
    let read = |pos: &mut i64, n: i64| -> &[u8] {
        if *pos >= len {
            return &[];
        }
        let a = *pos as usize;
        let b = (*pos + n).min(len) as usize;
        *pos = b as i64;
        &d[a..b]
    };
    let mut size: i64 = 2;
    let mut ftype: i64 = 0;
    // Each round reads at least three bytes and seeks back at most two, so it
    // ends within `len` rounds; the bound is only a guard.
    let mut rounds = 0usize;
    while !(0xC0..=0xCF).contains(&ftype) || matches!(ftype, 0xC4 | 0xC8 | 0xCC) {
        rounds += 1;
        if rounds > d.len() + 8 {
            return None;
        }
        pos = (pos + size).max(0);
        let mut byte = read(&mut pos, 1).first().copied()?;
        while byte == 0xFF {
            byte = read(&mut pos, 1).first().copied()?;
        }
        ftype = byte as i64;
        let s = read(&mut pos, 2);
        if s.len() != 2 {
            return None;
        }
        size = u16::from_be_bytes([s[0], s[1]]) as i64 - 2;
    }
    pos = (pos + 1).max(0);
    let s = read(&mut pos, 4);
    if s.len() != 4 {
        return None;
    }
    let h = u16::from_be_bytes([s[0], s[1]]) as i64;
    let w = u16::from_be_bytes([s[2], s[3]]) as i64;
    Some((w, h))
}

/// LiteLLM's `resize_image_high_res`; `None` on its division by zero.
pub fn resize_high_res(w: i64, h: i64, cfg: &ImageConfig) -> Option<(i64, i64)> {
    if w <= cfg.max_short_side && h <= cfg.max_short_side {
        return Some((w, h));
    }
    let longer = w.max(h);
    let shorter = w.min(h);
    if shorter == 0 {
        return None;
    }
    let aspect = longer as f64 / shorter as f64;
    let (mut rw, mut rh);
    if w <= h {
        rw = cfg.max_short_side;
        rh = py_int(rw as f64 * aspect)?;
        if rh > cfg.max_long_side {
            rh = cfg.max_long_side;
            rw = py_int(rh as f64 / aspect)?;
        }
    } else {
        rh = cfg.max_short_side;
        rw = py_int(rh as f64 * aspect)?;
        if rw > cfg.max_long_side {
            rw = cfg.max_long_side;
            rh = py_int(rw as f64 / aspect)?;
        }
    }
    Some((rw, rh))
}

/// `int(x)` for a finite float within i64 range.
fn py_int(x: f64) -> Option<i64> {
    if !x.is_finite() || x.abs() >= 9.0e18 {
        return None;
    }
    Some(x.trunc() as i64)
}

/// LiteLLM's `calculate_tiles_needed` (positive tile sizes only).
pub fn tiles_needed(w: i64, h: i64, cfg: &ImageConfig) -> Option<i64> {
    if cfg.tile_width <= 0 || cfg.tile_height <= 0 || w < 0 || h < 0 {
        return None;
    }
    let across = (w + cfg.tile_width - 1).div_euclid(cfg.tile_width);
    let down = (h + cfg.tile_height - 1).div_euclid(cfg.tile_height);
    across.checked_mul(down)
}

/// `base + 2 * base * tiles` for an image of the given size.
pub fn tokens_for_dimensions(w: i64, h: i64, base: i64, cfg: &ImageConfig) -> Option<i64> {
    let (rw, rh) = resize_high_res(w, h, cfg)?;
    let tiles = tiles_needed(rw, rh, cfg)?;
    Some(base + base * 2 * tiles)
}

/// Detail `high` (both LiteLLM lines): `get_image_dimensions` on a
/// non-http(s) string: everything after the first comma is base64 (lenient
/// decoding). `None`: LiteLLM downloads (http/https) or raises.
pub fn high_detail_tokens(data: &str, base: i64, cfg: &ImageConfig) -> Option<i64> {
    if data.starts_with("http://") || data.starts_with("https://") {
        return None;
    }
    let (_, encoded) = data.split_once(',')?;
    let Decoded::Bytes(bytes) = b64decode(encoded, false) else { return None };
    let (w, h) = dimensions_from_bytes(&bytes, cfg)?;
    tokens_for_dimensions(w, h, base, cfg)
}

/// Detail `auto` on LiteLLM 1.110 (`_auto_image_dimensions`): inline
/// `data:image/...;base64,` images within the size bound are measured; every
/// other input (URLs, bad data, unknown formats) counts `base`. `None`: not
/// decided here (padding LiteLLM's Python version may treat either way).
pub fn auto_detail_tokens_v2(data: &str, base: i64, cfg: &ImageConfig) -> Option<i64> {
    match auto_dimensions_v2(data, cfg) {
        Auto::Measured(w, h) => tokens_for_dimensions(w, h, base, cfg),
        Auto::Base => Some(base),
        Auto::Unknown => None,
    }
}

enum Auto {
    Measured(i64, i64),
    Base,
    Unknown,
}

fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

fn auto_dimensions_v2(data: &str, cfg: &ImageConfig) -> Auto {
    if !data.starts_with("data:image/") {
        return Auto::Base;
    }
    let max_bytes = cfg.max_bytes;
    if max_bytes <= 0 {
        return Auto::Base;
    }
    let max_encoded = 4 * ((max_bytes + 2) / 3);
    if char_len(data) as i64 > max_encoded + 128 {
        return Auto::Base;
    }
    let Some((header, encoded)) = data.split_once(',') else { return Auto::Base };
    if char_len(header) > 128 || !header.ends_with(";base64") || char_len(encoded) as i64 > max_encoded {
        return Auto::Base;
    }
    let bytes = match b64decode(encoded, true) {
        Decoded::Bytes(b) => b,
        Decoded::Error => return Auto::Base,
        Decoded::Unknown => return Auto::Unknown,
    };
    if bytes.len() as i64 > max_bytes || !matches!(image_type(&bytes), Some("png" | "gif" | "jpeg" | "webp")) {
        return Auto::Base;
    }
    match dimensions_from_bytes(&bytes, cfg) {
        Some((w, h)) if w > 0 && h > 0 => Auto::Measured(w, h),
        _ => Auto::Base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_lenient() {
        assert_eq!(a2b_base64(b"QUJD").unwrap(), b"ABC");
        assert_eq!(a2b_base64(b"QQ==").unwrap(), b"A");
        assert_eq!(a2b_base64(b"QQ==QUJD").unwrap(), b"A");
        assert_eq!(a2b_base64(b"QU\nJD").unwrap(), b"ABC");
        assert!(a2b_base64(b"QQ").is_none());
        assert!(a2b_base64(b"Q").is_none());
        assert_eq!(b64decode("QUJD=", false), Decoded::Bytes(b"ABC".to_vec()));
        assert_eq!(b64decode("QUJD=", true), Decoded::Unknown);
        assert_eq!(b64decode("QUI=", true), Decoded::Bytes(b"AB".to_vec()));
        assert_eq!(b64decode("QU JD", true), Decoded::Error);
        assert_eq!(b64decode("QQ=", true), Decoded::Error);
    }

    #[test]
    fn tiles() {
        let c = ImageConfig::LITELLM_DEFAULTS;
        assert_eq!(tokens_for_dimensions(300, 300, 85, &c), Some(85 + 170));
        assert_eq!(tokens_for_dimensions(1024, 1024, 85, &c), Some(85 + 170 * 4));
        assert_eq!(tokens_for_dimensions(0, 1000, 85, &c), None);
    }
}
