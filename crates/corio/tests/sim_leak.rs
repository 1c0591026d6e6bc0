//! A simulation leaves nothing behind: each `Sim::run` builds a runtime of its own, and every
//! run's runtime must be freed with its poller and eventfd. A cycle (runtime -> report hook ->
//! reports -> the controller task's waker -> runtime) leaked two descriptors per run, until
//! `corio::sim::explore` over a few hundred seeds failed with "Too many open files", blamed on
//! a seed. One test in this binary, so that no other test opens descriptors meanwhile.
#![cfg(target_os = "linux")]

use std::time::Duration;

use corio::net::{TcpListener, TcpStream};

fn open_descriptors() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn one_run(seed: u64) {
    let sim = corio::sim::Builder::new().seed(seed).build();
    sim.host("server", || async {
        let listener = TcpListener::bind("0.0.0.0:80").await?;
        loop {
            let (stream, _) = listener.accept().await?;
            drop(stream);
        }
    });
    sim.client("client", async {
        corio::sleep(Duration::from_millis(3)).await;
        drop(TcpStream::connect("server:80").await?);
        Ok(())
    });
    sim.run().unwrap();
}

#[test]
fn simulations_leave_no_descriptor_behind() {
    // The first run may set up process-wide things (a global timer, say) once.
    one_run(0);
    let before = open_descriptors();
    for seed in 1..=50 {
        one_run(seed);
    }
    let mut failing = corio::sim::Builder::new().seed(99).build();
    failing.client("client", async { Err("fails on purpose".into()) });
    assert!(failing.run().is_err());
    failing = corio::sim::Builder::new().seed(100).build();
    failing.client("client", async { panic!("panics on purpose") });
    assert!(failing.run().is_err());
    drop(failing);
    assert_eq!(
        open_descriptors(),
        before,
        "descriptors left behind by 52 simulations"
    );
}
