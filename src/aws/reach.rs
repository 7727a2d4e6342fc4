//! Whether AWS can be reached at all, found out before the first call: the
//! credentials (resolved once, then handed to the clients), the region, and
//! the endpoint (one TCP connection). Each failure says what is missing and
//! what to do, instead of the first read's dispatch failure.
//!
//! The endpoints found here are also remembered, so that a call that could
//! not connect later on names where it tried to go ([`endpoint`]).

use std::collections::HashMap;
use std::error::Error;
use std::fmt;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};
use std::time::{Duration, SystemTime};

use aws_config::SdkConfig;
use aws_credential_types::Credentials;
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{future, ProvideCredentials, SharedCredentialsProvider};

/// How long the credential chain may take before it is given up on (the
/// SDK's own cache gives up after 5 s; a slow source that does answer is
/// then used, primed, by every client).
const CREDENTIALS_TIMEOUT: Duration = Duration::from_secs(10);

/// The SDK's default connect timeout, when the configuration has none.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(3100);

/// Why the tool cannot talk to AWS. Displayed as the whole message (with a
/// `help:` line); the caller adds that nothing was changed.
#[derive(Debug)]
pub enum Unready {
    /// The credential chain found nothing anywhere.
    NoCredentials(Sources),
    /// The profile signs in with SSO and its cached token has expired (or
    /// there is none: not logged in).
    SsoLogin { profile: String, sso: Sso },
    /// The chain did not answer in time.
    CredentialsTimedOut { profile: String, after: Duration },
    /// The profile's settings are wrong (a missing sso-session section, a
    /// source_profile that does not exist, ...).
    InvalidConfiguration { profile: String, config_file: PathBuf, detail: String },
    /// A source was found but failed (an assume-role refused, a
    /// credential_process that exited non-zero, SSO refusing the token);
    /// `sso`: the profile that signs in with SSO, if one does.
    CredentialsFailed { profile: String, sso: Option<String>, detail: String },
    /// No TCP connection to the endpoint.
    Unreachable { service: &'static str, endpoint: String, reason: String, overridden: bool },
}

/// Where the credential chain looked, as far as this process can tell.
#[derive(Debug)]
pub struct Sources {
    profile: String,
    config_file: PathBuf,
    credentials_file: PathBuf,
    /// `Some(name)` of the one variable set when only one of the pair is.
    env_partial: Option<&'static str>,
    /// What the shared files say about the profile.
    files: FilesState,
    web_identity: bool,
    ecs: bool,
    imds_disabled: bool,
}

#[derive(Debug, PartialEq, Eq)]
enum FilesState {
    Missing,
    /// The profiles they do have.
    NoProfile(Vec<String>),
    NoCredentials,
}

/// An SSO profile's cached token that cannot be used.
#[derive(Debug)]
pub struct Sso {
    /// The profile with the SSO settings: the one asked for, or the one it
    /// takes its credentials from (`source_profile`).
    profile: String,
    /// `sso_session `NAME`` or `sso_start_url URL`.
    via: String,
    cache_file: PathBuf,
    /// When it expired; `None`: there is no token at all.
    expired_at: Option<String>,
}

impl fmt::Display for Unready {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unready::NoCredentials(s) => {
                let p = &s.profile;
                writeln!(f, "no AWS credentials found. Tried, in order:")?;
                match s.env_partial {
                    Some(set) => {
                        let other = if set == "AWS_ACCESS_KEY_ID" { "AWS_SECRET_ACCESS_KEY" } else { "AWS_ACCESS_KEY_ID" };
                        writeln!(f, "  - environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: {set} is set, {other} is not")?;
                    }
                    None => writeln!(f, "  - environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: not set")?,
                }
                let files = match &s.files {
                    FilesState::Missing => "neither file exists".to_string(),
                    FilesState::NoProfile(known) if known.is_empty() => format!("no profile `{p}` in them (they have none)"),
                    FilesState::NoProfile(known) => format!("no profile `{p}` in them (they have {})", known.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")),
                    FilesState::NoCredentials => "it has no credentials in them (aws_access_key_id, sso_session, role_arn, credential_process)".to_string(),
                };
                writeln!(f, "  - profile `{p}` in the shared config and credentials files {} and {}: {files}", s.config_file.display(), s.credentials_file.display())?;
                writeln!(f, "  - SSO (IAM Identity Center): profile `{p}` has no sso_session or sso_start_url")?;
                writeln!(f, "  - web identity (AWS_WEB_IDENTITY_TOKEN_FILE, AWS_ROLE_ARN): {}", if s.web_identity { "set, but it gave nothing" } else { "not set" })?;
                writeln!(
                    f,
                    "  - ECS container credentials (AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or _FULL_URI): {}",
                    if s.ecs { "set, but it gave nothing" } else { "not set" }
                )?;
                if s.imds_disabled {
                    writeln!(f, "  - EC2 instance metadata (IMDS): turned off by AWS_EC2_METADATA_DISABLED")?;
                } else {
                    writeln!(f, "  - EC2 instance metadata (IMDS): nothing there (not an EC2 instance, or one without an instance role)")?;
                }
                let configure = if p == "default" { "`aws configure`".to_string() } else { format!("`aws configure --profile {p}`") };
                write!(
                    f,
                    "  help: {configure} stores access keys; for IAM Identity Center (SSO), `aws sso login --profile NAME` and pass `--profile NAME` (or set AWS_PROFILE=NAME); or export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
                )
            }
            Unready::SsoLogin { profile, sso } => {
                let via = if sso.profile == *profile { sso.via.clone() } else { format!("{}; profile `{profile}` takes its credentials from it", sso.via) };
                match &sso.expired_at {
                    Some(at) => writeln!(f, "the SSO token of profile `{}` ({via}) expired at {at} (cached in {})", sso.profile, sso.cache_file.display())?,
                    None => writeln!(f, "profile `{}` signs in with SSO ({via}), but there is no SSO token: not logged in (no {})", sso.profile, sso.cache_file.display())?,
                }
                write!(f, "  help: run `aws sso login --profile {}`, then this command again", sso.profile)
            }
            Unready::CredentialsTimedOut { profile, after } => {
                writeln!(f, "loading AWS credentials (profile `{profile}`) took more than {}s", after.as_secs())?;
                write!(f, "  help: check the network, and what the credential source waits for (credential_process, role_arn, SSO, the instance metadata)")
            }
            Unready::InvalidConfiguration { profile, config_file, detail } => {
                writeln!(f, "the AWS configuration of profile `{profile}` is invalid: {detail}")?;
                write!(f, "  help: fix the profile in {}, or choose another with --profile NAME", config_file.display())
            }
            Unready::CredentialsFailed { profile, sso, detail } => {
                writeln!(f, "could not load AWS credentials for profile `{profile}`: {detail}")?;
                if let Some(sso) = sso {
                    write!(f, "  help: run `aws sso login --profile {sso}`, then this command again")
                } else {
                    write!(f, "  help: `aws sts get-caller-identity --profile {profile}` shows whether the profile works; choose another with --profile NAME")
                }
            }
            Unready::Unreachable { service, endpoint, reason, overridden } => {
                writeln!(f, "cannot reach {service} at {endpoint}: {reason}")?;
                if *overridden {
                    write!(f, "  help: the endpoint comes from --endpoint-url or AWS_ENDPOINT_URL; check that something answers there")
                } else {
                    write!(f, "  help: check the network connection (a firewall, a VPN, DNS); the region decides the endpoint")
                }
            }
        }
    }
}

/// The message for a configuration without a region (`profile`: the one
/// asked for, if any).
pub fn no_region(profile: Option<&str>) -> String {
    format!(
        "no AWS region: pass --region, set `region:` in the runbook, set AWS_REGION, or set `region` in profile `{}` of {}",
        selected_profile(profile),
        config_file().display()
    )
}

/// Resolve the credentials once. On success the configuration is returned
/// with a provider that hands those credentials to the first client that
/// asks (the chain is not run twice: a credential_process or an SSO call
/// happens once); on failure, what is missing.
pub async fn credentials(config: SdkConfig, profile: Option<&str>) -> Result<SdkConfig, Unready> {
    let Some(provider) = config.credentials_provider() else {
        return Ok(config);
    };
    let result = match tokio::time::timeout(CREDENTIALS_TIMEOUT, provider.provide_credentials()).await {
        Ok(r) => r,
        Err(_) => Err(CredentialsError::provider_timed_out(CREDENTIALS_TIMEOUT)),
    };
    match result {
        Ok(creds) => {
            let primed = Primed { first: Mutex::new(Some(creds)), chain: provider };
            Ok(config.to_builder().credentials_provider(SharedCredentialsProvider::new(primed)).build())
        }
        Err(e) => Err(diagnose(&e, profile).await),
    }
}

/// The credentials resolved by [`credentials`] first, then the chain.
#[derive(Debug)]
struct Primed {
    first: Mutex<Option<Credentials>>,
    chain: SharedCredentialsProvider,
}

impl ProvideCredentials for Primed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        match self.first.lock().unwrap_or_else(|p| p.into_inner()).take() {
            Some(c) => future::ProvideCredentials::ready(Ok(c)),
            None => self.chain.provide_credentials(),
        }
    }
}

async fn diagnose(e: &CredentialsError, asked: Option<&str>) -> Unready {
    let profiles = load_profiles(asked).await;
    let profile = profiles.as_ref().map_or_else(|| selected_profile(asked), |p| p.selected_profile().to_string());
    let sso = match profiles.as_ref().and_then(|p| sso_of(p, &profile)) {
        Some(SsoToken::Unusable(sso)) => return Unready::SsoLogin { profile, sso },
        Some(SsoToken::Usable(name)) => Some(name),
        None => None,
    };
    let is_sso = sso.is_some();
    let detail = super::error::source_chain(e);
    match e {
        CredentialsError::CredentialsNotLoaded(_) if !is_sso => {
            let set = |k: &str| std::env::var_os(k).is_some_and(|v| !v.is_empty());
            let files = match &profiles {
                _ if !config_file().exists() && !credentials_file().exists() => FilesState::Missing,
                Some(p) if p.get_profile(&profile).is_some() => FilesState::NoCredentials,
                Some(p) => FilesState::NoProfile(p.profiles().map(str::to_string).collect()),
                None => FilesState::NoProfile(Vec::new()),
            };
            Unready::NoCredentials(Sources {
                env_partial: match (set("AWS_ACCESS_KEY_ID"), set("AWS_SECRET_ACCESS_KEY")) {
                    (true, false) => Some("AWS_ACCESS_KEY_ID"),
                    (false, true) => Some("AWS_SECRET_ACCESS_KEY"),
                    _ => None,
                },
                profile,
                config_file: config_file(),
                credentials_file: credentials_file(),
                files,
                web_identity: set("AWS_WEB_IDENTITY_TOKEN_FILE"),
                ecs: set("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") || set("AWS_CONTAINER_CREDENTIALS_FULL_URI"),
                imds_disabled: std::env::var("AWS_EC2_METADATA_DISABLED").is_ok_and(|v| v.eq_ignore_ascii_case("true")),
            })
        }
        CredentialsError::ProviderTimedOut(t) => Unready::CredentialsTimedOut { profile, after: t.timeout_duration() },
        CredentialsError::InvalidConfiguration(_) => Unready::InvalidConfiguration { profile, config_file: config_file(), detail },
        _ => Unready::CredentialsFailed { profile, sso, detail },
    }
}

/// The profile the SDK uses: the one asked for, else `AWS_PROFILE`, else
/// `default`.
fn selected_profile(asked: Option<&str>) -> String {
    asked
        .map(str::to_string)
        .or_else(|| std::env::var("AWS_PROFILE").ok().filter(|p| !p.is_empty()))
        .unwrap_or_else(|| "default".to_string())
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(PathBuf::from)
}

/// A path from the environment (with `~/` expanded), else `~/.aws/NAME`.
fn aws_file(var: &str, name: &str) -> PathBuf {
    match std::env::var(var).ok().filter(|v| !v.is_empty()) {
        Some(v) => match (v.strip_prefix("~/"), home()) {
            (Some(rest), Some(h)) => h.join(rest),
            _ => PathBuf::from(v),
        },
        None => home().unwrap_or_default().join(".aws").join(name),
    }
}

fn config_file() -> PathBuf {
    aws_file("AWS_CONFIG_FILE", "config")
}

fn credentials_file() -> PathBuf {
    aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials")
}

/// The shared files as the SDK reads them (its warnings about a file that
/// does not exist were already shown when the configuration was loaded).
async fn load_profiles(asked: Option<&str>) -> Option<aws_config::profile::ProfileSet> {
    use tracing::instrument::WithSubscriber;
    #[allow(deprecated)] // the type's new home is aws-runtime, not a dependency
    let files = aws_config::profile::profile_file::ProfileFiles::default();
    let (fs, env) = (aws_types::os_shim_internal::Fs::real(), aws_types::os_shim_internal::Env::real());
    aws_config::profile::load(&fs, &env, &files, asked.map(|p| p.to_string().into()))
        .with_subscriber(tracing::subscriber::NoSubscriber::default())
        .await
        .ok()
}

/// What an SSO profile's cached token is good for.
enum SsoToken {
    /// Not expired (the profile with the SSO settings): if the chain
    /// failed, the cause is elsewhere.
    Usable(String),
    /// Expired, or missing.
    Unusable(Sso),
}

/// Whether `profile` (or the profile it takes its credentials from, through
/// `source_profile`) signs in with SSO (`None` if not), and its token.
fn sso_of(set: &aws_config::profile::ProfileSet, profile: &str) -> Option<SsoToken> {
    let mut name = profile.to_string();
    for _ in 0..5 {
        let p = set.get_profile(&name)?;
        // The token of a session is cached under the session's name; the
        // legacy form, under the start URL.
        let (via, key) = match (p.get("sso_session"), p.get("sso_start_url")) {
            (Some(session), _) => (format!("sso_session `{session}`"), session.to_string()),
            (None, Some(url)) => (format!("sso_start_url {url}"), url.to_string()),
            (None, None) => {
                name = p.get("source_profile").filter(|s| *s != name)?.to_string();
                continue;
            }
        };
        let cache_file = sso_cache_file(&key)?;
        let Ok(bytes) = std::fs::read(&cache_file) else {
            return Some(SsoToken::Unusable(Sso { profile: name, via, cache_file, expired_at: None }));
        };
        let token: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
        let at = token.get("expiresAt")?.as_str()?.to_string();
        let when = aws_smithy_types::DateTime::from_str(&at, aws_smithy_types::date_time::Format::DateTime).ok()?;
        if SystemTime::try_from(when).ok()? > SystemTime::now() {
            return Some(SsoToken::Usable(name));
        }
        return Some(SsoToken::Unusable(Sso { profile: name, via, cache_file, expired_at: Some(at) }));
    }
    None
}

/// `~/.aws/sso/cache/<sha1 of the session name or start URL>.json`, where
/// `aws sso login` leaves the token.
fn sso_cache_file(key: &str) -> Option<PathBuf> {
    use sha1::Digest;
    let hash = sha1::Sha1::digest(key.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    Some(home()?.join(".aws/sso/cache").join(format!("{hex}.json")))
}

/// The services the tool calls, by the prefix of their operations, and the
/// service ID their endpoint settings use (`AWS_ENDPOINT_URL_EC2`, ...).
const SERVICES: [(&str, &str); 4] = [("ec2", "EC2"), ("elasticloadbalancing", "Elastic Load Balancing v2"), ("ecs", "ECS"), ("route53", "Route 53")];

static ENDPOINTS: RwLock<Option<HashMap<&'static str, String>>> = RwLock::new(None);

/// Where calls to `service` (an operation's prefix, `ec2`) go, once
/// [`endpoints`] has run.
pub fn endpoint(service: &str) -> Option<String> {
    ENDPOINTS.read().ok()?.as_ref()?.get(service).cloned()
}

/// Find each service's endpoint as the SDK will (the per-service
/// `AWS_ENDPOINT_URL_<SERVICE>` and `endpoint_url` settings, then
/// `--endpoint-url` / `AWS_ENDPOINT_URL`, then the region's), remember
/// them, and open one TCP connection to EC2's, which every command calls
/// first. Skipped behind a proxy (the connection would not be the SDK's).
pub async fn endpoints(config: &SdkConfig) -> Result<(), Unready> {
    let mut found = HashMap::new();
    for (service, id) in SERVICES {
        if let Some(url) = resolve(config, service, id).await {
            found.insert(service, url);
        }
    }
    let ec2 = found.get("ec2").cloned();
    if let Ok(mut e) = ENDPOINTS.write() {
        *e = Some(found);
    }
    let behind_proxy = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"].iter().any(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()));
    let Some(url) = ec2.filter(|_| !behind_proxy) else {
        return Ok(());
    };
    let timeout = config.timeout_config().and_then(|t| t.connect_timeout()).unwrap_or(CONNECT_TIMEOUT);
    match probe(&url, timeout).await {
        Ok(()) => Ok(()),
        Err(reason) => Err(Unready::Unreachable { service: "ec2", endpoint: url, reason, overridden: override_url(config, "EC2").is_some() }),
    }
}

/// The endpoint URL set for service `id`, if any (what the SDK's client
/// config takes from an `SdkConfig`).
fn override_url(config: &SdkConfig, id: &str) -> Option<String> {
    if config.get_origin("endpoint_url").is_client_config() {
        return config.endpoint_url().map(str::to_string);
    }
    let key = aws_types::service_config::ServiceConfigKey::builder().service_id(id).env("AWS_ENDPOINT_URL").profile("endpoint_url").build().ok()?;
    config.service_config().and_then(|c| c.load_config(key)).or_else(|| config.endpoint_url().map(str::to_string))
}

/// The URL the service's own endpoint resolver gives.
async fn resolve(config: &SdkConfig, service: &str, id: &str) -> Option<String> {
    macro_rules! resolve_with {
        ($krate:ident) => {{
            use $krate::config::endpoint::{DefaultResolver, Params, ResolveEndpoint};
            let params = Params::builder()
                .set_region(config.region().map(|r| r.to_string()))
                .set_use_fips(config.use_fips())
                .set_use_dual_stack(config.use_dual_stack())
                .set_endpoint(override_url(config, id))
                .build()
                .ok()?;
            DefaultResolver::new().resolve_endpoint(&params).await.ok().map(|e| e.url().to_string())
        }};
    }
    match service {
        "ec2" => resolve_with!(aws_sdk_ec2),
        "elasticloadbalancing" => resolve_with!(aws_sdk_elasticloadbalancingv2),
        "ecs" => resolve_with!(aws_sdk_ecs),
        "route53" => resolve_with!(aws_sdk_route53),
        _ => None,
    }
}

/// One TCP connection to `url`'s host and port, within `timeout`: the
/// reason if none can be made.
async fn probe(url: &str, timeout: Duration) -> Result<(), String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    let host = parsed.host_str().ok_or("the URL has no host")?.trim_start_matches('[').trim_end_matches(']').to_string();
    let port = parsed.port_or_known_default().ok_or("the URL has no port")?;
    let attempt = async {
        let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port)).await.map_err(|e| format!("cannot resolve {host}: {}", io_reason(&e)))?.collect();
        let mut last = format!("{host} resolves to no address");
        for addr in addrs {
            match tokio::net::TcpStream::connect(addr).await {
                Ok(_) => return Ok(()),
                Err(e) => last = io_reason(&e),
            }
        }
        Err(last)
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(format!("no connection within {timeout:?}")),
    }
}

/// An I/O error in a few words.
fn io_reason(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        NetworkUnreachable => "network unreachable".into(),
        HostUnreachable => "host unreachable".into(),
        AddrNotAvailable => "address not available".into(),
        TimedOut => "timed out connecting".into(),
        _ => match e.get_ref() {
            Some(inner) => inner.to_string(),
            None => e.to_string(),
        },
    }
}

/// The errors of `err`'s chain, `err` first (an `io::Error`'s payload
/// included, which its `source` skips).
fn chain<'a>(err: &'a (dyn Error + 'static)) -> impl Iterator<Item = &'a (dyn Error + 'static)> {
    std::iter::successors(Some(err), |&e| match e.downcast_ref::<std::io::Error>() {
        Some(io) => io.get_ref().map(|inner| inner as &(dyn Error + 'static)),
        None => e.source(),
    })
}

/// If `err` (an SDK dispatch failure) means no connection was ever made
/// (refused, a name that does not resolve, no connection within the connect
/// timeout, a failed TLS set-up), the reason in a few words; the request was
/// then never sent.
pub(crate) fn never_connected(err: &(dyn Error + 'static)) -> Option<String> {
    use std::io::ErrorKind::*;
    let errors: Vec<_> = chain(err).collect();
    let io = errors.iter().find_map(|e| e.downcast_ref::<std::io::Error>().filter(|io| matches!(io.kind(), ConnectionRefused | NetworkUnreachable | HostUnreachable | AddrNotAvailable)));
    let text = super::error::source_chain(err);
    let dns = text.contains("dns error") || errors.iter().any(|e| e.is::<aws_smithy_runtime_api::client::dns::ResolveDnsError>());
    // hyper-util's words for a failure while connecting (TCP, DNS, TLS).
    let connect = text.contains("(Connect)") || text.contains("HTTP connect timeout");
    if io.is_none() && !dns && !connect {
        return None;
    }
    let innermost = errors.last().map(|e| e.to_string()).unwrap_or_default();
    Some(match io {
        Some(io) => io_reason(io),
        None if dns => format!("cannot resolve the name: {innermost}"),
        None if text.contains("HTTP connect timeout") => format!("no connection ({innermost})"),
        None => innermost,
    })
}

/// Whether `err`'s chain shows a request the SDK stopped before sending it:
/// no credentials, or no endpoint.
pub(crate) fn never_dispatched(err: &(dyn Error + 'static)) -> bool {
    chain(err).any(|e| e.is::<CredentialsError>() || e.is::<aws_smithy_runtime_api::client::endpoint::error::ResolveEndpointError>())
}
