//! The difference hash as Python's imagehash computes it: grey, Lanczos to 9×8, one bit per
//! horizontal neighbour pair (right brighter than left), row-major, most significant bit first.

use fast_image_resize as fr;

use super::shrink::Frame;

/// The 64-bit dHash of `frame`'s colour (alpha ignored, as Pillow's `convert("L")` does).
pub(crate) fn dhash(frame: &Frame) -> u64 {
    let grey: Vec<u8> = frame.data.chunks_exact(frame.channels()).map(|p| luma(p[0], p[1], p[2])).collect();
    let src = fr::images::ImageRef::new(frame.width, frame.height, &grey, fr::PixelType::U8)
        .expect("one grey byte per pixel");
    let mut small = fr::images::Image::new(9, 8, fr::PixelType::U8);
    let options = fr::ResizeOptions::new().resize_alg(fr::ResizeAlg::Convolution(fr::FilterType::Lanczos3));
    fr::Resizer::new().resize(&src, &mut small, &options).expect("pixel types match");
    let p = small.buffer();
    (0..8)
        .flat_map(|y| (0..8).map(move |x| (y, x)))
        .fold(0u64, |hash, (y, x)| (hash << 1) | u64::from(p[y * 9 + x + 1] > p[y * 9 + x]))
}

/// ITU-R 601-2 luma in Pillow's fixed point.
fn luma(r: u8, g: u8, b: u8) -> u8 {
    ((u32::from(r) * 19595 + u32::from(g) * 38470 + u32::from(b) * 7471 + 0x8000) >> 16) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_left_to_right_brightening_ramp_sets_every_bit() {
        let (w, h) = (90u32, 80u32);
        let data = (0..h).flat_map(|_| (0..w).flat_map(|x| [(x * 2) as u8; 3])).collect();
        assert_eq!(dhash(&Frame { width: w, height: h, alpha: false, data }), u64::MAX);
    }

    #[test]
    fn a_flat_image_sets_none() {
        let frame = Frame { width: 30, height: 20, alpha: true, data: vec![128; 30 * 20 * 4] };
        assert_eq!(dhash(&frame), 0);
    }
}
