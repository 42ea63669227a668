//! The holdfast controller: the `holdfast` command and the reconcile loop that keeps a
//! server as its desired-state file (on disk or in git) describes.
//!
//! The desired-state file itself (parsing, validation, schema, hash) lives in the
//! [`holdfast_spec`] crate.

pub mod api;
pub mod cli;
pub mod config;
pub mod docker;
pub mod resources;
pub mod runtime;
pub mod source;

/// The examples in `docs/architecture.md` ("Writing a kind"), compiled and run as doc
/// tests so that the page cannot fall behind the code.
#[cfg(doctest)]
#[doc = include_str!("../../docs/architecture.md")]
pub struct ArchitectureDocs;
