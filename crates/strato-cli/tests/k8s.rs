//! `strato k8s manifests` runs: the serve and worker commands its pods would run, with the
//! environment its Secret and pod specs give them, start and meet on loopback. (Only the
//! addresses differ: port 0 instead of the Service's port, the real address instead of the
//! Service's DNS name.)

mod common;

use std::collections::BTreeMap;
use std::process::{Child, Command, Stdio};

use common::first_line_with;
use k8s_openapi::api::apps::v1::Deployment;
use strato_k8s::Manifests;

fn manifests(extra: &[&str]) -> Manifests {
    let output = Command::new(env!("CARGO_BIN_EXE_strato"))
        .args(["k8s", "manifests", "--image", "strato:test"])
        .args(extra)
        .env_remove("STRATO_TOKEN")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    Manifests::from_yaml(&String::from_utf8(output.stdout).unwrap()).unwrap()
}

/// The pod's arguments and environment, the Secret's references resolved as the kubelet does.
fn command(
    deployment: &Deployment,
    secrets: &BTreeMap<String, String>,
) -> (Vec<String>, Vec<(String, String)>) {
    let pod = deployment
        .spec
        .as_ref()
        .unwrap()
        .template
        .spec
        .as_ref()
        .unwrap();
    let container = &pod.containers[0];
    let env = container
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|var| {
            let value = match (var.value, var.value_from) {
                (Some(value), _) => value,
                (None, Some(from)) => secrets[&from.secret_key_ref.unwrap().key].clone(),
                _ => panic!("{} has no value", var.name),
            };
            (var.name, value)
        });
    (container.args.clone().unwrap(), env.collect())
}

/// `args` with the value after `flag` replaced.
fn with(mut args: Vec<String>, flag: &str, value: &str) -> Vec<String> {
    let at = args.iter().position(|a| a == flag).unwrap();
    args[at + 1] = value.into();
    args
}

/// The serve pod's command and environment on loopback port 0; the process and its address.
fn start_serve(
    manifests: &Manifests,
    secrets: &BTreeMap<String, String>,
    cache: &str,
) -> (Child, String) {
    let (args, env) = command(&manifests.serve, secrets);
    let args = with(with(args, "--listen", "127.0.0.1:0"), "--cache", cache);
    let mut serve = Command::new(env!("CARGO_BIN_EXE_strato"))
        .args(&args)
        .env_clear()
        .envs(env)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let line = first_line_with(serve.stdout.take().unwrap(), "listening on ").unwrap();
    let address = line.trim_start_matches("listening on ").trim().to_string();
    (serve, address)
}

#[test]
fn k8s_manifests_serve_and_worker_commands_start_and_meet_with_the_secrets_token() {
    let manifests = manifests(&["--slots", "3"]);
    let secrets = manifests.token.string_data.clone().unwrap();
    assert_eq!(
        secrets["token"].len(),
        64,
        "a new random token, 32 bytes as hex"
    );
    let cache = tempfile::tempdir().unwrap();
    let cache = cache.path().to_str().unwrap();

    let (mut serve, address) = start_serve(&manifests, &secrets, cache);

    let (args, env) = command(&manifests.workers, &secrets);
    assert!(args[2].starts_with("tcp://strato-serve.strato.svc.cluster.local:"));
    let args = with(with(args, "--connect", &address), "--cache", cache);
    let mut worker = Command::new(env!("CARGO_BIN_EXE_strato"))
        .args(&args)
        .env_clear()
        .envs(env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = first_line_with(worker.stdout.take().unwrap(), "strato worker: host ");
    let _ = (worker.kill(), worker.wait(), serve.kill(), serve.wait());
    let ready = ready.expect("the worker host joined the server with the Secret's token");
    assert!(ready.contains("with 3 slots"), "{ready}");
}

#[test]
fn k8s_manifests_with_a_wrong_token_do_not_meet() {
    let manifests = manifests(&["--token", "right"]);
    let secrets = manifests.token.string_data.clone().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let (mut serve, address) = start_serve(&manifests, &secrets, cache.path().to_str().unwrap());

    let (args, env) = command(&manifests.workers, &secrets);
    let wrong: Vec<_> = env
        .into_iter()
        .map(|(k, v)| {
            if k == "STRATO_TOKEN" {
                (k, "wrong".to_string())
            } else {
                (k, v)
            }
        })
        .collect();
    let output = Command::new(env!("CARGO_BIN_EXE_strato"))
        .args(with(args, "--connect", &address))
        .env_clear()
        .envs(wrong)
        .output()
        .unwrap();
    let _ = (serve.kill(), serve.wait());
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("token"), "{stderr}");
}
