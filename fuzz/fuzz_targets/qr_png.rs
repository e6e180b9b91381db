//! Setup-code QR codes (`openclaw_actors::qr`): any text becomes a PNG data URL within
//! OpenClaw's 16 KiB bound, whose chunks check out and whose image data inflates (with
//! miniz_oxide, another implementation) to one filter byte and the packed pixels per row,
//! or nothing when the text is too long for a QR code; the terminal drawing is square. The
//! gateway's own deflate round-trips any bytes at any row length. Nothing may panic.
#![no_main]

use base64::Engine as _;
use libfuzzer_sys::fuzz_target;
use openclaw::actors::qr;

fuzz_target!(|data: &[u8]| {
    // The deflate alone, on the raw bytes, with a row length from the first byte.
    let row = usize::from(data.first().copied().unwrap_or(1)).max(1) * 7;
    let z = qr::zlib(data, row);
    let back = miniz_oxide::inflate::decompress_to_vec_zlib(&z).expect("our zlib inflates");
    assert_eq!(back, data);

    // A QR code holds at most 2 331 bytes at level M: longer text only tests the refusal,
    // which the first 3 000 bytes do as well (and keep the runs fast).
    let text = String::from_utf8_lossy(&data[..data.len().min(3_000)]);
    let Some(url) = qr::png_data_url(&text) else {
        assert!(qr::terminal(&text).is_none(), "a drawing without a PNG");
        return;
    };
    assert!(url.len() <= qr::MAX_DATA_URL, "{}", url.len());
    let b64 = url
        .strip_prefix(qr::DATA_URL_PREFIX)
        .expect("the PNG prefix");
    let png = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .expect("standard base64");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let side = u32::from_be_bytes(png[16..20].try_into().expect("4")) as usize;
    let mut at = 8;
    let mut idat = Vec::new();
    while at < png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().expect("4")) as usize;
        let kind = &png[at + 4..at + 8];
        if kind == b"IDAT" {
            idat.extend_from_slice(&png[at + 8..at + 8 + len]);
        }
        at += 12 + len;
    }
    assert_eq!(at, png.len(), "chunks end at the end");
    let rows = miniz_oxide::inflate::decompress_to_vec_zlib(&idat).expect("IDAT inflates");
    assert_eq!(rows.len(), (side.div_ceil(8) + 1) * side);
    let drawing = qr::terminal(&text).expect("a drawing with the PNG");
    let width = drawing.lines().next().map_or(0, |l| l.chars().count());
    assert!(drawing.lines().all(|l| l.chars().count() == width));
    assert_eq!(drawing.lines().count(), width.div_ceil(2));
});
