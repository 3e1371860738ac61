//! What a group commit adds to the roll-ups, worked out before its transaction:
//! event counts, property values, web-vital histograms and first-seen labels. The
//! writer keeps a little state between groups so that labels are written once and
//! property values stay within a per-day cap.

use crate::domain::timerange::Granularity;
use crate::store::{
    EventCountKey, EventRollups, IngestWrite, Labels, NewLabel, NewPropKey, PropCountKey,
    VitalCountKey,
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

#[derive(Hash, PartialEq, Eq)]
struct PropDay {
    project_id: String,
    name: String,
    prop: String,
    day: i64,
}

#[derive(Default)]
pub struct RollupState {
    values: HashMap<PropDay, HashSet<u64>>,
    /// Property names seen per (project, event name).
    props: HashMap<(String, String), HashSet<String>>,
    known_labels: HashSet<NewLabel>,
    known_keys: HashSet<NewPropKey>,
}

fn hash_of(value: &str) -> u64 {
    let mut h = DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

impl RollupState {
    /// The increments for a group of (project id, write).
    pub fn build(&mut self, items: &[(&str, &IngestWrite)]) -> EventRollups {
        if self.values.len() > MAX_TRACKED_KEYS {
            let newest = self.values.keys().map(|k| k.day).max().unwrap_or(0);
            self.values.retain(|k, _| k.day >= newest);
        }
        if self.props.len() > MAX_TRACKED_KEYS {
            self.props.clear();
        }
        let mut events: HashMap<EventCountKey, i64> = HashMap::default();
        let mut props: HashMap<PropCountKey, i64> = HashMap::default();
        let mut vitals: HashMap<VitalCountKey, i64> = HashMap::default();
        let mut labels: HashSet<NewLabel> = HashSet::default();
        let mut prop_keys: HashSet<NewPropKey> = HashSet::default();
        let mut label = |project_id: &str, kind: &'static str, value: Option<&str>| {
            if let Some(value) = value.filter(|v| !v.is_empty()) {
                let l = NewLabel {
                    project_id: project_id.to_string(),
                    kind,
                    value: value.to_string(),
                };
                if !self.known_labels.contains(&l) {
                    labels.insert(l);
                }
            }
        };
        for (project_id, write) in items {
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
        for (project_id, write) in items {
            let IngestWrite::Events(list) = write else {
                continue;
            };
            for e in list {
                let labels = Labels::new(&e.app, e.environment.as_deref(), e.release.as_deref());
                let day = Granularity::Day.floor(e.timestamp);
                let names = self
                    .props
                    .entry((project_id.to_string(), e.name.clone()))
                    .or_default();
                let kept_props: Vec<&(String, String)> = e
                    .props
                    .iter()
                    .filter(|(prop, _)| {
                        names.contains(prop)
                            || (names.len() < MAX_PROPS_PER_NAME && names.insert(prop.clone()))
                    })
                    .collect();
                let capped: Vec<(&str, &str)> = kept_props
                    .into_iter()
                    .map(|(prop, value)| {
                        let seen = self
                            .values
                            .entry(PropDay {
                                project_id: project_id.to_string(),
                                name: e.name.clone(),
                                prop: prop.clone(),
                                day,
                            })
                            .or_default();
                        let h = hash_of(value);
                        let kept = seen.contains(&h)
                            || (seen.len() < MAX_VALUES_PER_DAY && seen.insert(h));
                        (
                            prop.as_str(),
                            if kept { value.as_str() } else { OTHER_VALUE },
                        )
                    })
                    .collect();
                for (prop, _) in &capped {
                    let key = NewPropKey {
                        project_id: project_id.to_string(),
                        name: e.name.clone(),
                        prop: prop.to_string(),
                    };
                    if !self.known_keys.contains(&key) {
                        prop_keys.insert(key);
                    }
                }
                for g in [Granularity::Hour, Granularity::Day] {
                    let bucket = g.floor(e.timestamp);
                    *events
                        .entry(EventCountKey {
                            granularity: g,
                            project_id: project_id.to_string(),
                            bucket,
                            labels: labels.clone(),
                            name: e.name.clone(),
                        })
                        .or_default() += 1;
                    for (prop, value) in &capped {
                        *props
                            .entry(PropCountKey {
                                granularity: g,
                                project_id: project_id.to_string(),
                                name: e.name.clone(),
                                prop: prop.to_string(),
                                bucket,
                                value: value.to_string(),
                                labels: labels.clone(),
                            })
                            .or_default() += 1;
                    }
                    if let Some(v) = &e.vital {
                        *vitals
                            .entry(VitalCountKey {
                                granularity: g,
                                project_id: project_id.to_string(),
                                bucket,
                                labels: labels.clone(),
                                metric: v.metric,
                                rating: v.rating,
                                bin: v.bin,
                            })
                            .or_default() += 1;
                    }
                }
            }
        }
        EventRollups {
            events: events.into_iter().collect(),
            props: props.into_iter().collect(),
            vitals: vitals.into_iter().collect(),
            labels: labels.into_iter().collect(),
            prop_keys: prop_keys.into_iter().collect(),
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
        self.known_labels.extend(r.labels.iter().cloned());
        self.known_keys.extend(r.prop_keys.iter().cloned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::EventWrite;

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
        let r = state.build(&[("p", &again)]);
        assert!(r.props.iter().all(|(k, _)| k.value == "id-0"));
    }
}
