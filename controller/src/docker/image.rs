//! Images: found locally, built from a `build:` context, or pulled, as `pull_policy` says.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};

use bollard::Docker;
use bollard::query_parameters::{BuildImageOptionsBuilder, CreateImageOptionsBuilder};
use futures_util::StreamExt;
use holdfast_spec::{PullPolicy, Service};

use super::is_not_found;

/// What the controller needs to know of a local image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageInfo {
    /// The image ID (`sha256:...`). A new build or pull changes it, and with it the
    /// service's spec hash.
    pub id: String,
    /// The image's own environment (such as `PATH`); Docker adds it to every container.
    pub env: BTreeMap<String, String>,
    /// The image's own labels; Docker adds them to every container.
    pub labels: BTreeMap<String, String>,
    /// The paths the image declares as `VOLUME`s; Docker mounts an anonymous volume at
    /// each one that the container does not mount anything at.
    pub volumes: BTreeSet<String>,
}

/// Why an image could not be had.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// `pull_policy: never` and the image is not on this host. Retrying cannot help;
    /// the resource is Stalled until the spec changes or the image is loaded by hand.
    #[error(
        "image `{0}` is not present and pull_policy is `never`; build or load it (`docker load`), or change pull_policy"
    )]
    NotPresent(String),
    /// The `build.context` folder does not exist.
    #[error("build context `{}` does not exist", .0.display())]
    ContextMissing(PathBuf),
    /// The context could not be packed (unreadable file, for example).
    #[error("cannot pack build context `{}`: {source}", path.display())]
    Pack {
        /// The context folder.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The engine reported a build error.
    #[error("building `{image}` failed: {message}")]
    Build {
        /// The image being built.
        image: String,
        /// The engine's message.
        message: String,
    },
    /// The engine could not pull the image.
    #[error("pulling `{image}` failed: {message}")]
    Pull {
        /// The image being pulled.
        image: String,
        /// The engine's message.
        message: String,
    },
    /// Any other engine error.
    #[error(transparent)]
    Api(#[from] bollard::errors::Error),
}

impl ImageError {
    /// Whether retrying without a change to the spec cannot succeed.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            ImageError::NotPresent(_) | ImageError::ContextMissing(_)
        )
    }
}

/// The image reference a service runs: `image:`, or `<project>-<service>` for a service
/// that only has `build:` (as Compose names it).
pub fn image_ref(project: &str, service_name: &str, service: &Service) -> String {
    match &service.image {
        Some(image) => image.clone(),
        None => format!("{project}-{service_name}"),
    }
}

/// Inspects a local image; `Ok(None)` when it is not present.
pub async fn inspect(
    docker: &Docker,
    image: &str,
) -> Result<Option<ImageInfo>, bollard::errors::Error> {
    match docker.inspect_image(image).await {
        Ok(inspect) => {
            let config = inspect.config.unwrap_or_default();
            Ok(Some(ImageInfo {
                id: inspect.id.unwrap_or_default(),
                env: config
                    .env
                    .unwrap_or_default()
                    .iter()
                    .filter_map(|kv| split_env(kv))
                    .collect(),
                labels: config.labels.unwrap_or_default().into_iter().collect(),
                volumes: config.volumes.unwrap_or_default().into_iter().collect(),
            }))
        }
        Err(e) if is_not_found(&e) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Splits `KEY=value`.
pub fn split_env(kv: &str) -> Option<(String, String)> {
    let (k, v) = kv.split_once('=')?;
    Some((k.to_string(), v.to_string()))
}

/// What `pull_policy: always` has pulled: it pulls once per service spec (and once per
/// controller start), not on every reconcile. The (image, service hash) pairs pulled;
/// the service kind keeps one.
#[derive(Debug, Default)]
pub struct Pulled(std::sync::Mutex<std::collections::BTreeSet<(String, String)>>);

/// Makes sure the service's image is on this host, building or pulling it when the
/// service's `pull_policy` and `build` say so, and returns what the controller needs
/// to know of it, and whether it was built or pulled now. `known` is what the caller
/// already knows of the local image (from a cache or its own inspect): `None` when it
/// is not present. `pulled` remembers what `pull_policy: always` pulled.
pub async fn ensure(
    docker: &Docker,
    image: &str,
    service: &Service,
    known: Option<ImageInfo>,
    pulled: &Pulled,
) -> Result<(ImageInfo, bool), ImageError> {
    let pull_key = (image.to_string(), service.content_hash());
    let must_pull = service.pull_policy == PullPolicy::Always
        && service.build.is_none()
        && !crate::runtime::lock(&pulled.0).contains(&pull_key);
    if !must_pull && let Some(info) = known {
        return Ok((info, false));
    }
    if let Some(build) = &service.build {
        self::build(docker, image, build).await?;
    } else if service.pull_policy == PullPolicy::Never {
        return Err(ImageError::NotPresent(image.to_string()));
    } else {
        pull(docker, image).await?;
        crate::runtime::lock(&pulled.0).insert(pull_key);
    }
    let info = inspect(docker, image)
        .await?
        .ok_or_else(|| ImageError::NotPresent(image.to_string()))?;
    Ok((info, true))
}

/// Packs a build context into a tar archive in memory.
fn pack_context(context: &Path) -> Result<Vec<u8>, ImageError> {
    if !context.is_dir() {
        return Err(ImageError::ContextMissing(context.to_path_buf()));
    }
    let mut archive = tar::Builder::new(Vec::new());
    archive.follow_symlinks(true);
    archive
        .append_dir_all(".", context)
        .and_then(|_| archive.into_inner())
        .map_err(|source| ImageError::Pack {
            path: context.to_path_buf(),
            source,
        })
}

/// Builds `image` from a `build:` section.
pub async fn build(
    docker: &Docker,
    image: &str,
    build: &holdfast_spec::Build,
) -> Result<(), ImageError> {
    let context = build.context.clone();
    let tarball = tokio::task::spawn_blocking(move || pack_context(&context))
        .await
        .map_err(|e| ImageError::Build {
            image: image.to_string(),
            message: e.to_string(),
        })??;
    let args: HashMap<String, String> = build
        .args
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut options = BuildImageOptionsBuilder::default()
        .dockerfile(build.dockerfile.as_deref().unwrap_or("Dockerfile"))
        .t(image)
        .rm(true)
        .forcerm(true)
        .buildargs(&args);
    if let Some(target) = &build.target {
        options = options.target(target);
    }
    let mut stream = docker.build_image(
        options.build(),
        None,
        Some(bollard::body_full(tarball.into())),
    );
    let mut tail = Vec::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(detail) = info.error_detail {
                    let message = detail.message.unwrap_or_else(|| "unknown error".into());
                    return Err(ImageError::Build {
                        image: image.to_string(),
                        message,
                    });
                }
                if let Some(line) = info.stream {
                    tail.push(line);
                    if tail.len() > 20 {
                        tail.remove(0);
                    }
                }
            }
            Err(bollard::errors::Error::DockerStreamError { error }) => {
                return Err(ImageError::Build {
                    image: image.to_string(),
                    message: error,
                });
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Pulls `image` from its registry.
pub async fn pull(docker: &Docker, image: &str) -> Result<(), ImageError> {
    let options = CreateImageOptionsBuilder::default()
        .from_image(image)
        .build();
    let mut stream = docker.create_image(Some(options), None, None);
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(detail) = info.error_detail {
                    let message = detail.message.unwrap_or_else(|| "unknown error".into());
                    return Err(ImageError::Pull {
                        image: image.to_string(),
                        message,
                    });
                }
            }
            Err(e) => {
                return Err(ImageError::Pull {
                    image: image.to_string(),
                    message: e.to_string(),
                });
            }
        }
    }
    Ok(())
}
