//! Desired state kept in a git repository: a local mirror of the remote ([`repo`]),
//! and the follower that fetches it and applies each new commit ([`follow`]), with
//! its commits materialised as folders (`checkout`), what it remembers across
//! restarts (`history`), and rollback and resume (`rollback`).

mod checkout;
pub mod follow;
mod history;
pub mod repo;
mod rollback;
