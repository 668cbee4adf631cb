//! Creating or updating the runner function with Lambda's API.

use std::time::Duration;

use aws_sdk_lambda::client::Waiters;
use aws_sdk_lambda::error::DisplayErrorContext;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::{Architecture, FunctionCode, Runtime};

use crate::package::MAX_DIRECT_ZIP;

/// How long a deploy waits for Lambda to finish creating or updating the function.
const SETTLE: Duration = Duration::from_secs(300);

/// What to deploy, and the function's configuration.
///
/// ```
/// let deployment = strato_lambda::deploy::Deployment::new("strato-runner", vec![]);
/// assert_eq!(deployment.timeout_s, 900);
/// assert_eq!(deployment.handler(), "bootstrap");
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Deployment {
    /// The function's name.
    pub name: String,
    /// The deployment package (see [`crate::package::RunnerBinary::zip`]).
    pub zip: Vec<u8>,
    /// The IAM role the function runs as: needed to create it, optional to update it.
    pub role: Option<String>,
    /// The function's architecture (the runner's).
    pub architecture: crate::package::Architecture,
    /// Memory in MB; Lambda gives one vCPU per 1,769 MB.
    pub memory_mb: i32,
    /// The function's timeout in seconds (Lambda's maximum is 900); drivers should have the
    /// same in `[lambda] timeout`.
    pub timeout_s: i32,
}

impl Deployment {
    /// The defaults: x86_64, 1,769 MB (one vCPU), 900 s, no role.
    pub fn new(name: impl Into<String>, zip: Vec<u8>) -> Deployment {
        Deployment {
            name: name.into(),
            zip,
            role: None,
            architecture: crate::package::Architecture::X86_64,
            memory_mb: 1769,
            timeout_s: 900,
        }
    }

    /// The handler Lambda passes `provided.al2023`'s `bootstrap` (which ignores it).
    pub fn handler(&self) -> &'static str {
        "bootstrap"
    }
}

/// What a deploy did.
///
/// ```
/// let deployed = strato_lambda::deploy::Deployed {
///     created: true,
///     arn: "arn:aws:lambda:us-east-1:123456789012:function:f".into(),
///     code_sha256: "abc=".into(),
/// };
/// assert!(deployed.to_string().starts_with("created"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployed {
    /// Whether the function was created (else updated).
    pub created: bool,
    /// The function's ARN.
    pub arn: String,
    /// The code's SHA-256, base64, as Lambda reports it.
    pub code_sha256: String,
}

impl std::fmt::Display for Deployed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let verb = if self.created { "created" } else { "updated" };
        write!(f, "{verb} {} (code sha256 {})", self.arn, self.code_sha256)
    }
}

/// Why a deploy failed.
///
/// ```
/// let error = strato_lambda::deploy::DeployError::NeedsRole { name: "f".into() };
/// assert!(error.to_string().contains("--role"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The function does not exist and no role was given to create it with.
    #[error(
        "function {name} does not exist, and creating it needs the IAM role it runs as: \
         pass --role arn:aws:iam::ACCOUNT:role/NAME (docs/lambda.md says what it needs)"
    )]
    NeedsRole {
        /// The function.
        name: String,
    },
    /// The zip is larger than Lambda takes in a request.
    #[error(
        "the zip is {size} bytes, more than the {MAX_DIRECT_ZIP} Lambda takes directly: \
         build the runner without debug information (strip it)"
    )]
    TooLarge {
        /// The zip's size.
        size: usize,
    },
    /// Lambda's API refused a call or could not be reached.
    #[error("Lambda {call} failed: {reason}")]
    Api {
        /// The API call.
        call: &'static str,
        /// Lambda's error, with its code and message.
        reason: String,
    },
}

fn api<E>(call: &'static str) -> impl FnOnce(E) -> DeployError
where
    E: std::error::Error,
{
    move |e| DeployError::Api {
        call,
        reason: DisplayErrorContext(&e).to_string(),
    }
}

/// Creates the function if it does not exist, else updates its code and configuration;
/// waits until Lambda has applied the change.
///
/// ```no_run
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// use strato_lambda::{aws, deploy, package::RunnerBinary};
/// let runner = RunnerBinary::read("strato-lambda-runner".as_ref()).unwrap();
/// let mut deployment = deploy::Deployment::new("strato-runner", runner.zip().unwrap());
/// deployment.role = Some("arn:aws:iam::123456789012:role/strato-runner".into());
/// let config = aws::sdk_config(None).await;
/// let client = aws::lambda_client(&config, None, Duration::from_secs(120), true);
/// println!("{}", deploy::deploy(&client, &deployment).await.unwrap());
/// # });
/// ```
pub async fn deploy(
    client: &aws_sdk_lambda::Client,
    deployment: &Deployment,
) -> Result<Deployed, DeployError> {
    if deployment.zip.len() > MAX_DIRECT_ZIP {
        return Err(DeployError::TooLarge {
            size: deployment.zip.len(),
        });
    }
    let existing = client
        .get_function()
        .function_name(&deployment.name)
        .send()
        .await;
    match existing {
        Ok(_) => update(client, deployment).await,
        Err(e) if is_not_found(&e) => create(client, deployment).await,
        Err(e) => Err(api("GetFunction")(e)),
    }
}

fn is_not_found(
    error: &aws_sdk_lambda::error::SdkError<
        aws_sdk_lambda::operation::get_function::GetFunctionError,
    >,
) -> bool {
    error
        .as_service_error()
        .is_some_and(|e| e.is_resource_not_found_exception())
}

async fn create(
    client: &aws_sdk_lambda::Client,
    deployment: &Deployment,
) -> Result<Deployed, DeployError> {
    let role = deployment
        .role
        .as_deref()
        .ok_or_else(|| DeployError::NeedsRole {
            name: deployment.name.clone(),
        })?;
    let created = client
        .create_function()
        .function_name(&deployment.name)
        .description("strato's runner: runs the tasks of strato programs")
        .runtime(Runtime::from("provided.al2023"))
        .handler(deployment.handler())
        .role(role)
        .architectures(Architecture::from(deployment.architecture.lambda_name()))
        .memory_size(deployment.memory_mb)
        .timeout(deployment.timeout_s)
        .code(
            FunctionCode::builder()
                .zip_file(Blob::new(deployment.zip.clone()))
                .build(),
        )
        .send()
        .await
        .map_err(api("CreateFunction"))?;
    client
        .wait_until_function_active_v2()
        .function_name(&deployment.name)
        .wait(SETTLE)
        .await
        .map_err(api("GetFunction (waiting for the new function)"))?;
    Ok(Deployed {
        created: true,
        arn: created.function_arn().unwrap_or_default().to_string(),
        code_sha256: created.code_sha256().unwrap_or_default().to_string(),
    })
}

async fn update(
    client: &aws_sdk_lambda::Client,
    deployment: &Deployment,
) -> Result<Deployed, DeployError> {
    let code = client
        .update_function_code()
        .function_name(&deployment.name)
        .architectures(Architecture::from(deployment.architecture.lambda_name()))
        .zip_file(Blob::new(deployment.zip.clone()))
        .send()
        .await
        .map_err(api("UpdateFunctionCode"))?;
    settle(client, &deployment.name).await?;
    let configured = client
        .update_function_configuration()
        .function_name(&deployment.name)
        .set_role(deployment.role.clone())
        .runtime(Runtime::from("provided.al2023"))
        .handler(deployment.handler())
        .memory_size(deployment.memory_mb)
        .timeout(deployment.timeout_s)
        .send()
        .await
        .map_err(api("UpdateFunctionConfiguration"))?;
    settle(client, &deployment.name).await?;
    Ok(Deployed {
        created: false,
        arn: configured.function_arn().unwrap_or_default().to_string(),
        code_sha256: code.code_sha256().unwrap_or_default().to_string(),
    })
}

/// Waits until Lambda finished applying an update (the next update is refused before).
async fn settle(client: &aws_sdk_lambda::Client, name: &str) -> Result<(), DeployError> {
    client
        .wait_until_function_updated_v2()
        .function_name(name)
        .wait(SETTLE)
        .await
        .map_err(api("GetFunction (waiting for the update)"))?;
    Ok(())
}
