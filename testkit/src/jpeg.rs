//! JPEGs of any size in a few bytes a block: a flat grey baseline 4:2:0 image whose Huffman
//! tables each hold one code, so every block is two zero bits (DC difference 0, then EOB) and the
//! whole scan is zero bytes. A 100-megapixel photo's worth of decoding for 586 KB.

/// A baseline 4:2:0 JPEG of `width` × `height` mid-grey pixels.
pub fn flat(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = vec![0xff, 0xd8];
    // One quantisation table of ones, for every component.
    segment(&mut jpeg, 0xdb, &[&[0x00][..], &[1; 64]].concat());
    let [wh, wl] = width.to_be_bytes();
    let [hh, hl] = height.to_be_bytes();
    // Y at 2×2, Cb and Cr at 1×1: one MCU is 16 × 16 pixels, six blocks.
    segment(&mut jpeg, 0xc0, &[8, hh, hl, wh, wl, 3, 1, 0x22, 0, 2, 0x11, 0, 3, 0x11, 0]);
    // DC table 0 and AC table 0, each one code of length 1 ("0"): DC category 0, and EOB.
    let one_code = |class: u8| [&[class][..], &[1], &[0; 15], &[0x00]].concat();
    segment(&mut jpeg, 0xc4, &[one_code(0x00), one_code(0x10)].concat());
    segment(&mut jpeg, 0xda, &[3, 1, 0x00, 2, 0x00, 3, 0x00, 0, 63, 0]);
    let mcus = u64::from(width.div_ceil(16)) * u64::from(height.div_ceil(16));
    let bits = mcus * 6 * 2;
    jpeg.resize(jpeg.len() + (bits / 8) as usize, 0);
    if bits % 8 != 0 {
        jpeg.push(0xff >> (bits % 8)); // the last byte's unused bits are ones, as the format pads
    }
    jpeg.extend_from_slice(&[0xff, 0xd9]);
    jpeg
}

fn segment(jpeg: &mut Vec<u8>, marker: u8, body: &[u8]) {
    let len = u16::try_from(body.len() + 2).expect("a segment is under 64 KiB");
    jpeg.extend_from_slice(&[0xff, marker]);
    jpeg.extend_from_slice(&len.to_be_bytes());
    jpeg.extend_from_slice(body);
}
