//! The OS poller under the reactor.
//!
//! On Linux it is corio's own edge-triggered epoll: one `epoll_wait` per park and nothing else.
//! `polling`'s epoll backend pays four more system calls per wait (`timerfd_settime` and an
//! `epoll_ctl` to arm its timeout timer, a `read` and an `epoll_ctl` to clear and re-arm its
//! notifier), which issue 17 measured at 3,391 `timerfd_settime`, 3,406 `read` and ~7,000
//! `epoll_ctl` calls in one `tcp_echo` run where tokio made none of them. Here the timeout is
//! `epoll_wait`'s own (in milliseconds, rounded up, so a timer is never early), and the notifier
//! is an eventfd registered once, edge-triggered: every write is a new edge, so it is never read
//! or re-armed (a write that would overflow the counter resets it first).
//!
//! Elsewhere the reactor uses `polling` as it is.
//!
//! Both offer the subset of `polling`'s API that the reactor uses, with `polling`'s own `Event`
//! and `PollMode` types.

#[cfg(not(target_os = "linux"))]
pub(crate) use polling::{Events, Poller};

#[cfg(all(target_os = "linux", not(feature = "io-uring")))]
pub(crate) use linux::{Events, Poller};

#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub(crate) use {crate::uring::Poller, linux::Events};

/// The name of the OS interface the reactor waits in.
#[cfg(all(target_os = "linux", not(feature = "io-uring")))]
pub(crate) fn backend(_: &Poller) -> &'static str {
    "epoll"
}

/// The name of the OS interface the reactor waits in.
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub(crate) fn backend(poller: &Poller) -> &'static str {
    poller.backend()
}

/// The name of the OS interface the reactor waits in.
#[cfg(not(target_os = "linux"))]
pub(crate) fn backend(_: &Poller) -> &'static str {
    if cfg!(any(
        target_os = "android",
        target_os = "illumos",
        target_os = "solaris"
    )) {
        "epoll"
    } else if cfg!(windows) {
        "iocp"
    } else if cfg!(any(
        target_vendor = "apple",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    )) {
        "kqueue"
    } else {
        "poll"
    }
}

/// Why the reactor does not use io_uring although the `io-uring` feature is on.
#[cfg(all(target_os = "linux", feature = "io-uring"))]
pub(crate) fn fallback_reason(poller: &Poller) -> Option<&str> {
    poller.fallback_reason()
}

/// Why the reactor does not use io_uring although the `io-uring` feature is on.
#[cfg(not(all(target_os = "linux", feature = "io-uring")))]
pub(crate) fn fallback_reason(_: &Poller) -> Option<&str> {
    None
}

#[cfg(target_os = "linux")]
pub(crate) mod linux {
    use std::io;
    use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use polling::{Event, PollMode};

    /// The epoll key of the notifier (no source can have it: sources are slab indices).
    pub(crate) const NOTIFY_KEY: u64 = u64::MAX;
    /// How many events one wait returns at most.
    pub(crate) const CAPACITY: usize = 1024;

    const READ_FLAGS: u32 =
        (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR | libc::EPOLLPRI)
            as u32;
    const WRITE_FLAGS: u32 = (libc::EPOLLOUT | libc::EPOLLHUP | libc::EPOLLERR) as u32;
    const HANGUP_FLAGS: u32 = (libc::EPOLLRDHUP | libc::EPOLLHUP | libc::EPOLLERR) as u32;

    #[derive(Debug)]
    pub(crate) struct Poller {
        epoll: OwnedFd,
        notifier: OwnedFd,
        /// A notification is pending: further `notify` calls need no write until a wait
        /// returns (as in `polling`).
        notified: AtomicBool,
    }

    /// The events of one wait.
    pub(crate) struct Events {
        pub(crate) list: Vec<libc::epoll_event>,
        pub(crate) len: usize,
    }

    impl Events {
        pub(crate) fn new() -> Events {
            Events {
                list: vec![libc::epoll_event { events: 0, u64: 0 }; CAPACITY],
                len: 0,
            }
        }

        pub(crate) fn clear(&mut self) {
            self.len = 0;
        }

        pub(crate) fn len(&self) -> usize {
            self.len
        }

        pub(crate) fn iter(&self) -> impl Iterator<Item = Event> + '_ {
            self.list[..self.len].iter().map(|ev| {
                let flags = ev.events;
                let key = ev.u64 as usize;
                let mut event = Event::new(key, flags & READ_FLAGS != 0, flags & WRITE_FLAGS != 0);
                // A hang-up or an error: the reactor stops trusting short reads (see
                // `READ_CLOSED` in reactor.rs).
                event.set_interrupt(flags & HANGUP_FLAGS != 0);
                event
            })
        }
    }

    pub(crate) fn check(ret: libc::c_int) -> io::Result<libc::c_int> {
        if ret < 0 {
            Err(io::Error::last_os_error())
        } else {
            Ok(ret)
        }
    }

    fn interest(ev: &Event, mode: PollMode) -> u32 {
        let mut flags = 0;
        if ev.readable {
            flags |= (libc::EPOLLIN | libc::EPOLLRDHUP | libc::EPOLLPRI) as u32;
        }
        if ev.writable {
            flags |= libc::EPOLLOUT as u32;
        }
        flags |= match mode {
            PollMode::Edge | PollMode::EdgeOneshot => libc::EPOLLET as u32,
            _ => 0,
        };
        if matches!(mode, PollMode::Oneshot | PollMode::EdgeOneshot) {
            flags |= libc::EPOLLONESHOT as u32;
        }
        flags
    }

    /// Adds one to an eventfd's counter (a new edge for whoever watches it).
    pub(crate) fn write_eventfd(notifier: &OwnedFd) -> io::Result<()> {
        let one: u64 = 1;
        loop {
            // SAFETY: writes 8 bytes from a live `u64` to our own eventfd.
            #[allow(unsafe_code)]
            let n = unsafe {
                libc::write(
                    notifier.as_raw_fd(),
                    (&raw const one).cast::<libc::c_void>(),
                    8,
                )
            };
            if n >= 0 {
                return Ok(());
            }
            let err = io::Error::last_os_error();
            match err.kind() {
                io::ErrorKind::Interrupted => continue,
                // The counter is about to overflow (after 2^64 - 2 unread wake-ups): reset
                // it, then write again.
                io::ErrorKind::WouldBlock => reset_eventfd(notifier),
                _ => return Err(err),
            }
        }
    }

    /// Reads an eventfd's counter back to zero (it is non-blocking: a zero counter is `EAGAIN`).
    pub(crate) fn reset_eventfd(fd: &OwnedFd) {
        let mut count: u64 = 0;
        // SAFETY: reads 8 bytes into a live `u64` from our own eventfd.
        #[allow(unsafe_code)]
        let _ = unsafe { libc::read(fd.as_raw_fd(), (&raw mut count).cast::<libc::c_void>(), 8) };
    }

    impl Poller {
        pub(crate) fn new() -> io::Result<Poller> {
            // SAFETY: plain system calls with valid constant flags.
            #[allow(unsafe_code)]
            let epoll = check(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
            // SAFETY: `epoll` is a descriptor we just created and own from here on.
            #[allow(unsafe_code)]
            let epoll = unsafe { OwnedFd::from_raw_fd(epoll) };
            // SAFETY: a plain system call with valid constant flags.
            #[allow(unsafe_code)]
            let notifier =
                check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
            // SAFETY: `notifier` is a descriptor we just created and own from here on.
            #[allow(unsafe_code)]
            let notifier = unsafe { OwnedFd::from_raw_fd(notifier) };
            let poller = Poller {
                epoll,
                notifier,
                notified: AtomicBool::new(false),
            };
            poller.ctl(
                libc::EPOLL_CTL_ADD,
                poller.notifier.as_raw_fd(),
                (libc::EPOLLIN | libc::EPOLLET) as u32,
                NOTIFY_KEY,
            )?;
            Ok(poller)
        }

        pub(crate) fn supports_edge(&self) -> bool {
            true
        }

        fn ctl(&self, op: libc::c_int, fd: RawFd, events: u32, key: u64) -> io::Result<()> {
            let mut ev = libc::epoll_event { events, u64: key };
            // SAFETY: `self.epoll` is our epoll descriptor and `ev` a valid event for the
            // duration of the call; epoll only records `fd`, it never takes ownership of it (the
            // reactor's callers keep `fd` open while it is registered, see `add_with_mode`).
            #[allow(unsafe_code)]
            check(unsafe { libc::epoll_ctl(self.epoll.as_raw_fd(), op, fd, &mut ev) })?;
            Ok(())
        }

        /// Registers `fd`.
        ///
        /// # Safety
        ///
        /// `fd` must stay open until it is [`delete`](Poller::delete)d, as `polling` requires.
        #[allow(unsafe_code)]
        pub(crate) unsafe fn add_with_mode(
            &self,
            fd: RawFd,
            ev: Event,
            mode: PollMode,
        ) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_ADD, fd, interest(&ev, mode), ev.key as u64)
        }

        pub(crate) fn modify(&self, fd: BorrowedFd<'_>, ev: Event) -> io::Result<()> {
            self.ctl(
                libc::EPOLL_CTL_MOD,
                fd.as_raw_fd(),
                interest(&ev, PollMode::Oneshot),
                ev.key as u64,
            )
        }

        pub(crate) fn delete(&self, fd: BorrowedFd<'_>, _key: usize) -> io::Result<()> {
            self.ctl(libc::EPOLL_CTL_DEL, fd.as_raw_fd(), 0, 0)
        }

        /// Wakes the current or the next [`wait`](Poller::wait).
        pub(crate) fn notify(&self) -> io::Result<()> {
            if self
                .notified
                .compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return Ok(());
            }
            write_eventfd(&self.notifier)
        }

        /// Waits up to `timeout` for events; returns how many sources are ready (a notification
        /// alone returns 0). Interrupted waits return 0 as well: the caller's loop waits again.
        pub(crate) fn wait(
            &self,
            events: &mut Events,
            timeout: Option<Duration>,
        ) -> io::Result<usize> {
            let ms: libc::c_int = match timeout {
                None => -1,
                Some(t) if t.is_zero() => 0,
                // Round up: waking a little late is fine, early would spin until the timer.
                Some(t) => t
                    .as_nanos()
                    .div_ceil(1_000_000)
                    .min(libc::c_int::MAX as u128) as libc::c_int,
            };
            // SAFETY: the buffer holds `CAPACITY` initialised events, and the kernel writes at
            // most `CAPACITY` of them.
            #[allow(unsafe_code)]
            let n = unsafe {
                libc::epoll_wait(
                    self.epoll.as_raw_fd(),
                    events.list.as_mut_ptr(),
                    CAPACITY as libc::c_int,
                    ms,
                )
            };
            self.notified.store(false, Ordering::SeqCst);
            let n = match check(n) {
                Ok(n) => n as usize,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                Err(e) => return Err(e),
            };
            // Drop the notifier's event, keeping the order of the others.
            let mut len = 0;
            for i in 0..n {
                if events.list[i].u64 != NOTIFY_KEY {
                    events.list[len] = events.list[i];
                    len += 1;
                }
            }
            events.len = len;
            Ok(len)
        }
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::{Events, Poller};

    #[test]
    fn a_timeout_is_never_early() {
        let poller = Poller::new().unwrap();
        let mut events = Events::new();
        for wait in [Duration::from_micros(300), Duration::from_millis(2)] {
            let start = Instant::now();
            assert_eq!(poller.wait(&mut events, Some(wait)).unwrap(), 0);
            assert!(start.elapsed() >= wait, "woke after {:?}", start.elapsed());
        }
    }

    #[test]
    fn notify_wakes_a_wait_on_another_thread_and_a_later_one() {
        let poller = Arc::new(Poller::new().unwrap());
        let p = poller.clone();
        let waiter = std::thread::spawn(move || {
            let mut events = Events::new();
            p.wait(&mut events, None).unwrap()
        });
        // Keep notifying until the waiter returns (it may not be waiting yet).
        while !waiter.is_finished() {
            poller.notify().unwrap();
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(
            waiter.join().unwrap(),
            0,
            "a notification reports no source"
        );
        // A notification before the wait makes the wait return at once, however many came.
        for _ in 0..3 {
            poller.notify().unwrap();
        }
        let mut events = Events::new();
        assert_eq!(poller.wait(&mut events, None).unwrap(), 0);
        // Consumed: the next wait sleeps its whole timeout instead of returning at once.
        let start = Instant::now();
        assert_eq!(
            poller
                .wait(&mut events, Some(Duration::from_millis(50)))
                .unwrap(),
            0
        );
        assert!(start.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn an_edge_is_reported_once_per_change() {
        use std::io::Write;
        use std::os::fd::AsRawFd;

        let poller = Poller::new().unwrap();
        let (mut a, b) = std::os::unix::net::UnixStream::pair().unwrap();
        b.set_nonblocking(true).unwrap();
        // SAFETY: `b` outlives its registration: it is deleted below before it drops.
        #[allow(unsafe_code)]
        unsafe {
            poller
                .add_with_mode(
                    b.as_raw_fd(),
                    polling::Event::all(7),
                    polling::PollMode::Edge,
                )
                .unwrap();
        }
        let mut events = Events::new();
        // Writable at once.
        assert_eq!(
            poller
                .wait(&mut events, Some(Duration::from_secs(5)))
                .unwrap(),
            1
        );
        let ev = events.iter().next().unwrap();
        assert_eq!((ev.key, ev.writable), (7, true));
        // No change, no event.
        assert_eq!(poller.wait(&mut events, Some(Duration::ZERO)).unwrap(), 0);
        a.write_all(b"x").unwrap();
        assert_eq!(
            poller
                .wait(&mut events, Some(Duration::from_secs(5)))
                .unwrap(),
            1
        );
        assert!(events.iter().next().unwrap().readable);
        poller.delete(std::os::fd::AsFd::as_fd(&b), 7).unwrap();
    }
}
