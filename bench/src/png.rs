//! Real PNGs of any size for the benchmarks: the function refuses cut-off or unreadable
//! images, so a body that only starts like a PNG is not enough. A 1x1 image whose size comes
//! from private ancillary chunks of filler, which decoders skip.

/// Bytes a PNG made here has besides its filler chunks: signature and IHDR before, IDAT and
/// IEND after.
pub const OVERHEAD: usize = HEAD + TAIL;
const HEAD: usize = 8 + 25;
const TAIL: usize = 27 + 12;

/// One chunk: length, type, data, CRC.
pub fn chunk(kind: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    let mut out = (data.len() as u32).to_be_bytes().to_vec();
    out.extend_from_slice(kind);
    out.extend_from_slice(data);
    out.extend_from_slice(&crc.finalize().to_be_bytes());
    out
}

/// The signature and the header of a 1x1 RGB image.
pub fn head() -> Vec<u8> {
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    out.extend(chunk(b"IHDR", &[0, 0, 0, 1, 0, 0, 0, 1, 8, 2, 0, 0, 0]));
    out
}

/// The one pixel (black) and the end.
pub fn tail() -> Vec<u8> {
    // A stored zlib block of the row: filter byte and three zero bytes; Adler-32 of four zeros.
    let idat = [0x78, 0x01, 0x01, 0x04, 0x00, 0xfb, 0xff, 0, 0, 0, 0, 0x00, 0x04, 0x00, 0x01];
    let mut out = chunk(b"IDAT", &idat);
    out.extend(chunk(b"IEND", &[]));
    out
}

/// A filler chunk of exactly `len` bytes (at least 12), its data pseudo-random from `seed`.
pub fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    let data: Vec<u8> = (0..len - 12)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    chunk(b"prVt", &data)
}

/// A PNG of exactly `len` bytes (at least [`OVERHEAD`] + 12); `seed` varies its bytes.
pub fn png(len: usize, seed: u64) -> Vec<u8> {
    let mut out = head();
    out.extend(filler(len - OVERHEAD, seed));
    out.extend(tail());
    debug_assert_eq!(out.len(), len);
    out
}
