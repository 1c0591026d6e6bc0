//! Driver hand-off: tasks parked on I/O and timers keep waking after a `Runtime::block_on`
//! returns.
//!
//! Any thread that parks in a multi-threaded runtime takes its driver (the reactor and the timer)
//! if it is free, the thread inside `Runtime::block_on` included; the workers that park meanwhile
//! sleep on their condition variables. This scenario checks that when `block_on` returns, the
//! driver does not stay unattended: a task parked in `accept` must still see its connection, and
//! a task parked in a 50 ms `sleep` must still wake, with no other activity on the runtime. Each
//! run: spawn both tasks, `block_on` a 10 ms sleep (on this thread), then connect from a plain
//! thread and wait up to 500 ms.
//!
//! The `emfile` scenario found this (its setup did exactly that); this one names it.

use std::time::{Duration, Instant};

use corio::net::TcpListener;

use super::runtime;
use crate::outcome::{Outcome, Size};

pub(crate) fn run(size: Size, out: &mut Outcome) {
    let runs = size.pick(20, 10, 5);
    let (mut io_lost, mut timer_lost) = (0, 0);
    for _ in 0..runs {
        let rt = runtime(2);
        let listener = match rt.block_on(TcpListener::bind("127.0.0.1:0")) {
            Ok(l) => l,
            Err(e) => return out.fail(format!("bind: {e}")),
        };
        let addr = listener
            .local_addr()
            .expect("a bound listener has an address");
        let accept = rt.spawn(async move { listener.accept().await.map(|_| ()) });
        let timer = rt.spawn(async { corio::sleep(Duration::from_millis(50)).await });
        rt.block_on(async { corio::sleep(Duration::from_millis(10)).await });
        let client = std::net::TcpStream::connect(addr);
        let t = Instant::now();
        while !(accept.is_finished() && timer.is_finished())
            && t.elapsed() < Duration::from_millis(500)
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        io_lost += usize::from(!accept.is_finished());
        timer_lost += usize::from(!timer.is_finished());
        drop((client, accept, timer, rt));
    }
    out.figure(format!(
        "{runs} runtimes, each after a block_on(sleep(10 ms)) returned: a parked accept missed \
         its connection in {io_lost}, a parked 50 ms sleep was still asleep 500 ms later in \
         {timer_lost}"
    ));
    out.check(io_lost == 0 && timer_lost == 0, || {
        format!(
            "wake-ups lost in {} of {runs} runs: the thread of Runtime::block_on left the \
             driver when it returned and no parked worker took it over, so nobody polls the \
             reactor or fires timers until something from outside wakes a worker",
            io_lost.max(timer_lost)
        )
    });
}
