//! The typed objects: what each container runs and how they find each other.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec, DeploymentStrategy};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, EnvVar, EnvVarSource, Namespace, PodSpec,
    PodTemplateSpec, Probe, ResourceRequirements, Secret, SecretKeySelector, SecretVolumeSource,
    SecurityContext, Service, ServicePort, ServiceSpec, TCPSocketAction, Volume, VolumeMount,
};
use k8s_openapi::api::networking::v1::{
    NetworkPolicy, NetworkPolicyIngressRule, NetworkPolicyPeer, NetworkPolicyPort,
    NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::Manifests;

/// The name of the state server's Deployment and Service.
pub const SERVE: &str = "strato-serve";
/// The name of the worker hosts' Deployment.
pub const WORKERS: &str = "strato-worker";
/// The name of the Secret holding the token.
pub const TOKEN_SECRET: &str = "strato-token";
/// The key of the token in its Secret.
pub const TOKEN_KEY: &str = "token";
/// The state server's port's name, in the pod and the Service.
const PORT_NAME: &str = "state";
/// Where a pod keeps executables fetched by hash (an `emptyDir`).
const CACHE: &str = "/var/lib/strato/exe";
/// Where the TLS Secret is mounted.
const TLS_DIR: &str = "/etc/strato/tls";

/// What to run: the image, the token, how many worker pods with how many slots, TLS.
///
/// ```
/// let cluster = strato_k8s::Cluster::new("strato:0.1.0", "s3cret");
/// assert_eq!(cluster.state_address(), "strato-serve.strato.svc.cluster.local:7070");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Cluster {
    /// The namespace (default `strato`).
    pub namespace: String,
    /// The image built from [`crate::DOCKERFILE`].
    pub image: String,
    /// The token every client and host presents.
    pub token: String,
    /// The state server's port (default 7070).
    pub port: u16,
    /// Worker pods (default 2).
    pub workers: i32,
    /// Worker slots per pod, also its CPU request (default 2).
    pub slots: u32,
    /// A `kubernetes.io/tls` Secret with `tls.crt`, `tls.key` and `ca.crt` for the
    /// Service's name; without one, traffic inside the cluster is plain TCP
    /// (`STRATO_PLAINTEXT=1`, said explicitly in the worker pods).
    pub tls_secret: Option<String>,
}

impl Cluster {
    /// The defaults, with this image and token.
    pub fn new(image: impl Into<String>, token: impl Into<String>) -> Cluster {
        Cluster {
            namespace: "strato".into(),
            image: image.into(),
            token: token.into(),
            port: 7070,
            workers: 2,
            slots: 2,
            tls_secret: None,
        }
    }

    /// The state server's `HOST:PORT` inside the cluster (the Service's DNS name).
    pub fn state_address(&self) -> String {
        format!("{SERVE}.{}.svc.cluster.local:{}", self.namespace, self.port)
    }

    /// The address worker hosts and drivers in the cluster connect to.
    pub fn state_url(&self) -> String {
        let scheme = if self.tls_secret.is_some() {
            "tls"
        } else {
            "tcp"
        };
        format!("{scheme}://{}", self.state_address())
    }

    fn meta(&self, name: &str, component: Option<&str>) -> ObjectMeta {
        ObjectMeta {
            name: Some(name.into()),
            namespace: Some(self.namespace.clone()),
            labels: Some(labels(component)),
            ..Default::default()
        }
    }
}

/// The labels of strato's objects; with a component, of its pods.
fn labels(component: Option<&str>) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([("app.kubernetes.io/name".into(), "strato".into())]);
    if let Some(component) = component {
        labels.insert("app.kubernetes.io/component".into(), component.into());
    }
    labels
}

pub(crate) fn manifests(cluster: &Cluster) -> Manifests {
    Manifests {
        namespace: Namespace {
            metadata: ObjectMeta {
                name: Some(cluster.namespace.clone()),
                labels: Some(labels(None)),
                ..Default::default()
            },
            ..Default::default()
        },
        token: Secret {
            metadata: cluster.meta(TOKEN_SECRET, None),
            string_data: Some(BTreeMap::from([(
                TOKEN_KEY.to_string(),
                cluster.token.clone(),
            )])),
            type_: Some("Opaque".into()),
            ..Default::default()
        },
        serve: serve(cluster),
        service: service(cluster),
        workers: workers(cluster),
        network_policy: network_policy(cluster),
    }
}

fn serve(cluster: &Cluster) -> Deployment {
    let mut args = strings(&[
        "serve",
        "--listen",
        &format!("0.0.0.0:{}", cluster.port),
        "--cache",
        CACHE,
    ]);
    if cluster.tls_secret.is_some() {
        args.extend(strings(&[
            "--tls-cert",
            &format!("{TLS_DIR}/tls.crt"),
            "--tls-key",
            &format!("{TLS_DIR}/tls.key"),
        ]));
    }
    let container = Container {
        ports: Some(vec![ContainerPort {
            name: Some(PORT_NAME.into()),
            container_port: cluster.port.into(),
            ..Default::default()
        }]),
        readiness_probe: Some(Probe {
            tcp_socket: Some(TCPSocketAction {
                port: IntOrString::String(PORT_NAME.into()),
                ..Default::default()
            }),
            ..Default::default()
        }),
        resources: Some(requests("1", "1Gi")),
        ..container(cluster, "serve", args, token_env())
    };
    // One replica, replaced rather than rolled: two servers would be two states.
    let strategy = DeploymentStrategy {
        type_: Some("Recreate".into()),
        ..Default::default()
    };
    deployment(cluster, SERVE, "serve", 1, container, Some(strategy))
}

fn workers(cluster: &Cluster) -> Deployment {
    let mut args = strings(&[
        "worker",
        "--connect",
        &cluster.state_url(),
        "--slots",
        &cluster.slots.to_string(),
        "--cache",
        CACHE,
    ]);
    let mut env = token_env();
    if cluster.tls_secret.is_some() {
        args.extend(strings(&["--ca", &format!("{TLS_DIR}/ca.crt")]));
    } else {
        // Said here, where a reader of the manifests sees it: the token crosses the pod
        // network in clear text (docs/kubernetes.md says how to add TLS).
        env.push(EnvVar {
            name: "STRATO_PLAINTEXT".into(),
            value: Some("1".into()),
            ..Default::default()
        });
    }
    let container = Container {
        resources: Some(requests(&cluster.slots.to_string(), "1Gi")),
        ..container(cluster, "worker", args, env)
    };
    deployment(cluster, WORKERS, "worker", cluster.workers, container, None)
}

/// A container of strato's image running `strato ARGS` as an unprivileged user.
fn container(cluster: &Cluster, name: &str, args: Vec<String>, env: Vec<EnvVar>) -> Container {
    let mut mounts = vec![VolumeMount {
        name: "cache".into(),
        mount_path: CACHE.into(),
        ..Default::default()
    }];
    if cluster.tls_secret.is_some() {
        mounts.push(VolumeMount {
            name: "tls".into(),
            mount_path: TLS_DIR.into(),
            read_only: Some(true),
            ..Default::default()
        });
    }
    Container {
        name: name.into(),
        image: Some(cluster.image.clone()),
        args: Some(args),
        env: Some(env),
        volume_mounts: Some(mounts),
        security_context: Some(SecurityContext {
            run_as_non_root: Some(true),
            allow_privilege_escalation: Some(false),
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn deployment(
    cluster: &Cluster,
    name: &str,
    component: &str,
    replicas: i32,
    container: Container,
    strategy: Option<DeploymentStrategy>,
) -> Deployment {
    let mut volumes = vec![Volume {
        name: "cache".into(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Default::default()
    }];
    if let Some(secret) = &cluster.tls_secret {
        volumes.push(Volume {
            name: "tls".into(),
            secret: Some(SecretVolumeSource {
                secret_name: Some(secret.clone()),
                ..Default::default()
            }),
            ..Default::default()
        });
    }
    Deployment {
        metadata: cluster.meta(name, Some(component)),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            selector: LabelSelector {
                match_labels: Some(labels(Some(component))),
                ..Default::default()
            },
            strategy,
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(Some(component))),
                    ..Default::default()
                }),
                spec: Some(PodSpec {
                    containers: vec![container],
                    volumes: Some(volumes),
                    ..Default::default()
                }),
            },
            ..Default::default()
        }),
        ..Default::default()
    }
}

fn service(cluster: &Cluster) -> Service {
    Service {
        metadata: cluster.meta(SERVE, Some("serve")),
        spec: Some(ServiceSpec {
            selector: Some(labels(Some("serve"))),
            ports: Some(vec![ServicePort {
                name: Some(PORT_NAME.into()),
                port: cluster.port.into(),
                target_port: Some(IntOrString::String(PORT_NAME.into())),
                ..Default::default()
            }]),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// Only the namespace's pods (worker hosts, drivers run as Jobs there) reach the server.
fn network_policy(cluster: &Cluster) -> NetworkPolicy {
    NetworkPolicy {
        metadata: cluster.meta(SERVE, Some("serve")),
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: Some(labels(Some("serve"))),
                ..Default::default()
            }),
            policy_types: Some(vec!["Ingress".into()]),
            ingress: Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![NetworkPolicyPeer {
                    pod_selector: Some(LabelSelector::default()),
                    ..Default::default()
                }]),
                ports: Some(vec![NetworkPolicyPort {
                    port: Some(IntOrString::String(PORT_NAME.into())),
                    protocol: Some("TCP".into()),
                    ..Default::default()
                }]),
            }]),
            ..Default::default()
        }),
    }
}

fn token_env() -> Vec<EnvVar> {
    vec![EnvVar {
        name: "STRATO_TOKEN".into(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: TOKEN_SECRET.into(),
                key: TOKEN_KEY.into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }]
}

fn requests(cpu: &str, memory: &str) -> ResourceRequirements {
    ResourceRequirements {
        requests: Some(BTreeMap::from([
            ("cpu".into(), Quantity(cpu.into())),
            ("memory".into(), Quantity(memory.into())),
        ])),
        ..Default::default()
    }
}

fn strings(args: &[&str]) -> Vec<String> {
    args.iter().map(|arg| arg.to_string()).collect()
}
