//! Update metrics: seconds per phase, updates by result, automatic rollbacks.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::record::PhaseTime;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: String,
}

fn phase_histogram() -> Histogram {
    Histogram::new([0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0])
}

/// Shared handles: cloning keeps the same series.
#[derive(Clone, Debug)]
pub struct RolloutMetrics {
    phase_seconds: Family<PhaseLabels, Histogram, fn() -> Histogram>,
    updates: Family<ResultLabels, Counter>,
    rollbacks: Counter,
}

impl Default for RolloutMetrics {
    fn default() -> Self {
        RolloutMetrics {
            phase_seconds: Family::new_with_constructor(phase_histogram),
            updates: Family::default(),
            rollbacks: Counter::default(),
        }
    }
}

impl RolloutMetrics {
    /// Registers the families in `registry`.
    pub fn register(&self, registry: &mut Registry) {
        registry.register_with_unit(
            "holdfast_update_phase",
            "How long each phase of start-first updates took",
            Unit::Seconds,
            self.phase_seconds.clone(),
        );
        registry.register(
            "holdfast_updates",
            "Start-first updates that ended, by result (succeeded, failed, rolled_back, paused)",
            self.updates.clone(),
        );
        registry.register(
            "holdfast_automatic_rollbacks",
            "Updates rolled back because the new container failed during update_config.monitor",
            self.rollbacks.clone(),
        );
    }

    /// An update ended with `result`, after `phases`.
    pub fn ended(&self, result: &str, phases: &[PhaseTime]) {
        self.updates
            .get_or_create(&ResultLabels {
                result: result.to_string(),
            })
            .inc();
        for p in phases {
            self.phase_seconds
                .get_or_create(&PhaseLabels {
                    phase: p.phase.as_str().to_string(),
                })
                .observe(p.seconds);
        }
    }

    /// The monitor rolled an update back.
    pub fn rolled_back(&self) {
        self.rollbacks.inc();
    }
}
