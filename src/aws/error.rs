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
    /// No connection to the endpoint could be made (refused, a name that
    /// does not resolve, no connection within the connect timeout, a failed
    /// TLS set-up): the request was never sent, so not applied, read or
    /// write.
    Unreachable,
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
            // Only a failure to connect (refused, DNS, TLS set-up), a
            // request the client itself refused, or one stopped before it
            // was sent (no credentials, no endpoint) is known not to have
            // reached AWS. Anything else, a connection closed before the
            // answer above all, may hide an applied call.
            SdkError::DispatchFailure(d) if let Some(reason) = d.as_connector_error().and_then(|c| super::reach::never_connected(c)) => {
                (FailureKind::Unreachable, None, reason)
            }
            SdkError::DispatchFailure(d) if d.is_user() || d.as_connector_error().is_some_and(|c| super::reach::never_dispatched(c)) => {
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

    /// `ec2` for `ec2:DescribeVpcs`.
    pub fn service(&self) -> &'static str {
        self.operation.split_once(':').map_or(self.operation, |(s, _)| s)
    }

    /// Whether the operation only reads (`Describe...`, `List...`,
    /// `Get...`): it changes nothing, whatever its answer.
    pub fn is_read(&self) -> bool {
        let action = self.operation.split_once(':').map_or(self.operation, |(_, a)| a);
        ["Describe", "List", "Get"].iter().any(|p| action.starts_with(p))
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

/// `err` and its sources, joined with `: `.
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
            (None, FailureKind::Unreachable) => {
                let service = self.service();
                let at = super::reach::endpoint(service).map(|e| format!(" at {e}")).unwrap_or_default();
                if self.is_read() {
                    write!(f, "cannot reach {service}{at}: {} ({})", self.message, self.operation)
                } else {
                    write!(f, "cannot reach {service}{at}: {}; {} was not sent", self.message, self.operation)
                }
            }
            // A read changes nothing, whether or not its answer came.
            (None, FailureKind::Unknown) if self.is_read() => write!(f, "{} failed: {}", self.operation, self.message),
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_ec2::operation::describe_vpcs::DescribeVpcsError;
    use aws_smithy_runtime_api::client::result::ConnectorError;
    use aws_smithy_runtime_api::http::Response;

    fn dispatch(op: &'static str, e: ConnectorError) -> AwsError {
        AwsError::from_sdk(op, SdkError::<DescribeVpcsError, Response>::dispatch_failure(e))
    }

    /// hyper-util's shape of a failure to connect: `client error (Connect)`
    /// over the connector's error over the I/O error.
    #[derive(Debug)]
    struct Layer(&'static str, Box<dyn std::error::Error + Send + Sync>);
    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }
    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(self.1.as_ref())
        }
    }

    fn connect_error(inner: &'static str, io: std::io::Error) -> ConnectorError {
        ConnectorError::io(Box::new(Layer("client error (Connect)", Box::new(Layer(inner, Box::new(io))))))
    }

    #[test]
    fn a_refused_connection_is_unreachable_and_not_ambiguous_even_for_a_write() {
        let refused = || connect_error("tcp connect error", std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let read = dispatch("ec2:DescribeVpcs", refused());
        assert_eq!(read.kind, FailureKind::Unreachable);
        assert_eq!(read.message, "connection refused");
        assert!(read.to_string().starts_with("cannot reach ec2"), "{read}");
        assert!(!read.to_string().contains("applied"), "{read}");
        let write = dispatch("ec2:AssociateVpcCidrBlock", refused());
        assert_eq!(write.kind, FailureKind::Unreachable, "never connected: certainly not applied");
        assert!(write.to_string().contains("ec2:AssociateVpcCidrBlock was not sent"), "{write}");
    }

    #[test]
    fn a_name_that_does_not_resolve_is_unreachable() {
        let e = dispatch("ecs:ListClusters", connect_error("dns error", std::io::Error::other("failed to lookup address information: Name or service not known")));
        assert_eq!(e.kind, FailureKind::Unreachable);
        assert_eq!(e.message, "cannot resolve the name: failed to lookup address information: Name or service not known");
    }

    #[test]
    fn a_lost_answer_stays_ambiguous_for_a_write_and_is_a_plain_failure_for_a_read() {
        let lost = || ConnectorError::io(Box::new(Layer("connection closed before message completed", Box::new(std::io::Error::from(std::io::ErrorKind::ConnectionReset)))));
        let write = dispatch("ec2:AssociateVpcCidrBlock", lost());
        assert_eq!(write.kind, FailureKind::Unknown);
        assert!(write.to_string().contains("may or may not have been applied"), "{write}");
        let read = dispatch("ec2:DescribeVpcs", lost());
        assert_eq!(read.kind, FailureKind::Unknown, "a read is retried like any lost answer");
        assert!(!read.to_string().contains("applied"), "a read applies nothing: {read}");
    }

    #[test]
    fn no_credentials_means_not_sent() {
        let e = aws_credential_types::provider::error::CredentialsError::not_loaded("no credentials found in chain");
        let err = dispatch("ec2:CreateRoute", ConnectorError::other(Box::new(e), None));
        assert_eq!(err.kind, FailureKind::NotSent);
        assert!(!err.to_string().contains("applied"), "{err}");
    }

    #[test]
    fn reads_are_told_from_writes_by_their_action() {
        let op = |operation| AwsError::local(operation, "");
        assert!(op("ec2:DescribeVpcs").is_read() && op("ecs:ListClusters").is_read() && op("route53:GetChange").is_read());
        assert!(!op("ec2:CreateRoute").is_read() && !op("elasticloadbalancing:ModifyListener").is_read() && !op("ecs:PutAccountSettingDefault").is_read());
    }
}
