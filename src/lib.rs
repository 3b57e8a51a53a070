//! image-ingest: an AWS Lambda function that stores images under date-path S3 keys.
//!
//! Events enter in [`handlers`], keys are made in [`key`], bytes leave through [`store`];
//! [`ingest`] is the one place in between that decides.

pub mod answer;
pub mod app;
pub mod body;
pub mod catalog;
pub mod config;
pub mod content;
pub mod deadline;
pub mod error;
pub mod event;
pub mod fetch;
pub mod gallery;
pub mod handlers;
pub mod image;
pub mod ingest;
pub mod key;
pub mod kms;
pub mod logging;
pub mod memory;
pub mod metrics;
pub mod notification;
pub mod records;
pub mod rendition;
pub mod request;
pub mod sdk;
pub mod store;

pub use app::App;
pub use config::Config;
pub use error::IngestError;
