//! `passport serve`: the token service (passport-server) on this machine.

use std::net::SocketAddr;

use passport_server::{Server, ServerError};
use passport_store::server::Database;

use super::{Context, runtime};
use crate::cli::ServeArgs;
use crate::error::CliError;
use crate::output;
use crate::term::escape;

/// The SQLite file of the server's state in the data directory.
const SERVER_DB: &str = "server.db";

pub(crate) fn serve(ctx: &Context, args: &ServeArgs) -> Result<(), CliError> {
    if !args.listen.ip().is_loopback() && !args.allow_remote {
        return Err(CliError::usage(
            "serve_not_loopback",
            format!(
                "refusing to listen on {}, which is not a loopback address",
                args.listen
            ),
        )
        .hint("pass --allow-remote (behind TLS, with --issuer https://…) or listen on 127.0.0.1"));
    }
    if args.auto_consent && !args.listen.ip().is_loopback() {
        // anyone could get codes for a logged-in browser
        return Err(
            server_error(ServerError::AutoConsentNotLoopback(args.listen))
                .hint("listen on 127.0.0.1, or drop --auto-consent to show the consent page"),
        );
    }
    let database = match &args.database {
        Some(url) => url.clone(),
        None => {
            ctx.dir.ensure()?;
            let path = ctx.dir.path(SERVER_DB);
            path.to_str()
                .ok_or_else(|| {
                    CliError::usage("config", "the data directory's path is not valid UTF-8")
                })?
                .to_owned()
        }
    };
    let now = ctx.now();
    runtime()?.block_on(async {
        let db = Database::open(&database, now).await?;
        if args.rotate_key {
            return rotate(&db, now).await;
        }
        if let Some(owner) = &args.register_workload {
            let issuer = issuer_of(args, args.listen);
            let server = Server::builder(&issuer, db)
                .build()
                .await
                .map_err(server_error)?;
            return register(&server, owner, &args.scope.join(" ")).await;
        }
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .map_err(|e| {
                CliError::failed(
                    "serve_listen",
                    format!("cannot listen on {}: {e}", args.listen),
                )
            })?;
        let local = listener.local_addr().map_err(|e| {
            CliError::failed(
                "serve_listen",
                format!("cannot read the listening address: {e}"),
            )
        })?;
        let issuer = issuer_of(args, local);
        let mut builder = Server::builder(&issuer, db)
            .auto_consent(args.auto_consent)
            .registration(!args.no_registration)
            .registration_scopes(&args.registration_scope.join(" "))
            .dpop_nonces(!args.no_dpop_nonces)
            .trusted_proxies(args.trusted_proxy.iter().copied())
            .nat64_prefixes(args.nat64_prefix.iter().copied());
        if let Some(policy) = &args.policy {
            builder = builder.policy_file(policy);
        }
        if let Some(connections) = args.max_connections_per_address {
            builder = builder
                .max_connections_per_address(usize::try_from(connections).unwrap_or(usize::MAX));
        }
        if let Some(connections) = args.max_connections {
            builder = builder.max_connections(usize::try_from(connections).unwrap_or(usize::MAX));
        }
        // the upstream provider principals log in at, as `passport login`
        // reads it
        if ctx.env.get("CSP_DISCOVERY_URL").is_some() {
            builder = builder.upstream(ctx.provider()?);
        }
        let server = builder.build().await.map_err(server_error)?;
        if output::json_mode() {
            output::emit(&serde_json::json!({
                "issuer": server.issuer(),
                "listen": local.to_string(),
                "database": server.database().backend_name(),
            }));
        } else {
            say!("{}", server.issuer());
        }
        note!(
            "passport-server: {} listening on {local} ({}); Ctrl-C stops it",
            escape(server.issuer()),
            server.database().backend_name()
        );
        if !args.trusted_proxy.is_empty() {
            let proxies: Vec<String> = args.trusted_proxy.iter().map(|p| p.to_string()).collect();
            note!(
                "passport-server: requests from {} are limited by the address they name in X-Forwarded-For",
                proxies.join(", ")
            );
        }
        server
            .serve(listener, async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
            .map_err(server_error)
    })
}

/// `--issuer`, or `http://` and the address listened on.
fn issuer_of(args: &ServeArgs, listening: SocketAddr) -> String {
    args.issuer
        .clone()
        .unwrap_or_else(|| format!("http://{listening}"))
}

async fn register(server: &Server, owner: &str, scopes: &str) -> Result<(), CliError> {
    let client = server
        .register_workload_client(owner, scopes)
        .await
        .map_err(server_error)?;
    if output::json_mode() {
        output::emit(&serde_json::json!({
            "client_id": client.client_id,
            "client_secret": client.secret.expose(),
        }));
    } else {
        say!("client_id: {}", client.client_id);
        say!("client_secret: {}", client.secret.expose());
        note!("the secret is shown once: the server keeps only its hash");
    }
    Ok(())
}

/// `--rotate-key`: the running instances pick the new key up by themselves.
async fn rotate(db: &Database, now: i64) -> Result<(), CliError> {
    let next = passport_server::rotate_signing_key(db, now)
        .await
        .map_err(server_error)?;
    if output::json_mode() {
        output::emit(&serde_json::json!({ "kid": next.kid, "signs_from": next.signs_from }));
    } else {
        say!("kid: {}", next.kid);
        say!("signs_from: {}", next.signs_from);
    }
    Ok(())
}

fn server_error(e: ServerError) -> CliError {
    match e {
        ServerError::InvalidOwner
        | ServerError::InvalidScope(_)
        | ServerError::Issuer(_)
        | ServerError::AutoConsentNotLoopback(_)
        | ServerError::Policy(_) => CliError::usage(e.code(), e.to_string()),
        ServerError::Store(e) => e.into(),
        e => CliError::failed(e.code(), e.to_string()),
    }
}
