//! `notionlake auth`: OAuth login (browser or pasted redirect), status and logout.

use std::sync::Arc;

use super::*;
use crate::config::{ConfigError, FileConfig, Settings};
use crate::notion::{ClientConfig, NotionClient, StaticToken};

use crate::notion::oauth::{
    Credentials, OAuthApp, check_redirect, default_credentials_path, load_credentials,
    save_credentials,
};

pub(super) async fn run_auth(action: &AuthAction, file: &FileConfig) -> Result<(), CliError> {
    match action {
        AuthAction::Login { .. } => login(action).await,
        AuthAction::Status { conn } => status(conn, file).await,
        AuthAction::Logout { credentials } => logout(credentials.as_deref()).await,
    }
}

/// `auth login`: the browser (or pasted) OAuth flow, then the credential file.
async fn login(action: &AuthAction) -> Result<(), CliError> {
    let AuthAction::Login {
        client_id,
        client_secret,
        api_base,
        redirect_port,
        manual,
        credentials,
        connection,
    } = action
    else {
        return Ok(());
    };
    let app = OAuthApp {
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        api_base: url::Url::parse(api_base).map_err(|e| ConfigError::Invalid {
            name: "api_base",
            message: e.to_string(),
        })?,
        timeout: crate::notion::oauth::OAUTH_TIMEOUT,
    };
    let (access, refresh) = if *manual {
        let redirect_uri = format!("http://127.0.0.1:{redirect_port}/callback");
        let (url, state) = app.authorize_url(&redirect_uri)?;
        eprintln!(
            "Open this URL in a browser, approve, then paste the address you are redirected to (or just the code):\n{url}"
        );
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|source| CliError::Io {
                context: "reading the redirect URL".into(),
                source,
            })?;
        let line = line.trim();
        let code = match url::Url::parse(line) {
            Ok(u) => check_redirect(
                &u.query_pairs().into_owned().collect::<Vec<_>>(),
                state.secret(),
            )?,
            Err(_) => line.to_string(),
        };
        app.exchange_code(&code, &redirect_uri).await?
    } else {
        app.login_loopback(*redirect_port, |url| {
            eprintln!("Open this URL in your browser to authorize notionlake:\n{url}")
        })
        .await?
    };
    let client = NotionClient::new(
        ClientConfig {
            base_url: app.api_base.clone(),
            ..ClientConfig::default()
        },
        Arc::new(StaticToken::new(access.expose())),
    )?;
    let me = client.users_me().await?;
    let field = |p: &str| me.pointer(p).and_then(|v| v.as_str()).map(str::to_string);
    let creds = Credentials {
        access_token: access,
        refresh_token: refresh,
        client_id: client_id.clone(),
        client_secret: client_secret.clone(),
        api_base: api_base.clone(),
        workspace_id: field("/bot/workspace_id"),
        workspace_name: field("/bot/workspace_name"),
        bot_id: field("/id"),
    };
    let path = match (credentials, connection) {
        (Some(path), _) => path.clone(),
        (None, Some(name)) => crate::fleet::connections::credentials_path(name)?,
        (None, None) => default_credentials_path(),
    };
    save_credentials(&path, &creds)?;
    println!(
        "logged in to workspace {} (bot {}); credentials in {}",
        creds.workspace_name.as_deref().unwrap_or("?"),
        creds.bot_id.as_deref().unwrap_or("?"),
        path.display()
    );
    if let Some(name) = connection {
        println!(
            "add to the config file:\n[[connection]]\nname = \"{name}\"\ncredentials = {}\nlake = \"…\"",
            toml::Value::String(path.display().to_string())
        );
    }
    Ok(())
}

/// `auth status`: the workspace and bot the settings' token reaches.
async fn status(conn: &ConnectionFlags, file: &FileConfig) -> Result<(), CliError> {
    let settings = Settings::resolve(&conn.into(), file)?;
    let me = settings.client()?.users_me().await?;
    let field = |p: &str| {
        me.pointer(p)
            .and_then(|v| v.as_str())
            .unwrap_or("?")
            .to_string()
    };
    println!(
        "workspace: {} ({})",
        field("/bot/workspace_name"),
        field("/bot/workspace_id")
    );
    println!("bot:       {} ({})", field("/name"), field("/id"));
    match (&settings.token, &settings.credentials) {
        (None, Some(path)) => {
            let creds = load_credentials(path)?;
            let active = creds.app()?.introspect(creds.access_token.expose()).await?;
            println!(
                "token:     OAuth, {} (introspect), from {}",
                if active { "active" } else { "inactive" },
                path.display()
            );
        }
        _ => println!("token:     valid (internal integration token)"),
    }
    Ok(())
}

/// `auth logout`: revokes the tokens and deletes the credential file.
async fn logout(credentials: Option<&std::path::Path>) -> Result<(), CliError> {
    let path = credentials.map_or_else(default_credentials_path, std::path::Path::to_path_buf);
    let creds = load_credentials(&path)?;
    let app = creds.app()?;
    app.revoke(creds.access_token.expose()).await?;
    if let Some(r) = &creds.refresh_token {
        app.revoke(r.expose()).await?;
    }
    std::fs::remove_file(&path).map_err(|source| CliError::Io {
        context: format!("removing {}", path.display()),
        source,
    })?;
    println!("logged out: tokens revoked, {} deleted", path.display());
    Ok(())
}
