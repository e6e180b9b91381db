//! QR codes of setup codes: a PNG data URL for `device.pair.setupCode`'s `qrDataUrl` (what
//! the Control UI shows for a phone to scan) and text for a terminal (`openclaw qr`).
//!
//! The symbol is the `qrcode` crate's (error correction M, as OpenClaw's `qrcode` package
//! uses). The PNG is written here, without an image library: 1-bit grayscale, each module
//! `scale` pixels, a quiet zone of [`MARGIN`] modules, one IDAT compressed with a small
//! fixed-Huffman deflate whose only matches are a pixel row equal to the row above (most
//! rows: a module is `scale` rows tall) and runs of one byte. OpenClaw's size (6 pixels a
//! module, 4 modules of margin) when the data URL fits OpenClaw's 16 KiB bound, else
//! smaller modules, else none.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use qrcode::{Color, EcLevel, QrCode};

/// Quiet zone around the symbol, in modules.
pub const MARGIN: usize = 4;
/// Pixels per module, as OpenClaw draws it.
pub const SCALE: usize = 6;
/// Longest `qrDataUrl` (OpenClaw's `SetupCodeQrDataUrlSchema`).
pub const MAX_DATA_URL: usize = 16 * 1024;
/// The data URL's prefix.
pub const DATA_URL_PREFIX: &str = "data:image/png;base64,";

/// The QR symbol of `text`: its modules, row by row (`true`: dark), and its width.
fn modules(text: &str) -> Option<(Vec<bool>, usize)> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::M).ok()?;
    let width = code.width();
    let dark = code
        .to_colors()
        .into_iter()
        .map(|c| c == Color::Dark)
        .collect();
    Some((dark, width))
}

/// `text` as a QR PNG data URL within [`MAX_DATA_URL`] (`None`: too long for a QR code).
pub fn png_data_url(text: &str) -> Option<String> {
    let (dark, width) = modules(text)?;
    (1..=SCALE).rev().find_map(|scale| {
        let png = png(&dark, width, scale);
        let url = format!("{DATA_URL_PREFIX}{}", STANDARD.encode(png));
        (url.len() <= MAX_DATA_URL).then_some(url)
    })
}

/// `text` as a QR code for a terminal: two module rows per line with half blocks (dark
/// modules drawn in the terminal's foreground on its background, the quiet zone included),
/// as OpenClaw's `qrcode-terminal` "small" rendering. `None`: too long for a QR code.
pub fn terminal(text: &str) -> Option<String> {
    let (dark, width) = modules(text)?;
    let size = width + 2 * MARGIN;
    // Light is drawn (the foreground), dark is left blank: scanners read a QR code drawn
    // light on dark as on a dark terminal only if inverted, so the light parts are inked.
    let light = |x: usize, y: usize| -> bool {
        if x < MARGIN || y < MARGIN || x >= MARGIN + width || y >= MARGIN + width {
            return true;
        }
        !dark[(y - MARGIN) * width + (x - MARGIN)]
    };
    let mut out = String::with_capacity(size * (size / 2 + 1) * 3);
    for y in (0..size).step_by(2) {
        for x in 0..size {
            let top = light(x, y);
            let bottom = y + 1 < size && light(x, y + 1);
            out.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Some(out)
}

/// The PNG: 1-bit grayscale (0 black), `scale` pixels a module, [`MARGIN`] modules of
/// white around.
fn png(dark: &[bool], width: usize, scale: usize) -> Vec<u8> {
    let modules = width + 2 * MARGIN;
    let px = modules * scale;
    let stride = px.div_ceil(8);
    // Filter byte 0 (none) then the packed row; white is 1.
    let mut raw = Vec::with_capacity((stride + 1) * px);
    for y in 0..px {
        raw.push(0);
        let my = y / scale;
        let mut byte = 0u8;
        for x in 0..px {
            let mx = x / scale;
            let is_dark = my >= MARGIN
                && mx >= MARGIN
                && my < MARGIN + width
                && mx < MARGIN + width
                && dark[(my - MARGIN) * width + (mx - MARGIN)];
            byte = (byte << 1) | u8::from(!is_dark);
            if x % 8 == 7 {
                raw.push(byte);
                byte = 0;
            }
        }
        if !px.is_multiple_of(8) {
            // Pad the last byte (its unused low bits white).
            let pad = 8 - px % 8;
            raw.push((byte << pad) | ((1u8 << pad) - 1));
        }
    }
    let mut out = Vec::with_capacity(raw.len() / 4 + 64);
    out.extend_from_slice(b"\x89PNG\r\n\x1a\n");
    let side = u32::try_from(px).unwrap_or(u32::MAX).to_be_bytes();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend_from_slice(&side);
    ihdr.extend_from_slice(&side);
    // Bit depth 1, grayscale, deflate, filter method 0, no interlace.
    ihdr.extend_from_slice(&[1, 0, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    chunk(&mut out, b"IDAT", &zlib(&raw, stride + 1));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend_from_slice(&u32::try_from(data.len()).unwrap_or(u32::MAX).to_be_bytes());
    let start = out.len();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    let crc = crc32(&out[start..]);
    out.extend_from_slice(&crc.to_be_bytes());
}

/// CRC-32 (ISO 3309, as PNG uses), bit by bit: a few kilobytes at most are checked.
fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xFFFF_FFFFu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            let mask = (crc & 1).wrapping_neg();
            crc = (crc >> 1) ^ (0xEDB8_8320 & mask);
        }
    }
    !crc
}

fn adler32(data: &[u8]) -> u32 {
    let (mut a, mut b) = (1u32, 0u32);
    for &x in data {
        a = (a + u32::from(x)) % 65_521;
        b = (b + a) % 65_521;
    }
    (b << 16) | a
}

/// Writes bits least significant first, as deflate reads them.
struct Bits {
    out: Vec<u8>,
    acc: u64,
    n: u32,
}

impl Bits {
    fn put(&mut self, value: u32, count: u32) {
        self.acc |= u64::from(value) << self.n;
        self.n += count;
        while self.n >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.n -= 8;
        }
    }

    /// A Huffman code: its bits go most significant first.
    fn code(&mut self, code: u32, len: u32) {
        self.put(code.reverse_bits() >> (32 - len), len);
    }

    fn finish(mut self) -> Vec<u8> {
        if self.n > 0 {
            self.out.push(self.acc as u8);
        }
        self.out
    }
}

/// Fixed-Huffman code of a literal/length symbol (RFC 1951, 3.2.6).
fn lit_code(bits: &mut Bits, sym: u32) {
    match sym {
        0..=143 => bits.code(0x30 + sym, 8),
        144..=255 => bits.code(0x190 + sym - 144, 9),
        256..=279 => bits.code(sym - 256, 7),
        _ => bits.code(0xC0 + sym - 280, 8),
    }
}

const LEN_BASE: [u16; 29] = [
    3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131,
    163, 195, 227, 258,
];
const LEN_EXTRA: [u8; 29] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const DIST_BASE: [u16; 30] = [
    1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537,
    2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577,
];
const DIST_EXTRA: [u8; 30] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];

/// A match of `len` (3–258) bytes `dist` (1–32768) back.
fn put_match(bits: &mut Bits, len: usize, dist: usize) {
    let li = LEN_BASE
        .iter()
        .rposition(|&b| usize::from(b) <= len)
        .unwrap_or(0);
    lit_code(bits, 257 + li as u32);
    bits.put(
        (len - usize::from(LEN_BASE[li])) as u32,
        u32::from(LEN_EXTRA[li]),
    );
    let di = DIST_BASE
        .iter()
        .rposition(|&b| usize::from(b) <= dist)
        .unwrap_or(0);
    bits.code(di as u32, 5);
    bits.put(
        (dist - usize::from(DIST_BASE[di])) as u32,
        u32::from(DIST_EXTRA[di]),
    );
}

/// How many bytes from `i` equal those `dist` back (at most 258).
fn match_len(data: &[u8], i: usize, dist: usize) -> usize {
    if dist == 0 || dist > i {
        return 0;
    }
    data[i..]
        .iter()
        .zip(&data[i - dist..])
        .take(258)
        .take_while(|(a, b)| a == b)
        .count()
}

/// `data` as a zlib stream: one fixed-Huffman block whose matches are `row` bytes back
/// (the previous image row) or 1 byte back (a run), whichever is longer. Public for the
/// fuzz target, which inflates it with another implementation.
pub fn zlib(data: &[u8], row: usize) -> Vec<u8> {
    let mut bits = Bits {
        out: vec![0x78, 0x01],
        acc: 0,
        n: 0,
    };
    // BFINAL = 1, BTYPE = 01 (fixed Huffman).
    bits.put(1, 1);
    bits.put(1, 2);
    let mut i = 0;
    while i < data.len() {
        let (len, dist) = [row, 1]
            .into_iter()
            .filter(|d| *d <= 32_768)
            .map(|d| (match_len(data, i, d), d))
            .max_by_key(|(len, _)| *len)
            .unwrap_or((0, 1));
        if len >= 3 {
            put_match(&mut bits, len, dist);
            i += len;
        } else {
            lit_code(&mut bits, u32::from(data[i]));
            i += 1;
        }
    }
    lit_code(&mut bits, 256);
    let mut out = bits.finish();
    out.extend_from_slice(&adler32(data).to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal inflate for the tests: stored and fixed-Huffman blocks (what `zlib`
    /// writes), checked independently of the encoder's tables.
    fn inflate(z: &[u8]) -> Vec<u8> {
        assert_eq!(z[0], 0x78);
        assert_eq!(
            (u16::from(z[0]) << 8 | u16::from(z[1])) % 31,
            0,
            "zlib header check"
        );
        let body = &z[2..z.len() - 4];
        let mut pos = 0usize;
        let bit = |pos: &mut usize| -> u32 {
            let b = (body[*pos / 8] >> (*pos % 8)) & 1;
            *pos += 1;
            u32::from(b)
        };
        let bits =
            |pos: &mut usize, n: u32| -> u32 { (0..n).fold(0, |acc, k| acc | (bit(pos) << k)) };
        let mut out: Vec<u8> = Vec::new();
        loop {
            let last = bits(&mut pos, 1);
            let kind = bits(&mut pos, 2);
            assert_eq!(kind, 1, "fixed Huffman block");
            loop {
                // Read a fixed literal/length code MSB-first.
                let mut code = 0u32;
                let mut len = 0;
                let sym = loop {
                    code = (code << 1) | bit(&mut pos);
                    len += 1;
                    match len {
                        7 if code <= 0x17 => break code + 256,
                        8 if (0x30..=0xBF).contains(&code) => break code - 0x30,
                        8 if (0xC0..=0xC7).contains(&code) => break code - 0xC0 + 280,
                        9 if (0x190..=0x1FF).contains(&code) => break code - 0x190 + 144,
                        9 => panic!("bad code"),
                        _ => {}
                    }
                };
                if sym < 256 {
                    out.push(sym as u8);
                } else if sym == 256 {
                    break;
                } else {
                    let li = (sym - 257) as usize;
                    let length = usize::from(LEN_BASE[li])
                        + bits(&mut pos, u32::from(LEN_EXTRA[li])) as usize;
                    let mut d = 0u32;
                    for _ in 0..5 {
                        d = (d << 1) | bit(&mut pos);
                    }
                    let di = d as usize;
                    let dist = usize::from(DIST_BASE[di])
                        + bits(&mut pos, u32::from(DIST_EXTRA[di])) as usize;
                    for _ in 0..length {
                        let b = out[out.len() - dist];
                        out.push(b);
                    }
                }
            }
            if last == 1 {
                break;
            }
        }
        let want = u32::from_be_bytes(z[z.len() - 4..].try_into().expect("4"));
        assert_eq!(adler32(&out), want, "adler32");
        out
    }

    #[test]
    fn zlib_round_trips_runs_rows_and_literals() {
        let mut data = Vec::new();
        for r in 0..40u8 {
            data.push(0);
            data.extend((0..50u8).map(|i| i.wrapping_mul(r / 6 + 1)));
        }
        data.extend(std::iter::repeat_n(0xAB, 1000));
        data.extend(0..=255u8);
        for d in [&data[..], &[][..], &[7u8][..], &[1, 1][..]] {
            assert_eq!(inflate(&zlib(d, 51)), d);
        }
        // Rows repeated compress well.
        assert!(zlib(&data, 51).len() < data.len() / 2);
    }

    #[test]
    fn checksums_match_known_values() {
        assert_eq!(crc32(b"IEND"), 0xAE42_6082);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(adler32(b"Wikipedia"), 0x11E6_0398);
    }

    #[test]
    fn the_png_holds_the_symbol_with_its_quiet_zone() {
        let (dark, width) = modules("hello").expect("symbol");
        let png = png(&dark, width, 2);
        assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
        let side = (width + 2 * MARGIN) * 2;
        assert_eq!(&png[16..20], &(side as u32).to_be_bytes());
        assert_eq!(png[24..29], [1, 0, 0, 0, 0]);
        // Every chunk's CRC is right; the IDAT inflates to the rows.
        let mut at = 8;
        let mut idat = Vec::new();
        while at < png.len() {
            let len = u32::from_be_bytes(png[at..at + 4].try_into().expect("4")) as usize;
            let body = &png[at + 4..at + 8 + len];
            let crc = u32::from_be_bytes(png[at + 8 + len..at + 12 + len].try_into().expect("4"));
            assert_eq!(crc32(body), crc);
            if &body[..4] == b"IDAT" {
                idat.extend_from_slice(&body[4..]);
            }
            at += 12 + len;
        }
        let rows = inflate(&idat);
        let stride = side.div_ceil(8) + 1;
        assert_eq!(rows.len(), stride * side);
        let pixel = |x: usize, y: usize| (rows[y * stride + 1 + x / 8] >> (7 - x % 8)) & 1 == 0;
        for my in 0..width {
            for mx in 0..width {
                let want = dark[my * width + mx];
                let (x, y) = ((mx + MARGIN) * 2, (my + MARGIN) * 2);
                assert_eq!(pixel(x, y), want);
                assert_eq!(pixel(x + 1, y + 1), want);
            }
        }
        // The quiet zone is white.
        assert!((0..side).all(|x| !pixel(x, 0) && !pixel(x, side - 1)));
    }

    #[test]
    fn setup_codes_fit_the_data_url_bound_and_overlong_text_has_none() {
        let code = "eyJ1cmwiOiJ3c3M6Ly9nYXRld2F5LnRhaWwxMjM0LnRzLm5ldCIsImJvb3RzdHJhcFRva2VuIjoiYWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXoxMjM0NTYiLCJleHBpcmVzQXRNcyI6MTc5NjQ0NTA5OTA3NH0";
        let url = png_data_url(code).expect("a data URL");
        assert!(url.starts_with(DATA_URL_PREFIX));
        assert!(url.len() <= MAX_DATA_URL, "{}", url.len());
        let term = terminal(code).expect("text");
        let (_, width) = modules(code).expect("symbol");
        assert_eq!(term.lines().count(), (width + 2 * MARGIN).div_ceil(2));
        assert!(
            term.lines()
                .all(|l| l.chars().count() == width + 2 * MARGIN)
        );
        // Beyond a version-40 symbol: no QR code, no panic.
        let huge = "x".repeat(10_000);
        assert!(png_data_url(&huge).is_none());
        assert!(terminal(&huge).is_none());
        assert!(png_data_url("").is_some());
        assert!(png_data_url("ünïcødé 🦀").is_some());
    }
}
