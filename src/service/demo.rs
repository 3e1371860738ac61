//! Sample telemetry for trying the dashboard, taking screenshots and benchmarking:
//! sessions, events (page views, clicks, purchases, web vitals, requests) and errors
//! of three apps over a span of days, written in bulk through the ingest writer's own
//! group commit, so that every roll-up is maintained exactly as for real traffic.

use crate::domain::grouping;
use crate::domain::ids::new_id;
use crate::domain::sessions;
use crate::domain::timeutil::{month_key, DAY_MS, MINUTE_MS};
use crate::domain::vitals;
use crate::error::{AppError, AppResult};
use crate::ingest::rollup::RollupState;
use crate::store::{Db, ErrorOccurrenceWrite, EventWrite, IngestWrite, SessionWrite, WriteItem};
use rand::distributions::{Distribution, WeightedIndex};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

#[derive(Debug, Clone)]
pub struct DemoSpec {
    pub project_id: String,
    pub days: u32,
    pub sessions: u64,
    pub events: u64,
    pub errors: u64,
    /// Distinct users the sessions belong to.
    pub users: u64,
    pub seed: u64,
    /// The newest data is this close to now.
    pub now: i64,
}

#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DemoReport {
    pub sessions: u64,
    pub events: u64,
    pub errors: u64,
    pub duration_ms: u128,
}

/// Rows per group commit.
const CHUNK: usize = 2_000;

struct App {
    name: &'static str,
    platform: &'static str,
    weight: f64,
}

const APPS: [App; 3] = [
    App {
        name: "web-shop",
        platform: "web",
        weight: 0.6,
    },
    App {
        name: "api",
        platform: "node",
        weight: 0.25,
    },
    App {
        name: "ios-app",
        platform: "ios",
        weight: 0.15,
    },
];
const BROWSERS: [(&str, f64); 4] = [
    ("Chrome", 0.6),
    ("Safari", 0.2),
    ("Firefox", 0.12),
    ("Edge", 0.08),
];
const SYSTEMS: [(&str, f64); 5] = [
    ("Windows", 0.35),
    ("macOS", 0.25),
    ("iOS", 0.18),
    ("Android", 0.15),
    ("Linux", 0.07),
];
const COUNTRIES: [(&str, f64); 8] = [
    ("US", 0.34),
    ("DE", 0.14),
    ("GB", 0.12),
    ("FR", 0.09),
    ("IN", 0.1),
    ("BR", 0.08),
    ("JP", 0.07),
    ("CA", 0.06),
];
const EVENT_NAMES: [&str; 20] = [
    "page_view",
    "$screen",
    "click",
    "$web_vital",
    "$request",
    "search",
    "add_to_cart",
    "checkout_started",
    "purchase",
    "signup",
    "login",
    "logout",
    "feature_used",
    "share",
    "filter_applied",
    "video_played",
    "invite_sent",
    "settings_changed",
    "export",
    "plan_upgraded",
];
const PATHS: [&str; 8] = [
    "/",
    "/pricing",
    "/products",
    "/products/42",
    "/cart",
    "/checkout",
    "/account",
    "/blog",
];
const PLANS: [&str; 3] = ["free", "pro", "business"];

/// Error templates: message, error type and the in-app function that throws.
const ERRORS: [(&str, &str, &str); 12] = [
    (
        "Cannot read properties of undefined (reading 'id')",
        "TypeError",
        "renderCart",
    ),
    ("Network request failed", "TypeError", "fetchProducts"),
    ("x is not a function", "TypeError", "applyCoupon"),
    (
        "checkoutTotal is not defined",
        "ReferenceError",
        "updateSummary",
    ),
    (
        "Unexpected token < in JSON at position 0",
        "SyntaxError",
        "parseResponse",
    ),
    ("Maximum call stack size exceeded", "RangeError", "walkTree"),
    (
        "Request failed with status code 502",
        "Error",
        "callPaymentApi",
    ),
    ("Invalid date value", "RangeError", "formatOrderDate"),
    (
        "Cannot set properties of null (setting 'innerHTML')",
        "TypeError",
        "showToast",
    ),
    ("Timeout of 10000ms exceeded", "Error", "syncInventory"),
    (
        "Quota exceeded for key cart_v2",
        "QuotaExceededError",
        "persistCart",
    ),
    (
        "ResizeObserver loop limit exceeded",
        "Error",
        "observeLayout",
    ),
];

fn pick<'a>(rng: &mut StdRng, items: &[(&'a str, f64)]) -> &'a str {
    let dist = WeightedIndex::new(items.iter().map(|(_, w)| *w)).expect("positive weights");
    items[dist.sample(rng)].0
}

fn one_of<T: Copy>(rng: &mut StdRng, items: &[T]) -> T {
    items[rng.gen_range(0..items.len())]
}

/// A Zipf-like popularity: the k-th item has weight 1/(k+1)^s.
fn zipf(n: usize, s: f64) -> WeightedIndex<f64> {
    WeightedIndex::new((0..n).map(|k| 1.0 / ((k + 1) as f64).powf(s))).expect("positive weights")
}

/// A session as the generator remembers it (compactly: a million of them are kept)
/// to hang events and errors on.
#[derive(Clone, Copy)]
struct DemoSession {
    n: u64,
    app: usize,
    production: bool,
    user: u64,
    identified: bool,
    start: i64,
    end: i64,
}

struct Generator {
    rng: StdRng,
    spec: DemoSpec,
    start: i64,
    day_weights: WeightedIndex<f64>,
    app_dist: WeightedIndex<f64>,
    names: WeightedIndex<f64>,
    errors: WeightedIndex<f64>,
}

impl Generator {
    fn new(spec: &DemoSpec) -> Generator {
        let days = spec.days.max(1) as usize;
        // Traffic grows over the span and dips at weekends.
        let day_weights = WeightedIndex::new((0..days).map(|d| {
            let growth = 0.6 + 0.4 * (d as f64 / days as f64);
            let weekday = (d % 7) as f64;
            growth * if weekday >= 5.0 { 0.7 } else { 1.0 }
        }))
        .expect("positive weights");
        Generator {
            rng: StdRng::seed_from_u64(spec.seed),
            start: spec.now - i64::from(spec.days.max(1)) * DAY_MS,
            day_weights,
            app_dist: WeightedIndex::new(APPS.iter().map(|a| a.weight)).expect("positive weights"),
            names: zipf(EVENT_NAMES.len(), 1.1),
            errors: zipf(200, 1.2),
            spec: spec.clone(),
        }
    }

    /// A moment with daily and weekly rhythm, never in the future.
    fn moment(&mut self) -> i64 {
        let day = self.day_weights.sample(&mut self.rng) as i64;
        // Busier in the (UTC) afternoon.
        let hour: f64 =
            (self.rng.gen::<f64>() + self.rng.gen::<f64>() + self.rng.gen::<f64>()) / 3.0 * 24.0;
        let t = self.start + day * DAY_MS + (hour * 3_600_000.0) as i64;
        t.min(self.spec.now - MINUTE_MS)
    }

    /// A new release every ten days.
    fn release(&self, s: &DemoSession) -> String {
        let k = ((s.start - self.start) / (10 * DAY_MS)).max(0);
        format!("{}@1.{k}.0", APPS[s.app].name)
    }

    fn session_id(&self, s: &DemoSession) -> String {
        format!("demo-{}-{}", self.spec.seed, s.n)
    }

    fn environment(s: &DemoSession) -> &'static str {
        if s.production {
            "production"
        } else {
            "staging"
        }
    }

    fn user(s: &DemoSession) -> Option<String> {
        s.identified.then(|| format!("user-{}", s.user))
    }

    fn anonymous(s: &DemoSession) -> String {
        format!("anon-{}", s.user)
    }

    fn session(&mut self) -> DemoSession {
        let start = self.moment();
        let minutes = -(1.0 - self.rng.gen::<f64>()).ln() * 4.0;
        DemoSession {
            n: 0,
            app: self.app_dist.sample(&mut self.rng),
            production: self.rng.gen_bool(0.9),
            user: self.rng.gen_range(0..self.spec.users.max(1)),
            identified: self.rng.gen_bool(0.6),
            start,
            end: (start + (minutes * 60_000.0) as i64 + 1_000).min(self.spec.now),
        }
    }

    fn session_write(&mut self, s: &DemoSession) -> SessionWrite {
        let web = APPS[s.app].platform == "web";
        let user = Self::user(s);
        SessionWrite {
            new_id: new_id(),
            session_id: self.session_id(s),
            app: Some(APPS[s.app].name.to_string()),
            platform: Some(APPS[s.app].platform.to_string()),
            environment: Some(Self::environment(s).to_string()),
            release: Some(self.release(s)),
            user_email: user.as_ref().map(|u| format!("{u}@example.com")),
            user_id: user,
            anonymous_id: Some(Self::anonymous(s)),
            country: Some(pick(&mut self.rng, &COUNTRIES).to_string()),
            device_browser: web.then(|| pick(&mut self.rng, &BROWSERS).to_string()),
            device_os: Some(if APPS[s.app].name == "ios-app" {
                "iOS".to_string()
            } else {
                pick(&mut self.rng, &SYSTEMS).to_string()
            }),
            sdk_version: Some("1.3.0".into()),
            started_at: Some(s.start),
            ended_at: Some(s.end),
            errored: false,
            crashed: false,
        }
    }

    fn event(&mut self, s: &DemoSession) -> EventWrite {
        let name = EVENT_NAMES[self.names.sample(&mut self.rng)];
        let at = self.rng.gen_range(s.start..=s.end.max(s.start));
        let rng = &mut self.rng;
        let props = match name {
            "page_view" => serde_json::json!({ "path": one_of(rng, &PATHS) }),
            "$screen" => {
                serde_json::json!({ "name": one_of(rng, &["Home", "Cart", "Settings", "Product"]) })
            }
            "click" => {
                serde_json::json!({ "button": one_of(rng, &["buy", "menu", "search", "close"]) })
            }
            "$web_vital" => {
                let metric = vitals::METRICS[rng.gen_range(0..vitals::METRICS.len())];
                let typical = match metric {
                    "LCP" => 1800.0,
                    "INP" => 120.0,
                    "CLS" => 0.05,
                    "FCP" => 1100.0,
                    _ => 450.0,
                };
                let value = typical * (rng.gen::<f64>() * 1.2 - 0.6).exp();
                serde_json::json!({
                    "metric": metric, "value": value, "rating": vitals::rate(metric, value),
                    "navigation_type": "navigate"
                })
            }
            "$request" => serde_json::json!({
                "method": one_of(rng, &["GET", "POST"]),
                "url": one_of(rng, &PATHS),
                "status": one_of(rng, &[200, 200, 200, 201, 404, 500]),
                "duration_ms": (rng.gen::<f64>() * 400.0) as i64 + 5,
            }),
            "purchase" | "checkout_started" | "plan_upgraded" | "signup" => serde_json::json!({
                "plan": one_of(rng, &PLANS),
                "items": rng.gen_range(1..6),
            }),
            "feature_used" => {
                serde_json::json!({ "feature": one_of(rng, &["export", "filters", "dark_mode", "api"]) })
            }
            _ => serde_json::json!({}),
        };
        let map = props.as_object().cloned().unwrap_or_default();
        let props_list: Vec<(String, String)> = map
            .iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::String(s) => Some((k.clone(), s.clone())),
                serde_json::Value::Number(n) => Some((k.clone(), n.to_string())),
                _ => None,
            })
            .collect();
        EventWrite {
            id: new_id(),
            app: APPS[s.app].name.to_string(),
            name: name.to_string(),
            platform: Some(APPS[s.app].platform.to_string()),
            environment: Some(Self::environment(s).to_string()),
            release: Some(self.release(s)),
            user_id: Self::user(s),
            session_id: Some(self.session_id(s)),
            anonymous_id: Some(Self::anonymous(s)),
            sdk_version: Some("1.3.0".into()),
            vital: (name == "$web_vital")
                .then(|| vitals::sample(&map))
                .flatten(),
            properties: (!map.is_empty()).then(|| props.to_string()),
            props: props_list,
            timestamp: at,
        }
    }

    fn error(&mut self, s: &DemoSession) -> ErrorOccurrenceWrite {
        let n = self.errors.sample(&mut self.rng);
        let (message, kind, function) = ERRORS[n % ERRORS.len()];
        // Many distinct bugs: the same template in different files is another group.
        let file = format!(
            "https://shop.example.com/assets/module-{}.js",
            n / ERRORS.len()
        );
        let at = self.rng.gen_range(s.start..=s.end.max(s.start));
        let stack = format!(
            "{kind}: {message}\n    at {function} ({file}:{}:{})\n    at HTMLButtonElement.onClick ({file}:88:5)\n    at invokeCallback (https://shop.example.com/node_modules/react-dom/cjs/react-dom.production.min.js:1:23456)",
            10 + n,
            7 + n % 30
        );
        let app = APPS[s.app].name;
        let g = grouping::group(app, message, Some(&stack));
        let context = match n % 4 {
            0 => serde_json::json!({ "route": PATHS[n % PATHS.len()], "source": "window.onerror" }),
            _ => serde_json::json!({ "route": PATHS[n % PATHS.len()] }),
        };
        ErrorOccurrenceWrite {
            id: new_id(),
            new_group_id: new_id(),
            fingerprint: g.fingerprint,
            error_type: g.error_type,
            top_frame: g.top_frame,
            app: app.to_string(),
            message: message.to_string(),
            stack: Some(stack),
            // Some escape every handler, as in a real app: those sessions crashed.
            context: Some(context.to_string()),
            unhandled: sessions::is_unhandled(Some(&context)),
            platform: Some(APPS[s.app].platform.to_string()),
            environment: Some(Self::environment(s).to_string()),
            release: Some(self.release(s)),
            session_id: Some(self.session_id(s)),
            user_id: Self::user(s),
            anonymous_id: Some(Self::anonymous(s)),
            sdk_version: Some("1.3.0".into()),
            device_browser: None,
            device_os: None,
            timestamp: at,
        }
    }
}

async fn write(
    db: &Db,
    rollups: &mut RollupState,
    project_id: &str,
    writes: Vec<IngestWrite>,
    now: i64,
) -> AppResult<()> {
    let month = month_key(now);
    let items: Vec<WriteItem<'_>> = writes
        .iter()
        .map(|w| WriteItem {
            project_id,
            write: w,
            // Sample data is not metered against the plan.
            reserved_units: match w {
                IngestWrite::Events(list) => list.len() as i64,
                _ => 1,
            },
            month: &month,
        })
        .collect();
    let pairs: Vec<(&str, &IngestWrite)> = writes.iter().map(|w| (project_id, w)).collect();
    rollups.reserve(db, &pairs).await?;
    let increments = rollups.build(&pairs);
    db.write_ingest_group(&items, &[], &[], &increments, now)
        .await?;
    rollups.committed(&increments);
    // The server checkpoints SQLite's WAL in the background; a long bulk write from
    // the command line does it itself, or the WAL (and every read) grows.
    db.checkpoint().await?;
    Ok(())
}

/// The planner's statistics are refreshed after commits 1, 2, 4, 8, … and then
/// every `COMMITS_PER_ANALYZE`: the tables grow from nothing, and plans made (and
/// cached) for empty tables would scan them whole.
const COMMITS_PER_ANALYZE: u64 = 100;

/// Writes the sample data; `progress` is told how far it got after every commit.
/// Everything is written in time order, as real traffic arrives: sessions by their
/// start, then each day's events and errors, so indexes and roll-ups grow at their
/// end instead of being rewritten all over.
#[tracing::instrument(skip_all)]
pub async fn generate(
    db: &Db,
    spec: &DemoSpec,
    mut progress: impl FnMut(&DemoReport),
) -> AppResult<DemoReport> {
    if db.project_by_id(&spec.project_id).await?.is_none() {
        return Err(AppError::NotFound(format!(
            "no project {:?}",
            spec.project_id
        )));
    }
    if spec.sessions == 0 && (spec.events > 0 || spec.errors > 0) {
        return Err(AppError::invalid(
            "sessions",
            "events and errors need at least one session",
        ));
    }
    let started = std::time::Instant::now();
    let mut g = Generator::new(spec);
    let mut rollups = RollupState::default();
    let mut report = DemoReport::default();
    let mut commits = 0u64;
    let mut committed = |db: &Db| {
        commits += 1;
        let due = commits.is_power_of_two() || commits % COMMITS_PER_ANALYZE == 0;
        let db = db.clone();
        async move {
            if due {
                db.optimize().await?;
            }
            AppResult::Ok(())
        }
    };
    let mut sessions: Vec<DemoSession> = (0..spec.sessions).map(|_| g.session()).collect();
    sessions.sort_by_key(|s| s.start);
    for (n, s) in sessions.iter_mut().enumerate() {
        s.n = n as u64;
    }
    for chunk in sessions.chunks(CHUNK) {
        let writes = chunk
            .iter()
            .map(|s| IngestWrite::Session(Box::new(g.session_write(s))))
            .collect();
        write(db, &mut rollups, &spec.project_id, writes, spec.now).await?;
        committed(db).await?;
        report.sessions += chunk.len() as u64;
        progress(&report);
    }
    // Each day gets the share of events and errors of the sessions that started on it.
    let mut day_start = g.start;
    let mut lo = 0;
    while lo < sessions.len() {
        let day_end = day_start + DAY_MS;
        let hi = lo + sessions[lo..].partition_point(|s| s.start < day_end);
        if hi > lo {
            let share = |total: u64, done: u64| total * hi as u64 / sessions.len() as u64 - done;
            let events = share(spec.events, report.events);
            let errors = share(spec.errors, report.errors);
            let day = &sessions[lo..hi];
            let mut list: Vec<EventWrite> = (0..events)
                .map(|_| {
                    let s = day[g.rng.gen_range(0..day.len())];
                    g.event(&s)
                })
                .collect();
            list.sort_by_key(|e| e.timestamp);
            for chunk in list.chunks(CHUNK) {
                let writes = vec![IngestWrite::Events(chunk.to_vec())];
                write(db, &mut rollups, &spec.project_id, writes, spec.now).await?;
                committed(db).await?;
                report.events += chunk.len() as u64;
                progress(&report);
            }
            let mut list: Vec<ErrorOccurrenceWrite> = (0..errors)
                .map(|_| {
                    let s = day[g.rng.gen_range(0..day.len())];
                    g.error(&s)
                })
                .collect();
            list.sort_by_key(|e| e.timestamp);
            for chunk in list.chunks(CHUNK / 4) {
                let writes = chunk
                    .iter()
                    .map(|e| IngestWrite::Error(Box::new(e.clone())))
                    .collect();
                write(db, &mut rollups, &spec.project_id, writes, spec.now).await?;
                committed(db).await?;
                report.errors += chunk.len() as u64;
                progress(&report);
            }
        }
        lo = hi;
        day_start = day_end;
    }
    db.optimize().await?;
    report.duration_ms = started.elapsed().as_millis();
    Ok(report)
}
