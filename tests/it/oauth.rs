//! OAuth end to end against the fake: login through the (auto-approving) authorize redirect,
//! a sync during which the access token expires (one refresh, the rotated refresh token
//! persisted, the file 0600), a forged state refused, and no secret in any output of a verbose
//! run.

use notionlake::fake::oauth::FakeOAuth;
use notionlake::fake::{FakeConfig, FakeNotion};
use notionlake::notion::oauth::{
    Credentials, OAuthApp, OAuthProvider, load_credentials, save_credentials,
};
use notionlake::notion::{NotionClient, NotionVersion, SecretString};
use notionlake::sink::Lake;
use notionlake::sync::{SyncOptions, sync_workspace};

use crate::{demo_fake, test_config};

const SECRET: &str = "csecret_do_not_print_4242";

async fn oauth_fake(max_requests: u64) -> FakeNotion {
    let oauth = FakeOAuth {
        client_id: "cid-123".into(),
        client_secret: SECRET.into(),
        access_token_max_requests: Some(max_requests),
    };
    demo_fake(FakeConfig {
        tokens: vec![],
        oauth: Some(oauth),
        ..FakeConfig::unlimited()
    })
    .await
    .0
}

fn app(fake: &FakeNotion) -> OAuthApp {
    OAuthApp {
        client_id: "cid-123".into(),
        client_secret: SecretString::new(SECRET),
        api_base: url::Url::parse(&fake.url()).unwrap(),
        timeout: notionlake::notion::oauth::OAUTH_TIMEOUT,
    }
}

/// Plays the browser: follows the authorize URL to the loopback redirect.
fn browser(url: &url::Url) {
    let url = url.clone();
    tokio::spawn(async move {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let resp = http.get(url.clone()).send().await.unwrap();
        let location = resp.headers()["location"].to_str().unwrap().to_string();
        assert!(
            location.starts_with("http://127.0.0.1:"),
            "the redirect goes to loopback only: {location}"
        );
        http.get(location).send().await.unwrap();
    });
}

async fn login(fake: &FakeNotion, path: &std::path::Path) -> Credentials {
    let app = app(fake);
    let (access, refresh) = app.login_loopback(0, browser).await.unwrap();
    let creds = Credentials {
        access_token: access,
        refresh_token: refresh,
        client_id: app.client_id.clone(),
        client_secret: SECRET.into(),
        api_base: fake.url(),
        workspace_id: None,
        workspace_name: None,
        bot_id: None,
    };
    save_credentials(path, &creds).unwrap();
    creds
}

#[tokio::test]
async fn login_then_a_sync_through_an_expiring_token_refreshes_once() {
    // The sync makes ~300 requests; the access token dies after 200 (so once, not twice).
    let fake = oauth_fake(200).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let before = login(&fake, &path).await;
    let client = NotionClient::new(
        test_config(&fake, NotionVersion::V2025_09_03),
        OAuthProvider::from_file(&path).unwrap(),
    )
    .unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let report = sync_workspace(
        &client,
        &Lake::open(lake_dir.path().to_str().unwrap()).unwrap(),
        &SyncOptions::default(),
    )
    .await
    .unwrap();
    assert!(
        report.requests.total_requests > 200,
        "the token had to expire: {}",
        report.requests.total_requests
    );
    assert_eq!(
        fake.oauth_refreshes(),
        1,
        "exactly one refresh, shared by concurrent requests"
    );
    assert_eq!(
        report
            .tables
            .iter()
            .find(|t| t.table == "deals")
            .unwrap()
            .rows,
        24
    );
    let after = load_credentials(&path).unwrap();
    assert_ne!(after.access_token, before.access_token);
    assert_ne!(
        after.refresh_token, before.refresh_token,
        "the rotated refresh token is persisted"
    );
    assert!(fake.refresh_token_valid(after.refresh_token.as_ref().unwrap().expose()));
    assert!(
        !fake.refresh_token_valid(before.refresh_token.as_ref().unwrap().expose()),
        "the old refresh token stopped working"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    // A revoked refresh token: a clear message to log in again.
    app(&fake)
        .revoke(after.refresh_token.as_ref().unwrap().expose())
        .await
        .unwrap();
    let err = app(&fake)
        .refresh(after.refresh_token.as_ref().unwrap().expose())
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("invalid_grant") && err.contains("auth login"),
        "{err}"
    );
}

#[tokio::test]
async fn a_forged_state_is_refused() {
    let fake = oauth_fake(1000).await;
    let err = app(&fake)
        .login_loopback(0, |url| {
            let mut forged = url.clone();
            let pairs: Vec<(String, String)> = url
                .query_pairs()
                .into_owned()
                .map(|(k, v)| {
                    if k == "state" {
                        (k, "forged".into())
                    } else {
                        (k, v)
                    }
                })
                .collect();
            forged.query_pairs_mut().clear().extend_pairs(pairs);
            browser(&forged);
        })
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("state"), "{err}");
    assert_eq!(fake.oauth_refreshes(), 0);
}

#[test]
fn no_secret_appears_in_a_verbose_run() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(oauth_fake(100));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let before = rt.block_on(login(&fake, &path));
    let lake = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_notionlake"))
        .args([
            "-vvv",
            "sync",
            "--rps",
            "1000",
            "--burst",
            "100",
            "--api-base",
            &fake.url(),
            "--lake",
            lake.path().to_str().unwrap(),
            "--credentials",
            path.to_str().unwrap(),
        ])
        .env_remove("NOTION_TOKEN")
        .output()
        .unwrap();
    let all = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{all}");
    assert!(
        all.contains("access token refreshed"),
        "the run refreshed: {all}"
    );
    let after = load_credentials(&path).unwrap();
    for secret in [
        before.access_token.expose(),
        before.refresh_token.as_ref().unwrap().expose(),
        after.access_token.expose(),
        after.refresh_token.as_ref().unwrap().expose(),
        SECRET,
    ] {
        assert!(!all.contains(secret), "a secret leaked into the output");
    }
    assert!(all.lines().count() > 20, "a verbose run logs");
}

#[test]
fn status_then_logout_revokes_and_deletes() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let fake = rt.block_on(oauth_fake(1000));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let creds = rt.block_on(login(&fake, &path));
    let bin = env!("CARGO_BIN_EXE_notionlake");
    let status = std::process::Command::new(bin)
        .args([
            "auth",
            "status",
            "--api-base",
            &fake.url(),
            "--credentials",
            path.to_str().unwrap(),
        ])
        .env_remove("NOTION_TOKEN")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success() && text.contains("Acme Robotics") && text.contains("active"),
        "{text}{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let logout = std::process::Command::new(bin)
        .args(["auth", "logout", "--credentials", path.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        logout.status.success(),
        "{}",
        String::from_utf8_lossy(&logout.stderr)
    );
    assert!(!path.exists());
    assert!(!fake.refresh_token_valid(creds.refresh_token.as_ref().unwrap().expose()));
    assert!(
        !rt.block_on(app(&fake).introspect(creds.access_token.expose()))
            .unwrap()
    );
}

/// `auth login --manual` with `args`, the browser's part played here: approve, and paste the
/// address Notion redirects to (nothing listens there). Its output.
async fn manual_login(
    fake: &notionlake::fake::FakeNotion,
    args: &[&str],
    env: &[(&str, &std::path::Path)],
) -> std::process::Output {
    use std::io::{BufRead, BufReader, Write};
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_notionlake"))
        .args([
            "auth",
            "login",
            "--manual",
            "--client-id",
            "cid-123",
            "--api-base",
            &fake.url(),
        ])
        .args(args)
        .envs(env.iter().copied())
        .env("NOTION_CLIENT_SECRET", SECRET)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut url = String::new();
    let mut seen = String::new();
    while !url.starts_with("http") {
        url.clear();
        if stderr.read_line(&mut url).unwrap() == 0 {
            panic!("the login ended before printing the URL: {seen}");
        }
        seen.push_str(&url);
    }
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let location = http.get(url.trim()).send().await.unwrap().headers()["location"]
        .to_str()
        .unwrap()
        .to_string();
    writeln!(child.stdin.take().unwrap(), "{location}").unwrap();
    let out = child.wait_with_output().unwrap();
    let mut rest = String::new();
    let _ = std::io::Read::read_to_string(&mut stderr, &mut rest);
    assert!(
        out.status.success(),
        "{}\n{rest}",
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

// Multi-threaded: the fake must keep serving while this thread waits for the child.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manual_login_accepts_the_pasted_redirect_url() {
    let fake = oauth_fake(1000).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let out = manual_login(&fake, &["--credentials", path.to_str().unwrap()], &[]).await;
    assert!(String::from_utf8_lossy(&out.stdout).contains("logged in to workspace Acme Robotics"));
    assert!(load_credentials(&path).unwrap().refresh_token.is_some());
}

/// `auth login --connection NAME` keeps the connection's credentials in its own file (mode
/// 0600, under the config directory) and prints the `[[connection]]` entry that uses it, which
/// the config's checks accept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_for_a_connection_keeps_its_own_credentials_and_prints_its_entry() {
    let fake = oauth_fake(1000).await;
    let home = tempfile::tempdir().unwrap();
    let out = manual_login(
        &fake,
        &["--connection", "acme"],
        &[("XDG_CONFIG_HOME", home.path())],
    )
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let path = home.path().join("notionlake/connections/acme.json");
    assert!(
        load_credentials(&path).unwrap().refresh_token.is_some(),
        "{stdout}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }
    let entry = &stdout[stdout.find("[[connection]]").expect("the entry")..];
    let entry = entry.replace("\"…\"", "\"./lake\"");
    let file: notionlake::config::FileConfig = toml::from_str(&entry).unwrap();
    let checked = notionlake::fleet::connections(
        &file,
        &notionlake::config::ConnectionArgs::default(),
        &[],
        |_| None,
    )
    .unwrap();
    assert_eq!(checked[0].name, "acme");
    assert_eq!(
        checked[0].settings.credentials.as_deref(),
        Some(path.as_path())
    );
}

/// Regression: the refresh request had no timeout, so a token endpoint that never answered
/// hung the sync (and every request waiting on the credentials lock) for ever.
#[tokio::test]
async fn a_token_endpoint_that_never_answers_fails_the_sync_within_the_timeout() {
    // A server that accepts connections and never says a word.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}", silent.local_addr().unwrap());
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = silent.accept().await {
            open.push(stream);
        }
    });
    let fake = oauth_fake(40).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("credentials.json");
    let mut creds = login(&fake, &path).await;
    creds.api_base = silent_url;
    save_credentials(&path, &creds).unwrap();
    let timeout = std::time::Duration::from_secs(2);
    let client = NotionClient::new(
        test_config(&fake, NotionVersion::V2025_09_03),
        OAuthProvider::from_file_with_timeout(&path, timeout).unwrap(),
    )
    .unwrap();
    let lake_dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(lake_dir.path().to_str().unwrap()).unwrap();
    let err = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        sync_workspace(&client, &lake, &SyncOptions::default()),
    )
    .await
    .expect("the sync hung on the token endpoint")
    .unwrap_err()
    .to_string();
    assert!(err.contains("did not answer within 2 s"), "{err}");
    assert!(!err.contains(SECRET), "{err}");
    assert_eq!(
        load_credentials(&path).unwrap(),
        creds,
        "the credential file is unchanged"
    );
    assert!(
        lake.read("_notionlake/registry.json")
            .await
            .unwrap()
            .is_none(),
        "nothing committed"
    );
    held.abort();
}
