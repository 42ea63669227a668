//! The nginx engine.
