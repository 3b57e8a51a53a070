//! PNG (and APNG's default image) with the png crate: rows at full scale into the box shrink.

use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};

use png::{BitDepth, ColorType, Transformations};

use super::shrink::{BoxShrink, box_factor};
use super::{Decoded, Failure, fit};

pub(super) fn decode(source: &mut dyn Read, edge: &dyn Fn(u32) -> u32) -> Result<Decoded, Failure> {
    let mut decoder = png::Decoder::new(Stream(BufReader::with_capacity(64 * 1024, source)));
    // Palette, tRNS and low bit depths to 8-bit samples; 16-bit keeps its high byte, as Pillow.
    decoder.set_transformations(Transformations::EXPAND | Transformations::STRIP_16);
    decoder.set_ignore_text_chunk(true);
    let mut reader = decoder.read_info().map_err(failure)?;
    let info = reader.info();
    let (width, height, interlaced) = (info.width, info.height, info.interlaced);
    let icc = info.icc_profile.as_ref().map(|p| p.to_vec());
    let orientation = info.exif_metadata.as_deref().and_then(crate::image::exif_orientation).unwrap_or(1);
    let (color, depth) = reader.output_color_type();
    debug_assert_eq!(depth, BitDepth::Eight);
    let alpha = matches!(color, ColorType::Rgba | ColorType::GrayscaleAlpha);
    let target = fit(width, height, edge(width.max(height)));
    let k = box_factor(width, height, target);
    let mut shrink = BoxShrink::new(width, height, alpha, k, !interlaced);
    let mut passes = Adam7::new(width, height, interlaced);
    let mut expanded = Vec::new();
    while let Some(row) = reader.next_row().map_err(failure)? {
        let (y, x0, dx) =
            passes.next().ok_or_else(|| Failure::Corrupt("the PNG has more rows than its size".into()))?;
        let pixels = match color {
            ColorType::Rgb | ColorType::Rgba => row.data(),
            ColorType::Grayscale => {
                expanded.clear();
                expanded.extend(row.data().iter().flat_map(|&g| [g, g, g]));
                &expanded
            }
            ColorType::GrayscaleAlpha => {
                expanded.clear();
                expanded.extend(row.data().chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]));
                &expanded
            }
            ColorType::Indexed => return Err(Failure::Corrupt("the PNG palette was not expanded".into())),
        };
        shrink.add_pixels(y, x0, dx, pixels);
    }
    reader.finish().map_err(failure)?;
    let extent = shrink.extent();
    Ok(Decoded { size: (width, height), frame: shrink.finish(), extent, orientation, icc })
}

fn failure(e: png::DecodingError) -> Failure {
    match e {
        png::DecodingError::IoError(e) if e.kind() != io::ErrorKind::UnexpectedEof => Failure::Read(e),
        png::DecodingError::IoError(_) => Failure::Corrupt("the PNG data ends before the image does".into()),
        e => Failure::Corrupt(e.to_string()),
    }
}

/// Where each row the decoder hands out lies: (y, first x, x step). Adam7 passes come in order,
/// skipping the empty ones, as the png crate emits them.
struct Adam7 {
    width: u32,
    height: u32,
    interlaced: bool,
    pass: usize,
    line: u32,
}

const PASSES: [(u32, u32, u32, u32); 7] =
    [(0, 8, 0, 8), (4, 8, 0, 8), (0, 4, 4, 8), (2, 4, 0, 4), (0, 2, 2, 4), (1, 2, 0, 2), (0, 1, 1, 2)];

impl Adam7 {
    fn new(width: u32, height: u32, interlaced: bool) -> Self {
        Adam7 { width, height, interlaced, pass: 0, line: 0 }
    }

    fn next(&mut self) -> Option<(u32, u32, u32)> {
        if !self.interlaced {
            let y = self.line;
            self.line += 1;
            return (y < self.height).then_some((y, 0, 1));
        }
        while let Some(&(x0, dx, y0, dy)) = PASSES.get(self.pass) {
            let y = y0 + self.line * dy;
            if x0 < self.width && y < self.height {
                self.line += 1;
                return Some((y, x0, dx));
            }
            self.pass += 1;
            self.line = 0;
        }
        None
    }
}

/// The png crate asks for `Seek` but only reads forward; a stream cannot seek, so it says so.
struct Stream<R>(R);

impl<R: Read> Read for Stream<BufReader<R>> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<R: Read> BufRead for Stream<BufReader<R>> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        self.0.fill_buf()
    }

    fn consume(&mut self, amount: usize) {
        self.0.consume(amount);
    }
}

impl<R> Seek for Stream<R> {
    fn seek(&mut self, _: SeekFrom) -> io::Result<u64> {
        Err(io::Error::new(io::ErrorKind::Unsupported, "a rendition source is read once, front to back"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adam7_rows_follow_the_passes_and_skip_empty_ones() {
        let mut rows = Adam7::new(1, 3, true);
        let all: Vec<_> = std::iter::from_fn(|| rows.next()).collect();
        // 1×3: pass 1 has y=0; passes 2, 4, 6 have no columns; pass 3 has no rows (y0=4);
        // pass 5 has y=2; pass 7 has y=1.
        assert_eq!(all, [(0, 0, 8), (2, 0, 2), (1, 0, 1)]);
    }
}
