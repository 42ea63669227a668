//! The kinds one controller drives, looked up by name or alias.

use std::sync::Arc;

use super::kind::{DynKind, Kind};

/// The registered kinds, in registration order (which is also the order `holdfast get`
/// lists them in).
#[derive(Clone, Default)]
pub struct Registry {
    kinds: Vec<Arc<dyn DynKind>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

/// An unknown kind name, with the known ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown kind `{given}`; known kinds: {}", known.join(", "))]
pub struct UnknownKind {
    /// What was asked for.
    pub given: String,
    /// The kinds this controller knows.
    pub known: Vec<&'static str>,
}

impl Registry {
    /// No kinds.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds `kind`.
    pub fn with<K: Kind>(mut self, kind: K) -> Self {
        self.kinds.push(Arc::new(kind));
        self
    }

    /// Every kind.
    pub fn kinds(&self) -> impl Iterator<Item = &Arc<dyn DynKind>> {
        self.kinds.iter()
    }

    /// The kinds' names.
    pub fn names(&self) -> Vec<&'static str> {
        self.kinds.iter().map(|k| k.kind()).collect()
    }

    /// The kind called `name` or by one of its aliases.
    pub fn get(&self, name: &str) -> Result<&Arc<dyn DynKind>, UnknownKind> {
        self.kinds
            .iter()
            .find(|k| k.kind() == name || k.aliases().contains(&name))
            .ok_or_else(|| UnknownKind {
                given: name.to_string(),
                known: self.names(),
            })
    }

    /// The canonical kind name for `name` or an alias of it.
    pub fn canonical(&self, name: &str) -> Result<&'static str, UnknownKind> {
        self.get(name).map(|k| k.kind())
    }
}
