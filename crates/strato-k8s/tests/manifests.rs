//! The manifests parse back into the typed objects, and their names, ports, token and TLS
//! paths wire up. (No Kubernetes control plane runs on these machines: docs/kubernetes.md
//! says what was not run. `crates/strato-cli/tests/k8s.rs` runs their commands.)

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Container, EnvVar, PodSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use strato_k8s::{Cluster, ManifestError, Manifests, TOKEN_KEY, TOKEN_SECRET};

fn cluster(tls: bool) -> Cluster {
    let mut cluster = Cluster::new("registry.example.com/strato:0.1.0", "s3cret");
    cluster.namespace = "jobs".into();
    cluster.port = 7443;
    cluster.workers = 5;
    cluster.slots = 4;
    if tls {
        cluster.tls_secret = Some("strato-tls".into());
    }
    cluster
}

/// The pod template's spec of `deployment`.
fn pod(deployment: &Deployment) -> &PodSpec {
    deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap()
}

fn container(deployment: &Deployment) -> &Container {
    let pod = pod(deployment);
    assert_eq!(pod.containers.len(), 1);
    &pod.containers[0]
}

fn args(deployment: &Deployment) -> Vec<String> {
    container(deployment).args.clone().unwrap()
}

/// The value after `flag` in `args`.
fn flag(args: &[String], flag: &str) -> String {
    let at = args
        .iter()
        .position(|a| a == flag)
        .unwrap_or_else(|| panic!("{flag} in {args:?}"));
    args[at + 1].clone()
}

fn env<'a>(deployment: &'a Deployment, name: &str) -> Option<&'a EnvVar> {
    container(deployment)
        .env
        .as_ref()?
        .iter()
        .find(|e| e.name == name)
}

#[test]
fn the_manifests_parse_back_into_the_same_typed_objects() {
    for tls in [false, true] {
        let manifests = Manifests::for_cluster(&cluster(tls));
        let yaml = manifests.to_yaml().unwrap();
        assert_eq!(yaml.matches("\n---\n").count() + 1, 6, "{yaml}");
        assert_eq!(Manifests::from_yaml(&yaml).unwrap(), manifests);
    }
}

#[test]
fn every_object_is_in_the_namespace_and_the_token_comes_from_the_secret() {
    let manifests = Manifests::for_cluster(&cluster(false));
    let namespace = manifests.namespace.metadata.name.clone().unwrap();
    assert_eq!(namespace, "jobs");
    let namespaces = [
        &manifests.token.metadata,
        &manifests.serve.metadata,
        &manifests.service.metadata,
        &manifests.workers.metadata,
        &manifests.network_policy.metadata,
    ]
    .map(|meta| meta.namespace.clone().unwrap());
    assert!(namespaces.iter().all(|n| *n == namespace), "{namespaces:?}");

    assert_eq!(manifests.token.metadata.name.as_deref(), Some(TOKEN_SECRET));
    let token = &manifests.token.string_data.as_ref().unwrap()[TOKEN_KEY];
    assert_eq!(token, "s3cret");
    for deployment in [&manifests.serve, &manifests.workers] {
        let reference = env(deployment, "STRATO_TOKEN").unwrap();
        let secret = reference
            .value_from
            .as_ref()
            .unwrap()
            .secret_key_ref
            .as_ref()
            .unwrap();
        assert_eq!(secret.name, TOKEN_SECRET);
        assert_eq!(secret.key, TOKEN_KEY);
        assert!(
            reference.value.is_none(),
            "the token is never inline in a pod"
        );
    }
}

#[test]
fn the_service_reaches_the_server_and_the_workers_connect_to_the_service() {
    let cluster = cluster(false);
    let manifests = Manifests::for_cluster(&cluster);
    let serve = container(&manifests.serve);
    let pod_labels = manifests
        .serve
        .spec
        .as_ref()
        .unwrap()
        .template
        .metadata
        .as_ref();
    let pod_labels = pod_labels.unwrap().labels.clone().unwrap();

    let service = manifests.service.spec.as_ref().unwrap();
    for (key, value) in service.selector.as_ref().unwrap() {
        assert_eq!(
            pod_labels.get(key),
            Some(value),
            "the Service selects serve's pods"
        );
    }
    let port = &service.ports.as_ref().unwrap()[0];
    assert_eq!(port.port, 7443);
    let IntOrString::String(target) = port.target_port.clone().unwrap() else {
        panic!("a named target port");
    };
    let container_port = serve
        .ports
        .as_ref()
        .unwrap()
        .iter()
        .find(|p| p.name.as_ref() == Some(&target));
    assert_eq!(container_port.unwrap().container_port, 7443);
    assert_eq!(
        flag(serve.args.as_ref().unwrap(), "--listen"),
        "0.0.0.0:7443"
    );

    let service_name = manifests.service.metadata.name.clone().unwrap();
    let connect = flag(&args(&manifests.workers), "--connect");
    assert_eq!(
        connect,
        format!("tcp://{service_name}.jobs.svc.cluster.local:7443")
    );
    assert_eq!(connect, cluster.state_url());
    assert_eq!(flag(&args(&manifests.workers), "--slots"), "4");
    assert_eq!(manifests.workers.spec.as_ref().unwrap().replicas, Some(5));
    assert_eq!(manifests.serve.spec.as_ref().unwrap().replicas, Some(1));

    let policy = manifests.network_policy.spec.as_ref().unwrap();
    let selected = policy
        .pod_selector
        .as_ref()
        .unwrap()
        .match_labels
        .clone()
        .unwrap();
    assert!(selected.iter().all(|(k, v)| pod_labels.get(k) == Some(v)));
    let allowed = &policy.ingress.as_ref().unwrap()[0].ports.as_ref().unwrap()[0];
    assert_eq!(allowed.port, Some(IntOrString::String(target)));
}

#[test]
fn without_tls_the_workers_say_plaintext_and_with_tls_every_path_is_mounted() {
    let plain = Manifests::for_cluster(&cluster(false));
    let plaintext = env(&plain.workers, "STRATO_PLAINTEXT").unwrap();
    assert_eq!(plaintext.value.as_deref(), Some("1"));
    assert!(env(&plain.serve, "STRATO_PLAINTEXT").is_none());
    assert!(!args(&plain.serve).contains(&"--tls-cert".to_string()));

    let tls = Manifests::for_cluster(&cluster(true));
    assert!(env(&tls.workers, "STRATO_PLAINTEXT").is_none());
    assert!(flag(&args(&tls.workers), "--connect").starts_with("tls://"));
    let files = [
        (&tls.serve, flag(&args(&tls.serve), "--tls-cert")),
        (&tls.serve, flag(&args(&tls.serve), "--tls-key")),
        (&tls.workers, flag(&args(&tls.workers), "--ca")),
    ];
    for (deployment, file) in files {
        let pod = pod(deployment);
        let mount = container(deployment)
            .volume_mounts
            .as_ref()
            .unwrap()
            .iter()
            .find(|m| file.starts_with(&format!("{}/", m.mount_path)))
            .unwrap_or_else(|| panic!("{file} is on no mount"));
        let volume = pod
            .volumes
            .as_ref()
            .unwrap()
            .iter()
            .find(|v| v.name == mount.name)
            .unwrap();
        let secret = volume.secret.as_ref().unwrap().secret_name.as_deref();
        assert_eq!(secret, Some("strato-tls"), "{file}");
    }
}

#[test]
fn yaml_that_is_not_stratos_manifests_is_refused_with_what_is_wrong() {
    let pod = Manifests::from_yaml("apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n");
    assert!(matches!(pod, Err(ManifestError::UnexpectedKind(kind)) if kind == "Pod"));

    let yaml = Manifests::for_cluster(&cluster(false)).to_yaml().unwrap();
    let without_service: String = yaml
        .split("---\n")
        .filter(|doc| !doc.contains("kind: Service"))
        .map(|doc| format!("---\n{doc}"))
        .collect();
    let missing = Manifests::from_yaml(&without_service).unwrap_err();
    assert_eq!(missing.to_string(), "the manifests lack the Service");

    let bad = Manifests::from_yaml("kind: Deployment\nspec: 7\n").unwrap_err();
    assert!(
        bad.to_string()
            .starts_with("not a Kubernetes object strato makes"),
        "{bad}"
    );
}

#[test]
fn the_dockerfile_builds_the_binary_the_manifests_run_as_an_unprivileged_user() {
    let dockerfile = strato_k8s::DOCKERFILE;
    let cli = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../strato-cli/Cargo.toml"
    ))
    .unwrap();
    assert!(cli.contains("name = \"strato-cli\"") && cli.contains("name = \"strato\""));
    assert!(dockerfile.contains("cargo build --release -p strato-cli --bin strato"));
    assert!(
        dockerfile.contains("COPY --from=build /src/target/release/strato /usr/local/bin/strato")
    );
    let user = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("USER "))
        .unwrap();
    assert!(
        user.trim().parse::<u32>().unwrap() > 0,
        "a numeric, non-root user (runAsNonRoot)"
    );
    let manifests = Manifests::for_cluster(&Cluster::new("strato", "t"));
    assert_eq!(
        args(&manifests.serve)[0],
        "serve",
        "the image's entrypoint is strato"
    );
    assert!(dockerfile.contains("EXPOSE 7070"));
    assert_eq!(Cluster::new("strato", "t").port, 7070);
}
