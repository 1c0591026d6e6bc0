// The hidden setup of corio-macros' doctests (`include!`d by each of them).
//
// This crate cannot depend on the `corio` facade, which depends on it, so its doctests make the
// doctest crate itself answer to the name `corio` and give it what the expansion calls:
// `corio::__private::{MacroConfig, run_main, run_test}`, here on corio-executor's runtimes
// (the facade's adds the timer and reactor driver, and deterministic mode). The macros run on
// the real thing in the facade's tests (`tests/api_contract.rs`, `tests/deterministic.rs`,
// `tests/debug_mode.rs`) and examples.

extern crate self as corio;

pub use corio_executor::spawn;
pub use corio_macros::{main, test};
pub use corio_timer::sleep;

#[doc(hidden)]
pub mod __private {
    use std::future::Future;

    /// The options the macros pass, one method per option.
    #[derive(Debug, Default)]
    pub struct MacroConfig {
        local: bool,
        worker_threads: Option<usize>,
        debug: bool,
    }

    impl MacroConfig {
        pub fn new() -> MacroConfig {
            MacroConfig::default()
        }
        pub fn local(self, local: bool) -> MacroConfig {
            MacroConfig { local, ..self }
        }
        pub fn worker_threads(self, n: usize) -> MacroConfig {
            MacroConfig {
                worker_threads: Some(n),
                ..self
            }
        }
        pub fn debug(self, debug: bool) -> MacroConfig {
            MacroConfig { debug, ..self }
        }
        // Deterministic mode (virtual time, seeded order) is the facade's; not modelled here.
        pub fn deterministic(self) -> MacroConfig {
            self
        }
        pub fn seed(self, _seed: u64) -> MacroConfig {
            self
        }
    }

    pub fn run_main<F: Future>(config: MacroConfig, future: F) -> F::Output {
        let mut builder = corio_executor::Builder::new().debug(config.debug);
        if let Some(n) = config.worker_threads {
            builder = builder.worker_threads(n);
        }
        if config.local {
            builder.build_local().unwrap().block_on(future)
        } else {
            builder.build().unwrap().block_on(future)
        }
    }

    pub fn run_test<F: Future>(config: MacroConfig, future: F) -> F::Output {
        run_main(config, future)
    }
}
