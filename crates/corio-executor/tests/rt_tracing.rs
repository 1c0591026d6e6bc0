//! The optional `tracing` feature: spawn, poll and complete, each carrying the task's id, so a
//! subscriber can follow one task. `cargo xtask ci` runs this with `--features tracing`.
#![cfg(feature = "tracing")]

use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Metadata, Subscriber};

/// What the subscriber saw: ("span" | "event", name or message, task_id).
type Seen = Arc<Mutex<Vec<(&'static str, String, Option<u64>)>>>;

struct Recorder {
    seen: Seen,
    next: std::sync::atomic::AtomicU64,
}

#[derive(Default)]
struct Fields {
    message: Option<String>,
    task_id: Option<u64>,
}

impl Visit for Fields {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "task_id" {
            self.task_id = Some(value);
        }
    }
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if field.name() == "message" {
            self.message = Some(format!("{value:?}"));
        }
    }
}

impl Subscriber for Recorder {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        metadata.target() == "corio::task"
    }
    fn new_span(&self, attrs: &Attributes<'_>) -> Id {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        self.seen.lock().unwrap().push((
            "span",
            attrs.metadata().name().to_string(),
            fields.task_id,
        ));
        Id::from_u64(
            self.next
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
                .max(1),
        )
    }
    fn record(&self, _: &Id, _: &Record<'_>) {}
    fn record_follows_from(&self, _: &Id, _: &Id) {}
    fn event(&self, event: &Event<'_>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        self.seen.lock().unwrap().push((
            "event",
            fields.message.unwrap_or_default(),
            fields.task_id,
        ));
    }
    fn enter(&self, _: &Id) {}
    fn exit(&self, _: &Id) {}
}

#[test]
fn spawn_poll_and_complete_carry_the_task_id() {
    let seen: Seen = Arc::default();
    let recorder = Recorder {
        seen: seen.clone(),
        next: 1.into(),
    };
    let id = tracing::subscriber::with_default(recorder, || {
        let rt = corio_executor::LocalRuntime::new().unwrap();
        rt.block_on(async {
            let task = corio_executor::task::Builder::new()
                .name("traced")
                .spawn(async {
                    corio_executor::yield_now().await;
                    7
                });
            let id = task.id().as_u64();
            assert_eq!(task.await, 7);
            id
        })
    });
    let seen = seen.lock().unwrap();
    let mine: Vec<_> = seen.iter().filter(|(_, _, t)| *t == Some(id)).collect();
    let has = |kind: &str, what: &str| mine.iter().any(|(k, n, _)| *k == kind && n == what);
    assert!(has("event", "spawn"), "{seen:?}");
    assert!(has("event", "complete"), "{seen:?}");
    let polls = mine
        .iter()
        .filter(|(k, n, _)| *k == "span" && n == "poll")
        .count();
    assert_eq!(
        polls, 2,
        "one poll span per poll (it yields once): {seen:?}"
    );
}
