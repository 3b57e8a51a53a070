//! Whole images only: a streaming walk of each format's structure to the end it marks.

use super::{Format, ImageError, PNG_SIGNATURE, be16, be32, le16, le32};

/// Checks that an image arrived whole, fed the object's bytes chunk by chunk.
///
/// Memory is a few counters and a 16-byte buffer whatever the object's size, and no input makes it
/// panic. What "whole" means per format:
/// - PNG: chunks walked by their lengths up to the end of IEND.
/// - JPEG: marker segments walked by their lengths (an EOI inside an APP1 EXIF thumbnail is
///   skipped with its segment); after each SOS the entropy-coded data is scanned (FF00 is
///   stuffing, FFD0–FFD7 are restarts) to the next marker, until EOI.
/// - GIF: blocks (extensions, image descriptors and their sub-blocks) up to the 0x3B trailer.
/// - WebP: 8 + the RIFF size field.
/// - AVIF/HEIF (ISO-BMFF): top-level boxes; no box may run past the bytes received (a box of size
///   0 runs to the end and is fine). A cut exactly between two top-level boxes is not seen.
/// - BMP: the file size in its header (`bfSize`; a writer that leaves it 0 gives nothing to check).
/// - ICO: the end of the furthest image its directory lists.
/// - TIFF and JPEG XL mark no end that can be checked without decoding: a readable header, checked
///   by [`super::read_facts`], is enough. Other types are not checked.
///
/// Bytes after a complete image (camera trailers, MPO frames, padding) are ignored.
#[derive(Debug, Clone)]
pub struct Completeness {
    format: Option<Format>,
    state: State,
    /// Bytes consumed so far.
    pos: u64,
    /// Bytes to pass over before the next field.
    skip: u64,
    buf: [u8; 16],
    need: usize,
    have: usize,
    /// WebP: where the RIFF ends; ICO: where the furthest image ends; ISO-BMFF: boxes seen.
    mark: u64,
    /// The furthest end of an EXIF block seen (0 if none), for [`Completeness::exif_beyond`].
    exif_end: u64,
    failure: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing to check for this type.
    Unchecked,
    Done,
    PngSignature,
    PngChunk,
    JpegSoi,
    /// Looking for the next marker outside entropy-coded data; `true` after an 0xFF.
    JpegMarker(bool),
    JpegLength(u8),
    /// The first 6 bytes of an APP1 segment, to see whether it is EXIF; then the rest.
    JpegApp1(u64),
    /// Entropy-coded data after SOS; `true` after an 0xFF.
    JpegEntropy(bool),
    GifHeader,
    GifBlock,
    GifExtensionLabel,
    GifImage,
    GifLzwSize,
    GifSubBlock,
    RiffHeader,
    RiffChunk,
    BoxHeader,
    BoxLargeSize,
    BmpHeader,
    IcoHeader,
    IcoEntry(u16),
}

impl Completeness {
    /// A checker for an object whose sniffed type is `mime`.
    pub fn new(mime: &str) -> Self {
        let format = Format::from_mime(mime);
        let state = match format {
            Some(Format::Png) => State::PngSignature,
            Some(Format::Jpeg) => State::JpegSoi,
            Some(Format::Gif) => State::GifHeader,
            Some(Format::WebP) => State::RiffHeader,
            Some(Format::Avif | Format::Heif) => State::BoxHeader,
            Some(Format::Bmp) => State::BmpHeader,
            Some(Format::Ico) => State::IcoHeader,
            Some(Format::Tiff | Format::Jxl) | None => State::Unchecked,
        };
        let mut checker = Completeness {
            format,
            state,
            pos: 0,
            skip: 0,
            buf: [0; 16],
            need: 0,
            have: 0,
            mark: 0,
            exif_end: 0,
            failure: None,
        };
        checker.enter(state);
        checker
    }

    /// Feeds the next bytes of the object.
    pub fn update(&mut self, mut chunk: &[u8]) {
        while !chunk.is_empty() && self.failure.is_none() {
            if self.skip > 0 {
                let n = self.skip.min(chunk.len() as u64) as usize;
                self.skip -= n as u64;
                self.advance(&mut chunk, n);
                continue;
            }
            match self.state {
                State::Unchecked | State::Done => return,
                State::JpegMarker(after_ff) => {
                    let b = chunk[0];
                    self.advance(&mut chunk, 1);
                    self.jpeg_marker_byte(after_ff, b);
                }
                State::JpegEntropy(false) => match memchr::memchr(0xFF, chunk) {
                    Some(i) => {
                        self.advance(&mut chunk, i + 1);
                        self.state = State::JpegEntropy(true);
                    }
                    None => {
                        let n = chunk.len();
                        self.advance(&mut chunk, n);
                    }
                },
                State::JpegEntropy(true) => {
                    let b = chunk[0];
                    self.advance(&mut chunk, 1);
                    match b {
                        0x00 | 0xD0..=0xD7 => self.state = State::JpegEntropy(false),
                        0xFF => {}
                        _ => self.jpeg_marker_byte(true, b),
                    }
                }
                _ => {
                    let n = (self.need - self.have).min(chunk.len());
                    self.buf[self.have..self.have + n].copy_from_slice(&chunk[..n]);
                    self.have += n;
                    self.advance(&mut chunk, n);
                    if self.have == self.need {
                        self.field();
                    }
                }
            }
        }
    }

    /// Whether an EXIF block (JPEG APP1 `Exif`, PNG eXIf, WebP EXIF) seen so far ends after the
    /// first `head_len` bytes. With [`super::Stripped::head_ended`], this tells a caller that
    /// patched only the head whether location data may have passed through unpatched.
    pub fn exif_beyond(&self, head_len: u64) -> bool {
        self.exif_end > head_len
    }

    /// Whether the image reached its end: `Truncated` if not, `Malformed` if its structure broke.
    pub fn finish(self) -> Result<(), ImageError> {
        let format = self.format.map(Format::name).unwrap_or("image");
        if let Some(reason) = self.failure {
            return Err(ImageError::Malformed { format, reason });
        }
        let whole = match self.state {
            State::Unchecked => true,
            State::Done => self.skip == 0,
            State::BoxHeader => self.skip == 0 && self.have == 0 && self.mark > 0,
            _ => false,
        };
        if whole {
            return Ok(());
        }
        let reason = match self.format {
            Some(Format::Png) => "the PNG ends before its IEND chunk",
            Some(Format::Jpeg) => "the JPEG ends before its EOI marker",
            Some(Format::Gif) => "the GIF ends before its trailer",
            Some(Format::WebP) => "the WebP is shorter than its RIFF size",
            Some(Format::Avif) => "the AVIF ends inside a box",
            Some(Format::Heif) => "the HEIF ends inside a box",
            Some(Format::Bmp) => "the BMP is shorter than its file size field",
            Some(Format::Ico) => "the ICO ends before the images its directory lists",
            _ => "the image is cut off",
        };
        Err(ImageError::Truncated { reason })
    }

    fn advance(&mut self, chunk: &mut &[u8], n: usize) {
        self.pos += n as u64;
        *chunk = &chunk[n..];
    }

    fn fail(&mut self, reason: &'static str) {
        self.failure = Some(reason);
    }

    /// Moves to `state`, setting how many bytes its field needs.
    fn enter(&mut self, state: State) {
        self.state = state;
        self.have = 0;
        self.need = match state {
            State::PngSignature => 8,
            State::PngChunk | State::RiffChunk | State::BoxHeader | State::BoxLargeSize => 8,
            State::JpegSoi | State::JpegLength(_) => 2,
            State::JpegApp1(_) => 6,
            State::GifHeader => 13,
            State::GifImage => 9,
            State::GifBlock | State::GifExtensionLabel | State::GifLzwSize | State::GifSubBlock => 1,
            State::RiffHeader => 12,
            State::BmpHeader => 14,
            State::IcoHeader => 6,
            State::IcoEntry(_) => 16,
            State::Unchecked | State::Done | State::JpegMarker(_) | State::JpegEntropy(_) => 0,
        };
        if state == State::RiffChunk {
            // Chunks are walked only within the RIFF; a tail shorter than a header is skipped.
            let at = self.pos + self.skip;
            let left = self.mark.saturating_sub(at);
            if left < 8 {
                self.skip += left;
                self.state = State::Done;
            }
        }
    }

    /// Handles a complete fixed-size field in `buf[..need]`.
    fn field(&mut self) {
        let b = self.buf;
        match self.state {
            State::PngSignature => {
                if &b[..8] != PNG_SIGNATURE {
                    return self.fail("its signature is wrong");
                }
                self.enter(State::PngChunk);
            }
            State::PngChunk => {
                let len = u64::from(be32(&b, 0).unwrap_or_default());
                if len > 0x7FFF_FFFF {
                    return self.fail("a chunk length is out of range");
                }
                if &b[4..8] == b"eXIf" {
                    self.exif_end = self.exif_end.max(self.pos + len + 4);
                }
                self.skip = len + 4;
                if &b[4..8] == b"IEND" {
                    self.enter(State::Done);
                } else {
                    self.enter(State::PngChunk);
                }
            }
            State::JpegSoi => {
                if b[..2] != [0xFF, 0xD8] {
                    return self.fail("it does not start with SOI");
                }
                self.enter(State::JpegMarker(false));
            }
            State::JpegLength(marker) => {
                let len = u64::from(be16(&b, 0).unwrap_or_default());
                if len < 2 {
                    return self.fail("a segment length is below 2");
                }
                let rest = len - 2;
                match marker {
                    0xE1 if rest >= 6 => self.enter(State::JpegApp1(rest - 6)),
                    0xDA => {
                        self.skip = rest;
                        self.enter(State::JpegEntropy(false));
                    }
                    _ => {
                        self.skip = rest;
                        self.enter(State::JpegMarker(false));
                    }
                }
            }
            State::JpegApp1(rest) => {
                if &b[..6] == b"Exif\0\0" {
                    self.exif_end = self.exif_end.max(self.pos + rest);
                }
                self.skip = rest;
                self.enter(State::JpegMarker(false));
            }
            State::GifHeader => {
                if &b[..6] != b"GIF87a" && &b[..6] != b"GIF89a" {
                    return self.fail("its signature is wrong");
                }
                self.skip = color_table(b[10]);
                self.enter(State::GifBlock);
            }
            State::GifBlock => match b[0] {
                0x21 => self.enter(State::GifExtensionLabel),
                0x2C => self.enter(State::GifImage),
                0x3B => self.enter(State::Done),
                _ => self.fail("a block of unknown type"),
            },
            State::GifExtensionLabel => self.enter(State::GifSubBlock),
            State::GifImage => {
                self.skip = color_table(b[8]);
                self.enter(State::GifLzwSize);
            }
            State::GifLzwSize => self.enter(State::GifSubBlock),
            State::GifSubBlock => {
                if b[0] == 0 {
                    self.enter(State::GifBlock);
                } else {
                    self.skip = u64::from(b[0]);
                    self.enter(State::GifSubBlock);
                }
            }
            State::RiffHeader => {
                let size = u64::from(le32(&b, 4).unwrap_or_default());
                if &b[..4] != b"RIFF" || &b[8..12] != b"WEBP" || size < 4 {
                    return self.fail("its RIFF header is wrong");
                }
                self.mark = 8 + size;
                self.enter(State::RiffChunk);
            }
            State::RiffChunk => {
                let size = u64::from(le32(&b, 4).unwrap_or_default());
                let end = (self.pos + size + (size & 1)).min(self.mark);
                if &b[..4] == b"EXIF" {
                    self.exif_end = self.exif_end.max(end);
                }
                self.skip = end - self.pos;
                self.enter(State::RiffChunk);
            }
            State::BoxHeader => {
                let size = u64::from(be32(&b, 0).unwrap_or_default());
                if self.mark == 0 && &b[4..8] != b"ftyp" {
                    return self.fail("it does not start with an ftyp box");
                }
                self.mark += 1;
                match size {
                    0 => self.enter(State::Done),
                    1 => self.enter(State::BoxLargeSize),
                    2..=7 => self.fail("a box size is below its header"),
                    _ => {
                        self.skip = size - 8;
                        self.enter(State::BoxHeader);
                    }
                }
            }
            State::BoxLargeSize => {
                let size = u64::from_be_bytes(b[..8].try_into().unwrap_or_default());
                if size < 16 {
                    return self.fail("a box size is below its header");
                }
                self.skip = size - 16;
                self.enter(State::BoxHeader);
            }
            State::BmpHeader => {
                if &b[..2] != b"BM" {
                    return self.fail("its signature is wrong");
                }
                let size = u64::from(le32(&b, 2).unwrap_or_default());
                if size != 0 && size < 26 {
                    return self.fail("its file size field is below its headers");
                }
                self.skip = size.saturating_sub(14);
                self.enter(State::Done);
            }
            State::IcoHeader => {
                let count = le16(&b, 4).unwrap_or_default();
                if le16(&b, 0) != Some(0) || !matches!(le16(&b, 2), Some(1 | 2)) || count == 0 {
                    return self.fail("its directory header is wrong");
                }
                self.mark = 6 + 16 * u64::from(count);
                self.enter(State::IcoEntry(count));
            }
            State::IcoEntry(left) => {
                let size = u64::from(le32(&b, 8).unwrap_or_default());
                let offset = u64::from(le32(&b, 12).unwrap_or_default());
                self.mark = self.mark.max(offset + size);
                if left > 1 {
                    self.enter(State::IcoEntry(left - 1));
                } else {
                    self.skip = self.mark.saturating_sub(self.pos);
                    self.enter(State::Done);
                }
            }
            State::Unchecked | State::Done | State::JpegMarker(_) | State::JpegEntropy(_) => {}
        }
    }

    /// A byte where a JPEG marker is expected. Bytes other than 0xFF before a marker are passed
    /// over, as decoders do.
    fn jpeg_marker_byte(&mut self, after_ff: bool, b: u8) {
        if !after_ff {
            if b == 0xFF {
                self.state = State::JpegMarker(true);
            }
            return;
        }
        match b {
            0xFF => self.state = State::JpegMarker(true),
            0xD9 => self.enter(State::Done),
            // Standalone markers (TEM, RSTn, SOI) and a stray stuffing byte carry no length.
            0x00 | 0x01 | 0xD0..=0xD8 => self.enter(State::JpegMarker(false)),
            marker => self.enter(State::JpegLength(marker)),
        }
    }
}

/// The size of a GIF color table whose presence and size are in `flags`.
fn color_table(flags: u8) -> u64 {
    if flags & 0x80 == 0 { 0 } else { 3 << ((flags & 7) + 1) }
}
