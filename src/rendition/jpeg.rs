//! JPEG through mozjpeg (libjpeg-turbo's decoder): DCT-scaled, one scanline at a time, from a
//! source manager that reads the stream in 64 KiB chunks. libjpeg reports errors by calling
//! back; ours unwind (mozjpeg-sys declares its functions `C-unwind`), and [`decode`] catches them.

use std::ffi::{c_int, c_long};
use std::io::{self, Read};
use std::mem;
use std::panic::{self, AssertUnwindSafe};

use mozjpeg_sys::{
    J_COLOR_SPACE, J_INT_PARAM, JCP_FASTEST, boolean, jpeg_common_struct, jpeg_compress_struct, jpeg_decompress_struct,
    jpeg_error_mgr, jpeg_resync_to_restart, jpeg_source_mgr,
};

use super::shrink::{BoxShrink, box_factor};
use super::{Decoded, Failure, fit};

/// How much is read from the source at a time.
const CHUNK: usize = 64 * 1024;

/// Progressive and multi-scan JPEGs keep every DCT coefficient (2 bytes each) until the last
/// scan: above this the image gets no rendition. 48 MiB is about 16.7 MP at 4:2:0.
pub(crate) const MAX_COEFFICIENT_BYTES: u64 = 48 << 20;

/// libjpeg's own ceiling on its large buffers: a backstop should the estimate above miss.
const MAX_MEMORY: c_long = 56 << 20;

/// Decodes at the smallest DCT scale (1/8..1) that still covers the work edge, box-averaging
/// rows as they come.
pub(super) fn decode(source: &mut dyn Read, edge: &dyn Fn(u32) -> u32) -> Result<Decoded, Failure> {
    let mut src = Box::new(Source {
        iface: jpeg_source_mgr {
            next_input_byte: std::ptr::null(),
            bytes_in_buffer: 0,
            init_source: Some(init_source),
            fill_input_buffer: Some(fill_input_buffer),
            skip_input_data: Some(skip_input_data),
            resync_to_restart: Some(jpeg_resync_to_restart),
            term_source: Some(term_source),
        },
        reader: source,
        buffer: vec![0; CHUNK],
        error: None,
    });
    let mut err = error_manager();
    let result = panic::catch_unwind(AssertUnwindSafe(|| decode_from(&mut src, &mut err, edge)));
    match result {
        Ok(decoded) => decoded,
        Err(payload) => Err(match src.error.take() {
            Some(e) => Failure::Read(e),
            None => Failure::Corrupt(super::panic_message(payload.as_ref())),
        }),
    }
}

fn decode_from(src: &mut Source, err: &mut jpeg_error_mgr, edge: &dyn Fn(u32) -> u32) -> Result<Decoded, Failure> {
    let mut cinfo = Decompress::new(err);
    let cinfo = &mut cinfo.0;
    cinfo.src = &mut src.iface;
    // SAFETY: `cinfo` was created by `Decompress::new` and its source outlives it.
    unsafe {
        mozjpeg_sys::jpeg_save_markers(cinfo, 0xE1, 0xFFFF);
        mozjpeg_sys::jpeg_save_markers(cinfo, 0xE2, 0xFFFF);
        (*cinfo.common.mem).max_memory_to_use = MAX_MEMORY;
        mozjpeg_sys::jpeg_read_header(cinfo, 1);
    }
    let (orientation, icc) = markers(cinfo);
    let (width, height) = (cinfo.image_width, cinfo.image_height);
    // SAFETY: the header has been read.
    if unsafe { mozjpeg_sys::jpeg_has_multiple_scans(cinfo) } != 0 {
        let bytes = coefficient_bytes(cinfo);
        if bytes > MAX_COEFFICIENT_BYTES {
            return Err(Failure::OverCap(format!(
                "progressive JPEG too large for renditions: its {} MiB of DCT coefficients exceed the {} MiB cap",
                bytes >> 20,
                MAX_COEFFICIENT_BYTES >> 20
            )));
        }
    }
    let target = fit(width, height, edge(width.max(height)));
    let denom = [8u32, 4, 2].into_iter().find(|&d| width / d >= target.0 && height / d >= target.1).unwrap_or(1);
    let cmyk = matches!(cinfo.jpeg_color_space, J_COLOR_SPACE::JCS_CMYK | J_COLOR_SPACE::JCS_YCCK);
    cinfo.out_color_space = if cmyk { J_COLOR_SPACE::JCS_CMYK } else { J_COLOR_SPACE::JCS_RGB };
    cinfo.scale_num = 1;
    cinfo.scale_denom = denom;
    // SAFETY: parameters are set; the output dimensions follow from them.
    unsafe { mozjpeg_sys::jpeg_start_decompress(cinfo) };
    let (ow, oh) = (cinfo.output_width, cinfo.output_height);
    let k = box_factor(ow, oh, target);
    let mut shrink = BoxShrink::new(ow, oh, false, k, true);
    let channels = if cmyk { 4 } else { 3 };
    let mut row = vec![0u8; ow as usize * channels];
    let mut rgb = if cmyk { vec![0u8; ow as usize * 3] } else { Vec::new() };
    while cinfo.output_scanline < oh {
        let y = cinfo.output_scanline;
        let mut rows = [row.as_mut_ptr()];
        // SAFETY: `row` holds one scanline of `output_components` samples.
        unsafe { mozjpeg_sys::jpeg_read_scanlines(cinfo, rows.as_mut_ptr(), 1) };
        if cmyk {
            adobe_cmyk_to_rgb(&row, &mut rgb);
            shrink.add_row(y, &rgb);
        } else {
            shrink.add_row(y, &row);
        }
    }
    // SAFETY: every scanline was read; this reads on to EOI, checking the rest of the data.
    unsafe { mozjpeg_sys::jpeg_finish_decompress(cinfo) };
    let scale = f64::from(denom * k);
    Ok(Decoded {
        size: (width, height),
        frame: shrink.finish(),
        extent: (f64::from(width) / scale, f64::from(height) / scale),
        orientation,
        icc: if cmyk { None } else { icc },
    })
}

/// CMYK as Adobe writes it (inverted), without a profile: what browsers show for most of them.
fn adobe_cmyk_to_rgb(cmyk: &[u8], rgb: &mut [u8]) {
    for (s, d) in cmyk.chunks_exact(4).zip(rgb.chunks_exact_mut(3)) {
        let k = u32::from(s[3]);
        for i in 0..3 {
            d[i] = ((u32::from(s[i]) * k + 127) / 255) as u8;
        }
    }
}

/// What progressive decoding holds: every component's blocks of 64 two-byte coefficients.
fn coefficient_bytes(cinfo: &jpeg_decompress_struct) -> u64 {
    // SAFETY: after the header, `comp_info` points at `num_components` entries.
    let comps = unsafe { std::slice::from_raw_parts(cinfo.comp_info, cinfo.num_components.max(0) as usize) };
    comps.iter().map(|c| u64::from(c.width_in_blocks) * u64::from(c.height_in_blocks) * 128).sum()
}

/// EXIF Orientation from APP1 and the ICC profile from its APP2 chunks, in sequence order.
fn markers(cinfo: &jpeg_decompress_struct) -> (u16, Option<Vec<u8>>) {
    let mut orientation = None;
    let mut chunks: Vec<(u8, &[u8])> = Vec::new();
    let mut marker = cinfo.marker_list;
    while !marker.is_null() {
        // SAFETY: libjpeg's saved-marker list, alive until the decompressor is destroyed.
        let m = unsafe { &*marker };
        let data = unsafe { std::slice::from_raw_parts(m.data, m.data_length as usize) };
        if m.marker == 0xE1 && orientation.is_none() {
            orientation = data.strip_prefix(b"Exif\0\0").and_then(crate::image::exif_orientation);
        } else if m.marker == 0xE2
            && let Some(rest) = data.strip_prefix(b"ICC_PROFILE\0")
            && rest.len() >= 2
        {
            chunks.push((rest[0], &rest[2..]));
        }
        marker = m.next;
    }
    chunks.sort_by_key(|&(seq, _)| seq);
    let icc = (!chunks.is_empty()).then(|| chunks.iter().flat_map(|&(_, d)| d.iter().copied()).collect());
    (orientation.unwrap_or(1), icc)
}

/// The decompressor, destroyed (its memory freed) however decoding ends.
struct Decompress(Box<jpeg_decompress_struct>);

impl Decompress {
    fn new(err: &mut jpeg_error_mgr) -> Self {
        // SAFETY: a zeroed struct is what jpeg_CreateDecompress expects, with `err` set first.
        unsafe {
            let mut cinfo: Box<jpeg_decompress_struct> = Box::new(mem::zeroed());
            cinfo.common.err = err;
            mozjpeg_sys::jpeg_create_decompress(&mut *cinfo);
            Decompress(cinfo)
        }
    }
}

impl Drop for Decompress {
    fn drop(&mut self) {
        // SAFETY: created by jpeg_create_decompress; destroying is valid in any state.
        unsafe { mozjpeg_sys::jpeg_destroy_decompress(&mut self.0) };
    }
}

/// A libjpeg source manager over a `Read`: `iface` first, so libjpeg's `cinfo.src` is ours.
#[repr(C)]
struct Source<'a> {
    iface: jpeg_source_mgr,
    reader: &'a mut dyn Read,
    buffer: Vec<u8>,
    /// The read error that stopped decoding, told apart from corrupt data.
    error: Option<io::Error>,
}

/// # Safety
/// `cinfo.src` must point at a `Source`.
unsafe fn source(cinfo: &mut jpeg_decompress_struct) -> &mut Source<'static> {
    // SAFETY: per the contract; the lifetime is the caller's `Source`'s, which outlives decoding.
    unsafe { &mut *cinfo.src.cast::<Source<'static>>() }
}

unsafe extern "C-unwind" fn init_source(_: &mut jpeg_decompress_struct) {}

unsafe extern "C-unwind" fn term_source(_: &mut jpeg_decompress_struct) {}

unsafe extern "C-unwind" fn fill_input_buffer(cinfo: &mut jpeg_decompress_struct) -> boolean {
    // SAFETY: only installed on decompressors whose `src` is a `Source`.
    let src = unsafe { source(cinfo) };
    let n = loop {
        match src.reader.read(&mut src.buffer) {
            Ok(n) => break n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                src.error = Some(e);
                panic::resume_unwind(Box::new("reading the JPEG failed".to_owned()));
            }
        }
    };
    if n == 0 {
        // libjpeg would pad with an EOI and grey; a cut-off image is not one we render.
        panic::resume_unwind(Box::new("the JPEG data ends before the image does".to_owned()));
    }
    src.iface.next_input_byte = src.buffer.as_ptr();
    src.iface.bytes_in_buffer = n;
    1
}

unsafe extern "C-unwind" fn skip_input_data(cinfo: &mut jpeg_decompress_struct, num_bytes: c_long) {
    let mut skip = usize::try_from(num_bytes).unwrap_or(0);
    loop {
        // SAFETY: as in fill_input_buffer.
        let src = unsafe { source(cinfo) };
        if skip <= src.iface.bytes_in_buffer {
            // SAFETY: within the buffer libjpeg was handed.
            src.iface.next_input_byte = unsafe { src.iface.next_input_byte.add(skip) };
            src.iface.bytes_in_buffer -= skip;
            return;
        }
        skip -= src.iface.bytes_in_buffer;
        // SAFETY: as above.
        unsafe { fill_input_buffer(cinfo) };
    }
}

/// An error manager whose fatal errors, and warnings about corrupt data, unwind with libjpeg's
/// message.
fn error_manager() -> jpeg_error_mgr {
    // SAFETY: jpeg_std_error fills in every field of a zeroed manager.
    unsafe {
        let mut err: jpeg_error_mgr = mem::zeroed();
        mozjpeg_sys::jpeg_std_error(&mut err);
        err.error_exit = Some(error_exit);
        err.emit_message = Some(emit_message);
        err
    }
}

unsafe extern "C-unwind" fn error_exit(cinfo: &mut jpeg_common_struct) {
    panic::resume_unwind(Box::new(message(cinfo)));
}

/// Warnings (level -1) are libjpeg's "Corrupt JPEG data" and "Premature end of JPEG file":
/// damage it would paper over with grey or garbage, so the image is refused. That includes
/// extraneous bytes before a marker, which is how a desynchronised entropy decoder shows at the
/// end of a scan. Trace messages (level ≥ 0) are ignored.
unsafe extern "C-unwind" fn emit_message(cinfo: &mut jpeg_common_struct, level: c_int) {
    if level < 0 {
        panic::resume_unwind(Box::new(message(cinfo)));
    }
}

fn message(cinfo: &mut jpeg_common_struct) -> String {
    // SAFETY: `err` is the manager this (de)compressor was created with.
    let err = unsafe { &*cinfo.err };
    let Some(format) = err.format_message else { return format!("libjpeg error {}", err.msg_code) };
    // libjpeg writes up to JMSG_LENGTH_MAX (200) bytes; the binding's type says 80.
    let mut text = [0u8; 200];
    // SAFETY: the buffer is as large as libjpeg may write.
    unsafe { format(cinfo, &*text.as_mut_ptr().cast::<[u8; 80]>()) };
    let end = text.iter().position(|&b| b == 0).unwrap_or(text.len());
    String::from_utf8_lossy(&text[..end]).into_owned()
}

/// Encodes RGB rows at `quality` with libjpeg-turbo's fastest settings plus optimised Huffman
/// tables (about 5–10% smaller for a fraction of a millisecond at rendition sizes).
pub(super) fn encode(rgb: &[u8], width: u32, height: u32, quality: c_int) -> Vec<u8> {
    let mut err = error_manager();
    // SAFETY: the standard libjpeg compression sequence; errors unwind to `render`'s catch, and
    // the guard destroys the compressor and frees the buffer either way.
    unsafe {
        let mut cinfo: Box<jpeg_compress_struct> = Box::new(mem::zeroed());
        cinfo.common.err = &mut err;
        mozjpeg_sys::jpeg_create_compress(&mut *cinfo);
        let mut compress = Compress { cinfo, out: std::ptr::null_mut(), len: 0 };
        let c = &mut *compress.cinfo;
        mozjpeg_sys::jpeg_mem_dest(c, &mut compress.out, &mut compress.len);
        c.image_width = width;
        c.image_height = height;
        c.input_components = 3;
        c.in_color_space = J_COLOR_SPACE::JCS_RGB;
        mozjpeg_sys::jpeg_c_set_int_param(c, J_INT_PARAM::JINT_COMPRESS_PROFILE, JCP_FASTEST as c_int);
        mozjpeg_sys::jpeg_set_defaults(c);
        mozjpeg_sys::jpeg_set_quality(c, quality, 1);
        c.optimize_coding = 1;
        mozjpeg_sys::jpeg_start_compress(c, 1);
        let stride = width as usize * 3;
        for row in rgb.chunks_exact(stride) {
            let rows = [row.as_ptr()];
            mozjpeg_sys::jpeg_write_scanlines(c, rows.as_ptr(), 1);
        }
        mozjpeg_sys::jpeg_finish_compress(c);
        std::slice::from_raw_parts(compress.out, compress.len as usize).to_vec()
    }
}

struct Compress {
    cinfo: Box<jpeg_compress_struct>,
    out: *mut u8,
    len: std::ffi::c_ulong,
}

impl Drop for Compress {
    fn drop(&mut self) {
        // SAFETY: created by jpeg_create_compress; `out` was malloc'd by jpeg_mem_dest.
        unsafe {
            mozjpeg_sys::jpeg_destroy_compress(&mut self.cinfo);
            libc::free(self.out.cast());
        }
    }
}
