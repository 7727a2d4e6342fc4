//! Command-line definitions (clap). Each subcommand maps to one function in
//! [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::engine::OnFailure;
use crate::state::StateUrl;
use crate::ui::reporter::Output;

/// Move an AWS workload from IPv4-only to dual-stack IPv6 by executing a YAML
/// runbook of checkpointed, reversible steps.
#[derive(Debug, Parser)]
#[command(
    name = "dualstack",
    version,
    about,
    long_about = None,
    after_help = "A first migration:\n  \
      dualstack init --vpc redash -o runbooks/redash.yaml   # write a runbook from the live VPC\n  \
      dualstack check runbooks/redash.yaml                  # the known IPv6 traps, before anything changes\n  \
      dualstack plan runbooks/redash.yaml                   # every change and API call, the IPv4 bill before/after\n  \
      dualstack apply runbooks/redash.yaml                  # asks before each step on a terminal\n\n\
      Exit codes: 0 ok, 1 step failed and rolled back, 2 bad input, 3 health gate failed and rolled back,\n\
      4 paused (resume or rollback), 5 locked (or the lock was lost), 6 damaged journal, 7 blocked by a preflight finding."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct Global {
    /// AWS region (else the runbook's `region`, else the usual AWS config chain).
    #[arg(long, global = true)]
    pub region: Option<String>,
    /// AWS profile from the shared config files.
    #[arg(long, global = true)]
    pub profile: Option<String>,
    /// Send every AWS call to this endpoint (an emulator, a proxy).
    /// AWS_ENDPOINT_URL and the per-service variables work too.
    #[arg(long, global = true)]
    pub endpoint_url: Option<String>,
    /// Where the journal and the lock live: file://DIR, or s3://BUCKET/PREFIX
    /// for state a team or CI shares [default: .dualstack/ beside the runbook].
    #[arg(long, global = true, env = "DUALSTACK_STATE", value_name = "URL", value_parser = parse_state)]
    pub state: Option<StateUrl>,
    /// The same as --state file://DIR.
    #[arg(long, global = true, value_name = "DIR", conflicts_with = "state")]
    pub state_dir: Option<PathBuf>,
    /// The lease on an S3 lock: renewed every third of it; a holder that
    /// cannot renew it stops, and a contender may take it over once it went
    /// unrenewed this long.
    #[arg(long, global = true, env = "DUALSTACK_LOCK_TTL", default_value = "2m", value_parser = parse_duration)]
    pub lock_ttl: std::time::Duration,
    /// Wait up to this long for a held lock (taking it over if its lease goes
    /// unrenewed for a whole lease) instead of exiting 5 at once.
    #[arg(long, global = true, value_name = "DURATION", value_parser = parse_duration)]
    pub lock_wait: Option<std::time::Duration>,
    /// How to report: text for people, json for one event per line on stdout.
    #[arg(long, global = true, value_enum, default_value_t = Output::Text)]
    pub output: Output,
    /// Attempts per AWS call when AWS throttles (reads also retry server faults).
    #[arg(long, global = true, env = "AWS_MAX_ATTEMPTS", default_value_t = 25, value_parser = clap::value_parser!(u32).range(1..))]
    pub max_attempts: u32,
    /// Longest wait between two attempts (backoff doubles from 100ms up to this).
    #[arg(long, global = true, env = "DUALSTACK_MAX_BACKOFF", default_value = "20s", value_parser = parse_duration)]
    pub max_backoff: std::time::Duration,
}

fn parse_state(s: &str) -> Result<StateUrl, String> {
    StateUrl::parse(s)
}

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{e} (examples: 500ms, 20s, 2m)"))
}

impl Global {
    /// Where state lives for the runbook at `runbook`.
    pub fn state_url(&self, runbook: &std::path::Path) -> StateUrl {
        let given = self.state.clone().or_else(|| self.state_dir.clone().map(StateUrl::File));
        StateUrl::or_default(given.as_ref(), runbook)
    }

    pub fn lock_options(&self) -> crate::state::LockOptions {
        crate::state::LockOptions { ttl: self.lock_ttl, wait: self.lock_wait }
    }

    pub fn retry_policy(&self) -> crate::aws::retry::RetryPolicy {
        crate::aws::retry::RetryPolicy {
            attempts: self.max_attempts,
            max_backoff: self.max_backoff,
            ..Default::default()
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Write a first runbook from a live VPC: every subnet, route, security group, load balancer and target group it needs, with comments on why.
    #[command(after_help = "Examples:\n  dualstack init --vpc vpc-0abc -o runbooks/app.yaml\n  dualstack init --vpc redash --region ap-northeast-1 > redash.yaml")]
    Init {
        /// The VPC's ID or its Name tag.
        #[arg(long)]
        vpc: String,
        /// Write the runbook here (refuses to overwrite without --force); default: stdout.
        #[arg(short = 'o', long = "out", value_name = "FILE")]
        out: Option<PathBuf>,
        /// The runbook's `name` (names its journal) [default: <vpc name>-dualstack].
        #[arg(long)]
        name: Option<String>,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
        /// The URL the site checks GET over IPv6 (your health endpoint) [default: the Route 53 name that aliases the load balancer, else its own DNS name].
        #[arg(long, value_name = "URL")]
        health_url: Option<String>,
    },
    /// Check a runbook offline: syntax, fields, ids, ordering.
    #[command(after_help = "Examples:\n  dualstack validate runbooks/redash.yaml")]
    Validate { runbook: PathBuf },
    /// Dry-run: read live state and show every change and API call apply would make, the findings and the public IPv4 cost. Changes nothing.
    #[command(after_help = "Examples:\n  dualstack plan runbooks/redash.yaml\n  dualstack plan runbooks/redash.yaml --output json | jq .cost\n  dualstack plan runbooks/redash.yaml --iam-policy > policy.json\n  dualstack plan runbooks/redash.yaml --check-permissions")]
    Plan {
        runbook: PathBuf,
        /// Send the runbook's EC2 calls with DryRun and report which would be denied (ELBv2 has no dry run).
        #[arg(long)]
        check_permissions: bool,
        /// Print the least-privilege IAM policy (JSON) for the runbook's actions, and nothing else.
        #[arg(long)]
        iam_policy: bool,
    },
    /// Preflight: the known IPv6 traps this runbook would walk into (also run by plan and before apply). Changes nothing.
    #[command(after_help = "Examples:\n  dualstack check runbooks/redash.yaml\n  dualstack check runbooks/redash.yaml --output json | jq '.findings[].id'")]
    Check {
        runbook: PathBuf,
        /// Do not count this error finding as blocking (repeatable).
        #[arg(long, value_name = "FINDING_ID")]
        allow: Vec<String>,
    },
    /// Execute the runbook with checkpoints; roll back on failure.
    #[command(after_help = "Examples:\n  dualstack apply runbooks/redash.yaml                 # on a terminal: asks before each step\n  dualstack apply runbooks/redash.yaml --yes           # in CI: no questions\n  dualstack apply runbooks/redash.yaml --yes --allow dns64-without-nat64")]
    Apply {
        runbook: PathBuf,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long, short = 'y', conflicts_with = "interactive")]
        yes: bool,
        /// Ask before every step (its diff and API calls) and after a failure
        /// (the default on a terminal without --yes).
        #[arg(long, short = 'i')]
        interactive: bool,
        /// What to do when a step fails.
        #[arg(long, value_enum, default_value_t = OnFailure::Rollback)]
        on_failure: OnFailure,
        /// Apply despite this error finding of the preflight (repeatable).
        #[arg(long, value_name = "FINDING_ID")]
        allow: Vec<String>,
        /// Go on even though another run's marker is on the VPC (that run is
        /// gone for good: its journal was lost).
        #[arg(long)]
        force: bool,
    },
    /// Continue an interrupted (crashed, killed, paused) run from its journal.
    #[command(after_help = "Examples:\n  dualstack resume runbooks/redash.yaml --yes\n  dualstack resume runbooks/redash.yaml --interactive")]
    Resume {
        runbook: PathBuf,
        /// Do not ask for confirmation (required without a terminal).
        #[arg(long, short = 'y', conflicts_with = "interactive")]
        yes: bool,
        /// Ask before every remaining step and after a failure, as `apply --interactive`.
        #[arg(long, short = 'i')]
        interactive: bool,
        /// Resume even though the runbook changed since the run started, or
        /// another run's marker is on the VPC.
        #[arg(long)]
        force: bool,
        #[arg(long, value_enum, default_value_t = OnFailure::Rollback)]
        on_failure: OnFailure,
    },
    /// Undo every change the journal records as applied, newest first.
    #[command(after_help = "Examples:\n  dualstack rollback runbooks/redash.yaml --yes")]
    Rollback {
        runbook: PathBuf,
        #[arg(long, short = 'y')]
        yes: bool,
        /// Go on even though another run's marker is on the VPC.
        #[arg(long)]
        force: bool,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    #[command(after_help = "Examples:\n  dualstack completions bash > ~/.local/share/bash-completion/completions/dualstack\n  dualstack completions zsh > ~/.zfunc/_dualstack")]
    Completions { shell: clap_complete::Shell },
    /// Print the JSON Schema of the runbook format, for editors that validate YAML.
    #[command(after_help = "Examples:\n  dualstack schema > dualstack.schema.json\n  # then, as the first line of a runbook (YAML language server):\n  # yaml-language-server: $schema=./dualstack.schema.json")]
    Schema,
    /// Remove a lock left by a run that cannot release it (S3 state), after
    /// making sure that run is dead. LOCK_ID is shown by the run that found it held.
    #[command(name = "force-unlock", after_help = "Examples:\n  dualstack force-unlock runbooks/redash.yaml 3f2a9c... --state s3://team-state/dualstack")]
    ForceUnlock { runbook: PathBuf, lock_id: String },
    /// Show each step's state from the journal.
    #[command(after_help = "Examples:\n  dualstack status runbooks/redash.yaml\n  dualstack status runbooks/redash.yaml --output json")]
    Status { runbook: PathBuf },
}
