//! The mass-removal guard: an empty or broken source must never prune everything.
//!
//! Per kind, objects the host has but the desired state no longer names are removals.
//! Removing all of a kind's objects, or more than half of them (by weight: for
//! services, containers), is refused unless allowed.

use std::collections::BTreeSet;

use super::kind::{DesiredObject, Owned};

/// What a desired state would remove of one kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removals {
    /// Objects on the host that are not in the file.
    pub names: Vec<String>,
    /// Their weight (for services: containers).
    pub weight: usize,
    /// The weight of everything the kind owns.
    pub total: usize,
    /// Whether that is all of the kind's objects, or more than half: the guard's rule.
    pub mass: bool,
}

/// The removals of one kind, given its desired objects and what it owns.
pub fn removals(desired: &[DesiredObject], owned: &[Owned]) -> Removals {
    let wanted: BTreeSet<&str> = desired.iter().map(|d| d.name.as_str()).collect();
    let names: Vec<String> = owned
        .iter()
        .map(|o| o.name.clone())
        .collect::<BTreeSet<String>>()
        .into_iter()
        .filter(|n| !wanted.contains(n.as_str()))
        .collect();
    let total: usize = owned.iter().map(|o| o.weight).sum();
    let weight: usize = owned
        .iter()
        .filter(|o| names.contains(&o.name))
        .map(|o| o.weight)
        .sum();
    let mass = !names.is_empty() && (weight == total || weight * 2 > total);
    Removals {
        names,
        weight,
        total,
        mass,
    }
}

/// The one wording of a refused mass removal of `kind`.
pub fn refusal_message(kind: &str, r: &Removals) -> String {
    format!(
        "the desired state would remove {} of {} {kind} objects ({}); nothing is removed. Pass --allow-mass-removal if this is intended",
        r.weight,
        r.total,
        r.names.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desired(names: &[&str]) -> Vec<DesiredObject> {
        names
            .iter()
            .map(|n| DesiredObject {
                name: n.to_string(),
                hash: String::new(),
                spec: serde_json::Value::Null,
                needs: Vec::new(),
            })
            .collect()
    }

    fn owned(names: &[&str]) -> Vec<Owned> {
        names
            .iter()
            .map(|n| Owned {
                name: n.to_string(),
                weight: 1,
            })
            .collect()
    }

    #[test]
    fn mass_removal_rule() {
        let live = owned(&["a", "b", "c", "d"]);
        // One of four: fine.
        let r = removals(&desired(&["a", "b", "c"]), &live);
        assert_eq!(
            (r.names.clone(), r.weight, r.mass),
            (vec!["d".to_string()], 1, false)
        );
        // Two of four is half, not more than half: fine.
        assert!(!removals(&desired(&["a", "b"]), &live).mass);
        // Three of four: refused.
        assert!(removals(&desired(&["a"]), &live).mass);
        // Everything (an empty or broken source): refused.
        let r = removals(&desired(&[]), &live);
        assert!(r.mass && r.weight == 4);
        // The only object of a one-object kind: refused too.
        assert!(removals(&desired(&[]), &owned(&["a"])).mass);
        // Nothing to remove.
        assert!(!removals(&desired(&["a", "b", "c", "d"]), &live).mass);
    }

    #[test]
    fn weight_counts_containers_not_names() {
        // `d` has three containers of five: more than half.
        let mut live = owned(&["a", "b"]);
        live.push(Owned {
            name: "d".into(),
            weight: 3,
        });
        let r = removals(&desired(&["a", "b"]), &live);
        assert_eq!((r.weight, r.total, r.mass), (3, 5, true));
        assert!(refusal_message("service", &r).contains("remove 3 of 5 service objects (d)"));
    }
}
