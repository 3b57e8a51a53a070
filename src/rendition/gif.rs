//! GIF's first frame with the gif crate, one indexed line at a time, on its logical screen.

use std::io::Read;

use super::shrink::{BoxShrink, box_factor};
use super::{Decoded, Failure, fit};

pub(super) fn decode(source: &mut dyn Read, edge: &dyn Fn(u32) -> u32) -> Result<Decoded, Failure> {
    let mut options = gif::DecodeOptions::new();
    options.set_color_output(gif::ColorOutput::Indexed);
    let mut decoder = options.read_info(source).map_err(failure)?;
    let (width, height) = (u32::from(decoder.width()), u32::from(decoder.height()));
    let global = decoder.global_palette().map(<[u8]>::to_vec);
    let frame =
        decoder.next_frame_info().map_err(failure)?.ok_or_else(|| Failure::Corrupt("the GIF has no frame".into()))?;
    let (left, top) = (u32::from(frame.left), u32::from(frame.top));
    let (fw, fh) = (u32::from(frame.width), u32::from(frame.height));
    let interlaced = frame.interlaced;
    let transparent = frame.transparent;
    let palette = frame.palette.clone().or(global).unwrap_or_default();
    // Browsers show what the first frame does not cover as transparent: pixels never added
    // average in as transparent.
    let covers = left == 0 && top == 0 && fw >= width && fh >= height;
    let alpha = transparent.is_some() || !covers;
    let target = fit(width, height, edge(width.max(height)));
    let k = box_factor(width, height, target);
    let mut shrink = BoxShrink::new(width, height, alpha, k, !interlaced && covers);
    let c = if alpha { 4 } else { 3 };
    let mut line = vec![0u8; fw as usize];
    let mut pixels = vec![0u8; fw as usize * c];
    let mut rows = Rows { height: fh, interlaced, pass: 0, next: 0 };
    while let Some(y) = rows.next() {
        if !decoder.fill_buffer(&mut line).map_err(failure)? {
            return Err(Failure::Corrupt("the GIF frame ends before its last line".into()));
        }
        for (&index, px) in line.iter().zip(pixels.chunks_exact_mut(c)) {
            let rgb = palette.get(usize::from(index) * 3..usize::from(index) * 3 + 3).unwrap_or(&[0, 0, 0]);
            px[..3].copy_from_slice(rgb);
            if alpha {
                px[3] = if Some(index) == transparent { 0 } else { 255 };
            }
        }
        if top + y < height && left < width {
            let n = (fw.min(width - left) as usize) * c;
            shrink.add_pixels(top + y, left, 1, &pixels[..n]);
        }
    }
    let extent = shrink.extent();
    Ok(Decoded { size: (width, height), frame: shrink.finish(), extent, orientation: 1, icc: None })
}

fn failure(e: gif::DecodingError) -> Failure {
    match e {
        gif::DecodingError::Io(e) if e.kind() != std::io::ErrorKind::UnexpectedEof => Failure::Read(e),
        e => Failure::Corrupt(e.to_string()),
    }
}

/// The frame's line order: top to bottom, or GIF's four interlace passes.
struct Rows {
    height: u32,
    interlaced: bool,
    pass: usize,
    next: u32,
}

impl Rows {
    fn next(&mut self) -> Option<u32> {
        const PASSES: [(u32, u32); 4] = [(0, 8), (4, 8), (2, 4), (1, 2)];
        if !self.interlaced {
            self.next += 1;
            return (self.next <= self.height).then_some(self.next - 1);
        }
        while let Some(&(start, step)) = PASSES.get(self.pass) {
            let y = start + self.next * step;
            if y < self.height {
                self.next += 1;
                return Some(y);
            }
            self.pass += 1;
            self.next = 0;
        }
        None
    }
}
