//! Where desired state comes from. Today: a local file, watched for changes.

pub mod file;
pub mod git;
