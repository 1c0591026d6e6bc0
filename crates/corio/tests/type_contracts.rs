//! Compile-time contracts: which corio types are `Send` and `Sync`, and which must not be.
//!
//! Positive bounds are checked by the compiler (`assert_send::<T>()` does not compile unless
//! `T: Send`). Negative ones ("`LocalRuntime` is `!Send`") are read through an inherent constant
//! that exists only when the bound holds, which shadows a trait constant that always exists: no
//! nightly feature, and the answer is a `bool` asserted in a `const` block, so a broken contract
//! fails the build of this test. The bounds that are the
//! point of an API (`spawn` refuses a `!Send` future, a local runtime cannot change threads, a
//! std guard cannot be held across an `.await` in a spawned task) are also `compile_fail`
//! doctests in the crate docs ("Send, !Send, and what the compiler checks").

use std::cell::Cell;
use std::marker::PhantomData;
use std::rc::Rc;
use std::sync::Arc;

use corio::Task;

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}
fn assert_send_val<T: Send>(_: &T) {}

/// `Probe::<T>::SEND` is `true` iff `T: Send` (the inherent constant wins when it exists).
struct Probe<T: ?Sized>(PhantomData<T>);

trait NotSend {
    const SEND: bool = false;
}
impl<T: ?Sized> NotSend for Probe<T> {}
impl<T: ?Sized + Send> Probe<T> {
    const SEND: bool = true;
}

trait NotSync {
    const SYNC: bool = false;
}
impl<T: ?Sized> NotSync for Probe<T> {}
impl<T: ?Sized + Sync> Probe<T> {
    const SYNC: bool = true;
}

macro_rules! is_send {
    ($t:ty) => {
        <Probe<$t>>::SEND
    };
}

macro_rules! is_sync {
    ($t:ty) => {
        <Probe<$t>>::SYNC
    };
}

/// The probe itself must tell both answers apart, or every negative check below is vacuous.
#[test]
fn the_probe_tells_send_from_not_send() {
    const { assert!(is_send!(u8) && is_sync!(u8)) };
    const { assert!(!is_send!(Rc<u8>) && !is_sync!(Rc<u8>)) };
    const { assert!(is_send!(Cell<u8>) && !is_sync!(Cell<u8>)) };
    const { assert!(!is_send!(std::sync::MutexGuard<'static, u8>)) };
}

/// `Runtime` is `Send + Sync` (`rt.spawn` from another thread while `rt.block_on` runs), as is
/// its `Handle`; `LocalRuntime` is neither: its tasks may be `!Send`, so it stays on its thread.
#[test]
fn runtimes() {
    assert_send::<corio::Runtime>();
    assert_sync::<corio::Runtime>();
    assert_send::<corio::Handle>();
    assert_sync::<corio::Handle>();
    const { assert!(!is_send!(corio::LocalRuntime)) };
    const { assert!(!is_sync!(corio::LocalRuntime)) };
    // The executor's own types, which the facade wraps, keep the same contract.
    assert_send::<corio_executor::Runtime>();
    assert_sync::<corio_executor::Runtime>();
    const { assert!(!is_send!(corio_executor::LocalRuntime)) };
}

/// `Task<T>: Send` iff `T: Send`, whichever runtime the task runs on: the handle of a local task
/// whose output is `!Send` cannot leave its thread.
#[test]
fn a_task_handle_is_send_iff_its_output_is() {
    fn for_every_send_output<T: Send>() {
        assert_send::<Task<T>>();
    }
    for_every_send_output::<u8>();
    for_every_send_output::<String>();
    for_every_send_output::<Cell<u8>>(); // Send, not Sync: still a Send handle
    for_every_send_output::<Box<dyn std::any::Any + Send>>();
    const { assert!(is_send!(Task<Vec<u8>>)) };
    const { assert!(!is_send!(Task<Rc<u8>>)) };
    const { assert!(!is_send!(Task<*const u8>)) };
    const { assert!(!is_send!(Task<std::sync::MutexGuard<'static, u8>>)) };

    // And at run time, a local task's handle with a Send output may indeed go to another thread.
    corio::run_local(async {
        let task = corio::spawn_local(async { Rc::new(7).as_ref() + 1 });
        let elsewhere = std::thread::spawn(move || task);
        assert_eq!(elsewhere.join().unwrap().await, 8);
    });
}

/// The guards that make a runtime or pool current on a thread restore that thread's state when
/// dropped, so they must stay on it: `!Send`, hence never held across an `.await` in a `Send`
/// future (a task could resume on another worker).
#[test]
fn entering_guards_stay_on_their_thread() {
    const { assert!(!is_send!(corio::EnterGuard)) };
    const { assert!(!is_send!(corio::blocking::EnterGuard)) };
}

/// corio's lock guards are `Send` (for `Send + Sync` data): holding one across an `.await` is the
/// point of an async lock, and the future stays `Send`, so it can be spawned. std's guards are
/// not, so a future that holds one across an `.await` cannot be spawned.
#[test]
fn async_lock_guards_may_cross_an_await() {
    assert_send::<corio::sync::MutexGuard<'static, Vec<u8>>>();
    assert_send::<corio::sync::OwnedMutexGuard<Vec<u8>>>();
    assert_send::<corio::sync::RwLockReadGuard<'static, Vec<u8>>>();
    assert_send::<corio::sync::RwLockWriteGuard<'static, Vec<u8>>>();
    assert_send::<corio::sync::SemaphorePermit<'static>>();
    const { assert!(!is_send!(std::sync::MutexGuard<'static, Vec<u8>>)) };

    let lock = Arc::new(corio::sync::Mutex::new(Vec::new()));
    let held_across_await = {
        let lock = lock.clone();
        async move {
            let mut guard = lock.lock().await;
            corio::yield_now().await;
            guard.push(1u8);
        }
    };
    assert_send_val(&held_across_await);
    corio::run(async move {
        corio::spawn(held_across_await).await;
        assert_eq!(*lock.lock().await, [1]);
    });
}

/// The futures and handles a multi-threaded program moves between tasks are `Send` (and the
/// shared ones `Sync`).
#[test]
fn everyday_futures_and_handles_are_send() {
    assert_send_val(&corio::sleep(std::time::Duration::from_millis(1)));
    assert_send_val(&corio::timeout(
        std::time::Duration::from_millis(1),
        async {},
    ));
    assert_send_val(&corio::to_thread(|| 1));
    assert_send_val(&corio::net::TcpStream::connect("127.0.0.1:1"));
    assert_send_val(&corio::fs::read("/nonexistent"));
    assert_send_val(&corio::join_all((1..3).map(|i| async move { i })));
    let sem = corio::Semaphore::new(1);
    assert_send_val(&sem.acquire());
    let queue = corio::Queue::<u8>::bounded(1);
    assert_send_val(&queue.get());
    assert_send_val(&queue.put(1));
    assert_send::<corio::CancelToken>();
    assert_sync::<corio::CancelToken>();
    // The owned wait can be spawned: Send, and free of borrows.
    fn spawnable<T: std::future::Future<Output = ()> + Send + Unpin + 'static>() {}
    spawnable::<corio::scope::WhenCancelledOwned>();
    assert_send::<corio::TaskSet<u8>>();
    assert_send::<corio::Interval>();
    assert_send::<corio::net::TcpStream>();
    assert_sync::<corio::net::TcpStream>();
    assert_send::<corio::net::UdpSocket>();
    assert_send::<corio::fs::File>();
}

#[test]
fn the_reactor_and_timer_guards_stay_on_their_thread() {
    // They restore a thread's current reactor or timer when dropped, like the runtime's
    // `EnterGuard`: a task must not carry one across an await to another worker.
    const {
        assert!(
            !<Probe<corio_reactor::ReactorGuard>>::SEND,
            "ReactorGuard is Send"
        )
    };
    const {
        assert!(
            !<Probe<corio_timer::TimerGuard>>::SEND,
            "TimerGuard is Send"
        )
    };
}
