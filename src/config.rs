//! Every setting, declared once: flag, environment variable, default and the doc
//! comment that `--help` prints. Read once at start-up and validated.

use clap::{Args, ValueEnum};
use std::path::PathBuf;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RunEnv {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SyncMode {
    /// Survives a crash of the process (WAL with synchronous=NORMAL).
    Normal,
    /// Also survives power loss: fsync on every group commit.
    Full,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// Where the data lives; shared by every command that touches the database.
#[derive(Args, Clone)]
pub struct DbConfig {
    /// Directory for the embedded SQLite database (telemetry.db).
    #[arg(
        long,
        env = "TELEMETRY_DATA_DIR",
        default_value = "./data",
        global = true
    )]
    pub data_dir: PathBuf,

    /// Database URL; `postgres://…` selects PostgreSQL. Default: SQLite file in --data-dir.
    #[arg(long, env = "DATABASE_URL", global = true, hide_env_values = true)]
    pub database_url: Option<String>,

    /// SQLite durability: `normal` survives a process crash, `full` also power loss.
    #[arg(
        long,
        env = "TELEMETRY_SQLITE_SYNCHRONOUS",
        value_enum,
        default_value = "normal",
        global = true
    )]
    pub sqlite_synchronous: SyncMode,

    /// Create a new, empty SQLite database even though the data directory shows that
    /// one lived there (its file is missing). Without it such a start is refused.
    #[arg(long, global = true)]
    pub init: bool,

    /// Migrate without first backing up the SQLite database (by default `serve` and
    /// `migrate` snapshot it into <data dir>/backups/pre-<version>-<time>.db, keeping 3).
    #[arg(long, global = true)]
    pub no_backup: bool,

    /// Run migrations that rewrite large PostgreSQL tables (refused without it, so
    /// that a pg_dump can be taken first).
    #[arg(long, global = true)]
    pub yes: bool,

    /// Most database connections this process opens (default: 16 on PostgreSQL, 8
    /// on SQLite). N processes on one PostgreSQL need N times this below its
    /// `max_connections`.
    #[arg(long, env = "DATABASE_MAX_CONNECTIONS", global = true, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub database_max_connections: Option<u32>,

    /// Connections kept open while idle.
    #[arg(
        long,
        env = "DATABASE_MIN_CONNECTIONS",
        default_value_t = 1,
        global = true
    )]
    pub database_min_connections: u32,

    /// Seconds after which an idle connection above the minimum is closed.
    #[arg(
        long,
        env = "DATABASE_IDLE_TIMEOUT_SECS",
        default_value_t = 600,
        global = true
    )]
    pub database_idle_timeout_secs: u64,

    /// Seconds a request waits for a free connection before it is answered 503.
    #[arg(long, env = "DATABASE_ACQUIRE_TIMEOUT_SECS", default_value_t = 5, global = true, value_parser = clap::value_parser!(u64).range(1..=300))]
    pub database_acquire_timeout_secs: u64,

    /// Seconds start-up waits for PostgreSQL to accept connections (retrying with
    /// backoff and logging why each attempt failed) before it exits.
    #[arg(
        long,
        env = "DATABASE_CONNECT_WAIT_SECS",
        default_value_t = 60,
        global = true
    )]
    pub database_connect_wait_secs: u64,

    /// Connect through PgBouncer in transaction mode (1.21 or later, with
    /// `max_prepared_statements` set, which carries prepared statements across its
    /// server connections): no session parameters, no statement cache.
    #[arg(long, env = "DATABASE_PGBOUNCER", default_value_t = false, global = true, action = clap::ArgAction::Set)]
    pub database_pgbouncer: bool,
}

/// How the connection pool of each process is sized and timed.
#[derive(Debug, Clone)]
pub struct PoolSettings {
    /// Most open connections; `None` for the backend's default (PostgreSQL 16,
    /// SQLite 8).
    pub max_connections: Option<u32>,
    /// Connections kept open while idle.
    pub min_connections: u32,
    /// An idle connection above the minimum is closed after this long.
    pub idle_timeout: std::time::Duration,
    /// How long a request waits for a free connection before it is answered 503.
    pub acquire_timeout: std::time::Duration,
    /// How long start-up waits for PostgreSQL to accept connections.
    pub connect_wait: std::time::Duration,
    /// Behind PgBouncer in transaction mode: no named prepared statements and no
    /// session settings.
    pub pgbouncer: bool,
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_connections: None,
            min_connections: 1,
            idle_timeout: std::time::Duration::from_secs(600),
            acquire_timeout: std::time::Duration::from_secs(5),
            connect_wait: std::time::Duration::from_secs(60),
            pgbouncer: false,
        }
    }
}

impl DbConfig {
    pub fn pool(&self) -> PoolSettings {
        PoolSettings {
            max_connections: self.database_max_connections,
            min_connections: self.database_min_connections,
            idle_timeout: std::time::Duration::from_secs(self.database_idle_timeout_secs),
            acquire_timeout: std::time::Duration::from_secs(self.database_acquire_timeout_secs),
            connect_wait: std::time::Duration::from_secs(self.database_connect_wait_secs),
            pgbouncer: self.database_pgbouncer,
        }
    }
}

impl std::fmt::Debug for DbConfig {
    // The URL may carry a password.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbConfig")
            .field("data_dir", &self.data_dir)
            .field(
                "database_url",
                &self.database_url.as_ref().map(|_| "<redacted>"),
            )
            .field("sqlite_synchronous", &self.sqlite_synchronous)
            .field("pool", &self.pool())
            .finish()
    }
}

/// What is kept and for how long: read by `serve` (its jobs) and by `retention run`,
/// declared once for both.
#[derive(Args, Clone, Debug)]
pub struct RetentionSettings {
    /// Days of telemetry kept on the SELF_HOSTED plan (paid plans keep their own).
    #[arg(long, env = "TELEMETRY_RETENTION_DAYS", default_value_t = 90)]
    pub retention_days: u32,

    /// Minutes without activity after which an open session is closed.
    #[arg(long, env = "TELEMETRY_SESSION_IDLE_MINUTES", default_value_t = 30)]
    pub session_idle_minutes: u32,
}

impl RetentionSettings {
    /// Every problem with these settings, one line each.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.retention_days == 0 {
            problems.push("TELEMETRY_RETENTION_DAYS must be at least 1".into());
        }
        if self.session_idle_minutes == 0 {
            problems.push("TELEMETRY_SESSION_IDLE_MINUTES must be at least 1".into());
        }
        problems
    }
}

/// Limits of release artifacts (source maps): read by `serve` and by
/// `sourcemaps upload`, declared once for both.
#[derive(Args, Clone, Debug)]
pub struct SourcemapSettings {
    /// Largest artifact file accepted, in MiB (uncompressed).
    #[arg(long, env = "TELEMETRY_SOURCEMAP_MAX_FILE_MB", default_value_t = 50)]
    pub sourcemap_max_file_mb: u64,

    /// Most a release's artifacts may hold together, in MiB (uncompressed).
    #[arg(
        long,
        env = "TELEMETRY_SOURCEMAP_MAX_RELEASE_MB",
        default_value_t = 500
    )]
    pub sourcemap_max_release_mb: u64,

    /// Memory for decoded source maps and scripts, in MiB, per process; the least
    /// recently used are dropped beyond it.
    #[arg(long, env = "TELEMETRY_SOURCEMAP_CACHE_MB", default_value_t = 256)]
    pub sourcemap_cache_mb: u64,
}

impl SourcemapSettings {
    pub fn max_file_bytes(&self) -> u64 {
        self.sourcemap_max_file_mb.saturating_mul(1024 * 1024)
    }

    pub fn max_release_bytes(&self) -> u64 {
        self.sourcemap_max_release_mb.saturating_mul(1024 * 1024)
    }

    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        if self.sourcemap_max_file_mb == 0 || self.sourcemap_max_file_mb > 1024 {
            problems.push("TELEMETRY_SOURCEMAP_MAX_FILE_MB must be 1–1024".into());
        }
        if self.sourcemap_max_release_mb < self.sourcemap_max_file_mb {
            problems.push(
                "TELEMETRY_SOURCEMAP_MAX_RELEASE_MB must be at least TELEMETRY_SOURCEMAP_MAX_FILE_MB"
                    .into(),
            );
        }
        problems
    }
}

/// Optional billing through Stripe (docs/BILLING.md): off unless
/// `STRIPE_SECRET_KEY` is set, and then the other three are needed too.
#[derive(Args, Clone)]
pub struct StripeSettings {
    /// Stripe secret API key (`sk_live_…`/`sk_test_…`). Set, it turns billing on:
    /// new organizations start on FREE and owners subscribe in Settings → Billing.
    #[arg(long, env = "STRIPE_SECRET_KEY", hide_env_values = true)]
    pub stripe_secret_key: Option<String>,

    /// Signing secret (`whsec_…`) of the webhook endpoint
    /// `<public URL>/api/billing/stripe/webhook`.
    #[arg(long, env = "STRIPE_WEBHOOK_SECRET", hide_env_values = true)]
    pub stripe_webhook_secret: Option<String>,

    /// Stripe price id of the PRO plan's subscription.
    #[arg(long, env = "STRIPE_PRICE_PRO")]
    pub stripe_price_pro: Option<String>,

    /// Stripe price id of the BUSINESS plan's subscription.
    #[arg(long, env = "STRIPE_PRICE_BUSINESS")]
    pub stripe_price_business: Option<String>,

    /// Base URL of Stripe's API (tests point it at a local stand-in).
    #[arg(
        long,
        env = "STRIPE_API_BASE",
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,
}

/// Billing settings once validated: all four set.
#[derive(Clone)]
pub struct Billing {
    pub secret_key: String,
    pub webhook_secret: String,
    pub price_pro: String,
    pub price_business: String,
    /// Without a trailing slash or `/v1`.
    pub api_base: String,
}

impl StripeSettings {
    fn named(&self) -> [(&'static str, Option<&str>); 4] {
        fn set(v: &Option<String>) -> Option<&str> {
            v.as_deref().map(str::trim).filter(|v| !v.is_empty())
        }
        [
            ("STRIPE_SECRET_KEY", set(&self.stripe_secret_key)),
            ("STRIPE_WEBHOOK_SECRET", set(&self.stripe_webhook_secret)),
            ("STRIPE_PRICE_PRO", set(&self.stripe_price_pro)),
            ("STRIPE_PRICE_BUSINESS", set(&self.stripe_price_business)),
        ]
    }

    /// The billing settings, `None` when billing is off (or its settings are
    /// incomplete, which `problems` reports).
    pub fn billing(&self) -> Option<Billing> {
        let [key, secret, pro, business] = self.named().map(|(_, v)| v);
        let base = self.stripe_api_base.trim().trim_end_matches('/');
        Some(Billing {
            secret_key: key?.to_string(),
            webhook_secret: secret?.to_string(),
            price_pro: pro?.to_string(),
            price_business: business?.to_string(),
            api_base: base.strip_suffix("/v1").unwrap_or(base).to_string(),
        })
    }

    /// One line per missing setting when some but not all are set.
    pub fn problems(&self) -> Vec<String> {
        let named = self.named();
        if named.iter().all(|(_, v)| v.is_none()) {
            return Vec::new();
        }
        let mut problems: Vec<String> = named
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(name, _)| {
                format!("{name} is missing: billing needs STRIPE_SECRET_KEY, STRIPE_WEBHOOK_SECRET, STRIPE_PRICE_PRO and STRIPE_PRICE_BUSINESS together")
            })
            .collect();
        if let (Some(pro), Some(business)) = (named[2].1, named[3].1) {
            if pro == business {
                problems.push("STRIPE_PRICE_PRO and STRIPE_PRICE_BUSINESS must differ".into());
            }
        }
        let base = self.stripe_api_base.trim();
        if !(base.starts_with("https://") || base.starts_with("http://")) {
            problems.push(format!(
                "STRIPE_API_BASE must start with https:// or http:// (got {base:?})"
            ));
        }
        problems
    }
}

/// Settings of the `serve` command.
#[derive(Args, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    #[arg(long, env = "HOST", default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on.
    #[arg(long, env = "PORT", default_value_t = 3001)]
    pub port: u16,

    /// Public base URL of this server, used in links and emails; https makes cookies Secure.
    /// Default: http://HOST:PORT.
    #[arg(long, env = "TELEMETRY_DASHBOARD_ORIGIN")]
    pub public_url: Option<String>,

    /// Origin of the dashboard when served from elsewhere (allowed for CORS with credentials).
    #[arg(long, env = "DASHBOARD_ORIGIN")]
    pub dashboard_origin: Option<String>,

    /// Comma-separated origins allowed to call /api cross-origin with credentials.
    #[arg(long, env = "CORS_ORIGINS", value_delimiter = ',')]
    pub cors_origins: Vec<String>,

    /// `production` refuses the development-only switches.
    #[arg(
        long = "env",
        env = "TELEMETRY_ENV",
        value_enum,
        default_value = "development"
    )]
    pub run_env: RunEnv,

    /// Sign-up after the first user exists: `true` open to anyone, `false` by invite
    /// only. Set, it wins over the administrators' choice in Settings → Instance;
    /// unset (the default), they choose (invite only until they open it).
    #[arg(long, env = "TELEMETRY_ALLOW_REGISTRATION", action = clap::ArgAction::Set)]
    pub allow_registration: Option<bool>,

    /// Development only: accept ingest without an API key into TELEMETRY_PROJECT_ID.
    #[arg(long, env = "INGEST_ALLOW_UNAUTHENTICATED", default_value_t = false, action = clap::ArgAction::Set)]
    pub ingest_allow_unauthenticated: bool,

    /// Project that receives key-less ingest in development mode.
    #[arg(long, env = "TELEMETRY_PROJECT_ID")]
    pub default_project_id: Option<String>,

    /// Development only: allow /api reads without authentication.
    #[arg(long, env = "TELEMETRY_ALLOW_UNAUTHENTICATED_READS", default_value_t = false, action = clap::ArgAction::Set)]
    pub allow_unauthenticated_reads: bool,

    /// Ping the database on every /health request and report its latency.
    #[arg(long, env = "HEALTH_CHECK_DATABASE", default_value_t = false, action = clap::ArgAction::Set)]
    pub health_check_database: bool,

    /// SMTP server for outgoing mail, e.g. smtps://user:pass@host:465. Unset: mail is logged.
    #[arg(long, env = "SMTP_URL", hide_env_values = true)]
    pub smtp_url: Option<String>,

    /// Sender address of outgoing mail.
    #[arg(
        long,
        env = "TELEMETRY_EMAIL_FROM",
        default_value = "Telemetry Tracker <telemetry@localhost>"
    )]
    pub email_from: String,

    /// Let webhooks reach loopback, private and link-local addresses (tests, and
    /// installs whose receivers live on the private network).
    #[arg(long, env = "TELEMETRY_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,

    /// This process's name in job records, /metrics and its start-up log line
    /// (default: host:pid). Unique per process when several share one database.
    #[arg(long, env = "TELEMETRY_INSTANCE_ID")]
    pub instance_id: Option<String>,

    /// When retention runs: six-field cron (sec min hour day month weekday), UTC. `off`: never.
    #[arg(long, env = "RETENTION_CRON", default_value = "0 0 3 * * *")]
    pub retention_cron: String,

    /// When to snapshot the SQLite database into <data dir>/backups/scheduled-<time>.db:
    /// six-field cron, UTC (e.g. `0 30 2 * * *` nightly). `off`: never. SQLite only.
    #[arg(long, env = "BACKUP_CRON", default_value = "off")]
    pub backup_cron: String,

    /// Scheduled backups kept (the oldest beyond it are removed).
    #[arg(long, env = "BACKUP_KEEP", default_value_t = 7)]
    pub backup_keep: usize,

    #[command(flatten)]
    pub retention: RetentionSettings,

    #[command(flatten)]
    pub sourcemaps: SourcemapSettings,

    #[command(flatten)]
    pub stripe: StripeSettings,

    /// Largest accepted ingest request body (`/ingest/*`) in bytes.
    #[arg(long, env = "TELEMETRY_MAX_BODY_BYTES", default_value_t = 1_048_576)]
    pub max_body_bytes: usize,

    /// Largest accepted body of every other request (`/api/*`, dashboard forms) in bytes.
    #[arg(
        long,
        env = "TELEMETRY_API_MAX_BODY_BYTES",
        default_value_t = 1_048_576
    )]
    pub api_max_body_bytes: usize,

    /// Seconds a client may take, from its first bytes, to send a request's headers.
    #[arg(long, env = "TELEMETRY_HEADER_READ_TIMEOUT_SECS", default_value_t = 10)]
    pub header_read_timeout_secs: u64,

    /// Seconds the server may take to answer a request once it has its body (the
    /// database's answers included); past it the answer is 503 with Retry-After, and
    /// an ingest item not yet written by then is not written at all, so a client's
    /// retry cannot make a duplicate.
    #[arg(long, env = "TELEMETRY_REQUEST_DEADLINE_SECS", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=600))]
    pub request_deadline_secs: u64,

    /// Seconds a client may take to send a request's body; slower bodies get 408.
    #[arg(long, env = "TELEMETRY_BODY_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub body_read_timeout_secs: u64,

    /// Seconds an idle keep-alive connection stays open without a request.
    #[arg(long, env = "TELEMETRY_KEEP_ALIVE_TIMEOUT_SECS", default_value_t = 60)]
    pub keep_alive_timeout_secs: u64,

    /// Most client connections open at once; further ones wait to be accepted.
    #[arg(long, env = "TELEMETRY_MAX_CONNECTIONS", default_value_t = 4096)]
    pub max_connections: usize,

    /// Ingest requests waiting to be written; beyond it ingest answers 503 with Retry-After.
    #[arg(
        long,
        env = "TELEMETRY_INGEST_QUEUE_CAPACITY",
        default_value_t = 20_000
    )]
    pub ingest_queue_capacity: usize,

    /// Megabytes of ingest payload that may wait for the writer; beyond it, 503 too.
    /// Bounds memory under load whatever the size of the requests.
    #[arg(long, env = "TELEMETRY_INGEST_QUEUE_MAX_MB", default_value_t = 32)]
    pub ingest_queue_max_mb: u32,

    /// Most events in one `/ingest/batch` request (within the body limit). The SDKs
    /// let users raise `batchSize` past 100 and drop a refused batch whole.
    #[arg(long, env = "TELEMETRY_INGEST_BATCH_MAX", default_value_t = 1000)]
    pub ingest_batch_max: usize,

    /// Most items written by one group commit.
    #[arg(long, env = "TELEMETRY_INGEST_GROUP_MAX", default_value_t = 2_000)]
    pub ingest_group_max: usize,

    /// Milliseconds a group waits to fill up before committing (0: commit what is queued).
    #[arg(long, env = "TELEMETRY_INGEST_GROUP_WAIT_MS", default_value_t = 0)]
    pub ingest_group_wait_ms: u64,

    /// Take the client IP from X-Forwarded-For (only behind a trusted reverse proxy).
    #[arg(long, env = "TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,

    /// With TRUST_PROXY: comma-separated addresses or CIDRs of the proxies in front of
    /// the server. The client is the rightmost X-Forwarded-For entry not among them.
    #[arg(
        long,
        env = "TRUSTED_PROXIES",
        value_delimiter = ',',
        default_value = "127.0.0.0/8,::1/128"
    )]
    pub trusted_proxies: Vec<ipnet::IpNet>,

    /// Requests per minute per IP to /api/auth (0: unlimited).
    #[arg(long, env = "RATE_LIMIT_AUTH_MAX", default_value_t = 30)]
    pub rate_limit_auth_max: u32,

    /// Requests per minute per IP to /api (0: unlimited).
    #[arg(long, env = "RATE_LIMIT_API_MAX", default_value_t = 300)]
    pub rate_limit_api_max: u32,

    /// Requests per minute per IP to /ingest (0: unlimited; plans bound ingest per project).
    #[arg(long, env = "RATE_LIMIT_INGEST_MAX", default_value_t = 0)]
    pub rate_limit_ingest_max: u32,

    /// Log lines for people (`text`) or log collectors (`json`). Levels: RUST_LOG.
    #[arg(long, env = "TELEMETRY_LOG_FORMAT", value_enum, default_value = "text")]
    pub log_format: LogFormat,
}

impl std::fmt::Debug for ServeConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServeConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("public_url", &self.public_url)
            .field("run_env", &self.run_env)
            .field("smtp_url", &self.smtp_url.as_ref().map(|_| "<redacted>"))
            .field("retention_cron", &self.retention_cron)
            .finish_non_exhaustive()
    }
}

impl ServeConfig {
    /// The retention schedule, `None` when switched off.
    pub fn retention_schedule(&self) -> Option<&str> {
        let cron = self.retention_cron.trim();
        (!cron.is_empty() && !cron.eq_ignore_ascii_case("off")).then_some(cron)
    }

    /// The backup schedule, `None` when switched off.
    pub fn backup_schedule(&self) -> Option<&str> {
        let cron = self.backup_cron.trim();
        (!cron.is_empty() && !cron.eq_ignore_ascii_case("off")).then_some(cron)
    }

    /// The proxies whose `X-Forwarded-For` is believed, `None` unless TRUST_PROXY.
    pub fn trusted_proxies(&self) -> Option<&[ipnet::IpNet]> {
        self.trust_proxy.then_some(self.trusted_proxies.as_slice())
    }

    pub fn public_url(&self) -> String {
        self.public_url
            .clone()
            .unwrap_or_else(|| format!("http://{}:{}", self.host, self.port))
            .trim_end_matches('/')
            .to_string()
    }

    /// Every problem with the settings, one line each; empty when they are usable.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let public = self.public_url();
        if !(public.starts_with("http://") || public.starts_with("https://")) {
            problems.push(format!(
                "TELEMETRY_DASHBOARD_ORIGIN must start with http:// or https:// (got {public:?})"
            ));
        }
        let hardened = public.starts_with("https://") || self.run_env == RunEnv::Production;
        for (on, name) in [
            (
                self.ingest_allow_unauthenticated,
                "INGEST_ALLOW_UNAUTHENTICATED",
            ),
            (
                self.allow_unauthenticated_reads,
                "TELEMETRY_ALLOW_UNAUTHENTICATED_READS",
            ),
        ] {
            if on && hardened {
                problems.push(format!(
                    "{name}=true is for development only and is refused with an https public URL or TELEMETRY_ENV=production"
                ));
            }
        }
        if self.ingest_allow_unauthenticated && self.default_project_id.is_none() {
            problems.push(
                "INGEST_ALLOW_UNAUTHENTICATED=true needs TELEMETRY_PROJECT_ID (the project that receives key-less ingest)"
                    .into(),
            );
        }
        if self
            .retention_schedule()
            .is_some_and(|cron| cron.split_whitespace().count() != 6)
        {
            problems.push(format!(
                "RETENTION_CRON must have six fields (sec min hour day month weekday), got {:?}",
                self.retention_cron
            ));
        }
        if self
            .backup_schedule()
            .is_some_and(|cron| cron.split_whitespace().count() != 6)
        {
            problems.push(format!(
                "BACKUP_CRON must have six fields (sec min hour day month weekday), got {:?}",
                self.backup_cron
            ));
        }
        if self.backup_keep == 0 {
            problems.push("BACKUP_KEEP must be at least 1".into());
        }
        problems.extend(self.retention.problems());
        problems.extend(self.sourcemaps.problems());
        problems.extend(self.stripe.problems());
        if self.max_body_bytes < 1024 {
            problems.push("TELEMETRY_MAX_BODY_BYTES must be at least 1024".into());
        }
        if self.api_max_body_bytes < 1024 {
            problems.push("TELEMETRY_API_MAX_BODY_BYTES must be at least 1024".into());
        }
        for (value, name) in [
            (
                self.header_read_timeout_secs,
                "TELEMETRY_HEADER_READ_TIMEOUT_SECS",
            ),
            (
                self.body_read_timeout_secs,
                "TELEMETRY_BODY_READ_TIMEOUT_SECS",
            ),
            (
                self.keep_alive_timeout_secs,
                "TELEMETRY_KEEP_ALIVE_TIMEOUT_SECS",
            ),
        ] {
            if value == 0 {
                problems.push(format!("{name} must be at least 1"));
            }
        }
        if !(1..=10_000).contains(&self.ingest_batch_max) {
            problems.push("TELEMETRY_INGEST_BATCH_MAX must be 1–10000".into());
        }
        if self.max_connections == 0 {
            problems.push("TELEMETRY_MAX_CONNECTIONS must be at least 1".into());
        }
        if self.ingest_queue_capacity == 0
            || self.ingest_group_max == 0
            || self.ingest_queue_max_mb == 0
        {
            problems.push(
                "TELEMETRY_INGEST_QUEUE_CAPACITY, TELEMETRY_INGEST_QUEUE_MAX_MB and TELEMETRY_INGEST_GROUP_MAX must be at least 1"
                    .into(),
            );
        }
        if let Some(url) = self.smtp_url.as_deref().filter(|u| !u.trim().is_empty()) {
            if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                problems.push("SMTP_URL must start with smtp:// or smtps://".into());
            }
        }
        problems
    }
}
