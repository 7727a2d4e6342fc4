//! The commands behind the CLI. This is the edge: errors become messages on
//! stderr and one of the exit codes in [`crate::exit`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::aws::ec2::SdkEc2;
use crate::aws::elbv2::SdkElbv2;
use crate::aws::{label, Aws, ConnectOptions, Ec2, Elbv2, FoundVpc, Scope};
use crate::cli::{Cli, Command, Global};
use crate::engine::events::{EventSink, RunOutcome};
use crate::engine::journal::{ChangeStatus, Journal, JournalError};
use crate::state::{LockError, OpenError};
use crate::engine::{new_run_id, Engine, EngineError, OnFailure, Report};
use crate::exit;
use crate::runbook::{self, LoadError, Runbook};
use crate::steps::StepError;
use crate::ui::prompt;
use crate::ui::interactive::TerminalPilot;
use crate::ui::progress::ProgressReporter;
use crate::ui::reporter::{JsonReporter, Output, Tee, TextReporter};

/// An error with the exit code it maps to.
#[derive(Debug)]
pub struct Fail {
    pub code: i32,
    pub message: String,
}

impl Fail {
    fn new(code: i32, message: impl Into<String>) -> Fail {
        Fail { code, message: message.into() }
    }
}

impl From<LoadError> for Fail {
    fn from(e: LoadError) -> Fail {
        Fail::new(exit::USAGE, e.to_string())
    }
}

impl From<JournalError> for Fail {
    fn from(e: JournalError) -> Fail {
        let code = match e {
            JournalError::Damaged { .. } => exit::STATE_DAMAGED,
            JournalError::Io { .. } => exit::STEP_FAILED,
            JournalError::LockLost { .. } => exit::LOCKED,
        };
        Fail::new(code, e.to_string())
    }
}

impl From<LockError> for Fail {
    fn from(e: LockError) -> Fail {
        match e {
            LockError::Held { help: Some(ref help), .. } => Fail::new(exit::LOCKED, format!("{e}\n  help: {help}\nnothing was changed")),
            LockError::Held { .. } => Fail::new(exit::LOCKED, format!("{e}\nnothing was changed")),
            LockError::Io { .. } => Fail::new(exit::STEP_FAILED, format!("{e}\nnothing was changed")),
            LockError::Mismatch(_) => Fail::new(exit::USAGE, e.to_string()),
        }
    }
}

impl From<OpenError> for Fail {
    fn from(e: OpenError) -> Fail {
        match e {
            OpenError::Lock(l) => l.into(),
            OpenError::Journal(j) => j.into(),
        }
    }
}

impl From<EngineError> for Fail {
    fn from(e: EngineError) -> Fail {
        match e {
            EngineError::Journal(j) => j.into(),
            EngineError::Marked(m) => Fail::new(exit::LOCKED, m.to_string()),
            EngineError::Aws(a) => Fail::new(exit::PAUSED, format!("{a}\nthe run stopped; see `dualstack status`, then `resume` or `rollback`")),
        }
    }
}

type Result<T> = std::result::Result<T, Fail>;

/// Run a parsed command line; returns the exit code.
pub fn main(cli: Cli) -> i32 {
    // aws-config's own warnings (no region from IMDS, a credential provider
    // that failed before another succeeded) are debug dumps; the error that
    // matters is reported by the command. DUALSTACK_LOG shows everything.
    let filter = tracing_subscriber::EnvFilter::try_from_env("DUALSTACK_LOG").unwrap_or_else(|_| "warn,aws_config=error".into());
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
    match rt.block_on(run(cli)) {
        Ok(code) => code,
        Err(fail) => {
            eprintln!("error: {}", fail.message);
            fail.code
        }
    }
}

async fn run(cli: Cli) -> Result<i32> {
    let g = &cli.global;
    match &cli.command {
        Command::Init { vpc, out, name, force, health_url } => init(g, vpc, out.as_deref(), name.as_deref(), *force, health_url.as_deref()).await,
        Command::Validate { runbook } => validate(runbook),
        Command::Plan { runbook, check_permissions, iam_policy } => plan(g, runbook, *check_permissions, *iam_policy).await,
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "dualstack", &mut std::io::stdout());
            Ok(exit::SUCCESS)
        }
        Command::Schema => {
            print!("{}", runbook::SCHEMA);
            Ok(exit::SUCCESS)
        }
        Command::Check { runbook, allow } => check(g, runbook, allow).await,
        Command::Apply { runbook, yes, interactive, on_failure, allow, force } => apply(g, runbook, *yes, *interactive, *on_failure, allow, *force).await,
        Command::Resume { runbook, yes, interactive, force, on_failure } => resume(g, runbook, *yes, *interactive, *force, *on_failure).await,
        Command::Rollback { runbook, yes, force } => rollback(g, runbook, *yes, *force).await,
        Command::Status { runbook } => status(g, runbook).await,
        Command::ForceUnlock { runbook, lock_id } => force_unlock(g, runbook, lock_id).await,
    }
}

fn validate(path: &Path) -> Result<i32> {
    let rb = runbook::load(path)?;
    println!("{}: runbook `{}` is valid: {} step{}", path.display(), rb.name, rb.steps.len(), if rb.steps.len() == 1 { "" } else { "s" });
    Ok(exit::SUCCESS)
}

/// AWS and a reporter for one command.
struct Session {
    ec2: Arc<dyn Ec2>,
    elb: Arc<dyn Elbv2>,
    ecs: Arc<dyn crate::aws::ecs::Ecs>,
    dns: Arc<dyn crate::aws::route53::Route53>,
    events: Box<dyn EventSink>,
    /// The progress display, when events go to one (a terminal, text output):
    /// prompts hide it while they ask.
    progress: Option<Arc<ProgressReporter>>,
    region: String,
    /// For a second, rehearsing EC2 client (`plan --check-permissions`).
    config: aws_config::SdkConfig,
    retry: crate::aws::retry::RetryPolicy,
}

async fn connect(g: &Global, rb: &Runbook) -> Result<Session> {
    connect_region(g, rb.region.as_deref()).await
}

/// AWS clients for `--region`, else `fallback` (the runbook's), else the
/// usual configuration chain.
async fn connect_region(g: &Global, fallback: Option<&str>) -> Result<Session> {
    let opts = ConnectOptions {
        region: g.region.clone().or_else(|| fallback.map(str::to_string)),
        profile: g.profile.clone(),
        endpoint_url: g.endpoint_url.clone(),
    };
    let config = crate::aws::load_config(&opts).await;
    let Some(region) = config.region().map(|r| r.to_string()) else {
        return Err(Fail::new(exit::USAGE, crate::aws::reach::no_region(opts.profile.as_deref())));
    };
    // Credentials and the endpoint before the first call: what is missing,
    // rather than the first read's dispatch failure.
    let unready = |e: crate::aws::reach::Unready| Fail::new(exit::STEP_FAILED, format!("{e}\nnothing was changed"));
    let config = crate::aws::reach::credentials(config, opts.profile.as_deref()).await.map_err(unready)?;
    crate::aws::reach::endpoints(&config).await.map_err(unready)?;
    use std::io::IsTerminal;
    let mut progress = None;
    let events: Box<dyn EventSink> = match g.output {
        Output::Text if std::io::stderr().is_terminal() && std::env::var_os("DUALSTACK_NO_PROGRESS").is_none() => {
            let p = Arc::new(ProgressReporter::new());
            progress = Some(p.clone());
            Box::new(p)
        }
        Output::Text => Box::new(TextReporter::new(std::io::stderr())),
        Output::Json => Box::new(JsonReporter::new(std::io::stdout())),
    };
    let retry = g.retry_policy();
    Ok(Session { ec2: Arc::new(SdkEc2::new(&config, retry)), elb: Arc::new(SdkElbv2::new(&config, retry)), ecs: Arc::new(crate::aws::ecs::SdkEcs::new(&config, retry)), dns: Arc::new(crate::aws::route53::SdkRoute53::new(&config, retry)), events, progress, region, config, retry })
}

async fn init(g: &Global, vpc: &str, out: Option<&Path>, name: Option<&str>, force: bool, health_url: Option<&str>) -> Result<i32> {
    if let Some(u) = health_url
        && !url::Url::parse(u).is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
    {
        return Err(Fail::new(exit::USAGE, format!("--health-url {u}: an http:// or https:// URL with a host")));
    }
    if let Some(path) = out.filter(|p| p.exists() && !force) {
        return Err(Fail::new(exit::USAGE, format!("{} exists; pass --force to overwrite it", path.display())));
    }
    let s = connect_region(g, None).await?;
    let found = s.ec2.find_vpcs(vpc).await.map_err(|e| Fail::new(exit::STEP_FAILED, e.to_string()))?;
    let FoundVpc { id: vpc_id, name: vpc_name, .. } = one_vpc(vpc, found).map_err(|(message, help)| Fail::new(exit::USAGE, format!("{message} in {}: {help}", s.region)))?;
    let mut net = s.aws().snapshot(&vpc_id, Scope::ALL.minus(Scope::ECS).minus(Scope::DNS)).await.map_err(|e| Fail::new(exit::STEP_FAILED, e.to_string()))?;
    match s.dns.zones().await {
        Ok(zones) => net.dns_zones = zones,
        Err(e) => eprintln!("warning: Route 53 not read ({e}): the runbook has no `dns_aaaa` step; add one for any name aliasing a load balancer"),
    }
    // Without ECS read, the runbook has no redeploy step: say so, go on.
    if let Err(e) = read_ecs(s.aws(), &mut net).await {
        eprintln!("warning: ECS not read ({e}): the runbook has no `ecs_redeploy` step; add one for any service in the VPC");
    }
    let default_name = format!("{}-dualstack", vpc_name.as_deref().unwrap_or(&vpc_id).to_ascii_lowercase().replace(|c: char| !c.is_ascii_alphanumeric() && c != '-', "-"));
    let vpc_ref = match &vpc_name {
        Some(n) if n == vpc => n.clone(),
        _ => vpc_id.clone(),
    };
    let text = crate::discover::runbook(&net, &crate::discover::Options { name: name.unwrap_or(&default_name), region: Some(&s.region), vpc: &vpc_ref, health_url });
    // The same parser as `validate`: a runbook init writes must load.
    let shown = out.map_or_else(|| PathBuf::from("<stdout>"), Path::to_path_buf);
    let rb = runbook::parse(&shown, text.clone(), String::new()).map_err(|e| Fail::new(exit::STEP_FAILED, format!("the generated runbook does not validate (a bug):\n{e}\n{text}")))?;
    match out {
        Some(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| Fail::new(exit::STEP_FAILED, format!("cannot create {}: {e}", dir.display())))?;
            }
            std::fs::write(path, &text).map_err(|e| Fail::new(exit::STEP_FAILED, format!("cannot write {}: {e}", path.display())))?;
            eprintln!(
                "wrote {}: {} steps for {}. Next: `dualstack check {0}`, then `dualstack plan {0}`.",
                path.display(),
                rb.steps.len(),
                label(&vpc_id, vpc_name.as_deref())
            );
        }
        None => print!("{text}"),
    }
    Ok(exit::SUCCESS)
}

/// The machine-wide lock on a journal's VPC, keyed by its owner as AWS
/// reports it now. A VPC since deleted (a rollback of a half-torn-down
/// stack) has no owner to read: its ID and region still key the lock.
async fn lock_vpc_of(s: &Session, vpc_id: &str, operation: &str) -> Result<crate::state::machine::VpcLock> {
    let owner = find_vpcs(s.ec2.as_ref(), vpc_id).await?.into_iter().find(|v| v.id == vpc_id).map(|v| v.owner).unwrap_or_default();
    Ok(crate::state::machine::lock_vpc(&owner, &s.region, vpc_id, operation)?)
}

/// The VPC the runbook names: exactly one, or an error at the `vpc:` line.
async fn resolve_vpc(ec2: &dyn Ec2, rb: &Runbook) -> Result<FoundVpc> {
    let found = find_vpcs(ec2, &rb.vpc.text).await?;
    one_vpc(&rb.vpc.text, found)
        .map_err(|(message, help)| Fail::new(exit::USAGE, rb.diagnostic(rb.vpc.at, message).help(help).to_string()))
}

/// [`Ec2::find_vpcs`] before a run changes anything.
async fn find_vpcs(ec2: &dyn Ec2, reference: &str) -> Result<Vec<FoundVpc>> {
    ec2.find_vpcs(reference).await.map_err(|e| Fail::new(exit::STEP_FAILED, format!("{e}\nnothing was changed")))
}

/// The one VPC among those `reference` found, or why not (the message and
/// what to do).
fn one_vpc(reference: &str, found: Vec<FoundVpc>) -> std::result::Result<FoundVpc, (String, &'static str)> {
    match found.len() {
        1 => Ok(found.into_iter().next().expect("one")),
        0 => Err((format!("no VPC `{reference}` found"), "give the VPC's ID or its exact Name tag, and check the region")),
        n => Err((
            format!("`{reference}` matches {n} VPCs: {}", found.iter().map(|v| label(&v.id, v.name.as_deref())).collect::<Vec<_>>().join(", ")),
            "use the VPC's ID",
        )),
    }
}

/// A step error before anything changed: runbook errors point into the file.
fn step_fail(rb: &Runbook, step: &crate::runbook::StepId, e: StepError) -> Fail {
    match e {
        StepError::Precondition { at, message, help } => {
            let message = format!("step `{step}`: {message}");
            let text = match at {
                Some(at) => {
                    let d = rb.diagnostic(at, message);
                    match help {
                        Some(h) => d.help(h).to_string(),
                        None => d.to_string(),
                    }
                }
                None => message,
            };
            Fail::new(exit::USAGE, format!("{text}\nnothing was changed"))
        }
        other => Fail::new(exit::STEP_FAILED, format!("step `{step}`: {other}\nnothing was changed")),
    }
}

impl Session {
    fn aws(&self) -> Aws<'_> {
        Aws { ec2: self.ec2.as_ref(), elb: self.elb.as_ref(), ecs: self.ecs.as_ref(), dns: self.dns.as_ref() }
    }

    /// Who answers the engine's questions: a person on this terminal, if
    /// one can be asked (it hides the progress display while it asks).
    fn pilot(&self) -> Option<TerminalPilot> {
        prompt::can_ask().then(|| TerminalPilot::new(self.progress.clone().unwrap_or_default()))
    }
}

/// ECS for the preflight: a failure to read it (no permission, no ECS in
/// the region) is a finding, not an error, unless a step needs ECS.
async fn read_ecs(aws: Aws<'_>, net: &mut crate::aws::Network) -> std::result::Result<crate::aws::EcsState, crate::aws::AwsError> {
    let tasks = aws.read_ecs(net).await?;
    Ok(crate::aws::EcsState { dual_stack_ipv6: net.dual_stack_ipv6.unwrap_or(false), tasks })
}

/// Read the VPC (with its compute and load balancers, which the findings
/// and the cost need) and project the runbook onto it. A step that cannot
/// run is an error pointing into the runbook, shown after the findings seen
/// before it.
async fn preflight(aws: Aws<'_>, rb: &Runbook, vpc_id: &str) -> Result<crate::plan::Plan> {
    let needs_ecs = rb.steps.iter().any(|s| s.spec.step().scope().ecs);
    let mut net = aws.snapshot(vpc_id, Scope::ALL.minus(Scope::ECS).minus(Scope::DNS)).await.map_err(|e| Fail::new(exit::STEP_FAILED, format!("{e}\nnothing was changed")))?;
    // Route 53 matters to runbooks that touch a load balancer or DNS.
    let needs_dns = rb.steps.iter().any(|s| s.spec.step().scope().dns);
    if needs_dns || rb.steps.iter().any(|s| s.spec.step().scope().load_balancers) {
        match aws.dns.zones().await {
            Ok(zones) => net.dns_zones = zones,
            Err(e) if needs_dns => return Err(Fail::new(exit::STEP_FAILED, format!("{e}\na step changes DNS records, which needs Route 53 read; nothing was changed")).into()),
            Err(e) => eprintln!("warning: Route 53 not read ({e}): the DNS findings were not checked"),
        }
    }
    let ecs_read = read_ecs(aws, &mut net).await;
    if needs_ecs && let Err(e) = &ecs_read {
        return Err(Fail::new(exit::STEP_FAILED, format!("{e}\na step redeploys ECS services, which needs ECS read; nothing was changed")).into());
    }
    net.ecs = Some(ecs_read.map_err(|e| e.to_string()));
    crate::plan::build(rb, net).map_err(|b| {
        eprint!("{}", crate::preflight::render_text(&b.findings));
        step_fail(rb, &b.step, b.error)
    })
}

async fn plan(g: &Global, path: &Path, check_permissions: bool, iam_policy: bool) -> Result<i32> {
    let rb = runbook::load(path)?;
    if iam_policy {
        // From the runbook alone: no AWS call.
        println!("{}", serde_json::to_string_pretty(&crate::preflight::permissions::iam_policy(&rb, &g.state_url(rb.path()))).expect("policy serializes"));
        return Ok(exit::SUCCESS);
    }
    let s = connect(g, &rb).await?;
    let vpc_id = resolve_vpc(s.ec2.as_ref(), &rb).await?.id;
    let mut plan = preflight(s.aws(), &rb, &vpc_id).await?;
    let state = state_store(g, &rb, Some(&s.config)).await?.identity();
    plan.marker = Some(crate::plan::MarkerPlan { state: crate::engine::marker::fit(&state), held_by: plan.live.vpc.marker.clone() });
    let perms = if check_permissions {
        let dry = SdkEc2::dry_run(&s.config, s.retry);
        Some(crate::preflight::permissions::rehearse(&plan, &dry, s.aws(), &vpc_id).await)
    } else {
        None
    };
    match g.output {
        Output::Text => {
            print!("{}", crate::plan::render_text(&plan));
            if let Some(p) = &perms {
                print!("{}", crate::preflight::permissions::render_text(p));
            }
        }
        Output::Json => {
            let mut v = serde_json::to_value(&plan).expect("plan serializes");
            if let Some(p) = &perms {
                v["permissions"] = serde_json::to_value(p).expect("permissions serialize");
            }
            println!("{}", serde_json::to_string_pretty(&v).expect("plan serializes"));
        }
    }
    let denied = perms.iter().flatten().filter(|p| matches!(p.verdict, crate::preflight::permissions::Verdict::Denied { .. })).count();
    if denied > 0 {
        eprintln!("error: {denied} call(s) of this runbook would be denied; nothing was changed");
        return Ok(exit::FINDINGS);
    }
    Ok(exit::SUCCESS)
}

/// `--allow` names only known findings: a typo must not silently allow nothing.
fn check_allow(allow: &[String]) -> Result<()> {
    if let Some(bad) = allow.iter().find(|a| !crate::preflight::is_known(a)) {
        let known: Vec<&str> = crate::preflight::CATALOGUE.iter().map(|(id, ..)| *id).collect();
        return Err(Fail::new(exit::USAGE, format!("--allow {bad}: no such finding; known findings: {}", known.join(", "))));
    }
    Ok(())
}

/// The error findings `allow` does not cover, as a refusal.
fn refuse_findings(plan: &crate::plan::Plan, allow: &[String], command: &str) -> Result<()> {
    let blocking = crate::preflight::blocking(&plan.findings, allow);
    if blocking.is_empty() {
        return Ok(());
    }
    eprint!("{}", crate::preflight::render_text(&plan.findings));
    // Each id once, in the order found (findings of one id need not be adjacent).
    let mut unique: Vec<&str> = Vec::new();
    for f in &blocking {
        if !unique.contains(&f.id) {
            unique.push(f.id);
        }
    }
    Err(Fail::new(
        exit::FINDINGS,
        format!(
            "{command} refused: {} error finding{} ({}). Fix the runbook or the VPC, or accept the risk with {}. Nothing was changed.",
            blocking.len(),
            if blocking.len() == 1 { "" } else { "s" },
            unique.join(", "),
            unique.iter().map(|i| format!("--allow {i}")).collect::<Vec<_>>().join(" ")
        ),
    ))
}

async fn check(g: &Global, path: &Path, allow: &[String]) -> Result<i32> {
    check_allow(allow)?;
    let rb = runbook::load(path)?;
    let s = connect(g, &rb).await?;
    let vpc_id = resolve_vpc(s.ec2.as_ref(), &rb).await?.id;
    let plan = preflight(s.aws(), &rb, &vpc_id).await?;
    let blocking = crate::preflight::blocking(&plan.findings, allow).len();
    match g.output {
        Output::Text => {
            print!("{}", crate::preflight::render_text(&plan.findings));
            println!("{}: {} on {} ({} blocking apply)", path.display(), crate::preflight::summary(&plan.findings), plan.vpc, blocking);
        }
        Output::Json => println!("{}", serde_json::json!({ "runbook": rb.name, "vpc": plan.vpc, "findings": plan.findings, "blocking": blocking })),
    }
    Ok(if blocking > 0 { exit::FINDINGS } else { exit::SUCCESS })
}

fn runbook_dir(rb: &Runbook) -> PathBuf {
    rb.path().parent().filter(|p| !p.as_os_str().is_empty()).map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// The state backend of `rb`'s journal; `config` for S3 (else loaded here,
/// with the runbook's region).
async fn state_store(g: &Global, rb: &Runbook, config: Option<&aws_config::SdkConfig>) -> Result<Arc<dyn crate::state::Store>> {
    let url = g.state_url(rb.path());
    let loaded;
    let config = match (config, &url) {
        (Some(c), _) => c,
        (None, crate::state::StateUrl::S3 { .. }) => {
            let opts = ConnectOptions { region: g.region.clone().or_else(|| rb.region.clone()), profile: g.profile.clone(), endpoint_url: g.endpoint_url.clone() };
            loaded = crate::aws::load_config(&opts).await;
            &loaded
        }
        (None, crate::state::StateUrl::File(_)) => {
            loaded = aws_config::SdkConfig::builder().build();
            &loaded
        }
    };
    Ok(crate::state::store(&url, &rb.name, config, g.retry_policy())?)
}

/// Take the lock and open the journal (see [`crate::state::open`]).
async fn open_state(g: &Global, rb: &Runbook, command: &str, s: &Session) -> Result<(crate::state::Lock, Journal)> {
    let store = state_store(g, rb, Some(&s.config)).await?;
    let events = s.events.as_ref();
    let warn = |message: String| events.emit(crate::engine::events::Event::Warning { message });
    Ok(crate::state::open(store, command, &g.lock_options(), &warn).await?)
}

/// The run's log: every event as a JSON line, in the backend's `logs/`
/// (0700; each file 0600), appended to when the run is resumed.
fn run_log<'a>(rb: &Runbook, store: &dyn crate::state::Store, run_id: &str, first: &'a dyn EventSink) -> Result<Tee<'a>> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let dir = store.log_dir();
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&dir)
        .map_err(|e| Fail::new(exit::STEP_FAILED, format!("cannot create {}: {e}", dir.display())))?;
    let path = dir.join(format!("{}.{run_id}.jsonl", rb.name));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| Fail::new(exit::STEP_FAILED, format!("cannot open the run log {}: {e}", path.display())))?;
    Ok(Tee { first, log: std::sync::Mutex::new(file) })
}

/// Whether to ask before every step: `--interactive`, or by default on a
/// terminal without `--yes`.
fn interactive_mode(flag: bool, yes: bool, command: &str) -> Result<bool> {
    if flag && !prompt::can_ask() {
        return Err(Fail::new(exit::USAGE, format!("`{command} --interactive` needs a terminal to ask on; run it in one, or pass --yes instead. Nothing was changed.")));
    }
    Ok(flag || (!yes && prompt::can_ask()))
}

fn require_confirmation_possible(yes: bool, command: &str) -> Result<()> {
    if !yes && !prompt::can_ask() {
        return Err(Fail::new(
            exit::USAGE,
            format!("`{command}` changes AWS and needs confirmation, but there is no terminal to ask on; pass --yes to proceed. Nothing was changed."),
        ));
    }
    Ok(())
}

fn confirm(yes: bool, question: &str) -> Result<()> {
    if yes || prompt::confirm(question) {
        Ok(())
    } else {
        Err(Fail::new(exit::USAGE, "not confirmed; nothing was changed"))
    }
}

/// On the first SIGINT or SIGTERM, ask the engine to stop after the call in
/// flight (the run is then paused, resumable); on a second, exit at once
/// (the journal still allows `resume`).
fn stop_on_signal(engine: &Engine<'_>) {
    use tokio::signal::unix::{signal, SignalKind};
    let stop = engine.stop.clone();
    tokio::spawn(async move {
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return;
        };
        for round in 0..2 {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            if round == 0 {
                eprintln!("\ninterrupted: stopping after the call in flight (again to quit at once)");
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
            } else {
                std::process::exit(130);
            }
        }
    });
}

/// Exit code and closing message for a finished run.
fn finish(report: Report, vpc_id: &str) -> i32 {
    match report.outcome {
        RunOutcome::Completed => {
            eprintln!("{vpc_id}: {} change{} applied and verified (run {})", report.changes_applied, if report.changes_applied == 1 { "" } else { "s" }, report.run_id);
            exit::SUCCESS
        }
        RunOutcome::Reverted => {
            eprintln!("{vpc_id}: rolled back {} change{}; every attribute the journal recorded is back to its prior value", report.changes_undone, if report.changes_undone == 1 { "" } else { "s" });
            exit::SUCCESS
        }
        RunOutcome::RolledBack if report.rolled_back_step.is_some() => {
            let health = report.failure.as_ref().is_some_and(|f| matches!(f.error, StepError::Gate(_)));
            if let Some(f) = &report.failure {
                eprintln!("error: step `{}` failed: {}", f.step, f.error);
            }
            eprintln!(
                "rolled back step `{}` ({} change{}); the steps before it stay in effect. `dualstack rollback` undoes them; `dualstack apply` runs the runbook again (steps in effect change nothing).",
                report.rolled_back_step.as_ref().expect("matched"),
                report.changes_undone,
                if report.changes_undone == 1 { "" } else { "s" }
            );
            if health { exit::HEALTH_FAILED } else { exit::STEP_FAILED }
        }
        RunOutcome::RolledBack => {
            let health = report.failure.as_ref().is_some_and(|f| matches!(f.error, StepError::Gate(_)));
            if let Some(f) = &report.failure {
                if health {
                    eprintln!("error: step `{}` failed its health gate: {}", f.step, f.error);
                } else {
                    eprintln!("error: step `{}` failed: {}", f.step, f.error);
                }
            }
            eprintln!("rolled back {} change{}: {vpc_id} is back where it was before the run", report.changes_undone, if report.changes_undone == 1 { "" } else { "s" });
            if health { exit::HEALTH_FAILED } else { exit::STEP_FAILED }
        }
        RunOutcome::Paused => {
            if let Some(f) = &report.failure {
                eprintln!("error: step `{}` failed: {}", f.step, f.error);
                eprintln!("paused as asked; nothing was undone. Fix the cause, then `dualstack resume` or `dualstack rollback`.");
            } else if report.aborted {
                eprintln!("paused at the prompt; nothing was undone. Continue with `dualstack resume` or undo with `dualstack rollback`.");
            } else {
                eprintln!("paused by a signal after the call in flight; nothing was undone. Continue with `dualstack resume` or undo with `dualstack rollback`.");
            }
            exit::PAUSED
        }
        RunOutcome::RollbackIncomplete => {
            if let Some(f) = &report.failure {
                eprintln!("error: step `{}` failed: {}", f.step, f.error);
            }
            if let Some(f) = &report.undo_failure {
                eprintln!("error: rollback stopped at step `{}`: {}", f.step, f.error);
            }
            eprintln!("the rollback is incomplete; fix the cause and run `dualstack rollback` again (it continues where it stopped)");
            exit::PAUSED
        }
    }
}

async fn apply(g: &Global, path: &Path, yes: bool, interactive: bool, on_failure: OnFailure, allow: &[String], force: bool) -> Result<i32> {
    check_allow(allow)?;
    let rb = runbook::load(path)?;
    let interactive = interactive_mode(interactive, yes, "apply")?;
    require_confirmation_possible(yes, "apply")?;
    let s = connect(g, &rb).await?;
    let (lock, journal) = open_state(g, &rb, "apply", &s).await?;
    if let Some(run) = journal.state().interrupted() {
        let at = run.failed_step.as_ref().map(|(s, _)| format!(" at step `{s}`")).unwrap_or_default();
        return Err(Fail::new(
            exit::PAUSED,
            format!("run {} was interrupted{at}; finish it first with `dualstack resume` or undo it with `dualstack rollback` (journal {})", run.run_id, journal.location()),
        ));
    }
    let FoundVpc { id: vpc_id, owner, .. } = resolve_vpc(s.ec2.as_ref(), &rb).await?;
    let _vpc_lock = crate::state::machine::lock_vpc(&owner, &s.region, &vpc_id, "apply")?;
    let plan = preflight(s.aws(), &rb, &vpc_id).await?;
    refuse_findings(&plan, allow, "apply")?;
    // Another run's marker, as the preflight read it: refused before any
    // question (the engine checks again just before the first change).
    if let Some((run, state)) = &plan.live.vpc.marker
        && let Some(foreign) = crate::engine::marker::refusal(&vpc_id, run, state, &crate::engine::marker::fit(&lock.store().identity()))
        && !force
    {
        return Err(Fail::new(exit::LOCKED, foreign.to_string()));
    }
    if interactive {
        // Each step shows its own diff and asks; here only what spans the run.
        if !plan.findings.is_empty() {
            eprint!("Preflight findings ({})\n{}", crate::preflight::summary(&plan.findings), crate::preflight::render_text(&plan.findings));
        }
        eprintln!("{} change(s) in {} step(s) on {vpc_id}; you will be asked before each step.", plan.change_count(), plan.steps.len());
    } else if !yes {
        eprint!("{}", crate::plan::render_text(&plan));
        confirm(yes, &format!("Apply {} change(s) to {vpc_id}?", plan.change_count()))?;
    }
    let run_id = new_run_id();
    let events = run_log(&rb, lock.store(), &run_id, s.events.as_ref())?;
    lock.note_run(&run_id);
    // Asked before every step when interactive, else before `confirm: true`
    // steps only, and only when someone can answer.
    let pilot = s.pilot();
    let mut engine = Engine::new(s.aws(), &events, journal, run_id, vpc_id.clone());
    engine.workdir = runbook_dir(&rb);
    engine.pilot = pilot.as_ref().map(|p| p as &dyn crate::engine::pilot::Pilot);
    engine.interactive = interactive;
    engine.force = force;
    if yes {
        // Read moments ago: the first step need not read it again. (Without
        // --yes a prompt came first, interactive or not, and a person may have
        // taken minutes: read afresh.)
        engine.known = Some(crate::engine::Known::new(plan.live, Scope::ALL));
    }
    stop_on_signal(&engine);
    let report = engine.run(&rb, "apply", &[], on_failure).await?;
    Ok(finish(report, &vpc_id))
}

async fn resume(g: &Global, path: &Path, yes: bool, interactive: bool, force: bool, on_failure: OnFailure) -> Result<i32> {
    let rb = runbook::load(path)?;
    let interactive = interactive_mode(interactive, yes, "resume")? && interactive;
    require_confirmation_possible(yes, "resume")?;
    let s = connect(g, &rb).await?;
    let (lock, journal) = open_state(g, &rb, "resume", &s).await?;
    let state = journal.state();
    let Some(run) = state.interrupted().cloned() else {
        return Err(Fail::new(exit::USAGE, format!("nothing to resume: the last run in {} finished", journal.location())));
    };
    if run.runbook_hash != rb.hash && !force {
        return Err(Fail::new(
            exit::USAGE,
            format!("{} changed since run {} started; resuming it could apply a different plan. Restore it, or pass --force", path.display(), run.run_id),
        ));
    }
    let _vpc_lock = lock_vpc_of(&s, &run.vpc_id, "resume").await?;
    if run.rolling_back {
        confirm(yes, &format!("Run {} was interrupted while rolling back. Finish the rollback of {}?", run.run_id, run.vpc_id))?;
        let events = run_log(&rb, lock.store(), &run.run_id, s.events.as_ref())?;
        lock.note_run(&run.run_id);
        let mut engine = Engine::new(s.aws(), &events, journal, run.run_id.clone(), run.vpc_id.clone());
        engine.force = force;
        let report = engine.rollback(&rb, "finishing an interrupted rollback").await?;
        return Ok(finish(report, &run.vpc_id));
    }
    let left: Vec<_> = rb.steps.iter().filter(|st| !run.done_steps.contains(&st.id)).map(|st| st.id.to_string()).collect();
    if !interactive {
        confirm(yes, &format!("Resume run {} on {} with step(s) {}?", run.run_id, run.vpc_id, left.join(", ")))?;
    }
    let events = run_log(&rb, lock.store(), &run.run_id, s.events.as_ref())?;
    lock.note_run(&run.run_id);
    let pilot = s.pilot();
    let mut engine = Engine::new(s.aws(), &events, journal, run.run_id.clone(), run.vpc_id.clone());
    engine.workdir = runbook_dir(&rb);
    engine.force = force;
    // Steps marked `confirm: true` still stop to ask on a terminal.
    engine.pilot = pilot.as_ref().map(|p| p as &dyn crate::engine::pilot::Pilot);
    engine.interactive = interactive;
    stop_on_signal(&engine);
    let report = engine.run(&rb, "resume", &run.done_steps, on_failure).await?;
    Ok(finish(report, &run.vpc_id))
}

async fn rollback(g: &Global, path: &Path, yes: bool, force: bool) -> Result<i32> {
    let rb = runbook::load(path)?;
    require_confirmation_possible(yes, "rollback")?;
    let s = connect(g, &rb).await?;
    let (lock, journal) = open_state(g, &rb, "rollback", &s).await?;
    let state = journal.state();
    let Some(last) = state.last_run.clone() else {
        eprintln!("nothing to roll back: no run recorded in {}", journal.location());
        return Ok(exit::SUCCESS);
    };
    let todo = state.to_undo();
    // A run killed between marking the VPC and its first change has
    // nothing to undo but its marker.
    let marker_left = state.interrupted().is_some_and(|r| journal.marker_outstanding(&r.run_id));
    if todo.is_empty() && !marker_left {
        eprintln!("nothing to roll back: every change recorded in {} is already undone", journal.location());
        return Ok(exit::SUCCESS);
    }
    if !yes {
        eprintln!("Changes to undo, newest first:");
        for c in todo.iter().rev() {
            let d = c.change.describe();
            eprintln!("  {}: {}: {} -> {}", d.resource, d.attribute, d.desired, d.current);
        }
        confirm(yes, &format!("Roll back {} change(s) on {}?", todo.len(), last.vpc_id))?;
    }
    let _vpc_lock = lock_vpc_of(&s, &last.vpc_id, "rollback").await?;
    let run_id = state.interrupted().map_or_else(new_run_id, |r| r.run_id.clone());
    let events = run_log(&rb, lock.store(), &run_id, s.events.as_ref())?;
    lock.note_run(&run_id);
    let mut engine = Engine::new(s.aws(), &events, journal, run_id, last.vpc_id.clone());
    engine.force = force;
    let report = engine.rollback(&rb, "requested with `dualstack rollback`").await?;
    Ok(finish(report, &last.vpc_id))
}

async fn status(g: &Global, path: &Path) -> Result<i32> {
    let rb = runbook::load(path)?;
    // Read without the lock: a running apply shows where it is.
    let store = state_store(g, &rb, None).await?;
    let holder = store.holder().await?;
    let journal = Journal::open(store, None)?;
    let lock_text = holder.as_ref().map(|(h, lease)| match lease {
        Some(l) => format!("locked by {h}, lease {}", humantime::format_duration(*l)),
        None => format!("locked by {h}"),
    });
    let state = journal.state();
    let Some(run) = &state.last_run else {
        println!("{}: no run recorded ({})", rb.name, journal.location());
        if let Some(t) = &lock_text {
            println!("  {t}");
        }
        return Ok(exit::SUCCESS);
    };
    let run_state = match (run.ended, run.rolling_back) {
        (Some(RunOutcome::Completed), _) => "completed".to_string(),
        (Some(RunOutcome::RolledBack), _) => "failed and rolled back".to_string(),
        (Some(RunOutcome::Reverted), _) => "rolled back".to_string(),
        (Some(RunOutcome::Paused), _) => "paused: resume or rollback".to_string(),
        (Some(RunOutcome::RollbackIncomplete), _) => "rollback incomplete: run rollback again".to_string(),
        (None, true) => "interrupted while rolling back: resume or rollback".to_string(),
        (None, false) => "interrupted: resume or rollback".to_string(),
    };
    if g.output == Output::Json {
        let steps: Vec<_> = rb
            .steps
            .iter()
            .map(|st| serde_json::json!({ "step": st.id, "state": step_state(&state, run, &st.id).0, "applied": step_state(&state, run, &st.id).1 }))
            .collect();
        println!("{}", serde_json::json!({ "runbook": rb.name, "run_id": run.run_id, "vpc": run.vpc_id, "state": run_state, "steps": steps, "lock": holder.as_ref().map(|(h, _)| h) }));
        return Ok(exit::SUCCESS);
    }
    println!("runbook {} on {}: run {} {} ({})", rb.name, run.vpc_id, run.run_id, run_state, journal.location());
    if let Some(t) = &lock_text {
        println!("  {t}");
    }
    for st in &rb.steps {
        let (label, applied) = step_state(&state, run, &st.id);
        println!("  {:<24} {:<28} {} change{} in effect", st.id.as_str(), label, applied, if applied == 1 { "" } else { "s" });
    }
    Ok(exit::SUCCESS)
}

async fn force_unlock(g: &Global, path: &Path, lock_id: &str) -> Result<i32> {
    let rb = runbook::load(path)?;
    let store = state_store(g, &rb, None).await?;
    let holder = store.force_unlock(lock_id).await?;
    eprintln!("removed the lock of {holder} from {}; if that run is still alive, it stops at its next renewal or record", store.location());
    Ok(exit::SUCCESS)
}

/// A step's state in the last run, and how many of its changes are in effect.
fn step_state(state: &crate::engine::journal::JournalState, run: &crate::engine::journal::RunState, id: &crate::runbook::StepId) -> (&'static str, usize) {
    let mine: Vec<_> = state.changes.iter().filter(|c| &c.step == id).collect();
    let applied = mine.iter().filter(|c| matches!(c.status, ChangeStatus::Applied | ChangeStatus::Undoing)).count();
    let unconfirmed = mine.iter().any(|c| c.status == ChangeStatus::Unconfirmed && c.run == run.run_id);
    let label = if unconfirmed {
        "interrupted mid-change"
    } else if run.skipped_steps.contains(id) {
        "skipped at the prompt"
    } else if run.failed_step.as_ref().is_some_and(|(s, _)| s == id) {
        "failed"
    } else if run.done_steps.contains(id) {
        if applied == 0 && mine.iter().any(|c| c.status == ChangeStatus::Undone) { "rolled back" } else { "done" }
    } else if run.started_steps.contains(id) {
        "started, not finished"
    } else if mine.iter().any(|c| c.status == ChangeStatus::Undone) {
        "rolled back"
    } else {
        "pending"
    };
    (label, applied)
}
