//! Talking to the Docker engine: connection with API version negotiation, images,
//! networks and volumes, the event stream and the engine cache it keeps. Containers are
//! handled by `resources::service`.

pub mod cache;
pub mod events;
pub mod image;
pub mod objects;
pub mod ownership;

use std::sync::{Arc, RwLock};

use bollard::Docker;

/// Why the engine could not be reached or refused a request.
#[derive(Debug, thiserror::Error)]
pub enum DockerError {
    /// No engine answers at the configured address.
    #[error("cannot reach the Docker engine ({0}); is dockerd running, and is DOCKER_HOST right?")]
    Unreachable(#[source] bollard::errors::Error),
    /// The engine answered with an error.
    #[error("the Docker engine refused: {0}")]
    Api(#[from] bollard::errors::Error),
}

/// The Docker engine as the kinds see it: the client and, in the daemon or a one-shot
/// apply, the [`EngineCache`](cache::EngineCache) that observation goes through.
#[derive(Debug)]
pub struct Host {
    docker: Docker,
    cache: RwLock<Option<Arc<cache::EngineCache>>>,
    creating: tokio::sync::Mutex<()>,
}

impl Host {
    /// `docker`, observed directly until [`Host::set_cache`].
    pub fn new(docker: Docker) -> Arc<Self> {
        Arc::new(Host {
            docker,
            cache: RwLock::new(None),
            creating: tokio::sync::Mutex::new(()),
        })
    }

    /// The engine client.
    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    /// Observe through `cache` from now on (`None`: the engine directly).
    pub fn set_cache(&self, cache: Option<Arc<cache::EngineCache>>) {
        *self.cache.write().unwrap_or_else(|e| e.into_inner()) = cache;
    }

    /// The lock under which networks are created, one at a time (see
    /// [`objects::ensure_network`]).
    pub fn creating(&self) -> &tokio::sync::Mutex<()> {
        &self.creating
    }

    /// The cache observation goes through, if any.
    pub fn cache(&self) -> Option<Arc<cache::EngineCache>> {
        self.cache.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Connects to the engine named by `DOCKER_HOST` (default: the local unix socket) and
/// negotiates the API version, so that both old engines (20.10, API 1.41) and new ones
/// (29, which refuses clients below 1.44) work. The negotiation (`GET /version`) is the
/// one call this makes: it fails when no engine answers, so no ping is needed.
pub async fn connect() -> Result<Docker, DockerError> {
    let docker = Docker::connect_with_defaults().map_err(DockerError::Unreachable)?;
    docker
        .negotiate_version()
        .await
        .map_err(DockerError::Unreachable)
}

/// Whether the engine answered 404 (no such container, image, network or volume).
pub fn is_not_found(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 404,
            ..
        }
    )
}

/// Whether the engine answered 409 (conflict: the name is taken, or the object is in use).
pub fn is_conflict(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 409,
            ..
        }
    )
}

/// Whether the engine answered 304 (already started or already stopped).
pub fn is_not_modified(e: &bollard::errors::Error) -> bool {
    matches!(
        e,
        bollard::errors::Error::DockerResponseServerError {
            status_code: 304,
            ..
        }
    )
}
