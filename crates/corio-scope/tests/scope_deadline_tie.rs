//! A future ready exactly at a scope's deadline wins (`fail_at`, `move_on_at` and friends poll
//! their future first), also when the timer wheel has not fired the future's own timer yet: wheels
//! fire at tick boundaries, and a deadline between two ticks is due by the clock before its tick.
//! On a paused clock moved without firing anything, the old code saw the scope's deadline pass and
//! the inner sleep, due at the same instant, still pending (a probe saw this race on real time).

use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use corio_timer::{Clock, TimerDriver};

#[test]
fn a_sleep_due_at_the_deadline_wins_before_its_wheel_fires() {
    let driver = TimerDriver::new(Clock::new_paused(false));
    let timer = driver.timer();
    let _entered = timer.enter();
    let mut cx = Context::from_waker(Waker::noop());
    // Between two ticks: the wheel fires these at 2 ms.
    let d = corio_timer::now() + Duration::from_micros(1500);

    let mut failing = pin!(corio_scope::fail_at(d, corio_timer::sleep_until(d)));
    let mut moving = pin!(corio_scope::move_on_at(d, corio_timer::sleep_until(d)));
    let mut timing_out = pin!(corio_timer::timeout_at(d, corio_timer::sleep_until(d)));
    assert!(failing.as_mut().poll(&mut cx).is_pending());
    assert!(moving.as_mut().poll(&mut cx).is_pending());
    assert!(timing_out.as_mut().poll(&mut cx).is_pending());

    // Exactly the deadline, and nothing fired.
    timer.clock().advance(Duration::from_micros(1500));
    assert_eq!(corio_timer::now(), d);
    assert!(matches!(
        failing.as_mut().poll(&mut cx),
        Poll::Ready(Ok(()))
    ));
    assert!(matches!(
        moving.as_mut().poll(&mut cx),
        Poll::Ready(Some(()))
    ));
    assert!(matches!(
        timing_out.as_mut().poll(&mut cx),
        Poll::Ready(Ok(()))
    ));

    // A sleep due later than the deadline still loses.
    let d2 = corio_timer::now() + Duration::from_micros(1500);
    let mut late = pin!(corio_scope::fail_at(
        d2,
        corio_timer::sleep_until(d2 + Duration::from_micros(1))
    ));
    assert!(late.as_mut().poll(&mut cx).is_pending());
    timer.clock().advance(Duration::from_micros(1500));
    assert!(matches!(late.as_mut().poll(&mut cx), Poll::Ready(Err(_))));
}
