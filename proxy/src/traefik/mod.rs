//! The traefik engine.
