// The sharp contender of `make bench-renditions` (bench/src/bin/renditions.rs drives it).
//
// Usage: node renditions_sharp.js jpeg|webp SIZE PHOTO...   (NODE_PATH: the folder holding sharp)
// Reads every photo into memory, renders the first once (warm-up, not timed), prints `ready`,
// then for each line `N` on stdin renders every photo N times, one after another, keeping the
// outputs in memory, and prints `done IMAGES NANOSECONDS WIDTH HEIGHT OUTPUT_BYTES MAGIC`
// (the last output's size and first bytes in hex). sharp's own benchmark settings: one libvips
// thread, no operation cache, Lanczos 3, quality 80.
'use strict';
const fs = require('fs');
const readline = require('readline');
const sharp = require('sharp');

sharp.concurrency(1);
sharp.cache(false);

const [format, sizeArg, ...paths] = process.argv.slice(2);
const size = Number(sizeArg);
const photos = paths.map((p) => fs.readFileSync(p));

function render(photo) {
  const pipeline = sharp(photo).resize(size, size, { fit: 'inside', kernel: 'lanczos3' });
  return (format === 'webp' ? pipeline.webp({ quality: 80 }) : pipeline.jpeg({ quality: 80 })).toBuffer({
    resolveWithObject: true,
  });
}

async function main() {
  await render(photos[0]);
  process.stdout.write(`ready sharp ${sharp.versions.sharp} libvips ${sharp.versions.vips}\n`);
  for await (const line of readline.createInterface({ input: process.stdin })) {
    const passes = Number(line.trim());
    const kept = [];
    let last;
    let bytes = 0;
    const started = process.hrtime.bigint();
    for (let pass = 0; pass < passes; pass++) {
      for (const photo of photos) {
        last = await render(photo);
        kept.push(last.data);
        bytes += last.data.length;
      }
    }
    const elapsed = process.hrtime.bigint() - started;
    const magic = last.data.subarray(0, 12).toString('hex');
    process.stdout.write(`done ${kept.length} ${elapsed} ${last.info.width} ${last.info.height} ${bytes} ${magic}\n`);
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
