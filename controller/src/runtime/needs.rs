//! Dependencies between objects, as data: which needs are met, and who to queue again
//! when an object changes.

use std::collections::{BTreeMap, HashMap};

use super::kind::{DesiredObject, Need, ObjectRef, done_key};
use super::store::{Phase, ResourceStatus};

/// Object → the objects whose needs name it (kube-runtime's `watches` mapper, built
/// from data instead of code).
pub fn dependents(
    objects: &BTreeMap<ObjectRef, DesiredObject>,
) -> HashMap<ObjectRef, Vec<ObjectRef>> {
    let mut out: HashMap<ObjectRef, Vec<ObjectRef>> = HashMap::new();
    for (key, object) in objects {
        for need in &object.needs {
            let list = out.entry(need.of().clone()).or_default();
            if !list.contains(key) {
                list.push(key.clone());
            }
        }
    }
    out
}

/// Why `need` is not met, or `None` when it is.
pub fn unmet(
    need: &Need,
    statuses: &BTreeMap<String, ResourceStatus>,
    published: &BTreeMap<ObjectRef, BTreeMap<String, String>>,
) -> Option<String> {
    match need {
        Need::Ready(of) => {
            let ready = statuses
                .get(&of.to_string())
                .is_some_and(|s| s.phase == Phase::Ready);
            (!ready).then(|| format!("waiting for {of} to be Ready"))
        }
        Need::Published { of, key } => {
            let has = published.get(of).is_some_and(|p| p.contains_key(key));
            (!has).then(|| format!("waiting for {of} to be {key}"))
        }
        Need::Done { of, token } => {
            let done = published
                .get(of)
                .is_some_and(|p| p.contains_key(&done_key(token)));
            (!done).then(|| format!("waiting for {of} to acknowledge {token}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, needs: Vec<Need>) -> (ObjectRef, DesiredObject) {
        (
            ObjectRef::new("t", name),
            DesiredObject {
                name: name.into(),
                hash: String::new(),
                spec: serde_json::Value::Null,
                needs,
            },
        )
    }

    #[test]
    fn the_reverse_index_names_each_dependent_once() {
        let db = ObjectRef::new("t", "db");
        let objects: BTreeMap<_, _> = [
            object(
                "api",
                vec![
                    Need::Ready(db.clone()),
                    Need::Published {
                        of: db.clone(),
                        key: "endpoint".into(),
                    },
                ],
            ),
            object("web", vec![Need::Ready(db.clone())]),
            object("db", vec![]),
        ]
        .into_iter()
        .collect();
        let index = dependents(&objects);
        assert_eq!(
            index.get(&db),
            Some(&vec![
                ObjectRef::new("t", "api"),
                ObjectRef::new("t", "web")
            ])
        );
        assert!(!index.contains_key(&ObjectRef::new("t", "api")));
    }

    #[test]
    fn needs_are_met_by_phase_publication_and_acknowledgement() {
        let db = ObjectRef::new("t", "db");
        let mut statuses = BTreeMap::new();
        let mut published = BTreeMap::new();
        let ready = Need::Ready(db.clone());
        let endpoint = Need::Published {
            of: db.clone(),
            key: "endpoint".into(),
        };
        let backup = Need::Done {
            of: db.clone(),
            token: "h1".into(),
        };
        assert_eq!(
            unmet(&ready, &statuses, &published).as_deref(),
            Some("waiting for t/db to be Ready")
        );
        assert!(unmet(&endpoint, &statuses, &published).is_some());
        assert!(unmet(&backup, &statuses, &published).is_some());
        let mut status = ResourceStatus::new(&db, "p");
        status.phase = Phase::Ready;
        statuses.insert(db.to_string(), status);
        published.insert(
            db.clone(),
            BTreeMap::from([
                ("endpoint".to_string(), "10.0.0.2:80".to_string()),
                (done_key("h1"), "ok".to_string()),
            ]),
        );
        assert_eq!(unmet(&ready, &statuses, &published), None);
        assert_eq!(unmet(&endpoint, &statuses, &published), None);
        assert_eq!(unmet(&backup, &statuses, &published), None);
        let other = Need::Done {
            of: db,
            token: "h2".into(),
        };
        assert!(unmet(&other, &statuses, &published).is_some());
    }
}
