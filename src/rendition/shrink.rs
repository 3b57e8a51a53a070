//! Downscaling: an integer box average while rows stream in, then Lanczos3 on the small result.

use fast_image_resize as fr;

/// Pixels in memory: 8-bit RGB, or RGBA with straight (not premultiplied) alpha.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Frame {
    pub width: u32,
    pub height: u32,
    pub alpha: bool,
    pub data: Vec<u8>,
}

impl Frame {
    pub fn new(width: u32, height: u32, alpha: bool) -> Self {
        let len = width as usize * height as usize * if alpha { 4 } else { 3 };
        Frame { width, height, alpha, data: vec![0; len] }
    }

    pub fn channels(&self) -> usize {
        if self.alpha { 4 } else { 3 }
    }

    fn pixel_type(&self) -> fr::PixelType {
        if self.alpha { fr::PixelType::U8x4 } else { fr::PixelType::U8x3 }
    }
}

/// The integer factor to box-average by before Lanczos: the largest that keeps both edges at
/// least twice the target's (libvips' reducing gap of 2), so Lanczos3 still does the
/// anti-aliasing; a box alone lets fine stripes through as moiré. Capped so the u32 sums
/// cannot overflow.
pub(crate) fn box_factor(width: u32, height: u32, target: (u32, u32)) -> u32 {
    (width / (2 * target.0.max(1))).min(height / (2 * target.1.max(1))).clamp(1, 256)
}

/// Averages k×k blocks of rows fed in any order (interlaced images) or top to bottom, keeping
/// only the sums of the block rows not yet complete.
pub(crate) struct BoxShrink {
    k: u32,
    width: u32,
    height: u32,
    alpha: bool,
    /// Top to bottom: one block row of sums is open at a time. Otherwise all are.
    sequential: bool,
    out: Frame,
    sums: Vec<u32>,
    open_row: u32,
}

impl BoxShrink {
    /// A shrink of a `width × height` image by `k`; `alpha` says rows are RGBA, else RGB.
    pub fn new(width: u32, height: u32, alpha: bool, k: u32, sequential: bool) -> Self {
        let out = Frame::new(width.div_ceil(k), height.div_ceil(k), alpha);
        let rows = if k == 1 {
            0
        } else if sequential {
            1
        } else {
            out.height as usize
        };
        let sums = vec![0; rows * out.width as usize * out.channels()];
        BoxShrink { k, width, height, alpha, sequential, out, sums, open_row: 0 }
    }

    /// The output's extent in output pixels (the last block may be partial).
    pub fn extent(&self) -> (f64, f64) {
        (f64::from(self.width) / f64::from(self.k), f64::from(self.height) / f64::from(self.k))
    }

    /// Adds the row at `y`.
    pub fn add_row(&mut self, y: u32, row: &[u8]) {
        self.add_pixels(y, 0, 1, row);
    }

    /// Adds the pixels at (x0 + i·dx, y) for every pixel i of `pixels`.
    pub fn add_pixels(&mut self, y: u32, x0: u32, dx: u32, pixels: &[u8]) {
        if y >= self.height {
            return;
        }
        let c = self.out.channels();
        let k = self.k;
        if k == 1 {
            let start = y as usize * self.width as usize * c;
            let line = &mut self.out.data[start..start + self.width as usize * c];
            for (i, px) in pixels.chunks_exact(c).enumerate() {
                let x = (x0 + i as u32 * dx) as usize;
                if let Some(dst) = line.get_mut(x * c..x * c + c) {
                    dst.copy_from_slice(px);
                }
            }
            return;
        }
        let by = y / k;
        if self.sequential && by != self.open_row {
            self.flush(self.open_row);
            self.open_row = by;
        }
        let row = if self.sequential { 0 } else { by as usize };
        let ow = self.out.width as usize;
        let sums = &mut self.sums[row * ow * c..(row + 1) * ow * c];
        if dx == 1 && x0 == 0 {
            // Plain index loops: this runs over every source pixel, and stays quick unoptimised.
            let (kc, alpha) = (k as usize * c, self.alpha);
            let mut start = 0;
            for s in sums.chunks_exact_mut(c) {
                let end = (start + kc).min(pixels.len());
                let mut i = start;
                if alpha {
                    let (mut r, mut g, mut b, mut a) = (0u32, 0u32, 0u32, 0u32);
                    while i + 3 < end {
                        let w = u32::from(pixels[i + 3]);
                        r += u32::from(pixels[i]) * w;
                        g += u32::from(pixels[i + 1]) * w;
                        b += u32::from(pixels[i + 2]) * w;
                        a += w;
                        i += 4;
                    }
                    s[3] += a;
                    s[0] += r;
                    s[1] += g;
                    s[2] += b;
                } else {
                    let (mut r, mut g, mut b) = (0u32, 0u32, 0u32);
                    while i + 2 < end {
                        r += u32::from(pixels[i]);
                        g += u32::from(pixels[i + 1]);
                        b += u32::from(pixels[i + 2]);
                        i += 3;
                    }
                    s[0] += r;
                    s[1] += g;
                    s[2] += b;
                }
                start = end;
            }
        } else {
            for (i, px) in pixels.chunks_exact(c).enumerate() {
                let x = ((x0 + i as u32 * dx) / k) as usize;
                if x < ow {
                    add(&mut sums[x * c..x * c + c], px, self.alpha);
                }
            }
        }
    }

    /// The averaged frame.
    pub fn finish(mut self) -> Frame {
        if self.k > 1 {
            if self.sequential {
                self.flush(self.open_row);
            } else {
                (0..self.out.height).for_each(|by| self.flush(by));
            }
        }
        self.out
    }

    fn flush(&mut self, by: u32) {
        let c = self.out.channels();
        let ow = self.out.width as usize;
        let row = if self.sequential { 0 } else { by as usize };
        let k = self.k;
        let rows = k.min(self.height - by * k);
        let sums = &mut self.sums[row * ow * c..(row + 1) * ow * c];
        let out = &mut self.out.data[by as usize * ow * c..(by as usize + 1) * ow * c];
        for (x, (s, o)) in sums.chunks_exact_mut(c).zip(out.chunks_exact_mut(c)).enumerate() {
            let n = rows * k.min(self.width - x as u32 * k);
            if self.alpha {
                let a = s[3];
                for i in 0..3 {
                    o[i] = (s[i] + a / 2).checked_div(a).unwrap_or(0) as u8;
                }
                o[3] = ((a + n / 2) / n) as u8;
            } else {
                for i in 0..3 {
                    o[i] = ((s[i] + n / 2) / n) as u8;
                }
            }
            s.fill(0);
        }
    }
}

/// Adds one pixel to a block's sums; colour is weighted by alpha so transparent pixels add none.
#[inline]
fn add(sums: &mut [u32], px: &[u8], alpha: bool) {
    if alpha {
        let a = u32::from(px[3]);
        for i in 0..3 {
            sums[i] += u32::from(px[i]) * a;
        }
        sums[3] += a;
    } else {
        for i in 0..3 {
            sums[i] += u32::from(px[i]);
        }
    }
}

/// `frame` at `width × height`: itself when it is that already, else [`lanczos`] (and `frame`
/// is freed before the caller goes on).
pub(crate) fn resize(frame: Frame, extent: (f64, f64), width: u32, height: u32) -> Frame {
    let whole = (f64::from(frame.width), f64::from(frame.height));
    if (frame.width, frame.height) == (width, height) && extent == whole {
        return frame;
    }
    lanczos(&frame, extent, width, height)
}

/// Lanczos3 from the `extent` of `frame` (its left and top edges at 0) to `width × height`,
/// with alpha premultiplied while it filters.
pub(crate) fn lanczos(frame: &Frame, extent: (f64, f64), width: u32, height: u32) -> Frame {
    let whole = (f64::from(frame.width), f64::from(frame.height));
    let mut out = Frame::new(width, height, frame.alpha);
    let src = fr::images::ImageRef::new(frame.width, frame.height, &frame.data, frame.pixel_type())
        .expect("a frame's buffer matches its size");
    let pixel_type = out.pixel_type();
    let mut dst = fr::images::Image::from_slice_u8(width, height, &mut out.data, pixel_type)
        .expect("a frame's buffer matches its size");
    let options = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3)).crop(
        0.0,
        0.0,
        extent.0.min(whole.0),
        extent.1.min(whole.1),
    );
    fr::Resizer::new().resize(&src, &mut dst, &options).expect("pixel types match");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_average_of_rgb_blocks_rounds_and_covers_partial_edges() {
        let mut shrink = BoxShrink::new(3, 3, false, 2, true);
        for y in 0..3u32 {
            let row: Vec<u8> = (0..3u32).flat_map(|x| [(10 * (x + 3 * y)) as u8, 0, 255]).collect();
            shrink.add_row(y, &row);
        }
        let out = shrink.finish();
        assert_eq!((out.width, out.height), (2, 2));
        // Block (0,0) averages 0,10,30,40; the partial ones average what they cover.
        assert_eq!(&out.data[0..3], &[20, 0, 255]);
        assert_eq!(&out.data[3..6], &[35, 0, 255]);
        assert_eq!(&out.data[6..9], &[65, 0, 255]);
        assert_eq!(&out.data[9..12], &[80, 0, 255]);
    }

    #[test]
    fn transparent_pixels_add_no_colour() {
        let mut shrink = BoxShrink::new(2, 1, true, 2, false);
        shrink.add_row(0, &[255, 0, 0, 255, 0, 255, 0, 0]);
        let out = shrink.finish();
        assert_eq!(out.data, [255, 0, 0, 128]);
    }

    #[test]
    fn interlaced_pixels_land_where_they_belong() {
        let mut shrink = BoxShrink::new(4, 2, false, 2, false);
        shrink.add_pixels(1, 1, 2, &[40, 40, 40, 80, 80, 80]);
        shrink.add_pixels(0, 0, 1, &[0; 12]);
        shrink.add_pixels(1, 0, 2, &[0; 6]);
        let out = shrink.finish();
        assert_eq!(out.data, [10, 10, 10, 20, 20, 20]);
    }
}
