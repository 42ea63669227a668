//! The caddy engine.
