//! Clients of AWS's APIs, configured from the AWS SDK's usual sources.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};

/// The region used when neither strato's settings nor the SDK's sources name one.
pub const DEFAULT_REGION: &str = "us-east-1";

/// The SDK's shared configuration, as the AWS CLI finds it: credentials from the environment
/// (`AWS_ACCESS_KEY_ID`…), the `~/.aws` profiles (`AWS_PROFILE`), a credential process, web
/// identity, the container's or the instance's role; the region given here, else the SDK's
/// (`AWS_REGION`, the profile), else [`DEFAULT_REGION`]; endpoints from
/// `AWS_ENDPOINT_URL_LAMBDA` or `AWS_ENDPOINT_URL`. TLS is rustls on ring.
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let config = strato_lambda::aws::sdk_config(Some("eu-west-1".into())).await;
/// assert_eq!(config.region().unwrap().as_ref(), "eu-west-1");
/// # });
/// ```
pub async fn sdk_config(region: Option<String>) -> SdkConfig {
    let https = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(https);
    if let Some(region) = region {
        loader = loader.region(Region::new(region));
    }
    let config = loader.load().await;
    if config.region().is_some() {
        return config;
    }
    config
        .into_builder()
        .region(Region::from_static(DEFAULT_REGION))
        .build()
}

/// A Lambda client on `config`, at `endpoint_url` if given (an emulator, another partition).
/// `operation_timeout` bounds a whole call, an `Invoke` included; the SDK's own retries are
/// off when `retries` is false (the caller retries with its own policy).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// use std::time::Duration;
/// let config = strato_lambda::aws::sdk_config(Some("us-east-1".into())).await;
/// let client = strato_lambda::aws::lambda_client(
///     &config, Some("http://127.0.0.1:9001"), Duration::from_secs(60), true);
/// assert_eq!(client.config().region().unwrap().as_ref(), config.region().unwrap().as_ref());
/// # });
/// ```
pub fn lambda_client(
    config: &SdkConfig,
    endpoint_url: Option<&str>,
    operation_timeout: Duration,
    retries: bool,
) -> aws_sdk_lambda::Client {
    let timeouts = aws_sdk_lambda::config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .operation_timeout(operation_timeout)
        .build();
    let mut builder = aws_sdk_lambda::config::Builder::from(config).timeout_config(timeouts);
    if !retries {
        builder = builder.retry_config(aws_sdk_lambda::config::retry::RetryConfig::disabled());
    }
    if let Some(url) = endpoint_url {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_lambda::Client::from_conf(builder.build())
}
