//! Our contender in `make bench-renditions` (`bench/src/bin/renditions.rs` drives it): the
//! function's own rendition code, [`image_ingest::rendition::render`], in a loop.
//!
//! Usage: render-loop jpeg|webp SIZE PHOTO...
//! Reads every photo into memory, renders the first once (warm-up, not timed), prints `ready`,
//! then for each line `N` on stdin renders every photo N times, one after another, keeping the
//! outputs in memory, and prints `done IMAGES NANOSECONDS WIDTH HEIGHT OUTPUT_BYTES MAGIC` (the
//! last output's size and first bytes in hex), as the sharp and Pillow contenders do.

use std::io::{BufRead, Write};
use std::time::Instant;

use image_ingest::image::Format;
use image_ingest::rendition::{Outcome, Plan, Rendition, RenditionFormat, render};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, size, paths @ ..] = &args[..] else {
        panic!("usage: render-loop jpeg|webp SIZE PHOTO...");
    };
    let format = RenditionFormat::parse(format).expect("the format is jpeg or webp");
    let size: u32 = size.parse().expect("SIZE is a number");
    assert!(!paths.is_empty(), "at least one photo");
    let photos: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap_or_else(|e| panic!("{p}: {e}"))).collect();
    let plan = Plan { sizes: vec![size], format };

    let one = |photo: &[u8]| -> Rendition {
        let mut source = photo;
        match render(Format::Jpeg, &mut source, &plan) {
            Ok(Outcome::Rendered(mut rendered)) => {
                assert_eq!(rendered.renditions.len(), 1, "one rendition for the one size planned");
                rendered.renditions.pop().unwrap()
            }
            Ok(Outcome::Skipped(why)) => panic!("the photo was skipped: {why}"),
            Err(e) => panic!("the photo did not render: {e}"),
        }
    };

    one(&photos[0]);
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "ready image-ingest {}", env!("CARGO_PKG_VERSION")).unwrap();
    stdout.flush().unwrap();
    for line in std::io::stdin().lock().lines() {
        let passes: usize = line.unwrap().trim().parse().expect("each line is a number of passes");
        let mut kept = Vec::with_capacity(passes * photos.len());
        let started = Instant::now();
        for _ in 0..passes {
            for photo in &photos {
                kept.push(one(photo));
            }
        }
        let elapsed = started.elapsed();
        let last = kept.last().expect("at least one pass");
        let bytes: usize = kept.iter().map(|r| r.bytes.len()).sum();
        let magic: String = last.bytes.iter().take(12).map(|b| format!("{b:02x}")).collect();
        writeln!(stdout, "done {} {} {} {} {bytes} {magic}", kept.len(), elapsed.as_nanos(), last.width, last.height)
            .unwrap();
        stdout.flush().unwrap();
    }
}
