//! The command line, as clap sees it.

use clap::{Args, Parser, Subcommand};

use crate::units;

const AFTER_HELP: &str = "\
Configuration: each option under Configuration above can be set by its
environment variable or in a .env file in the working directory (the file is
named on stderr when read; a variable set in the environment, even empty,
wins over it; the data directory never comes from .env). Secrets are never
given on the command line: CSP_CLIENT_SECRET only from the environment or
.env, an ID token with --id-token - (stdin) or --id-token-file.
The data directory is --data-dir, else $AGENT_PASSPORT_HOME, else
$XDG_DATA_HOME/agent-passport, else the platform's (see `passport where`).

Exit codes: 0 success, 1 rejected or failed, 2 usage or configuration error,\n4 log in first (`passport login`).

Example:
  passport login --no-browser
  passport issue --agent-id planner --agent-model gpt-x \\
      --aud https://orchestrator.example --tool-scope 'files:*' \\
    | passport delegate --agent-id reader --agent-model small \\
      --aud https://files.example --tool-scope files:read \\
    | passport verify --aud https://files.example --required-scope files:read

Every command has an example in its help (`passport <command> --help`); the
manual pages are `passport man`.";

/// `passport --version`: the crate's version, the commit it was built from
/// and the target it was built for (see build.rs).
pub(crate) const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (",
    env!("PASSPORT_BUILD_COMMIT"),
    " ",
    env!("PASSPORT_BUILD_TARGET"),
    ")"
);

/// The top of `passport --help`: what the tool is.
const ABOUT: &str = concat!(
    "Agent Passport: short-lived, scope-bound credentials for AI agents, ",
    "rooted in a person's OIDC login and verified offline with their whole ",
    "delegation chain (person -> agent -> sub-agent -> tool)."
);

/// The `passport` command line.
#[derive(Debug, Parser)]
#[command(name = "passport", version = VERSION, about = ABOUT, long_about = None, after_help = AFTER_HELP)]
pub(crate) struct Cli {
    #[command(flatten)]
    pub(crate) output: OutputArgs,
    #[command(subcommand)]
    pub(crate) command: Command,
    #[command(flatten)]
    pub(crate) config: ConfigArgs,
}

/// The configuration, each value an option or its environment variable (or
/// `.env`, read by [`crate::env::Env`]; clap reads only the environment).
#[derive(Debug, Args)]
#[command(next_help_heading = "Configuration")]
pub(crate) struct ConfigArgs {
    /// The data directory [default: $XDG_DATA_HOME/agent-passport, or the
    /// platform's data directory]. Never taken from .env.
    #[arg(long, global = true, value_name = "DIR", env = "AGENT_PASSPORT_HOME")]
    pub(crate) data_dir: Option<std::path::PathBuf>,
    /// The OIDC provider's discovery document URL.
    #[arg(long, value_name = "URL", env = "CSP_DISCOVERY_URL")]
    pub(crate) discovery_url: Option<String>,
    /// This client's id at the provider.
    #[arg(long, value_name = "ID", env = "CSP_CLIENT_ID")]
    pub(crate) client_id: Option<String>,
    /// The client's secret, for confidential clients: from the environment
    /// or .env only (refused on the command line).
    #[arg(
        long,
        value_name = "SECRET",
        env = "CSP_CLIENT_SECRET",
        hide_env_values = true
    )]
    pub(crate) client_secret: Option<String>,
    /// The loopback redirect URI [default: http://127.0.0.1:8765/callback].
    #[arg(long, value_name = "URL", env = "CSP_REDIRECT_URI")]
    pub(crate) redirect_uri: Option<String>,
    /// The scopes to request, space-separated [default: openid].
    #[arg(long, value_name = "SCOPES", env = "CSP_SCOPES")]
    pub(crate) scopes: Option<String>,
    /// 'ial' (default) or a TOML/JSON table of acr -> levels.
    #[arg(long, value_name = "SPEC", env = "CSP_ACR_MAPPING")]
    pub(crate) acr_mapping: Option<String>,
    // The help is an attribute: rustdoc would take the URL for a link.
    #[arg(
        long,
        value_name = "URL",
        env = "AGENT_PASSPORT_ISSUER",
        help = "The local issuer's identifier [default: https://issuer.local]"
    )]
    pub(crate) local_issuer: Option<String>,
    /// Where the local issuer's status list is published [default: the
    /// issuer's /status/1].
    #[arg(long, value_name = "URL", env = "AGENT_PASSPORT_STATUS_URI")]
    pub(crate) status_uri: Option<String>,
}

/// The configuration options' ids with the variables they stand for, in
/// the order of the help.
pub(crate) const CONFIG_VARIABLES: &[(&str, &str)] = &[
    ("discovery_url", "CSP_DISCOVERY_URL"),
    ("client_id", "CSP_CLIENT_ID"),
    ("client_secret", "CSP_CLIENT_SECRET"),
    ("redirect_uri", "CSP_REDIRECT_URI"),
    ("scopes", "CSP_SCOPES"),
    ("acr_mapping", "CSP_ACR_MAPPING"),
    ("local_issuer", "AGENT_PASSPORT_ISSUER"),
    ("status_uri", "AGENT_PASSPORT_STATUS_URI"),
];

/// An ID token, never in argv if the operator can help it.
#[derive(Debug, Args)]
pub(crate) struct IdTokenArgs {
    /// The ID token; `-` reads it from stdin. A token given here is visible
    /// to other users in the process list: prefer `-` or --id-token-file.
    #[arg(long, value_name = "JWT|-", conflicts_with = "id_token_file")]
    pub(crate) id_token: Option<String>,
    /// Read the ID token from FILE.
    #[arg(long, value_name = "FILE")]
    pub(crate) id_token_file: Option<std::path::PathBuf>,
}

/// How results and messages are shown (any command, before or after it).
#[derive(Debug, Args)]
#[command(next_help_heading = "Output")]
pub(crate) struct OutputArgs {
    /// Print the result as one JSON document on stdout (shapes: docs/cli-json.md).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// No messages on stderr except errors; results still go to stdout.
    #[arg(long, short, global = true)]
    pub(crate) quiet: bool,
    /// Log to stderr (-v info, -vv debug, -vvv trace); RUST_LOG overrides.
    #[arg(long, short, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Sign in with the OIDC provider (authorization code + PKCE on a loopback redirect).
    #[command(after_help = "\
Examples:
  passport login
  passport login --no-browser --timeout 60
  passport login --id-token-file id_token.jwt
  get-id-token | passport login --id-token -")]
    Login(LoginArgs),
    /// Mint a root passport from the stored ID token and print its bundle.
    #[command(after_help = "\
Examples:
  passport issue --agent-id planner --agent-model gpt-x \\
      --aud https://orchestrator.example \\
      --tool-scope 'files:*' --tool-scope mail:send --ttl 600
  passport issue --id-token-file id_token.jwt \\
      --agent-id planner --agent-model gpt-x --aud https://orchestrator.example")]
    Issue(IssueArgs),
    /// Verify a bundle from the local issuer and print a narrower, extended bundle.
    #[command(after_help = "\
Examples:
  passport delegate --agent-id reader --agent-model small \\
      --aud https://files.example --tool-scope files:read < parent.txt
  passport issue --agent-id planner --agent-model gpt-x \\
      --aud https://orchestrator.example --tool-scope 'files:*' \\
    | passport delegate --agent-id reader --agent-model small \\
      --aud https://files.example --tool-scope files:read")]
    Delegate(DelegateArgs),
    /// Verify a bundle and every link of its chain; print `valid` and the chain (`--json`: the claims).
    #[command(after_help = "\
Examples:
  passport verify \"$BUNDLE\" --aud https://files.example \\
      --required-scope files:read
  passport verify --aud https://files.example \\
      --trust https://issuer.example=https://issuer.example/jwks.json \\
      --json < bundle.txt

Each key set belongs to its issuer (--trust ISSUER=JWKS, repeatable): a
passport verifies only with a key of its own iss. A passport naming a status
list needs --status-list (or the local issuer's own list), or
--no-status-check.

A passport bound to its holder's key (issued with --holder-key) is refused
here (dpop_proof_required): it is only valid with a DPoP proof, which a server
checks per request (passport-axum). `passport inspect` shows its claims.")]
    Verify(VerifyArgs),
    /// Decode a bundle WITHOUT verifying it.
    #[command(after_help = "\
Examples:
  passport inspect --tree < bundle.txt
  passport inspect \"$BUNDLE\" | jq '.[0].payload'")]
    Inspect(InspectArgs),
    /// The local issuer's keys.
    #[command(after_help = "\
Examples:
  passport keys show
  passport keys jwks > jwks.json
  passport keys rotate")]
    Keys(KeysArgs),
    /// Revoke (or suspend, or reinstate) a passport issued here, by jti or bundle (its leaf).
    #[command(after_help = "\
Examples:
  passport revoke 0b7c7a2e-…-000000000001
  passport revoke --suspend < bundle.txt
  passport revoke --reinstate 0b7c7a2e-…-000000000001

Every descendant of a revoked passport is refused too: verifiers check each
link.")]
    Revoke(RevokeArgs),
    /// List the passports the local issuer has revoked or suspended.
    #[command(after_help = "Example:\n  passport revocations")]
    Revocations,
    /// Print (or write) the local issuer's current signed Token Status List, for static hosting.
    #[command(after_help = "\
Examples:
  passport status-list --out public/status/1.jwt
  passport status-list --ttl 60 --lifetime 600 > status.jwt")]
    StatusList(StatusListArgs),
    /// Run the token service (an OAuth 2.1 authorization server that mints passports).
    #[command(after_help = "\
Examples:
  passport serve --listen 127.0.0.1:8080
  passport serve --listen 127.0.0.1:0 --database postgres://db.internal/passport
  passport serve --register-workload alice --scope files:read

The first line of output is the issuer URL. Without --database the state is
kept in SQLite (server.db in the data directory). A non-loopback --listen is
refused without --allow-remote; put it behind TLS and give --issuer https://….
--register-workload prints a new client's id and secret once and exits.

Principals log in at the upstream OpenID provider of the CSP_* environment
(CSP_DISCOVERY_URL, CSP_CLIENT_ID, CSP_CLIENT_SECRET, CSP_SCOPES,
CSP_ACR_MAPPING; register ISSUER/authorize/callback as a redirect URI there):
with it set, /authorize sends them there, then to a consent page. Without it,
/authorize answers 503. --auto-consent skips the consent page (tests, demos)
and is refused unless --listen is a loopback address.")]
    Serve(ServeArgs),
    /// Read the audit trail: every issuance, delegation, revocation and audited verification.
    #[command(after_help = "\
Examples:
  passport audit
  passport audit --since 2h --agent reader --outcome refused
  passport audit --since 2026-11-22T00:00:00+01:00
  passport audit --file verifier-audit.jsonl --json
  passport audit verify
  passport audit verify --database postgres://db.internal/passport
  passport audit export --database server.db --agent reader > trail.jsonl")]
    Audit(AuditArgs),
    /// Who is logged in, at which provider, with which levels, until when.
    #[command(after_help = "\
Examples:
  passport whoami
  passport whoami --json
  passport whoami || passport login")]
    Whoami,
    /// Forget the stored login (the ID token and its session); does nothing when logged out.
    #[command(after_help = "Example:\n  passport logout")]
    Logout,
    /// Show the data directory and the files in it with their modes.
    #[command(after_help = "Example:\n  passport where")]
    Where,
    /// Print a shell completion script.
    #[command(after_help = "\
Examples:
  passport completions bash \\
      > ~/.local/share/bash-completion/completions/passport
  passport completions zsh > ~/.zfunc/_passport")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff), or write one page per command.
    #[command(after_help = "\
Examples:
  passport man | man -l -
  passport man --out ~/.local/share/man/man1")]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    /// Store this ID token (validated against the provider first) instead
    /// of logging in.
    #[command(flatten)]
    pub(crate) id_token: IdTokenArgs,
    /// Do not open a browser; print the login URL on stderr and wait.
    #[arg(long)]
    pub(crate) no_browser: bool,
    /// Give up waiting for the browser after this long (seconds, or 30s, 5m, 1h).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = units::duration(1, 3600))]
    pub(crate) timeout: u64,
}

#[derive(Debug, Args)]
pub(crate) struct PassportArgs {
    /// The agent that will hold the passport.
    #[arg(long, value_name = "ID")]
    pub(crate) agent_id: String,
    /// Its model name.
    #[arg(long, value_name = "MODEL")]
    pub(crate) agent_model: String,
    /// The verifier the passport is for (exact match).
    #[arg(long, value_name = "URL")]
    pub(crate) aud: String,
    /// A scope pattern (`*` any run, `?` one character); repeat for several. None = no authority.
    #[arg(long = "tool-scope", value_name = "PATTERN")]
    pub(crate) tool_scope: Vec<String>,
    /// What the agent is doing (audit only).
    #[arg(long, value_name = "TEXT")]
    pub(crate) task_purpose: Option<String>,
    /// Lifetime: seconds, or with units s, m, h, d (90s, 15m, 2h, 1h30m)
    /// [default: 15m for a root, 5m for a child; at most 1d].
    #[arg(long, value_name = "DURATION", value_parser = units::duration(1, passport_issuer::MAX_TTL))]
    pub(crate) ttl: Option<u64>,
    /// Bind the passport to this agent's public key (a JWK file): it gets
    /// `cnf.jkt` and is then only usable with a DPoP proof by that key.
    #[arg(long, value_name = "JWK_FILE")]
    pub(crate) holder_key: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct IssueArgs {
    #[command(flatten)]
    pub(crate) passport: PassportArgs,
    /// Use this ID token instead of the stored one (it is validated the same way).
    #[command(flatten)]
    pub(crate) id_token: IdTokenArgs,
}

#[derive(Debug, Args)]
pub(crate) struct DelegateArgs {
    /// The parent bundle; read from stdin when `-` or absent.
    #[arg(value_name = "BUNDLE")]
    pub(crate) bundle: Option<String>,
    #[command(flatten)]
    pub(crate) passport: PassportArgs,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// The bundle; read from stdin when `-` or absent.
    #[arg(value_name = "BUNDLE")]
    pub(crate) bundle: Option<String>,
    /// This verifier's audience (exact match with the leaf's `aud`).
    #[arg(long, value_name = "URL")]
    pub(crate) aud: String,
    /// A trusted issuer and its own keys (a JWKS file or an http(s) URL:
    /// https for an https issuer, plain http only for an issuer on this
    /// machine and from this machine); repeat for several. A key verifies
    /// only its own issuer's passports.
    #[arg(long = "trust", value_name = "ISSUER=JWKS")]
    pub(crate) trust: Vec<String>,
    /// The trusted issuer (default: the local issuer); with --jwks, one only.
    /// For several issuers use --trust.
    #[arg(long = "issuer", value_name = "URL")]
    pub(crate) issuers: Vec<String>,
    /// The issuer's keys: a JWKS file or an http(s) URL, as for --trust
    /// (default: the local issuer's keys). Pairs with a single --issuer; for
    /// several use --trust.
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) jwks: Option<String>,
    /// Minimum identity assurance level.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=3))]
    pub(crate) require_ial: Option<u8>,
    /// Minimum authenticator assurance level.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=3))]
    pub(crate) require_aal: Option<u8>,
    /// Minimum federation assurance level.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u8).range(1..=3))]
    pub(crate) require_fal: Option<u8>,
    /// A scope the leaf must cover.
    #[arg(long, value_name = "SCOPE")]
    pub(crate) required_scope: Option<String>,
    /// The most passports a bundle may hold.
    #[arg(long, value_name = "N", default_value_t = 5, value_parser = clap::value_parser!(u64).range(1..=32))]
    pub(crate) max_depth: u64,
    /// Accept a leaf whose scope matches everything (`*`).
    #[arg(long)]
    pub(crate) allow_wildcard: bool,
    /// Accept untyped passports minted by csp-agent-passport.
    #[arg(long)]
    pub(crate) accept_untyped: bool,
    /// The longest lifetime (exp - iat) accepted on any link (seconds, or
    /// with units s, m, h, d; at most 30d).
    #[arg(long, value_name = "DURATION", default_value = "1d", value_parser = units::duration(1, 2_592_000))]
    pub(crate) max_lifetime: u64,
    /// Accept passports with a status reference without checking it (when no
    /// --status-list is given and the issuer is not the local one). Revoked
    /// passports are then accepted.
    #[arg(long)]
    pub(crate) no_status_check: bool,
    /// Clock skew tolerated (seconds, or 2m; at most 2m).
    #[arg(long, value_name = "DURATION", default_value = "30s", value_parser = units::duration(0, 120))]
    pub(crate) clock_skew: u64,
    /// Check revocation against this Token Status List (a file, or an http(s)
    /// URL: https when any trusted issuer is https, plain http only from this
    /// machine when every one is on this machine).
    #[arg(long, value_name = "FILE|URL")]
    pub(crate) status_list: Option<String>,
    /// Refuse passports whose jti is in this deny list ({"revoked": [...]}).
    #[arg(long, value_name = "FILE")]
    pub(crate) deny_list: Option<std::path::PathBuf>,
    /// Append an audit record of this verification to FILE (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub(crate) audit_log: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("change").args(["suspend", "reinstate"])))]
pub(crate) struct RevokeArgs {
    /// A jti, or a bundle (its leaf is revoked); read from stdin when `-` or absent.
    #[arg(value_name = "JTI|BUNDLE")]
    pub(crate) target: Option<String>,
    /// Suspend instead of revoking (can be reinstated).
    #[arg(long)]
    pub(crate) suspend: bool,
    /// Reinstate a suspended passport.
    #[arg(long)]
    pub(crate) reinstate: bool,
}

#[derive(Debug, Args)]
pub(crate) struct StatusListArgs {
    /// Write the token to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub(crate) out: Option<std::path::PathBuf>,
    /// How long verifiers may cache it before fetching again (seconds, or
    /// with units s, m, h, d; at most 1d).
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = units::duration(1, 86_400))]
    pub(crate) ttl: u64,
    /// How long the token is valid (seconds, or with units; 1m to 7d).
    #[arg(long, value_name = "DURATION", default_value = "1h", value_parser = units::duration(60, 604_800))]
    pub(crate) lifetime: u64,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The address to listen on (port 0: any free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub(crate) listen: std::net::SocketAddr,
    /// The issuer identifier (default: http://ADDR, the address listened on).
    #[arg(long, value_name = "URL")]
    pub(crate) issuer: Option<String>,
    /// The database: postgres://… or a SQLite file (default: server.db in the
    /// data directory). A PostgreSQL password goes in PGPASSWORD, not in the
    /// URL: the command line is visible to other local users.
    #[arg(long, value_name = "URL")]
    pub(crate) database: Option<String>,
    /// Listen on a non-loopback address (serve it behind TLS).
    #[arg(long)]
    pub(crate) allow_remote: bool,
    /// A reverse proxy's address or network (10.0.0.0/8, 192.0.2.7,
    /// fd00::/8) trusted to name the client's address in X-Forwarded-For:
    /// a request from it is limited by the address the proxies name (read
    /// from the right), not by the proxy's own (repeatable; default: none,
    /// every request is limited by its connection's address, whatever it
    /// sends). Name only your proxies: a client that can connect from a
    /// trusted address chooses the address it is limited by.
    #[arg(long, value_name = "NETWORK")]
    pub(crate) trusted_proxy: Vec<passport_server::client_address::TrustedProxy>,
    /// A NAT64 translator's prefix (RFC 6052: 64:ff9b:1::/48, or a /96 of
    /// your own; length 32, 40, 48, 56, 64 or 96): a request from an
    /// address in it is limited as the IPv4 client it carries, not with
    /// every other IPv4 client in one /64 (repeatable; 64:ff9b::/96 is
    /// always read so).
    #[arg(long, value_name = "PREFIX")]
    pub(crate) nat64_prefix: Vec<passport_server::client_address::Nat64Prefix>,
    /// The most connections served at once; more wait until one ends
    /// (default 4096, lowered to the process's open-file limit less 256
    /// when that is smaller: raise it, e.g. LimitNOFILE in a systemd unit).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections: Option<u32>,
    /// The most connections served at once from one client address (an
    /// IPv4 address, an IPv6 /64); more are closed as they arrive
    /// (default 256; loopback and --trusted-proxy addresses are held to
    /// none).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) max_connections_per_address: Option<u32>,
    /// Approve authorizations right after the upstream login, without a
    /// consent page (tests and demos; loopback --listen only). A client
    /// that registered itself still gets the page unless its redirect URI
    /// is on a loopback IP.
    #[arg(long)]
    pub(crate) auto_consent: bool,
    /// A scope a client nobody vouches for (registered at /register, or
    /// described by a client ID metadata document) may be granted, with the
    /// principal's consent (repeatable; default: none — such clients get
    /// nothing until the operator says what strangers may ask for).
    #[arg(long, value_name = "SCOPE")]
    pub(crate) registration_scope: Vec<String>,
    /// Do not serve /register (RFC 7591 dynamic registration).
    #[arg(long)]
    pub(crate) no_registration: bool,
    /// Govern issuance with the policy FILE (TOML: environments with their
    /// TTL caps, audiences, grants and approval; the administrators' role
    /// mapping). A bad file refuses to start; the file is re-read when it
    /// changes, and a bad new one keeps the running policy. Without it,
    /// nothing is governed.
    #[arg(long, value_name = "FILE")]
    pub(crate) policy: Option<std::path::PathBuf>,
    /// Do not require DPoP server nonces at /token (RFC 9449 §8; required
    /// by default, so a proof cannot be made ahead of time).
    #[arg(long)]
    pub(crate) no_dpop_nonces: bool,
    /// Register a workload client acting for OWNER, print its id and secret
    /// once, and exit.
    #[arg(long, value_name = "OWNER", requires = "scope")]
    pub(crate) register_workload: Option<String>,
    /// A scope the workload may be granted (repeatable).
    #[arg(long, value_name = "SCOPE", requires = "register_workload")]
    pub(crate) scope: Vec<String>,
    /// Schedule a rotation of the signing key of every instance on the
    /// database (the new key is published now and signs about a minute
    /// later), print its kid, and exit.
    #[arg(long, conflicts_with = "register_workload")]
    pub(crate) rotate_key: bool,
}

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(crate) struct AuditArgs {
    #[command(subcommand)]
    pub(crate) action: Option<AuditAction>,
    /// Only records at or after this time: a duration ago (30m, 2h, 7d),
    /// RFC 3339 with any offset (2026-11-27T10:00:00+01:00), or seconds
    /// since the epoch.
    #[arg(long, value_name = "TIME", value_parser = units::since)]
    pub(crate) since: Option<units::Since>,
    /// Only records naming this agent in any link.
    #[arg(long, value_name = "AGENT_ID")]
    pub(crate) agent: Option<String>,
    /// Only records with this outcome.
    #[arg(long, value_name = "OUTCOME", value_parser = ["accepted", "refused", "done", "failed"])]
    pub(crate) outcome: Option<String>,
    /// Read this log instead of the local issuer's (for example a verifier's --audit-log).
    #[arg(long, value_name = "FILE")]
    pub(crate) file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
pub(crate) enum AuditAction {
    /// Check the trail's hash chains: every record linked to the one before
    /// it; print each chain's records, head and verdict (exit 0 only when
    /// every chain verifies).
    #[command(after_help = "\
Examples:
  passport audit verify
  passport audit verify --file verifier-audit.jsonl --json
  passport audit verify --database server.db
  passport audit verify --database postgres://db.internal/passport
  passport audit verify --file old-audit.jsonl --legacy

Finds an edited, dropped, reordered, duplicated or inserted record and names
the first bad seq, and records cut off the end through each chain's head (a
file's <FILE>.head, written after every record; the database's head rows).
Refused too: a chain without a head, lines without a chain, no chained record
at all. --legacy accepts a file written before heads existed and prints what
it could NOT verify. A head one record behind is an interrupted append
(reported, accepted).")]
    Verify(AuditVerifyArgs),
    /// Write the token service's stored audit records as JSON lines,
    /// verbatim (as hashed), filtered.
    #[command(after_help = "\
Examples:
  passport audit export --database server.db > trail.jsonl
  passport audit export --database postgres://db.internal/passport --since 7d
  passport audit export --database server.db --principal alice
  passport audit export --database server.db --outcome refused --until 2h")]
    Export(AuditExportArgs),
}

#[derive(Debug, Args)]
pub(crate) struct AuditVerifyArgs {
    /// Verify this JSON-lines file (default: the local issuer's trail).
    #[arg(long, value_name = "FILE", conflicts_with = "database")]
    pub(crate) file: Option<std::path::PathBuf>,
    /// Verify the token service's database: a SQLite file or postgres://…
    /// (a password in PGPASSWORD, not in the URL).
    #[arg(long, value_name = "URL")]
    pub(crate) database: Option<String>,
    /// Accept a file written before heads existed: lines without a chain,
    /// chains without a head and an empty file are reported as unverified
    /// instead of refused (a cut tail of such a chain goes unnoticed).
    #[arg(long, conflicts_with = "database")]
    pub(crate) legacy: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AuditExportArgs {
    /// The token service's database: a SQLite file or postgres://… (a
    /// password in PGPASSWORD, not in the URL).
    #[arg(long, value_name = "URL")]
    pub(crate) database: String,
    /// Only records naming this agent.
    #[arg(long, value_name = "AGENT_ID")]
    pub(crate) agent: Option<String>,
    /// Only records naming this principal.
    #[arg(long, value_name = "PRINCIPAL")]
    pub(crate) principal: Option<String>,
    /// Only records with this outcome.
    #[arg(long, value_name = "OUTCOME", value_parser = ["accepted", "refused", "done", "failed"])]
    pub(crate) outcome: Option<String>,
    /// Only records at or after this time (as for `passport audit --since`).
    #[arg(long, value_name = "TIME", value_parser = units::since)]
    pub(crate) since: Option<units::Since>,
    /// Only records at or before this time (the same forms).
    #[arg(long, value_name = "TIME", value_parser = units::since)]
    pub(crate) until: Option<units::Since>,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// Write one page per command (passport.1, passport-keys-show.1, …) into
    /// DIR, creating it, instead of printing passport(1).
    #[arg(long, value_name = "DIR")]
    pub(crate) out: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// The bundle; read from stdin when `-` or absent.
    #[arg(value_name = "BUNDLE")]
    pub(crate) bundle: Option<String>,
    /// Draw principal → actors → current holder instead of printing JSON.
    #[arg(long)]
    pub(crate) tree: bool,
}

#[derive(Debug, Args)]
pub(crate) struct KeysArgs {
    #[command(subcommand)]
    pub(crate) action: Option<KeysAction>,
}

#[derive(Debug, Clone, Subcommand)]
pub(crate) enum KeysAction {
    /// List the keys: the current one, retired ones still published, revoked ones.
    #[command(after_help = "\
Examples:
  passport keys show
  passport keys show --json")]
    Show,
    /// Print the public JWKS that verifiers need (retired keys carry their retirement time).
    #[command(after_help = "\
Example:
  passport keys jwks > public/.well-known/jwks.json")]
    Jwks,
    /// Make a new signing key; the old one never signs again, and its public key stays published until every passport it signed has expired.
    #[command(after_help = "\
Examples:
  passport keys rotate
  passport keys rotate && passport keys jwks > public/.well-known/jwks.json")]
    Rotate,
    /// Withdraw a compromised key at once: it never signs again and is no longer published, so every passport it signed is refused.
    #[command(after_help = "\
Example:
  passport keys revoke 3vB6…Qw

Verifiers drop the key when they next fetch the JWKS; a passport signed with
it then fails with unknown_kid.")]
    Revoke {
        /// The `kid` of the key to withdraw (see `passport keys show`).
        /// A base64url kid may start with `-`.
        #[arg(allow_hyphen_values = true)]
        kid: String,
    },
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory as _;

    use super::*;

    /// Every command and subcommand (clap's own `help` aside), with the
    /// words that run it.
    fn commands() -> Vec<(Vec<String>, clap::Command)> {
        fn walk(
            cmd: &clap::Command,
            path: Vec<String>,
            out: &mut Vec<(Vec<String>, clap::Command)>,
        ) {
            for sub in cmd.get_subcommands().filter(|s| s.get_name() != "help") {
                let mut p = path.clone();
                p.push(sub.get_name().to_owned());
                walk(sub, p, out);
            }
            out.push((path, cmd.clone()));
        }
        let mut root = Cli::command().term_width(80);
        root.build();
        let mut out = Vec::new();
        walk(&root, Vec::new(), &mut out);
        out
    }

    /// The example command lines of an after-help, continuation lines
    /// (after a line ending in ` \`) joined to theirs.
    fn examples(after_help: &str) -> Vec<String> {
        let mut out = Vec::new();
        for paragraph in after_help.split("\n\n") {
            let mut lines = paragraph.lines();
            if !lines.next().is_some_and(|l| l.starts_with("Example")) {
                continue;
            }
            let mut joined = String::new();
            for line in lines {
                assert!(
                    line.starts_with("  "),
                    "an example line is indented: {line:?}"
                );
                match line.strip_suffix(" \\") {
                    Some(head) => {
                        joined.push_str(head);
                        joined.push(' ');
                    }
                    None => {
                        joined.push_str(line);
                        out.push(std::mem::take(&mut joined));
                    }
                }
            }
            assert!(
                joined.is_empty(),
                "a continuation ends the examples: {joined:?}"
            );
        }
        out
    }

    /// A shell line's words, quotes removed, redirections and comments
    /// dropped, split into its commands at `|`, `||`, `&&` and `;`.
    fn shell_commands(line: &str) -> Vec<Vec<String>> {
        let mut commands = vec![Vec::new()];
        let mut word: Option<String> = None;
        let mut quote = None;
        let mut chars = line.chars().peekable();
        let mut skip_next_word = false;
        let finish =
            |word: &mut Option<String>, skip: &mut bool, commands: &mut Vec<Vec<String>>| {
                if let Some(w) = word.take() {
                    if std::mem::take(skip) {
                        return;
                    }
                    if let Some(last) = commands.last_mut() {
                        last.push(w);
                    }
                }
            };
        while let Some(c) = chars.next() {
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), c) => word.get_or_insert_default().push(c),
                (None, '\'' | '"') => {
                    quote = Some(c);
                    word.get_or_insert_default();
                }
                (None, ' ') => finish(&mut word, &mut skip_next_word, &mut commands),
                (None, '#') if word.is_none() => break,
                (None, '<' | '>') => {
                    let redirect_of_fd = word
                        .as_deref()
                        .is_some_and(|w| w.chars().all(|d| d.is_ascii_digit()));
                    if redirect_of_fd {
                        word = None;
                    }
                    finish(&mut word, &mut skip_next_word, &mut commands);
                    skip_next_word = true;
                }
                (None, '|' | '&' | ';') => {
                    finish(&mut word, &mut skip_next_word, &mut commands);
                    if matches!(chars.peek(), Some('|' | '&')) {
                        chars.next();
                    }
                    commands.push(Vec::new());
                }
                (None, c) => word.get_or_insert_default().push(c),
            }
        }
        finish(&mut word, &mut skip_next_word, &mut commands);
        commands.retain(|c| !c.is_empty());
        commands
    }

    #[test]
    fn the_shell_splitter_sees_what_a_shell_sees() {
        assert_eq!(
            shell_commands("a 'b c' \"$X\" < in.txt 2> err | d --e x > out # note"),
            vec![vec!["a", "b c", "$X"], vec!["d", "--e", "x"]]
        );
        assert_eq!(
            shell_commands("a || b && c; d"),
            vec![vec!["a"], vec!["b"], vec!["c"], vec!["d"]]
        );
    }

    #[test]
    fn every_command_has_examples_that_survive_80_columns_verbatim() {
        for (path, cmd) in commands() {
            let name = format!("passport {}", path.join(" "));
            let after = cmd
                .get_after_help()
                .unwrap_or_else(|| panic!("{name} has no after-help"))
                .to_string();
            assert!(!examples(&after).is_empty(), "{name} has no example");
            assert!(
                cmd.get_after_long_help().is_none(),
                "{name}: one after-help to check"
            );
            let mut cmd = cmd.clone();
            for rendered in [
                cmd.render_help().to_string(),
                cmd.render_long_help().to_string(),
            ] {
                let rendered: Vec<&str> = rendered.lines().collect();
                // Every line of the after-help (the examples among them)
                // fits in 80 columns and is printed as written, not
                // re-wrapped by clap.
                for line in after.lines() {
                    assert!(
                        line.chars().count() <= 80,
                        "{name}: wider than 80 columns: {line:?}"
                    );
                    assert!(
                        rendered.contains(&line.trim_end()),
                        "{name}: not printed verbatim at 80 columns: {line:?}\n{}",
                        rendered.join("\n")
                    );
                }
            }
        }
    }

    #[test]
    fn every_example_is_a_valid_command_line() {
        let mut seen = 0;
        for (path, cmd) in commands() {
            let after = cmd
                .get_after_help()
                .map(|a| a.to_string())
                .unwrap_or_default();
            for line in examples(&after) {
                let mut ran_this_command = false;
                for words in shell_commands(&line) {
                    if words[0] != "passport" {
                        continue;
                    }
                    ran_this_command |= words[1..].starts_with(&path);
                    if let Err(e) = Cli::try_parse_from(&words) {
                        panic!("the example {line:?} does not parse: {e}");
                    }
                    seen += 1;
                }
                if !path.is_empty() {
                    assert!(
                        ran_this_command,
                        "passport {}: {line:?} does not run it",
                        path.join(" ")
                    );
                }
            }
        }
        assert!(seen > 30, "{seen}");
    }

    #[test]
    fn the_version_names_the_commit_and_the_target() {
        let (version, rest) = VERSION.split_once(" (").unwrap();
        assert_eq!(version, env!("CARGO_PKG_VERSION"));
        let (commit, target) = rest.strip_suffix(')').unwrap().split_once(' ').unwrap();
        assert!(
            commit == "unknown"
                || (commit.len() >= 7 && commit.bytes().all(|b| b.is_ascii_hexdigit())),
            "{commit}"
        );
        assert!(target.starts_with(std::env::consts::ARCH), "{target}");
        assert!(Cli::command().render_version().contains(VERSION));
    }
}
