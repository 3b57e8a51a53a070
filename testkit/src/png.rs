//! PNGs made chunk by chunk, for what encoders do not write: an exact size, a chunk placed
//! anywhere, a GiB streamed to a file. The pixels are stored (an uncompressed zlib stream), so
//! every PNG made here is a real one that decoders read.

use std::io::Write;
use std::path::Path;

use bytes::Bytes;

/// The eight bytes every PNG starts with.
pub const SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// The bytes of a [`small`] PNG: what a [`sized`] one holds besides its filler chunk.
pub const SMALL_LEN: usize = 72;

/// Where a [`sized`] PNG's filler goes in a [`small`] one: after the signature and the header.
const HEAD_LEN: usize = 8 + 25;

/// The most one stored deflate block holds.
const STORED_BLOCK: usize = 65_535;

/// The 8-bit colour types made here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Colour {
    Grey,
    Rgb,
}

impl Colour {
    /// The colour type's number in the header.
    fn code(self) -> u8 {
        match self {
            Colour::Grey => 0,
            Colour::Rgb => 2,
        }
    }

    /// Bytes a pixel.
    pub fn channels(self) -> usize {
        match self {
            Colour::Grey => 1,
            Colour::Rgb => 3,
        }
    }
}

/// One chunk: its length, type, data and CRC.
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

/// The header chunk of a `width` × `height` image of 8-bit `colour`, not interlaced.
pub fn ihdr(width: u32, height: u32, colour: Colour) -> Vec<u8> {
    let mut data = width.to_be_bytes().to_vec();
    data.extend_from_slice(&height.to_be_bytes());
    data.extend_from_slice(&[8, colour.code(), 0, 0, 0]);
    chunk(b"IHDR", &data)
}

/// `png` with `insert` placed before its first chunk of type `before`.
pub fn insert(png: &[u8], insert: &[u8], before: &[u8; 4]) -> Vec<u8> {
    let mut i = SIGNATURE.len();
    while &png[i + 4..i + 8] != before {
        i += 12 + u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
    }
    [&png[..i], insert, &png[i..]].concat()
}

/// Whether every chunk's CRC is right.
pub fn crcs_valid(png: &[u8]) -> bool {
    let mut i = SIGNATURE.len();
    while i < png.len() {
        let len = u32::from_be_bytes(png[i..i + 4].try_into().unwrap()) as usize;
        let stored = &png[i + 8 + len..i + 12 + len];
        if crc32fast::hash(&png[i + 4..i + 8 + len]).to_be_bytes() != stored {
            return false;
        }
        i += 12 + len;
    }
    true
}

/// A PNG of `width` × `height` pixels of `colour` whose rows (each a filter byte, then its
/// pixels) are `rows`, stored uncompressed, with `ancillary` (whole chunks) between its header
/// and its pixels.
pub fn stored(width: u32, height: u32, colour: Colour, rows: &[u8], ancillary: &[u8]) -> Vec<u8> {
    let row = 1 + width as usize * colour.channels();
    assert_eq!(rows.len(), row * height as usize, "{height} rows of {row} bytes");
    let mut zlib = vec![0x78, 0x01];
    let mut blocks = rows.chunks(STORED_BLOCK).peekable();
    while let Some(block) = blocks.next() {
        zlib.extend_from_slice(&stored_block_header(block.len(), blocks.peek().is_none()));
        zlib.extend_from_slice(block);
    }
    zlib.extend_from_slice(&adler32(rows).to_be_bytes());
    [&SIGNATURE[..], &ihdr(width, height, colour), ancillary, &chunk(b"IDAT", &zlib), &chunk(b"IEND", &[])].concat()
}

/// A 1 × 1 RGB PNG whose grey level is `seed`, so each seed gives other bytes
/// ([`SMALL_LEN`] of them).
pub fn small(seed: u8) -> Vec<u8> {
    one_pixel(seed, &[])
}

/// A real PNG of exactly `len` bytes (at least [`SMALL_LEN`] + 12): [`small`] with a [`filler`]
/// chunk between its header and its pixel.
pub fn sized(seed: u8, len: usize) -> Vec<u8> {
    let filler = filler(len.checked_sub(SMALL_LEN).expect("a sized PNG is at least 84 bytes"), seed.into());
    let png = one_pixel(seed, &filler);
    debug_assert_eq!(png.len(), len);
    png
}

/// [`sized`] in pieces, to serve a PNG of GiBs without holding it: the head of a [`small`] PNG,
/// filler chunks of `block` bytes that share one buffer, a last filler chunk of what is left,
/// and the small PNG's tail.
pub fn sized_pieces(seed: u8, len: u64, block: usize) -> Vec<Bytes> {
    assert!(block >= 12, "a filler chunk is at least 12 bytes");
    let small = small(seed);
    let (head, tail) = small.split_at(HEAD_LEN);
    // Whole blocks, leaving the last chunk at least its 12 bytes of framing.
    let fillers = len.checked_sub(SMALL_LEN as u64).expect("a sized PNG is at least 84 bytes");
    let blocks = fillers.checked_sub(12).expect("a sized PNG is at least 84 bytes") / block as u64;
    let last = (fillers - blocks * block as u64) as usize;
    let shared = Bytes::from(filler(block, seed.into()));
    let mut pieces = vec![Bytes::copy_from_slice(head)];
    pieces.extend((0..blocks).map(|_| shared.clone()));
    pieces.push(Bytes::from(filler(last, u64::from(seed) + 1)));
    pieces.push(Bytes::copy_from_slice(tail));
    pieces
}

/// A 32 × 32 grey PNG of exactly `len` bytes, different for every `index` in its pixels and its
/// filler.
pub fn numbered(index: u64, len: usize) -> Vec<u8> {
    const SIDE: u32 = 32;
    let shade = |x: u32, y: u32| (index as u32).wrapping_mul(31).wrapping_add(x * 7 + y * 13) as u8;
    let rows: Vec<u8> = (0..SIDE).flat_map(|y| std::iter::once(0).chain((0..SIDE).map(move |x| shade(x, y)))).collect();
    let bare = stored(SIDE, SIDE, Colour::Grey, &rows, &[]).len();
    let filler = filler(len.checked_sub(bare).expect("room for the filler chunk"), index);
    stored(SIDE, SIDE, Colour::Grey, &rows, &filler)
}

/// A private ancillary chunk (decoders skip it) of exactly `len` bytes, at least 12, its data
/// pseudo-random from `seed` so that it does not compress.
pub fn filler(len: usize, seed: u64) -> Vec<u8> {
    let mut data = vec![0; len.checked_sub(12).expect("a chunk is at least 12 bytes")];
    // xorshift64, never seeded with zero.
    let mut state = (0x2545_f491_4f6c_dd1d_u64 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15)) | 1;
    for bytes in data.chunks_mut(8) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        bytes.copy_from_slice(&state.to_le_bytes()[..bytes.len()]);
    }
    chunk(b"prVt", &data)
}

/// Writes to `path` a PNG of `width` × `height` black RGB pixels, piece by piece so a GiB needs
/// no GiB of memory; returns its size. Every CRC is right, so decoders read it as well.
pub fn write_black(path: &Path, width: u32, height: u32) -> u64 {
    let raw = (1 + 3 * u64::from(width)) * u64::from(height);
    let blocks = raw.div_ceil(STORED_BLOCK as u64);
    let idat = u32::try_from(2 + blocks * 5 + raw + 4).expect("the pixels fit one chunk");
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).expect("the PNG's file is created"));
    let mut crc = crc32fast::Hasher::new();
    let mut write = |bytes: &[u8], in_crc: bool| {
        if in_crc {
            crc.update(bytes);
        }
        file.write_all(bytes).expect("the PNG is written");
        crc.clone()
    };
    write(SIGNATURE, false);
    write(&ihdr(width, height, Colour::Rgb), false);
    write(&idat.to_be_bytes(), false);
    write(b"IDAT\x78\x01", true);
    let zeros = vec![0; STORED_BLOCK];
    let mut left = raw;
    while left > 0 {
        let len = left.min(STORED_BLOCK as u64) as usize;
        left -= len as u64;
        write(&stored_block_header(len, left == 0), true);
        write(&zeros[..len], true);
    }
    // Adler-32 of zeros: a stays 1, b adds 1 a byte.
    let crc = write(&((((raw % 65_521) as u32) << 16) | 1).to_be_bytes(), true).finalize();
    write(&crc.to_be_bytes(), false);
    write(&chunk(b"IEND", &[]), false);
    file.flush().expect("the PNG is written");
    std::fs::metadata(path).expect("the PNG was written").len()
}

/// A 1 × 1 RGB image of grey level `seed`, with `ancillary` before its pixel.
fn one_pixel(seed: u8, ancillary: &[u8]) -> Vec<u8> {
    stored(1, 1, Colour::Rgb, &[0, seed, seed, seed], ancillary)
}

/// The five bytes before a stored deflate block of `len` bytes: final flag, length, its complement.
fn stored_block_header(len: usize, last: bool) -> [u8; 5] {
    let len = u16::try_from(len).expect("a stored block holds at most 65,535 bytes");
    let [lo, hi] = len.to_le_bytes();
    [u8::from(last), lo, hi, !lo, !hi]
}

fn adler32(data: &[u8]) -> u32 {
    let (a, b) = data.iter().fold((1u32, 0u32), |(a, b), &x| {
        let a = (a + u32::from(x)) % 65_521;
        (a, (b + a) % 65_521)
    });
    (b << 16) | a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_pngs_have_their_sizes_and_right_crcs() {
        assert_eq!(small(3).len(), SMALL_LEN);
        assert_ne!(small(3), small(4));
        for len in [SMALL_LEN + 12, 1000, 70_001] {
            let png = sized(9, len);
            assert_eq!(png.len(), len);
            assert!(crcs_valid(&png));
        }
        let png = numbered(7, 4096);
        assert_eq!(png.len(), 4096);
        assert!(crcs_valid(&png));
        assert_ne!(numbered(8, 4096), png);
    }

    #[test]
    fn the_pieces_make_the_sized_png() {
        for (len, block) in [(1 << 20, 1 << 16), (100_012, 1000), (SMALL_LEN as u64 + 12, 64)] {
            let whole: Vec<u8> = sized_pieces(2, len, block).concat();
            assert_eq!(whole.len() as u64, len);
            assert!(crcs_valid(&whole));
        }
    }

    #[test]
    fn a_stored_image_of_many_blocks_keeps_its_rows() {
        let rows: Vec<u8> =
            (0..300).flat_map(|y| std::iter::once(0).chain((0..300).map(move |x| (x ^ y) as u8))).collect();
        let png = stored(300, 300, Colour::Grey, &rows, &[]);
        assert!(crcs_valid(&png));
        let zlib_len = u32::from_be_bytes(png[33..37].try_into().unwrap()) as usize;
        assert_eq!(zlib_len, 2 + 2 * 5 + rows.len() + 4, "two stored blocks");
    }

    #[test]
    fn a_black_png_written_in_pieces_is_as_long_as_its_chunks_say() {
        let dir = std::env::temp_dir().join(format!("testkit-black-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("black.png");
        let size = write_black(&path, 200, 400);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(bytes.len() as u64, size);
        let idat = u32::from_be_bytes(bytes[33..37].try_into().unwrap()) as usize;
        assert_eq!(&bytes[37..41], b"IDAT");
        assert_eq!(bytes.len(), 33 + 12 + idat + 12);
        assert!(bytes.ends_with(&chunk(b"IEND", &[])));
    }
}
