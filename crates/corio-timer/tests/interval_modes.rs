//! `Interval`'s missed-tick behaviours, each on virtual time: a paused clock that only moves when
//! the test says so, so that "the task was busy for 35 ms" is exact and the ticks it missed are
//! known in advance.
//!
//! Each test makes a 10 ms interval, takes its first tick (immediate, at `start`), then moves the
//! clock 35 ms at once, as a task busy past three ticks would see it, and checks which ticks come
//! back at once, which one waits, and that no tick ever comes before its scheduled instant.

use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use corio_timer::{Clock, Interval, MissedTickBehavior, Timer, TimerDriver, TimerGuard};

const PERIOD: Duration = Duration::from_millis(10);

/// A timer with a paused clock (moved only by `advance`), current on this thread.
struct Virtual {
    timer: Timer,
    _driver: TimerDriver,
    _guard: TimerGuard,
}

impl Virtual {
    fn new() -> Virtual {
        let driver = TimerDriver::new(Clock::new());
        let timer = driver.timer();
        // On the timer's millisecond grid, so that whole-millisecond moves land on deadlines.
        timer.pause(false);
        let guard = timer.enter();
        Virtual {
            timer,
            _driver: driver,
            _guard: guard,
        }
    }

    fn now(&self) -> Instant {
        self.timer.now()
    }

    fn advance(&self, by: Duration) {
        self.timer.advance(by);
    }
}

/// One poll of the next tick: `Some(scheduled instant)` if it is due now.
fn try_tick(interval: &mut Interval) -> Option<Instant> {
    match interval.poll_tick(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(at) => Some(at),
        Poll::Pending => None,
    }
}

/// A 10 ms interval in `mode`, its first tick taken, then 35 ms of "busy" virtual time.
fn after_a_35ms_stall(clock: &Virtual, mode: MissedTickBehavior) -> (Interval, Instant) {
    let start = clock.now();
    let mut interval = corio_timer::interval(PERIOD);
    interval.set_missed_tick_behavior(mode);
    assert_eq!(interval.missed_tick_behavior(), mode);
    assert_eq!(
        try_tick(&mut interval),
        Some(start),
        "the first tick is immediate"
    );
    assert_eq!(try_tick(&mut interval), None, "the second waits a period");
    clock.advance(Duration::from_millis(35));
    (interval, start)
}

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

#[test]
fn burst_is_the_default_and_fires_the_missed_ticks_back_to_back_on_the_original_schedule() {
    let clock = Virtual::new();
    assert_eq!(
        corio_timer::interval(PERIOD).missed_tick_behavior(),
        MissedTickBehavior::Burst
    );
    let (mut interval, start) = after_a_35ms_stall(&clock, MissedTickBehavior::Burst);
    // The three missed ticks, at once, each with its own scheduled instant.
    for k in 1..=3 {
        assert_eq!(try_tick(&mut interval), Some(start + PERIOD * k));
    }
    // Caught up: the fourth is still 5 ms away, on the original grid.
    assert_eq!(try_tick(&mut interval), None);
    clock.advance(ms(4));
    assert_eq!(try_tick(&mut interval), None, "never early");
    clock.advance(ms(1));
    assert_eq!(try_tick(&mut interval), Some(start + ms(40)));
    clock.advance(PERIOD);
    assert_eq!(try_tick(&mut interval), Some(start + ms(50)));
}

#[test]
fn delay_fires_once_then_restarts_the_schedule_one_period_after_the_late_tick() {
    let clock = Virtual::new();
    let (mut interval, start) = after_a_35ms_stall(&clock, MissedTickBehavior::Delay);
    // The late tick reports its scheduled instant; the two other missed ticks are dropped.
    assert_eq!(try_tick(&mut interval), Some(start + ms(10)));
    assert_eq!(try_tick(&mut interval), None);
    // The next one is a full period after the moment the late tick was taken (35 ms).
    clock.advance(ms(9));
    assert_eq!(try_tick(&mut interval), None, "never early");
    clock.advance(ms(1));
    assert_eq!(try_tick(&mut interval), Some(start + ms(45)));
    // And the schedule goes on from there.
    clock.advance(PERIOD);
    assert_eq!(try_tick(&mut interval), Some(start + ms(55)));
    assert_eq!(try_tick(&mut interval), None);
}

/// A tick taken a little late (as timers fire: within 5 ms) is not a missed one: Delay keeps
/// the schedule, so an interval whose ticks are each taken 2 ms late does not drift by 2 ms a
/// period. Taken more than 5 ms late, it is missed, and the schedule restarts from then.
#[test]
fn delay_keeps_the_schedule_when_ticks_are_only_a_little_late() {
    let clock = Virtual::new();
    let start = clock.now();
    let mut interval = corio_timer::interval(PERIOD);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    assert_eq!(try_tick(&mut interval), Some(start));
    clock.advance(ms(12));
    assert_eq!(try_tick(&mut interval), Some(start + ms(10)));
    for k in 2..6 {
        // Each next tick is due on the original grid: 8 ms later, not 10.
        clock.advance(ms(8));
        assert_eq!(
            try_tick(&mut interval),
            Some(start + ms(10 * k)),
            "tick {k}"
        );
        clock.advance(ms(2));
    }
    // The tick of 60 ms taken 7 ms late: missed, and the next tick is a period after now
    // (67 + 10).
    clock.advance(ms(15));
    assert_eq!(try_tick(&mut interval), Some(start + ms(60)));
    clock.advance(ms(9));
    assert_eq!(try_tick(&mut interval), None, "never early");
    clock.advance(ms(1));
    assert_eq!(try_tick(&mut interval), Some(start + ms(77)));
}

#[test]
fn skip_fires_once_then_resumes_on_the_original_grid() {
    let clock = Virtual::new();
    let (mut interval, start) = after_a_35ms_stall(&clock, MissedTickBehavior::Skip);
    assert_eq!(try_tick(&mut interval), Some(start + ms(10)));
    assert_eq!(
        try_tick(&mut interval),
        None,
        "the ticks at 20 and 30 ms are skipped"
    );
    // The next tick is the original schedule's next one after now: 40 ms, not 45.
    clock.advance(ms(4));
    assert_eq!(try_tick(&mut interval), None, "never early");
    clock.advance(ms(1));
    assert_eq!(try_tick(&mut interval), Some(start + ms(40)));
    clock.advance(PERIOD);
    assert_eq!(try_tick(&mut interval), Some(start + ms(50)));
}

/// Skip resumes on the original grid however far back the schedule started: a start more than
/// `u64::MAX` ns (584 years) back made the skip overflow a u64 of nanoseconds, and the interval
/// never ticked again (a review).
#[test]
fn skip_resumes_on_the_grid_after_a_start_centuries_back() {
    let clock = Virtual::new();
    let period = Duration::from_secs(1);
    for years in [1u64, 583, 585, 600, 10_000] {
        let back = Duration::from_secs(years * 365 * 86_400);
        let Some(start) = clock.now().checked_sub(back) else {
            panic!("this platform's Instant cannot go {years} years back");
        };
        let mut interval = corio_timer::interval_at(start, period);
        interval.set_missed_tick_behavior(MissedTickBehavior::Skip);
        assert_eq!(try_tick(&mut interval), Some(start), "{years} years");
        assert_eq!(
            try_tick(&mut interval),
            None,
            "{years} years: the missed ticks are skipped"
        );
        clock.advance(period);
        let tick = try_tick(&mut interval)
            .unwrap_or_else(|| panic!("{years} years back: no tick one period later"));
        assert_eq!(
            tick,
            clock.now(),
            "{years} years: the next tick of the original grid"
        );
    }
}

/// A stall that ends exactly on a tick of the grid: Skip must not fire that tick twice nor
/// skip past it, and Burst fires every missed tick including it.
#[test]
fn a_stall_that_ends_exactly_on_a_tick() {
    for mode in [
        MissedTickBehavior::Burst,
        MissedTickBehavior::Delay,
        MissedTickBehavior::Skip,
    ] {
        let clock = Virtual::new();
        let start = clock.now();
        let mut interval = corio_timer::interval(PERIOD);
        interval.set_missed_tick_behavior(mode);
        assert_eq!(try_tick(&mut interval), Some(start));
        clock.advance(ms(30));
        let mut due = Vec::new();
        while let Some(at) = try_tick(&mut interval) {
            due.push(at.duration_since(start));
        }
        let expected = match mode {
            MissedTickBehavior::Burst => vec![ms(10), ms(20), ms(30)],
            _ => vec![ms(10)],
        };
        assert_eq!(due, expected, "{mode:?}");
        // Then one period later each mode ticks again: 40 ms (Burst, Skip) or 30 + 10 (Delay).
        clock.advance(PERIOD);
        assert_eq!(try_tick(&mut interval), Some(start + ms(40)), "{mode:?}");
    }
}

/// Without a stall the three modes are the same schedule: one tick per period, on the grid.
#[test]
fn on_time_the_modes_agree() {
    for mode in [
        MissedTickBehavior::Burst,
        MissedTickBehavior::Delay,
        MissedTickBehavior::Skip,
    ] {
        let clock = Virtual::new();
        let start = clock.now();
        let mut interval = corio_timer::interval(PERIOD);
        interval.set_missed_tick_behavior(mode);
        for k in 0..20 {
            assert_eq!(
                try_tick(&mut interval),
                Some(start + PERIOD * k),
                "{mode:?}"
            );
            assert_eq!(try_tick(&mut interval), None, "{mode:?}");
            clock.advance(PERIOD);
        }
    }
}

/// A long stall (a thousand periods) costs Burst a thousand immediate ticks and the others one.
#[test]
fn a_long_stall() {
    for (mode, immediate) in [
        (MissedTickBehavior::Burst, 1000),
        (MissedTickBehavior::Delay, 1),
        (MissedTickBehavior::Skip, 1),
    ] {
        let clock = Virtual::new();
        let mut interval = corio_timer::interval(PERIOD);
        interval.set_missed_tick_behavior(mode);
        assert!(try_tick(&mut interval).is_some());
        clock.advance(PERIOD * 1000 + ms(5));
        let mut count = 0;
        while let Some(at) = try_tick(&mut interval) {
            assert!(at <= clock.now(), "a tick is never early");
            count += 1;
            assert!(count <= 1000, "{mode:?} never catches up");
        }
        assert_eq!(count, immediate, "{mode:?}");
    }
}

/// The tick future is woken by the timer when its deadline passes (not only polled by the test).
#[test]
fn a_waiting_tick_is_woken_when_virtual_time_reaches_it() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    for mode in [
        MissedTickBehavior::Burst,
        MissedTickBehavior::Delay,
        MissedTickBehavior::Skip,
    ] {
        let clock = Virtual::new();
        let (mut interval, _) = after_a_35ms_stall(&clock, mode);
        while try_tick(&mut interval).is_some() {}
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        assert!(
            interval
                .poll_tick(&mut Context::from_waker(&waker))
                .is_pending()
        );
        clock.advance(PERIOD);
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "{mode:?}");
        assert!(
            interval
                .poll_tick(&mut Context::from_waker(&waker))
                .is_ready()
        );
    }
}
