//! What makes a rendition look as the original does in a browser: upright, in sRGB.

use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

use super::shrink::Frame;

/// Applies EXIF `orientation` (1–8) and converts from the `icc` profile to sRGB. A profile that
/// cannot be read, or is not an RGB one, is ignored as browsers do.
pub(crate) fn upright_srgb(frame: Frame, orientation: u16, icc: Option<&[u8]>) -> Frame {
    let mut frame = orient(frame, orientation);
    if let Some(icc) = icc {
        to_srgb(&mut frame, icc);
    }
    frame
}

fn to_srgb(frame: &mut Frame, icc: &[u8]) {
    let Ok(profile) = ColorProfile::new_from_slice(icc) else { return };
    if profile.color_space != DataColorSpace::Rgb {
        return;
    }
    let layout = if frame.alpha { Layout::Rgba } else { Layout::Rgb };
    let srgb = ColorProfile::new_srgb();
    let Ok(transform) = profile.create_transform_8bit(layout, &srgb, layout, TransformOptions::default()) else {
        return;
    };
    let mut out = vec![0; frame.data.len()];
    if transform.transform(&frame.data, &mut out).is_ok() {
        frame.data = out;
    }
}

/// The upright frame for an EXIF Orientation value (as Pillow's `exif_transpose` makes it).
pub(crate) fn orient(frame: Frame, orientation: u16) -> Frame {
    if !(2..=8).contains(&orientation) {
        return frame;
    }
    let (w, h) = (frame.width as usize, frame.height as usize);
    let swap = orientation >= 5;
    let (ow, oh) = if swap { (h, w) } else { (w, h) };
    let c = frame.channels();
    let mut out = Frame::new(ow as u32, oh as u32, frame.alpha);
    for y in 0..oh {
        for x in 0..ow {
            let (sx, sy) = match orientation {
                2 => (w - 1 - x, y),
                3 => (w - 1 - x, h - 1 - y),
                4 => (x, h - 1 - y),
                5 => (y, x),
                6 => (y, h - 1 - x),
                7 => (w - 1 - y, h - 1 - x),
                _ => (w - 1 - y, x),
            };
            let src = (sy * w + sx) * c;
            let dst = (y * ow + x) * c;
            out.data[dst..dst + c].copy_from_slice(&frame.data[src..src + c]);
        }
    }
    out
}

/// RGB from RGBA composited onto white, as JPEG renditions are.
pub(crate) fn flatten_on_white(frame: &Frame) -> Vec<u8> {
    if !frame.alpha {
        return frame.data.clone();
    }
    frame
        .data
        .chunks_exact(4)
        .flat_map(|px| {
            let a = u32::from(px[3]);
            let over = |c: u8| ((u32::from(c) * a + 255 * (255 - a) + 127) / 255) as u8;
            [over(px[0]), over(px[1]), over(px[2])]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 frame whose pixels are numbered 0..6 in their red channel.
    fn numbered() -> Frame {
        Frame { width: 3, height: 2, alpha: false, data: (0..6u8).flat_map(|i| [i, 0, 0]).collect() }
    }

    fn reds(frame: &Frame) -> Vec<u8> {
        frame.data.chunks_exact(3).map(|p| p[0]).collect()
    }

    #[test]
    fn every_orientation_gives_the_pixels_pillow_gives() {
        // Pillow: exif_transpose of [[0,1,2],[3,4,5]] for each Orientation.
        let cases: [(u16, (u32, u32), [u8; 6]); 8] = [
            (1, (3, 2), [0, 1, 2, 3, 4, 5]),
            (2, (3, 2), [2, 1, 0, 5, 4, 3]),
            (3, (3, 2), [5, 4, 3, 2, 1, 0]),
            (4, (3, 2), [3, 4, 5, 0, 1, 2]),
            (5, (2, 3), [0, 3, 1, 4, 2, 5]),
            (6, (2, 3), [3, 0, 4, 1, 5, 2]),
            (7, (2, 3), [5, 2, 4, 1, 3, 0]),
            (8, (2, 3), [2, 5, 1, 4, 0, 3]),
        ];
        for (orientation, size, pixels) in cases {
            let out = orient(numbered(), orientation);
            assert_eq!((out.width, out.height), size, "orientation {orientation}");
            assert_eq!(reds(&out), pixels, "orientation {orientation}");
        }
    }

    #[test]
    fn flattening_composites_on_white() {
        let frame = Frame { width: 2, height: 1, alpha: true, data: vec![0, 0, 0, 0, 255, 0, 0, 128] };
        assert_eq!(flatten_on_white(&frame), [255, 255, 255, 255, 127, 127]);
    }
}
