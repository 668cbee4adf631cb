//! strato on Kubernetes: with worker hosts, pods are just hosts.
//!
//! [`Manifests::for_cluster`] builds, from `k8s-openapi`'s typed objects, what runs strato
//! on a cluster: a namespace; a Secret holding the token; a `strato serve` Deployment (one
//! replica) and its Service; a Deployment of `strato worker` pods (scale it to add hosts);
//! and a NetworkPolicy that lets only the namespace's pods reach the state server.
//! [`DOCKERFILE`] builds the image they run. `strato k8s manifests` prints them as YAML for
//! `kubectl apply -f -`.
//!
//! ```
//! use strato_k8s::{Cluster, Manifests};
//! let cluster = Cluster::new("registry.example.com/strato:0.1.0", "s3cret");
//! let manifests = Manifests::for_cluster(&cluster);
//! let yaml = manifests.to_yaml().unwrap();
//! assert!(yaml.contains("kind: Deployment"));
//! assert_eq!(Manifests::from_yaml(&yaml).unwrap(), manifests);
//! ```

mod objects;

pub use objects::{Cluster, SERVE, TOKEN_KEY, TOKEN_SECRET, WORKERS};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde::Deserialize;

/// The Dockerfile of the image the manifests run (build it from the repository's root).
///
/// ```
/// assert!(strato_k8s::DOCKERFILE.contains("ENTRYPOINT [\"/usr/local/bin/strato\"]"));
/// ```
pub const DOCKERFILE: &str = include_str!("../Dockerfile");

/// Everything that runs strato on a cluster, as typed Kubernetes objects.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifests {
    /// The namespace everything lives in.
    pub namespace: Namespace,
    /// The token, under [`TOKEN_KEY`].
    pub token: Secret,
    /// `strato serve`: one replica (the state lives in its memory).
    pub serve: Deployment,
    /// The state server's address inside the cluster.
    pub service: Service,
    /// `strato worker` hosts: scale this Deployment to add slots.
    pub workers: Deployment,
    /// Only pods of the namespace reach the state server.
    pub network_policy: NetworkPolicy,
}

/// Why YAML does not hold strato's manifests.
///
/// ```
/// let error = strato_k8s::Manifests::from_yaml("kind: Pod\n").unwrap_err();
/// assert!(error.to_string().contains("Pod"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Not YAML, or not the object its `kind` says.
    #[error("not a Kubernetes object strato makes: {0}")]
    Yaml(#[from] serde_norway::Error),
    /// An object of a kind strato's manifests do not have.
    #[error("strato's manifests have no {0}")]
    UnexpectedKind(String),
    /// One of the objects is missing (or a Deployment other than serve and workers).
    #[error("the manifests lack the {0}")]
    Missing(&'static str),
}

impl Manifests {
    /// The objects, in the order `kubectl apply` should create them.
    pub fn for_cluster(cluster: &Cluster) -> Manifests {
        objects::manifests(cluster)
    }

    /// The objects as one YAML stream (`---` between documents).
    pub fn to_yaml(&self) -> Result<String, serde_norway::Error> {
        let documents = [
            serde_norway::to_string(&self.namespace)?,
            serde_norway::to_string(&self.token)?,
            serde_norway::to_string(&self.serve)?,
            serde_norway::to_string(&self.service)?,
            serde_norway::to_string(&self.workers)?,
            serde_norway::to_string(&self.network_policy)?,
        ];
        Ok(documents
            .iter()
            .map(|document| format!("---\n{document}"))
            .collect())
    }

    /// Reads back what [`Manifests::to_yaml`] wrote, each document into its typed object.
    pub fn from_yaml(yaml: &str) -> Result<Manifests, ManifestError> {
        let mut parts = Parts::default();
        for document in serde_norway::Deserializer::from_str(yaml) {
            let value = serde_norway::Value::deserialize(document)?;
            if !value.is_null() {
                parts.add(value)?;
            }
        }
        parts.finish()
    }
}

/// The objects found so far while reading YAML.
#[derive(Default)]
struct Parts {
    namespace: Option<Namespace>,
    token: Option<Secret>,
    serve: Option<Deployment>,
    service: Option<Service>,
    workers: Option<Deployment>,
    network_policy: Option<NetworkPolicy>,
}

impl Parts {
    fn add(&mut self, value: serde_norway::Value) -> Result<(), ManifestError> {
        let kind = value
            .get("kind")
            .and_then(|kind| kind.as_str())
            .unwrap_or("object without a kind")
            .to_string();
        match kind.as_str() {
            "Namespace" => self.namespace = Some(serde_norway::from_value(value)?),
            "Secret" => self.token = Some(serde_norway::from_value(value)?),
            "Service" => self.service = Some(serde_norway::from_value(value)?),
            "NetworkPolicy" => self.network_policy = Some(serde_norway::from_value(value)?),
            "Deployment" => {
                let deployment: Deployment = serde_norway::from_value(value)?;
                match deployment.metadata.name.as_deref() {
                    Some(SERVE) => self.serve = Some(deployment),
                    Some(WORKERS) => self.workers = Some(deployment),
                    _ => return Err(ManifestError::UnexpectedKind("such Deployment".into())),
                }
            }
            _ => return Err(ManifestError::UnexpectedKind(kind)),
        }
        Ok(())
    }

    fn finish(self) -> Result<Manifests, ManifestError> {
        Ok(Manifests {
            namespace: self.namespace.ok_or(ManifestError::Missing("Namespace"))?,
            token: self.token.ok_or(ManifestError::Missing("Secret"))?,
            serve: self
                .serve
                .ok_or(ManifestError::Missing("serve Deployment"))?,
            service: self.service.ok_or(ManifestError::Missing("Service"))?,
            workers: self
                .workers
                .ok_or(ManifestError::Missing("workers Deployment"))?,
            network_policy: self
                .network_policy
                .ok_or(ManifestError::Missing("NetworkPolicy"))?,
        })
    }
}
