//! The integration tests: one module per subject, built and linked as one test binary rather
//! than one per file, which saved a minute of every fresh build (docs/development.md, "Tests").
//! Two stay binaries of their own, because each changes its whole process: `tests/guard.rs`
//! moves test threads into network namespaces, and `tests/image_facts.rs` counts allocations
//! with a global allocator.

#[path = "../common/mod.rs"]
mod common;

mod api;
mod backfill;
mod binary;
mod browser;
mod corpus;
mod deadline;
mod dedupe;
mod dedupe_moto;
mod eventbridge;
mod faults;
mod gallery;
mod images;
mod kms;
mod moto;
mod presign;
mod read;
mod rendition;
mod renditions;
mod servers;
mod sqs;
mod uploads;
mod url;
