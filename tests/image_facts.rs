//! Decompression bombs: headers of a few hundred bytes that declare more than `MAX_PIXELS`, refused
//! from the header alone, with no allocation proportional to the declared size (counted here by a
//! global allocator, per thread, so parallel tests do not disturb each other).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use image_ingest::image::{Completeness, Facts, ImageError, check_pixels, read_facts};
use testkit::images::{Sample, bombs};

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const MAX_PIXELS: u64 = 100_000_000;

fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (out, ALLOCATED.with(Cell::get) - before)
}

#[test]
fn bombs_are_refused_from_their_header_without_allocating() {
    for Sample { mime, bytes, width, height, .. } in bombs() {
        assert!(bytes.len() < 1024, "{mime} bomb is {} bytes", bytes.len());
        assert_eq!(infer::get(&bytes).map(|k| k.mime_type()), Some(mime));
        let (facts, allocated) = allocated_by(|| read_facts(mime, &bytes));
        assert_eq!(facts.unwrap(), Some(Facts { width, height }), "{mime}");
        assert!(allocated < 4096, "{mime}: {allocated} bytes allocated reading the header");
        let err = check_pixels(&Facts { width, height }, MAX_PIXELS).unwrap_err();
        assert!(matches!(err, ImageError::TooManyPixels { max: MAX_PIXELS, .. }), "{mime}");
        assert_eq!(err.code(), "too_many_pixels");
        let (whole, allocated) = allocated_by(|| {
            let mut checker = Completeness::new(mime);
            checker.update(&bytes);
            checker.finish()
        });
        assert!(whole.is_ok(), "{mime}: {whole:?}");
        assert_eq!(allocated, 0, "{mime}: the completeness walk allocated");
    }
}
