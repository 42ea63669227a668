//! Desired state kept in a git repository: a local mirror of the remote
//! ([`repo`]), and the follower that fetches it and applies each new commit
//! ([`follow`]).

pub mod follow;
pub mod repo;
