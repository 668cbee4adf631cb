//! `strato lambda package` and `strato lambda deploy`, the deploy against a real
//! implementation of Lambda's control-plane API on loopback: moto's server (PyPI's
//! `moto[server]`, installed by scripts/test), which keeps functions and checks their roles
//! as AWS does (it cannot run them; `crates/strato/tests/lambda.rs` runs the runner).

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

use base64::Engine;
use sha2::Digest;

/// moto's `moto_server`: `$STRATO_MOTO_SERVER`, else where scripts/test installs it.
fn moto_server() -> PathBuf {
    let path = std::env::var_os("STRATO_MOTO_SERVER")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/tools/moto/bin/moto_server")
        });
    assert!(
        path.is_file(),
        "the deploy tests need moto's server at {}: run scripts/test, which installs it \
         (`pip install moto[server]==5.2.5` into target/tools/moto), or set STRATO_MOTO_SERVER",
        path.display()
    );
    path
}

/// A moto server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let mut child = Command::new(moto_server())
            .args(["-H", "127.0.0.1", "-p", "0"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start moto_server");
        let stderr = BufReader::new(child.stderr.take().unwrap());
        let mut endpoint = None;
        for line in stderr.lines() {
            let line = line.expect("read moto's log");
            if let Some(at) = line.find("Running on http://") {
                endpoint = Some(line[at + "Running on ".len()..].trim().to_string());
                break;
            }
        }
        let endpoint = endpoint.expect("moto_server ended before it listened");
        Moto { child, endpoint }
    }

    /// Runs `script` in moto's Python with boto3, `lam` and `iam` clients on this server.
    fn python(&self, script: &str) -> String {
        let python = moto_server().with_file_name("python");
        let prelude = format!(
            "import boto3, json\n\
             lam = boto3.client('lambda', endpoint_url='{0}')\n\
             iam = boto3.client('iam', endpoint_url='{0}')\n",
            self.endpoint
        );
        let output = Command::new(python)
            .arg("-c")
            .arg(prelude + script)
            .envs(aws_environment())
            .output()
            .expect("run moto's python");
        assert!(output.status.success(), "{}", both(&output));
        String::from_utf8(output.stdout).unwrap().trim().to_string()
    }

    /// A role Lambda may assume, as an ARN.
    fn role(&self, name: &str) -> String {
        self.python(&format!(
            "print(iam.create_role(RoleName='{name}', AssumeRolePolicyDocument=json.dumps(\
             {{'Version': '2012-10-17', 'Statement': [{{'Effect': 'Allow', 'Principal': \
             {{'Service': 'lambda.amazonaws.com'}}, 'Action': 'sts:AssumeRole'}}]}}))\
             ['Role']['Arn'])"
        ))
    }

    /// The function's configuration, as JSON.
    fn configuration(&self, function: &str) -> serde_json::Value {
        let text = self.python(&format!(
            "print(json.dumps(lam.get_function(FunctionName='{function}')['Configuration']))"
        ));
        serde_json::from_str(&text).unwrap()
    }

    fn deploy(&self, args: &[&str], runner: &Path) -> Output {
        Command::new(env!("CARGO_BIN_EXE_strato"))
            .args([
                "lambda",
                "deploy",
                "--endpoint-url",
                &self.endpoint,
                "--runner",
            ])
            .arg(runner)
            .args(args)
            .envs(aws_environment())
            .env_remove("STRATO_LAMBDA_FUNCTION")
            .env_remove("STRATO_LAMBDA_ENDPOINT")
            .output()
            .unwrap()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Credentials and a region for moto (which accepts any), and no instance metadata lookups.
fn aws_environment() -> Vec<(&'static str, &'static str)> {
    vec![
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
}

fn both(output: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The runner binary, built first if this test run did not build it.
fn runner() -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_strato")).with_file_name("strato-lambda-runner");
    if !path.exists() {
        let status = Command::new(env!("CARGO"))
            .args([
                "build",
                "-p",
                "strato-lambda",
                "--bin",
                "strato-lambda-runner",
            ])
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cannot build strato-lambda-runner");
    }
    path
}

/// The runner without its debug information (a debug build's zip is larger than Lambda
/// takes in a request), as a user deploys a release build.
fn stripped_runner(dir: &Path) -> PathBuf {
    let stripped = dir.join("strato-lambda-runner");
    let status = Command::new("strip")
        .arg("-o")
        .arg(&stripped)
        .arg(runner())
        .status()
        .expect("run strip (binutils, which the Rust toolchain's linker comes with)");
    assert!(status.success());
    stripped
}

fn package(runner: &Path, zip: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_strato"))
        .args(["lambda", "package", "--runner"])
        .arg(runner)
        .arg("-o")
        .arg(zip)
        .output()
        .unwrap()
}

#[test]
fn lambda_package_zips_the_runner_as_an_executable_bootstrap() {
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("runner.zip");
    let output = package(&runner(), &zip_path);
    assert!(output.status.success(), "{}", both(&output));
    assert!(
        both(&output).contains("(x86_64, glibc 2."),
        "{}",
        both(&output)
    );

    let mut archive = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    assert_eq!(archive.len(), 1);
    let mut bootstrap = archive.by_name("bootstrap").unwrap();
    assert_eq!(bootstrap.unix_mode().map(|mode| mode & 0o777), Some(0o755));
    let mut bytes = Vec::new();
    bootstrap.read_to_end(&mut bytes).unwrap();
    assert!(bytes == std::fs::read(runner()).unwrap());
}

#[test]
fn lambda_package_refuses_what_lambda_cannot_run_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("runner.sh");
    std::fs::write(&script, "#!/bin/sh\necho hello\n").unwrap();
    let output = package(&script, &dir.path().join("a.zip"));
    assert!(!output.status.success());
    assert!(
        both(&output).contains("is not a Lambda executable: not an ELF file"),
        "{}",
        both(&output)
    );
    let missing = package(&dir.path().join("nothing"), &dir.path().join("b.zip"));
    assert!(!missing.status.success());
    assert!(both(&missing).contains("nothing"), "{}", both(&missing));
    assert!(!dir.path().join("a.zip").exists() && !dir.path().join("b.zip").exists());
}

#[test]
fn lambda_deploy_creates_the_function_then_updates_its_code_and_configuration() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let runner = stripped_runner(dir.path());
    let role = moto.role("strato-runner");

    let created = moto.deploy(
        &["--name", "strato", "--role", &role, "--timeout", "300"],
        &runner,
    );
    assert!(created.status.success(), "{}", both(&created));
    assert!(
        both(&created).contains("created arn:aws:lambda:"),
        "{}",
        both(&created)
    );
    let config = moto.configuration("strato");
    assert_eq!(config["Runtime"], "provided.al2023");
    assert_eq!(config["Handler"], "bootstrap");
    assert_eq!(config["Role"], role);
    assert_eq!(config["Timeout"], 300);
    assert_eq!(config["MemorySize"], 1769);
    assert_eq!(config["Architectures"][0], "x86_64");
    let zip = std::fs::read({
        let zip = dir.path().join("runner.zip");
        assert!(package(&runner, &zip).status.success());
        zip
    })
    .unwrap();
    let sha = base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(&zip));
    assert_eq!(
        config["CodeSha256"],
        sha.as_str(),
        "the code Lambda keeps is our zip"
    );

    let updated = moto.deploy(&["--name", "strato", "--memory", "3538"], &runner);
    assert!(updated.status.success(), "{}", both(&updated));
    assert!(
        both(&updated).contains("updated arn:aws:lambda:"),
        "{}",
        both(&updated)
    );
    let config = moto.configuration("strato");
    assert_eq!(config["MemorySize"], 3538);
    assert_eq!(
        config["Timeout"], 900,
        "an update sets the whole configuration"
    );
    assert_eq!(
        config["Role"], role,
        "an update without --role keeps the role"
    );
}

#[test]
fn lambda_deploy_errors_name_the_missing_role_and_the_role_lambda_cannot_assume() {
    let moto = Moto::start();
    let dir = tempfile::tempdir().unwrap();
    let runner = stripped_runner(dir.path());

    let no_role = moto.deploy(&["--name", "f"], &runner);
    assert!(!no_role.status.success());
    assert!(
        both(&no_role).contains("function f does not exist, and creating it needs the IAM role"),
        "{}",
        both(&no_role)
    );
    let bad_role = moto.deploy(
        &[
            "--name",
            "f",
            "--role",
            "arn:aws:iam::123456789012:role/nobody",
        ],
        &runner,
    );
    assert!(!bad_role.status.success());
    let text = both(&bad_role);
    assert!(text.contains("Lambda CreateFunction failed"), "{text}");
    assert!(text.contains("cannot be assumed by Lambda"), "{text}");
}
