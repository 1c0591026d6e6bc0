//! What one iteration of a workload hands back to the harness.

use std::time::{Duration, Instant};

/// The measurement of one iteration, before division by the op count.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Metric {
    /// Wall time of the measured part.
    Elapsed(Duration),
    /// A memory increase.
    Bytes(u64),
}

/// One iteration's result: the checked value and the measurement.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Outcome {
    /// Must equal [`Workload::expected`](crate::workload::Workload::expected).
    pub(crate) check: u64,
    pub(crate) metric: Metric,
}

impl Outcome {
    /// A timed outcome, measured from `start` to now.
    pub(crate) fn since(start: Instant, check: u64) -> Outcome {
        let elapsed = start.elapsed();
        Outcome {
            check: std::hint::black_box(check),
            metric: Metric::Elapsed(elapsed),
        }
    }
}

/// `mem_per_task`'s outcome: the RSS growth (divided by the task count later, like a time).
pub(crate) fn rss_increase(before: u64, after: u64, check: u64) -> Outcome {
    Outcome {
        check,
        metric: Metric::Bytes(after.saturating_sub(before)),
    }
}

/// `million_tasks`: spawn phase plus wake phase, or an error when the spawn phase overran the
/// shared deadline (the late tasks would never have slept).
pub(crate) fn million_outcome(
    start: Instant,
    all_polled: Instant,
    deadline: Instant,
    done: Instant,
    check: u64,
) -> Outcome {
    assert!(
        all_polled < deadline,
        "million_tasks: spawning took {:?}, longer than the {:?} before the shared deadline; \
         the run is invalid (raise Sizes::million_deadline)",
        all_polled - start,
        deadline - start
    );
    let spawn_phase = all_polled - start;
    let wake_phase = done.saturating_duration_since(deadline);
    eprintln!(
        "million_tasks: spawn phase {spawn_phase:.1?} (deadline at {:.1?}), wake phase \
         {wake_phase:.1?}",
        deadline - start
    );
    Outcome {
        check,
        metric: Metric::Elapsed(spawn_phase + wake_phase),
    }
}
