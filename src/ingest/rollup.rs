//! What a group commit adds to the roll-ups, worked out before its transaction:
//! event counts, property values, web-vital histograms and first-seen labels. The
//! writer keeps a little state between groups so that labels are written once and
//! property values stay within a per-day cap.

use crate::domain::timerange::Granularity;
use crate::store::{
    Db, EventCountKey, EventRollups, IngestWrite, Labels, NewLabel, NewPropKey, PropCountKey,
    PropDay, StoreResult, VitalCountKey,
};
use std::collections::hash_map::DefaultHasher;
// The writer hashes every label of every event: foldhash is several times faster than
// the default SipHash and still seeded per process.
use foldhash::{HashMap, HashSet};
use std::hash::{Hash, Hasher};

/// Distinct values a property keeps per event name and UTC day; beyond it, values
/// count as `OTHER_VALUE` so that ids or timestamps in properties cannot blow the
/// roll-up up into a copy of the raw events.
pub const MAX_VALUES_PER_DAY: usize = 100;
pub const OTHER_VALUE: &str = "(other values)";
/// Distinct property names kept per event name; properties beyond them are not
/// broken down (their events are still counted and stored whole).
pub const MAX_PROPS_PER_NAME: usize = 50;
/// Bound on the tracking state: beyond it, older days are forgotten.
const MAX_TRACKED_KEYS: usize = 50_000;
const MAX_KNOWN: usize = 200_000;

/// Labels of an event as roll-up keys hold them: an absent label is ''.
type LabelsRef<'a> = (&'a str, &'a str, &'a str);

fn labels_ref<'a>(
    app: &'a str,
    environment: &'a Option<String>,
    release: &'a Option<String>,
) -> LabelsRef<'a> {
    (
        app,
        environment.as_deref().unwrap_or_default(),
        release.as_deref().unwrap_or_default(),
    )
}

fn owned_labels((app, environment, release): LabelsRef<'_>) -> Labels {
    Labels {
        app: app.to_string(),
        environment: environment.to_string(),
        release: release.to_string(),
    }
}

/// Writes `parts` joined by NUL (which stored text never holds) into `buf`: one key
/// for the state's maps, built without allocating once `buf` has grown.
fn joined<'b>(buf: &'b mut String, parts: &[&str]) -> &'b str {
    buf.clear();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            buf.push('\0');
        }
        buf.push_str(part);
    }
    buf
}

#[derive(Default)]
pub struct RollupState {
    /// Value hashes seen per (project, event name, property, day), with the day.
    values: HashMap<String, (i64, HashSet<u64>)>,
    /// Property names seen per (project, event name).
    props: HashMap<String, HashSet<String>>,
    /// (project, kind, value) of labels already written.
    known_labels: HashSet<String>,
    /// (project, event name, property) of property keys already written.
    known_keys: HashSet<String>,
}

fn add_label<'a>(
    labels: &mut HashSet<(&'a str, &'static str, &'a str)>,
    project_id: &'a str,
    kind: &'static str,
    value: Option<&'a str>,
) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        labels.insert((project_id, kind, value));
    }
}

/// The (project, kind or name, value) triples of `found` not yet in `known`.
fn unknown<'a, K: AsRef<str> + Copy>(
    known: &HashSet<String>,
    buf: &mut String,
    found: HashSet<(&'a str, K, &'a str)>,
) -> Vec<(&'a str, K, &'a str)> {
    found
        .into_iter()
        .filter(|&(project_id, middle, value)| {
            !known.contains(joined(buf, &[project_id, middle.as_ref(), value]))
        })
        .collect()
}

fn hash_of(value: &str) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

// Counting keys borrow from the group's items; only the distinct keys of a group
// are made owned, at the end.
type EventKey<'a> = (Granularity, &'a str, i64, LabelsRef<'a>, &'a str);
type PropKey<'a> = (
    Granularity,
    &'a str,
    &'a str,
    &'a str,
    i64,
    &'a str,
    LabelsRef<'a>,
);
type VitalKey<'a> = (
    Granularity,
    &'a str,
    i64,
    LabelsRef<'a>,
    &'static str,
    &'static str,
    i64,
);

impl RollupState {
    /// Settles which of the group's property values their days keep, before
    /// `build`: those this process has not seen are decided by the database, so
    /// that the daily cap holds for all processes together (and across restarts).
    pub async fn reserve(&mut self, db: &Db, items: &[(&str, &IngestWrite)]) -> StoreResult<()> {
        let wanted = self.values_to_reserve(items);
        if !wanted.is_empty() {
            let days = db.reserve_prop_values(&wanted, MAX_VALUES_PER_DAY).await?;
            self.reserved(days);
        }
        Ok(())
    }

    /// The property values of a group this process does not know to be kept or
    /// refused for their day. Property names are admitted here, per event name.
    fn values_to_reserve(&mut self, items: &[(&str, &IngestWrite)]) -> Vec<(PropDay, Vec<String>)> {
        if self.values.len() > MAX_TRACKED_KEYS {
            let newest = self.values.values().map(|v| v.0).max().unwrap_or(0);
            self.values.retain(|_, v| v.0 >= newest);
        }
        if self.props.len() > MAX_TRACKED_KEYS {
            self.props.clear();
        }
        let mut wanted: HashMap<PropDay, (HashSet<u64>, Vec<String>)> = HashMap::default();
        let mut buf = String::new();
        for &(project_id, write) in items {
            let IngestWrite::Events(list) = write else {
                continue;
            };
            for e in list {
                let day = Granularity::Day.floor(e.timestamp);
                let day_text = day.to_string();
                let names = match self.props.get_mut(joined(&mut buf, &[project_id, &e.name])) {
                    Some(names) => names,
                    None => self.props.entry(buf.clone()).or_default(),
                };
                for (prop, value) in &e.props {
                    let kept_prop = names.contains(prop)
                        || (names.len() < MAX_PROPS_PER_NAME && names.insert(prop.clone()));
                    if !kept_prop {
                        continue;
                    }
                    let h = hash_of(value);
                    let key = joined(&mut buf, &[project_id, &e.name, prop, &day_text]);
                    if let Some((_, seen)) = self.values.get(key) {
                        if seen.len() >= MAX_VALUES_PER_DAY || seen.contains(&h) {
                            continue;
                        }
                    }
                    let day = PropDay {
                        project_id: project_id.to_string(),
                        name: e.name.clone(),
                        prop: prop.clone(),
                        day,
                    };
                    let (asked, values) = wanted.entry(day).or_default();
                    if asked.insert(h) {
                        values.push(value.clone());
                    }
                }
            }
        }
        wanted
            .into_iter()
            .map(|(day, (_, values))| (day, values))
            .collect()
    }

    /// Learns each day's kept values (as the database answered for all processes).
    fn reserved(&mut self, days: Vec<(PropDay, Vec<String>)>) {
        let mut buf = String::new();
        for (day, values) in days {
            let key = joined(
                &mut buf,
                &[&day.project_id, &day.name, &day.prop, &day.day.to_string()],
            );
            let seen = match self.values.get_mut(key) {
                Some(v) => &mut v.1,
                None => {
                    &mut self
                        .values
                        .entry(buf.clone())
                        .or_insert((day.day, HashSet::default()))
                        .1
                }
            };
            seen.extend(values.iter().map(|v| hash_of(v)));
        }
    }

    /// The increments for a group of (project id, write), after `values_to_reserve`
    /// and `reserved`: a value the day has not kept counts as `OTHER_VALUE`.
    pub fn build(&self, items: &[(&str, &IngestWrite)]) -> EventRollups {
        let mut events: HashMap<EventKey<'_>, i64> = HashMap::default();
        let mut props: HashMap<PropKey<'_>, i64> = HashMap::default();
        let mut vitals: HashMap<VitalKey<'_>, i64> = HashMap::default();
        let mut labels: HashSet<(&str, &'static str, &str)> = HashSet::default();
        let mut prop_keys: HashSet<(&str, &str, &str)> = HashSet::default();
        let mut buf = String::new();
        let mut label = |project_id, kind, value| add_label(&mut labels, project_id, kind, value);
        for &(project_id, write) in items {
            let (app, environment, release) = match write {
                IngestWrite::Events(list) => {
                    for e in list {
                        label(project_id, "event", Some(&e.name));
                        label(project_id, "app", Some(&e.app));
                        label(project_id, "environment", e.environment.as_deref());
                        label(project_id, "release", e.release.as_deref());
                    }
                    continue;
                }
                IngestWrite::Error(e) => (Some(e.app.as_str()), &e.environment, &e.release),
                IngestWrite::Session(s) => (s.app.as_deref(), &s.environment, &s.release),
            };
            label(project_id, "app", app);
            label(project_id, "environment", environment.as_deref());
            label(project_id, "release", release.as_deref());
        }
        for &(project_id, write) in items {
            let IngestWrite::Events(list) = write else {
                continue;
            };
            for e in list {
                let labels = labels_ref(&e.app, &e.environment, &e.release);
                let day = Granularity::Day.floor(e.timestamp);
                let names = self.props.get(joined(&mut buf, &[project_id, &e.name]));
                let day_text = day.to_string();
                let mut capped: Vec<(&str, &str)> = Vec::with_capacity(e.props.len());
                for (prop, value) in &e.props {
                    if !names.is_some_and(|n| n.contains(prop)) {
                        continue;
                    }
                    let key = joined(&mut buf, &[project_id, &e.name, prop, &day_text]);
                    let kept = self
                        .values
                        .get(key)
                        .is_some_and(|(_, seen)| seen.contains(&hash_of(value)));
                    capped.push((prop, if kept { value.as_str() } else { OTHER_VALUE }));
                }
                for &(prop, _) in &capped {
                    prop_keys.insert((project_id, &e.name, prop));
                }
                for g in [Granularity::Hour, Granularity::Day] {
                    let bucket = g.floor(e.timestamp);
                    *events
                        .entry((g, project_id, bucket, labels, &e.name))
                        .or_default() += 1;
                    for &(prop, value) in &capped {
                        *props
                            .entry((g, project_id, &e.name, prop, bucket, value, labels))
                            .or_default() += 1;
                    }
                    if let Some(v) = &e.vital {
                        *vitals
                            .entry((g, project_id, bucket, labels, v.metric, v.rating, v.bin))
                            .or_default() += 1;
                    }
                }
            }
        }
        EventRollups {
            events: events
                .into_iter()
                .map(|((granularity, project_id, bucket, labels, name), n)| {
                    let key = EventCountKey {
                        granularity,
                        project_id: project_id.to_string(),
                        bucket,
                        labels: owned_labels(labels),
                        name: name.to_string(),
                    };
                    (key, n)
                })
                .collect(),
            props: props
                .into_iter()
                .map(
                    |((granularity, project_id, name, prop, bucket, value, labels), n)| {
                        let key = PropCountKey {
                            granularity,
                            project_id: project_id.to_string(),
                            name: name.to_string(),
                            prop: prop.to_string(),
                            bucket,
                            value: value.to_string(),
                            labels: owned_labels(labels),
                        };
                        (key, n)
                    },
                )
                .collect(),
            vitals: vitals
                .into_iter()
                .map(
                    |((granularity, project_id, bucket, labels, metric, rating, bin), n)| {
                        let key = VitalCountKey {
                            granularity,
                            project_id: project_id.to_string(),
                            bucket,
                            labels: owned_labels(labels),
                            metric,
                            rating,
                            bin,
                        };
                        (key, n)
                    },
                )
                .collect(),
            labels: unknown(&self.known_labels, &mut buf, labels)
                .into_iter()
                .map(|(project_id, kind, value)| NewLabel {
                    project_id: project_id.to_string(),
                    kind,
                    value: value.to_string(),
                })
                .collect(),
            prop_keys: unknown(&self.known_keys, &mut buf, prop_keys)
                .into_iter()
                .map(|(project_id, name, prop)| NewPropKey {
                    project_id: project_id.to_string(),
                    name: name.to_string(),
                    prop: prop.to_string(),
                })
                .collect(),
        }
    }

    /// Remembers the labels of a committed group so later groups skip them.
    pub fn committed(&mut self, r: &EventRollups) {
        if self.known_labels.len() > MAX_KNOWN {
            self.known_labels.clear();
        }
        if self.known_keys.len() > MAX_KNOWN {
            self.known_keys.clear();
        }
        let mut buf = String::new();
        for l in &r.labels {
            let key = joined(&mut buf, &[&l.project_id, l.kind, &l.value]).to_string();
            self.known_labels.insert(key);
        }
        for k in &r.prop_keys {
            let key = joined(&mut buf, &[&k.project_id, &k.name, &k.prop]).to_string();
            self.known_keys.insert(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventWrite;

    /// What the database answers one process alone: every new value of a day is
    /// kept until the day has the cap.
    fn settle(state: &mut RollupState, items: &[(&str, &IngestWrite)]) {
        let answer = state
            .values_to_reserve(items)
            .into_iter()
            .map(|(day, mut values)| {
                let mut buf = String::new();
                let key = joined(
                    &mut buf,
                    &[&day.project_id, &day.name, &day.prop, &day.day.to_string()],
                );
                let known = state.values.get(key).map_or(0, |v| v.1.len());
                values.truncate(MAX_VALUES_PER_DAY - known);
                (day, values)
            })
            .collect();
        state.reserved(answer);
    }

    fn event(name: &str, ts: i64, props: &[(&str, &str)]) -> EventWrite {
        EventWrite {
            id: "e".into(),
            app: "web".into(),
            name: name.into(),
            platform: None,
            environment: Some("production".into()),
            release: None,
            user_id: None,
            session_id: None,
            anonymous_id: None,
            sdk_version: None,
            properties: None,
            timestamp: ts,
            props: props
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            vital: None,
        }
    }

    #[test]
    fn counts_per_bucket_and_labels_once() {
        let mut state = RollupState::default();
        let write = IngestWrite::Events(vec![
            event("signup", 1_000, &[("plan", "pro")]),
            event("signup", 2_000, &[("plan", "free")]),
            event("signup", 3_700_000, &[("plan", "pro")]),
        ]);
        settle(&mut state, &[("p", &write)]);
        let r = state.build(&[("p", &write)]);
        let hourly: i64 = r
            .events
            .iter()
            .filter(|(k, _)| k.granularity == Granularity::Hour)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(hourly, 3);
        assert_eq!(
            r.events
                .iter()
                .filter(|(k, _)| k.granularity == Granularity::Hour)
                .count(),
            2
        );
        let daily_pro: i64 = r
            .props
            .iter()
            .filter(|(k, _)| k.granularity == Granularity::Day && k.value == "pro")
            .map(|(_, n)| n)
            .sum();
        assert_eq!(daily_pro, 2);
        assert_eq!(r.labels.len(), 3); // event name, app, environment
        state.committed(&r);
        let again = state.build(&[("p", &write)]);
        assert!(again.labels.is_empty() && again.prop_keys.is_empty());
    }

    #[test]
    fn property_names_are_capped_per_event_name() {
        let mut state = RollupState::default();
        let write = IngestWrite::Events(
            (0..MAX_PROPS_PER_NAME + 10)
                .map(|i| event("odd", 1_000, &[(&format!("p{i}"), "v")]))
                .collect(),
        );
        settle(&mut state, &[("p", &write)]);
        let r = state.build(&[("p", &write)]);
        assert_eq!(r.prop_keys.len(), MAX_PROPS_PER_NAME);
        let counted: i64 = r
            .events
            .iter()
            .filter(|(k, _)| k.granularity == Granularity::Day)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(
            counted as usize,
            MAX_PROPS_PER_NAME + 10,
            "every event still counts"
        );
    }

    #[test]
    fn property_values_are_capped_per_day() {
        let mut state = RollupState::default();
        let values: Vec<String> = (0..MAX_VALUES_PER_DAY + 5)
            .map(|i| format!("id-{i}"))
            .collect();
        let write = IngestWrite::Events(
            values
                .iter()
                .map(|v| event("order", 1_000, &[("order_id", v)]))
                .collect(),
        );
        settle(&mut state, &[("p", &write)]);
        let r = state.build(&[("p", &write)]);
        let other: i64 = r
            .props
            .iter()
            .filter(|(k, _)| k.granularity == Granularity::Day && k.value == OTHER_VALUE)
            .map(|(_, n)| n)
            .sum();
        assert_eq!(other, 5);
        // A known value keeps its name even when the day is full.
        let again = IngestWrite::Events(vec![event("order", 2_000, &[("order_id", "id-0")])]);
        assert!(
            state.values_to_reserve(&[("p", &again)]).is_empty(),
            "a full day asks the database nothing"
        );
        let r = state.build(&[("p", &again)]);
        assert!(r.props.iter().all(|(k, _)| k.value == "id-0"));
    }
}
