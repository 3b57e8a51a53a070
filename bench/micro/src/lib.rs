//! Criterion micro-benchmarks of image-ingest, in `benches/`: `make bench-facts` (image facts
//! and the completeness walk) and `make bench-presign` (a gallery page's presigned GETs).
