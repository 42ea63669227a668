//! Backups (`backups:` in the file), the kind `backup`: its pure parts first.
//!
//! - [`retention`]: which stored backups a policy keeps (GFS, restic's semantics, over
//!   Verified backups only).
//!
//! The kind itself (schedules, runs, verification, restore) is not registered yet: the
//! file's `backups:` key is still refused by `validate`.

pub mod retention;
