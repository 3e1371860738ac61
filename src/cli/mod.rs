//! Command line: `serve` (the default) and the operations a self-hoster runs on the
//! same binary. With `--json`, a command prints exactly one JSON object on stdout.

use crate::clock::Clock;
use crate::config::{DbConfig, ServeConfig};
use crate::domain::dsn;
use crate::domain::plans::Plan;
use crate::domain::timeutil::format_rfc3339_ms;
use crate::service::admin::{self, Actor, AdminUser};
use crate::service::{accounts, retention};
use crate::store::sqlite_file;
use crate::store::Db;
use clap::{Args, Parser, Subcommand};
use serde_json::{json, Value};
use std::io::Read;
use std::path::PathBuf;

mod sourcemaps;
mod verify;

#[derive(Parser)]
#[command(
    name = "telemetry-tracker",
    version,
    about = "Error tracking, product analytics and session telemetry in one binary."
)]
pub struct Cli {
    /// Print exactly one JSON object on stdout (errors still go to stderr).
    #[arg(long, global = true)]
    pub json: bool,

    #[command(flatten)]
    pub db: DbConfig,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the server (the default command).
    Serve(Box<ServeConfig>),
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage users.
    #[command(subcommand)]
    User(UserCommand),
    /// Manage organizations.
    #[command(subcommand)]
    Org(OrgCommand),
    /// Manage projects.
    #[command(subcommand)]
    Project(ProjectCommand),
    /// Manage project API keys (used by the SDKs).
    #[command(subcommand)]
    Apikey(ApiKeyCommand),
    /// Manage personal access tokens (used by API clients).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Data retention.
    #[command(subcommand)]
    Retention(RetentionCommand),
    /// Release artifacts: minified files and their source maps.
    #[command(subcommand)]
    Sourcemaps(SourcemapsCommand),
    /// Write sample telemetry into a project: sessions, events and errors of three
    /// apps spread over the last days (to try the dashboard, or to benchmark it).
    DemoData(DemoArgs),
    /// Write a consistent snapshot of the SQLite database to a file.
    Backup {
        /// Destination file (must not exist).
        #[arg(long)]
        out: PathBuf,
    },
    /// Put a SQLite snapshot (from `backup`, a scheduled or a pre-migration backup) in
    /// place of the database, after checking its integrity. Stop the server first.
    Restore {
        /// The snapshot to restore.
        #[arg(long)]
        from: PathBuf,
        /// Replace an existing database (it is kept beside, renamed).
        #[arg(long)]
        force: bool,
    },
    /// Check the configuration and the database connection.
    Check(Box<ServeConfig>),
    /// Print the OpenAPI specification.
    Openapi,
    /// Check a deployed server from outside: health and version, credentials
    /// required, login redirect, TLS certificate, OpenAPI; with --key a test event,
    /// with --token also read back. Exits non-zero when a check fails.
    Verify(verify::VerifyArgs),
    /// Print the version, the git commit and date of the build, the target and the
    /// database backends (`--json` for scripts and post-deploy checks).
    Version,
}

#[derive(Subcommand)]
pub enum SourcemapsCommand {
    /// Upload a build's scripts and source maps to a release (docs/SOURCEMAPS.md).
    Upload(Box<sourcemaps::UploadArgs>),
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user (optionally with an organization it owns).
    Create {
        #[arg(long)]
        email: String,
        /// The password (at least 10 characters). Prefer --password-stdin.
        #[arg(
            long,
            conflicts_with = "password_stdin",
            required_unless_present = "password_stdin"
        )]
        password: Option<String>,
        /// Read the password from standard input.
        #[arg(long)]
        password_stdin: bool,
        /// Also create this organization with the user as OWNER.
        #[arg(long)]
        org: Option<String>,
    },
    /// Set a user's password (read from standard input); its sessions end and its
    /// tokens are revoked. For an operator locked out of the dashboard.
    SetPassword {
        #[arg(long)]
        email: String,
        /// Read the new password from standard input (required: passwords stay out
        /// of the process list and the shell history).
        #[arg(long, required = true)]
        password_stdin: bool,
    },
    /// Make a user an instance administrator (or, with --off, no longer one; the last
    /// active administrator stays).
    SetAdmin {
        #[arg(long)]
        email: String,
        #[arg(long)]
        off: bool,
    },
    /// Disable a user: sessions end and tokens stop working at once, sign-in is refused.
    Disable {
        #[arg(long)]
        email: String,
    },
    /// Enable a disabled user again.
    Enable {
        #[arg(long)]
        email: String,
    },
}

#[derive(Subcommand)]
pub enum OrgCommand {
    /// Create an organization owned by an existing user.
    Create {
        #[arg(long)]
        name: String,
        /// Email of the owner.
        #[arg(long)]
        owner: String,
        #[arg(long, default_value = "SELF_HOSTED", value_parser = parse_plan)]
        plan: Plan,
    },
    /// Change an organization's plan.
    SetPlan {
        /// Organization id or name.
        #[arg(long)]
        org: String,
        #[arg(long, value_parser = parse_plan)]
        plan: Plan,
    },
}

fn parse_plan(s: &str) -> Result<Plan, String> {
    s.parse()
}

#[derive(Subcommand)]
pub enum ProjectCommand {
    /// Create a project in an organization.
    Create {
        /// Organization id or name.
        #[arg(long)]
        org: String,
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key; the full key is printed once, with its DSN (for the Sentry SDKs).
    Create {
        /// Project id.
        #[arg(long)]
        project: String,
        #[arg(long)]
        label: Option<String>,
        /// Accept only events whose `app` is this label.
        #[arg(long)]
        app: Option<String>,
        #[arg(long)]
        expires_in_days: Option<u32>,
        #[command(flatten)]
        public: PublicUrlArgs,
    },
    /// List a project's keys (never their secrets), each with its DSN.
    List {
        #[arg(long)]
        project: String,
        #[command(flatten)]
        public: PublicUrlArgs,
    },
    /// Revoke a key at once.
    Revoke {
        #[arg(long)]
        id: String,
    },
}

/// The server's public URL, which the keys' DSNs are built from. The CLI does not
/// serve, so it reads the settings `serve` reads for it: run with the server's
/// environment (its env file), the DSNs printed are the ones the dashboard shows.
#[derive(Args)]
pub struct PublicUrlArgs {
    /// Public base URL of the server, for the DSNs (the same setting as `serve`'s).
    /// Default: http://HOST:PORT, as the server's, from the HOST and PORT settings
    /// (127.0.0.1 and 3001 when unset).
    #[arg(long, env = "TELEMETRY_DASHBOARD_ORIGIN")]
    public_url: Option<String>,
    /// The server's HOST, for the default public URL.
    #[arg(long, env = "HOST", default_value = "127.0.0.1", hide = true)]
    host: String,
    /// The server's PORT, for the default public URL.
    #[arg(long, env = "PORT", default_value_t = 3001, hide = true)]
    port: u16,
}

impl PublicUrlArgs {
    /// As `ServeConfig::public_url`.
    fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{}", self.host, self.port))
            .trim_end_matches('/')
            .to_string()
    }
}

#[derive(Subcommand)]
pub enum TokenCommand {
    /// Create a personal access token for a user; printed once.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long)]
        name: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum RetentionCommand {
    /// Delete telemetry older than each plan keeps, now.
    Run(RetentionArgs),
}

#[derive(Args)]
pub struct RetentionArgs {
    /// Count what would be deleted without deleting.
    #[arg(long)]
    pub dry_run: bool,
    #[command(flatten)]
    pub retention: crate::config::RetentionSettings,
}

#[derive(Args)]
pub struct DemoArgs {
    /// Project id to fill.
    #[arg(long)]
    pub project: String,
    /// Days back from now that the data spans.
    #[arg(long, default_value_t = 14)]
    pub days: u32,
    #[arg(long, default_value_t = 2_000)]
    pub sessions: u64,
    #[arg(long, default_value_t = 20_000)]
    pub events: u64,
    /// Error occurrences (spread over a few hundred error groups).
    #[arg(long, default_value_t = 500)]
    pub errors: u64,
    /// Distinct users the sessions belong to.
    #[arg(long, default_value_t = 1_000)]
    pub users: u64,
    /// Seed of the random generator: the same seed writes the same data.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What a command prints: a JSON object, and the same for people.
pub struct Output {
    pub json: Value,
    pub text: String,
    /// Printed like a success, but the process exits non-zero (a failed check).
    pub failed: bool,
}

/// A user after an administrative change.
fn user_output(u: &AdminUser, what: &str) -> Output {
    Output::new(
        json!({
            "id": u.row.id,
            "email": u.row.email,
            "administrator": u.row.is_admin != 0,
            "disabled": u.row.disabled_at.is_some(),
        }),
        format!("{} {what}", u.row.email),
    )
}

impl Output {
    pub(crate) fn new(json: Value, text: impl Into<String>) -> Output {
        Output {
            json,
            text: text.into(),
            failed: false,
        }
    }
}

pub async fn open_db(cfg: &DbConfig) -> anyhow::Result<Db> {
    Ok(open_and_migrate(cfg).await?.0)
}

/// Opens the database and migrates it (checked and backed up first), reporting what
/// was applied.
async fn open_and_migrate(
    cfg: &DbConfig,
) -> anyhow::Result<(Db, crate::service::upgrade::Migrated)> {
    let sync = cfg.sqlite_synchronous;
    // An empty DATABASE_URL (as env files often leave it) means the default.
    let url = cfg
        .database_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let default_file = cfg.data_dir.join("telemetry.db");
    if url.is_none() && !cfg.init {
        if let Some(evidence) = sqlite_file::missing_database(&default_file) {
            anyhow::bail!(
                "{} is missing, but {} held a database ({evidence}). Restore it from a backup \
                 (docs/OPERATIONS.md), or pass --init to start over with an empty database.",
                default_file.display(),
                cfg.data_dir.display()
            );
        }
    }
    let db = Db::connect_with(url, &cfg.data_dir, sync, &cfg.pool())
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the database: {e}"))?;
    let options = crate::service::upgrade::Options {
        data_dir: &cfg.data_dir,
        backup: !cfg.no_backup,
        confirmed: cfg.yes,
        now_ms: Clock::default().now_ms(),
    };
    let migrated = crate::service::upgrade::migrate(&db, &options)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if url.is_none() {
        // Best effort: without it a later loss of the file looks like a first start.
        let _ = std::fs::write(
            cfg.data_dir.join(sqlite_file::MARKER),
            "A Telemetry Tracker database lives in this directory (telemetry.db).\n",
        );
    }
    Ok((db, migrated))
}

/// Runs every command except `serve`.
pub async fn run(db_cfg: &DbConfig, command: Command) -> anyhow::Result<Output> {
    let clock = Clock::default();
    match command {
        Command::Serve(_) => unreachable!("serve is dispatched by main"),
        Command::Openapi => {
            let spec: Value = serde_json::from_str(&crate::api::spec_json())?;
            Ok(Output::new(
                spec.clone(),
                serde_json::to_string_pretty(&spec)?,
            ))
        }
        Command::Version => {
            let (v, commit, built, target) = (
                env!("CARGO_PKG_VERSION"),
                env!("TT_GIT_COMMIT"),
                env!("TT_BUILD_DATE"),
                env!("TT_TARGET"),
            );
            Ok(Output::new(
                json!({
                    "version": v,
                    "commit": commit,
                    "build_date": built,
                    "target": target,
                    "backends": ["sqlite", "postgres"],
                }),
                format!(
                    "telemetry-tracker {v} ({}, built {built}, {target}; SQLite and PostgreSQL)",
                    commit.get(..12).unwrap_or(commit)
                ),
            ))
        }
        Command::Verify(args) => verify::verify(args).await,
        Command::Restore { from, force } => {
            if db_cfg
                .database_url
                .as_deref()
                .is_some_and(|u| u.trim().starts_with("postgres"))
            {
                anyhow::bail!(
                    "restore puts back SQLite snapshots; for PostgreSQL use pg_restore (docs/OPERATIONS.md)"
                );
            }
            let r =
                crate::service::backups::restore(&from, &db_cfg.data_dir, force, clock.now_ms())
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            let mut text = format!(
                "restored {} ({} users) from {}",
                r.database.display(),
                r.users,
                from.display()
            );
            if let Some(old) = &r.replaced {
                text.push_str(&format!(
                    "\nthe database it replaced is kept as {}",
                    old.display()
                ));
            }
            Ok(Output::new(
                json!({
                    "restored": r.database.display().to_string(),
                    "from": from.display().to_string(),
                    "replaced": r.replaced.map(|p| p.display().to_string()),
                    "users": r.users,
                }),
                text,
            ))
        }
        Command::Migrate => {
            let (db, migrated) = open_and_migrate(db_cfg).await?;
            let backend = db.backend();
            db.close().await;
            let mut text = if migrated.applied.is_empty() {
                "the database is up to date".to_string()
            } else {
                format!("applied {}", migrated.applied.join(", "))
            };
            if let Some(b) = &migrated.backup {
                text.push_str(&format!("\nbacked up first to {}", b.display()));
            }
            Ok(Output::new(
                json!({
                    "migrated": true,
                    "database": backend,
                    "applied": migrated.applied,
                    "backup": migrated.backup.map(|b| b.display().to_string()),
                }),
                text,
            ))
        }
        Command::Check(cfg) => {
            let problems = cfg.problems();
            if !problems.is_empty() {
                anyhow::bail!(problems.join("\n"));
            }
            let db = open_db(db_cfg).await?;
            db.ping().await?;
            Ok(Output::new(
                json!({ "ok": true, "database": db.backend(), "public_url": cfg.public_url() }),
                format!("configuration ok; database ({}) reachable", db.backend()),
            ))
        }
        Command::Sourcemaps(SourcemapsCommand::Upload(args)) if args.server.is_some() => {
            sourcemaps::upload(None, *args, clock.now_ms()).await
        }
        command => {
            let db = open_db(db_cfg).await?;
            let out = run_with_db(&db, &clock, command).await;
            db.close().await;
            out
        }
    }
}

async fn run_with_db(db: &Db, clock: &Clock, command: Command) -> anyhow::Result<Output> {
    Ok(match command {
        Command::Sourcemaps(SourcemapsCommand::Upload(args)) => {
            sourcemaps::upload(Some(db), *args, clock.now_ms()).await?
        }
        Command::DemoData(a) => {
            let spec = crate::service::demo::DemoSpec {
                project_id: a.project,
                days: a.days,
                sessions: a.sessions,
                events: a.events,
                errors: a.errors,
                users: a.users,
                seed: a.seed,
                now: clock.now_ms(),
            };
            let total = spec.sessions + spec.events + spec.errors;
            let mut shown = 0;
            let report = crate::service::demo::generate(db, &spec, |r| {
                let done = r.sessions + r.events + r.errors;
                let percent = done * 100 / total.max(1);
                if percent >= shown + 5 {
                    shown = percent;
                    eprintln!(
                        "  {percent:>3} %  {} sessions, {} events, {} errors",
                        r.sessions, r.events, r.errors
                    );
                }
            })
            .await?;
            Output::new(
                serde_json::to_value(&report)?,
                format!(
                    "wrote {} sessions, {} events and {} errors in {:.1} s",
                    report.sessions,
                    report.events,
                    report.errors,
                    report.duration_ms as f64 / 1000.0
                ),
            )
        }
        Command::User(UserCommand::Create {
            email,
            password,
            password_stdin,
            org,
        }) => {
            let password = match (password, password_stdin) {
                (Some(p), _) => p,
                (None, _) => {
                    let mut p = String::new();
                    std::io::stdin().read_to_string(&mut p)?;
                    p.trim_end_matches(['\r', '\n']).to_string()
                }
            };
            let created =
                accounts::create_user(db, clock, &email, &password, org.as_deref()).await?;
            let mut out = json!({ "id": created.user.id, "email": created.user.email });
            let mut text = format!("user {} created ({})", created.user.email, created.user.id);
            if let Some(org) = created.org {
                out["org_id"] = json!(org.id);
                text.push_str(&format!(
                    "\norganization {:?} created ({}), owned by the user",
                    org.name, org.id
                ));
            }
            Output::new(out, text)
        }
        Command::User(UserCommand::SetPassword { email, .. }) => {
            let mut password = String::new();
            std::io::stdin().read_to_string(&mut password)?;
            let password = password.trim_end_matches(['\r', '\n']);
            let id = admin::user_id_by_email(db, &email).await?;
            let u = admin::set_password(db, clock, &id, password).await?;
            user_output(
                &u,
                "password set; its sessions ended and its tokens were revoked",
            )
        }
        Command::User(UserCommand::SetAdmin { email, off }) => {
            let id = admin::user_id_by_email(db, &email).await?;
            let u = admin::set_admin(db, clock, &Actor::Operator, &id, !off).await?;
            let text = if off {
                "is no longer an administrator"
            } else {
                "is an administrator"
            };
            user_output(&u, text)
        }
        Command::User(UserCommand::Disable { email }) => {
            let id = admin::user_id_by_email(db, &email).await?;
            let u = admin::disable(db, clock, &Actor::Operator, &id).await?;
            user_output(
                &u,
                "is disabled; its sessions ended and its tokens were revoked",
            )
        }
        Command::User(UserCommand::Enable { email }) => {
            let id = admin::user_id_by_email(db, &email).await?;
            let u = admin::enable(db, clock, &Actor::Operator, &id).await?;
            user_output(&u, "is enabled")
        }
        Command::Org(OrgCommand::Create { name, owner, plan }) => {
            let org = accounts::create_org(db, clock, &name, &owner, plan).await?;
            Output::new(
                json!({ "id": org.id, "name": org.name, "plan": org.plan }),
                format!(
                    "organization {:?} created ({}) on plan {}",
                    org.name, org.id, org.plan
                ),
            )
        }
        Command::Org(OrgCommand::SetPlan { org, plan }) => {
            let org = accounts::set_org_plan(db, &org, plan).await?;
            Output::new(
                json!({ "id": org.id, "name": org.name, "plan": org.plan }),
                format!("organization {:?} is now on plan {}", org.name, org.plan),
            )
        }
        Command::Project(ProjectCommand::Create { org, name }) => {
            let p = accounts::create_project(db, clock, &org, &name).await?;
            Output::new(
                json!({ "id": p.id, "slug": p.slug, "org_id": p.org_id, "number": p.number }),
                format!(
                    "project {:?} created\n  id:     {}\n  slug:   {}\n  number: {} (in its DSNs)",
                    p.name, p.id, p.slug, p.number
                ),
            )
        }
        Command::Apikey(ApiKeyCommand::Create {
            project,
            label,
            app,
            expires_in_days,
            public,
        }) => {
            let k = accounts::create_api_key(
                db,
                clock,
                &project,
                label.as_deref(),
                app.as_deref(),
                expires_in_days,
            )
            .await?;
            let dsn = dsn::build(&public.public_url(), &k.public_id, k.project_number);
            Output::new(
                json!({ "id": k.id, "key": k.key, "prefix": k.prefix, "dsn": dsn }),
                format!(
                    "API key created ({}). It is shown only this once:\n\n  {}\n\n\
                     DSN, for the Sentry SDKs (no secret in it; listed again later):\n\n  {dsn}\n",
                    k.id, k.key
                ),
            )
        }
        Command::Apikey(ApiKeyCommand::List { project, public }) => {
            let keys = accounts::list_api_keys(db, &project).await?;
            let public_url = public.public_url();
            let dsn_of = |k: &crate::store::ApiKeyRow| {
                dsn::build(&public_url, &k.public_id, k.project_number)
            };
            let items: Vec<Value> = keys
                .iter()
                .map(|k| {
                    json!({
                        "id": k.id,
                        "prefix": format!("tt_live_{}", k.public_id),
                        "label": k.label,
                        "app": k.allowed_app,
                        "created_at": format_rfc3339_ms(k.created_at),
                        "last_used_at": k.last_used_at.map(format_rfc3339_ms),
                        "expires_at": k.expires_at.map(format_rfc3339_ms),
                        "revoked_at": k.revoked_at.map(format_rfc3339_ms),
                        "dsn": dsn_of(k),
                    })
                })
                .collect();
            let text = if keys.is_empty() {
                "no API keys".to_string()
            } else {
                keys.iter()
                    .map(|k| {
                        let state = if k.revoked_at.is_some() {
                            "revoked"
                        } else {
                            "active"
                        };
                        format!(
                            "{}  tt_live_{}  {}  {}  {}",
                            k.id,
                            k.public_id,
                            state,
                            dsn_of(k),
                            k.label.as_deref().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            Output::new(json!({ "keys": items }), text)
        }
        Command::Apikey(ApiKeyCommand::Revoke { id }) => {
            accounts::revoke_api_key(db, clock, &id).await?;
            Output::new(
                json!({ "id": id, "revoked": true }),
                format!("API key {id} revoked"),
            )
        }
        Command::Token(TokenCommand::Create { email, name }) => {
            let t = accounts::create_token(db, clock, &email, name.as_deref()).await?;
            Output::new(
                json!({ "id": t.id, "token": t.token }),
                format!(
                    "personal access token created ({}). It is shown only this once:\n\n  {}\n",
                    t.id, t.token
                ),
            )
        }
        Command::Retention(RetentionCommand::Run(args)) => {
            let r = retention::run(
                db,
                clock,
                args.retention.retention_days,
                args.retention.session_idle_minutes,
                args.dry_run,
                &format!("cli@{}", crate::default_instance()),
            )
            .await?;
            let verb = if r.dry_run { "would delete" } else { "deleted" };
            Output::new(
                serde_json::to_value(&r)?,
                format!(
                    "{verb} {} rows across {} projects; closed {} idle sessions ({} ms)",
                    r.rows_deleted, r.projects, r.sessions_closed, r.duration_ms
                ),
            )
        }
        Command::Backup { out } => {
            if out.exists() {
                anyhow::bail!("{} already exists; choose a new file", out.display());
            }
            if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
                if !dir.is_dir() {
                    anyhow::bail!(
                        "the directory {} does not exist; create it or choose another --out",
                        dir.display()
                    );
                }
            }
            if !db.backup_sqlite(&out).await? {
                anyhow::bail!("backup makes SQLite snapshots; for PostgreSQL use pg_dump (see docs/OPERATIONS.md)");
            }
            Output::new(
                json!({ "backup": out.display().to_string() }),
                format!("snapshot written to {}", out.display()),
            )
        }
        Command::Serve(_)
        | Command::Restore { .. }
        | Command::Migrate
        | Command::Openapi
        | Command::Version
        | Command::Check(_)
        | Command::Verify(_) => {
            unreachable!()
        }
    })
}
