//! AWS errors in terms a step can act on: the operation, AWS's error code, and
//! whether the call may or may not have happened (the dangerous case for a
//! tool that must apply each change at most once).

use std::fmt;

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

/// How a failed call failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// AWS answered with an error: the call was not applied.
    Rejected,
    /// The request was never sent (bad input, no credentials, ...).
    NotSent,
    /// Timed out or lost the response: AWS may or may not have applied it.
    Unknown,
}

#[derive(Clone, Debug)]
pub struct AwsError {
    /// `service:Operation`, for example `ec2:AssociateSubnetCidrBlock`.
    pub operation: &'static str,
    pub kind: FailureKind,
    pub code: Option<String>,
    pub message: String,
}

impl AwsError {
    pub fn from_sdk<E, R>(operation: &'static str, err: SdkError<E, R>) -> AwsError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let (kind, code, message) = match &err {
            SdkError::ServiceError(se) => {
                let e = se.err();
                (
                    FailureKind::Rejected,
                    e.code().map(str::to_string),
                    e.message().map_or_else(|| e.to_string(), str::to_string),
                )
            }
            SdkError::ConstructionFailure(_) => (FailureKind::NotSent, None, source_chain(&err)),
            SdkError::DispatchFailure(d) if d.is_user() || source_chain(&err).contains("(Connect)") => {
                // Only a failure to connect (refused, DNS, TLS set-up) or a
                // request the client itself refused is known not to have
                // reached AWS. Anything else, a connection closed before the
                // answer above all, may hide an applied call.
                (FailureKind::NotSent, None, source_chain(&err))
            }
            _ => (FailureKind::Unknown, None, source_chain(&err)),
        };
        AwsError { operation, kind, code, message }
    }

    /// A problem found by the tool itself, worded like an AWS error.
    pub fn local(operation: &'static str, message: impl Into<String>) -> AwsError {
        AwsError { operation, kind: FailureKind::NotSent, code: None, message: message.into() }
    }

    /// The code of [`AwsError::no_dry_run`].
    pub const NO_DRY_RUN: &'static str = "DryRunNotSupported";

    /// A call not sent because its API has no `DryRun` and the client only
    /// rehearses.
    pub fn no_dry_run(operation: &'static str) -> AwsError {
        AwsError { operation, kind: FailureKind::NotSent, code: Some(Self::NO_DRY_RUN.into()), message: "this action has no DryRun; not sent".into() }
    }

    pub fn code(&self) -> &str {
        self.code.as_deref().unwrap_or("")
    }

    /// `InvalidSubnetID.NotFound` and friends: often just eventual consistency
    /// right after a create.
    pub fn is_not_found(&self) -> bool {
        self.code().ends_with(".NotFound") || self.code().ends_with("NotFound")
    }
}

pub fn source_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut cur = err.source();
    while let Some(e) = cur {
        out.push_str(": ");
        out.push_str(&e.to_string());
        cur = e.source();
    }
    out
}

impl fmt::Display for AwsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.code, self.kind) {
            (Some(code), _) => write!(f, "{} failed: {}: {}", self.operation, code, self.message),
            (None, FailureKind::Unknown) => write!(
                f,
                "{} got no answer (it may or may not have been applied): {}",
                self.operation, self.message
            ),
            (None, _) => write!(f, "{} failed: {}", self.operation, self.message),
        }
    }
}

impl std::error::Error for AwsError {}
