//! What a user is told when AWS cannot be reached at all: no credentials, an
//! expired SSO token, no region, an endpoint that refuses or does not
//! resolve. Each is found before the first AWS call, says what to do, and
//! changes nothing. No emulator: nothing here needs one.

mod support;

use std::path::Path;
use std::process::Command;

use support::*;

/// Nothing listens on port 1.
const REFUSED: &str = "http://127.0.0.1:1";

/// The binary with a fresh, empty home: no shared files (the variables
/// point at files that do not exist), no credentials in the environment, no
/// instance metadata.
fn bare(home: &Path) -> Command {
    let mut c = dualstack_at(REFUSED);
    c.env("HOME", home)
        .env("AWS_CONFIG_FILE", home.join(".aws/config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", home.join(".aws/credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for v in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_DEFAULT_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
        "AWS_DEFAULT_REGION",
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
    ] {
        c.env_remove(v);
    }
    c
}

/// Run `plan`, `check` and `init --vpc` (each reads AWS first) as `base`
/// sets them up, and check each with `assert`.
fn each_command(ws: &Workspace, rb: &Path, mut base: impl FnMut() -> Command, mut assert: impl FnMut(&str, &std::process::Output)) {
    let out_file = ws.dir.path().join("runbooks/x.yaml");
    for (name, args) in [
        ("plan", vec!["plan".to_string(), path_str(rb).to_string()]),
        ("check", vec!["check".to_string(), path_str(rb).to_string()]),
        ("init", vec!["init".into(), "--vpc".into(), "x".into(), "-o".into(), path_str(&out_file).to_string()]),
    ] {
        let out = run(base().current_dir(ws.dir.path()).args(&args));
        assert(name, &out);
        assert!(!out_file.exists(), "init wrote a runbook");
        assert!(!ws.state_dir().join("logs").exists(), "{name} left a run log");
    }
}

fn assert_unchanged(name: &str, err: &str) {
    assert!(err.contains("nothing was changed"), "{name}: {err}");
    assert!(!err.contains("applied"), "{name}: a read is never applied: {err}");
    assert!(!err.contains("dispatch failure"), "{name}: the SDK's words instead of the cause: {err}");
}

#[test]
fn no_credentials_names_every_source_tried_and_what_to_do() {
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".aws/config");
    let credentials = home.path().join(".aws/credentials");
    each_command(&ws, &rb, || bare(home.path()), |name, out| {
        let err = stderr(out);
        assert_eq!(code(out), 1, "{name}: {err}");
        for needle in [
            "no AWS credentials found",
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY: not set",
            &format!("profile `default` in the shared config and credentials files {} and {}: neither file exists", config.display(), credentials.display()),
            "SSO (IAM Identity Center)",
            "web identity",
            "ECS container credentials",
            "EC2 instance metadata (IMDS): turned off by AWS_EC2_METADATA_DISABLED",
            "`aws configure`",
            "`aws sso login --profile NAME`",
            "`--profile NAME`",
        ] {
            assert!(err.contains(needle), "{name}: no {needle:?} in:\n{err}");
        }
        assert_unchanged(name, &err);
    });

    // A profile asked for that the files do not have: named, with the ones
    // they do have.
    std::fs::create_dir_all(home.path().join(".aws")).unwrap();
    std::fs::write(&config, "[profile dev]\nregion = ap-northeast-1\n").unwrap();
    let out = run(bare(home.path()).args(["--profile", "prod", "plan"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("profile `prod` in the shared config and credentials files"), "{err}");
    assert!(err.contains("no profile `prod` in them (they have `dev`)"), "{err}");
    assert!(err.contains("`aws configure --profile prod`"), "{err}");
}

/// The name `aws sso login` gives the token's cache file: the SHA-1 of the
/// session name (`printf corp | sha1sum`) or, for a profile without a
/// session, of the start URL.
const CORP_CACHE: &str = "ee0bfd2552fbd840c02cc48b6e823320543c450f.json";
const START_URL: &str = "https://d-0123456789.awsapps.com/start";
const START_URL_CACHE: &str = "aa477cedd4b2708a54ce60d7ae5a3b7f986013da.json";

fn sso_home(home: &Path, expires_at: &str) {
    let aws = home.join(".aws");
    std::fs::create_dir_all(aws.join("sso/cache")).unwrap();
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile x]\nsso_session = corp\nsso_account_id = 111122223333\nsso_role_name = Admin\nregion = ap-northeast-1\n\n\
             [profile old]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_account_id = 111122223333\nsso_role_name = Admin\n\n\
             [profile deploy]\nrole_arn = arn:aws:iam::111122223333:role/deploy\nsource_profile = x\n\n\
             [sso-session corp]\nsso_start_url = {START_URL}\nsso_region = us-east-1\nsso_registration_scopes = sso:account:access\n"
        ),
    )
    .unwrap();
    let token = format!(r#"{{"startUrl": "{START_URL}", "region": "us-east-1", "accessToken": "expired-token", "expiresAt": "{expires_at}"}}"#);
    std::fs::write(aws.join("sso/cache").join(CORP_CACHE), &token).unwrap();
    std::fs::write(aws.join("sso/cache").join(START_URL_CACHE), &token).unwrap();
}

#[test]
fn an_expired_sso_token_says_so_and_how_to_log_in_again() {
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    let home = tempfile::tempdir().unwrap();
    sso_home(home.path(), "2020-01-01T00:00:00Z");
    each_command(&ws, &rb, || { let mut c = bare(home.path()); c.args(["--profile", "x"]); c }, |name, out| {
        let err = stderr(out);
        assert_eq!(code(out), 1, "{name}: {err}");
        assert!(err.contains("the SSO token of profile `x` (sso_session `corp`) expired at 2020-01-01T00:00:00Z"), "{name}: {err}");
        assert!(err.contains(CORP_CACHE), "{name}: the cache file is named: {err}");
        assert!(err.contains("run `aws sso login --profile x`"), "{name}: {err}");
        assert_unchanged(name, &err);
    });

    // AWS_PROFILE works like --profile; a role assumed with the SSO
    // profile's credentials needs that profile's login.
    let out = run(bare(home.path()).env("AWS_PROFILE", "deploy").arg("plan").arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("the SSO token of profile `x` (sso_session `corp`; profile `deploy` takes its credentials from it) expired"), "{err}");
    assert!(err.contains("`aws sso login --profile x`"), "{err}");

    // The legacy form (sso_start_url in the profile): the SDK does not look
    // at the expiry and tries the SSO portal (here the refused endpoint,
    // once); the message is the same. Without a cached token: not logged in.
    let legacy = |home: &Path| {
        let mut c = bare(home);
        c.env("AWS_MAX_ATTEMPTS", "1").args(["--profile", "old", "plan"]).arg(&rb);
        c
    };
    let out = run(&mut legacy(home.path()));
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("the SSO token of profile `old` (sso_start_url https://d-0123456789.awsapps.com/start) expired"), "{err}");
    assert!(err.contains("`aws sso login --profile old`"), "{err}");
    assert_unchanged("legacy", &err);

    std::fs::remove_file(home.path().join(".aws/sso/cache").join(CORP_CACHE)).unwrap();
    let out = run(bare(home.path()).args(["--profile", "x", "check"]).arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("profile `x` signs in with SSO (sso_session `corp`), but there is no SSO token: not logged in"), "{err}");
    assert!(err.contains("`aws sso login --profile x`"), "{err}");
}

#[test]
fn an_endpoint_that_refuses_or_does_not_resolve_cannot_be_reached() {
    let ws = Workspace::new();
    let rb = ws.example("incident.yaml");
    let started = std::time::Instant::now();
    each_command(&ws, &rb, || dualstack_at(REFUSED), |name, out| {
        let err = stderr(out);
        assert_eq!(code(out), 1, "{name}: {err}");
        assert!(err.contains("cannot reach ec2 at http://127.0.0.1:1: connection refused"), "{name}: {err}");
        assert!(err.contains("--endpoint-url or AWS_ENDPOINT_URL"), "{name}: {err}");
        assert_unchanged(name, &err);
    });
    // `.invalid` never resolves (RFC 6761).
    let out = run(dualstack_at("http://dualstack-test.invalid").arg("plan").arg(&rb));
    let err = stderr(&out);
    assert_eq!(code(&out), 1, "{err}");
    assert!(err.contains("cannot reach ec2 at http://dualstack-test.invalid: cannot resolve dualstack-test.invalid"), "{err}");
    assert_unchanged("dns", &err);
    // Found with one connection, not after the read's retries.
    assert!(started.elapsed() < std::time::Duration::from_secs(20), "took {:?}", started.elapsed());
}

#[test]
fn no_region_is_a_usage_error_that_lists_where_a_region_comes_from() {
    let ws = Workspace::new();
    let text = std::fs::read_to_string(ws.example("incident.yaml")).unwrap();
    let rb = ws.runbook("no-region.yaml", &text.lines().filter(|l| !l.starts_with("region:")).collect::<Vec<_>>().join("\n"));
    let home = tempfile::tempdir().unwrap();
    let config = home.path().join(".aws/config");
    each_command(&ws, &rb, || { let mut c = bare(home.path()); c.env_remove("AWS_REGION"); c }, |name, out| {
        let err = stderr(out);
        assert_eq!(code(out), 2, "{name}: {err}");
        assert!(
            err.contains(&format!("no AWS region: pass --region, set `region:` in the runbook, set AWS_REGION, or set `region` in profile `default` of {}", config.display())),
            "{name}: {err}"
        );
    });
}
