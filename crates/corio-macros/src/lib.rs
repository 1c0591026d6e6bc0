//! `#[corio::main]` and `#[corio::test]`: run an `async fn` on a corio runtime.
//!
//! Use them through the facade crate, as `#[corio::main]` and `#[corio::test]`; the expansion
//! names `::corio`. They are written without `syn`, so they add nothing to compile times.
//!
//! - `#[corio::main]`: a multi-threaded runtime. Options: `debug` (debug mode on),
//!   `worker_threads = N`, `local` (a single-threaded runtime instead).
//! - `#[corio::test]`: a single-threaded runtime (fast to start, like tokio's). Options: `multi`
//!   (multi-threaded), `worker_threads = N`, `debug`, `deterministic` (virtual time and seeded
//!   scheduling; the seed comes from `CORIO_SEED` or is chosen at random and printed if the test
//!   fails), `seed = N` (deterministic with a fixed seed).
//!
//! # Examples
//!
//! The examples here are doctests. This crate cannot depend on the facade (the facade depends on
//! it), so a hidden line (`include!("../doc/facade_stand_in.rs")`) stands in for the facade's
//! runtime glue with `corio-executor`'s runtimes and `corio-timer`'s `sleep`. Through the facade
//! the same code runs on corio's full runtime.
//!
//! ```
//! # include!("../doc/facade_stand_in.rs");
//! use std::time::Duration;
//!
//! #[corio::main(worker_threads = 2)]
//! async fn main() {
//!     let tasks: Vec<_> = (1..=3u64)
//!         .map(|i| corio::spawn(async move {
//!             corio::sleep(Duration::from_millis(i)).await;
//!             i * 10
//!         }))
//!         .collect();
//!     let mut total = 0;
//!     for task in tasks {
//!         total += task.await;
//!     }
//!     assert_eq!(total, 60);
//! }
//! ```
#![forbid(unsafe_code)]

use proc_macro::{Delimiter, Group, Ident, Punct, Spacing, Span, TokenStream, TokenTree};

/// Runs `async fn main` on a corio runtime: multi-threaded by default, single-threaded with
/// `local`. The function's return value (a `Result`, say) is `main`'s.
///
/// # Examples
///
/// ```
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::main(local)]
/// async fn main() -> Result<(), std::num::ParseIntError> {
///     corio::sleep(std::time::Duration::from_millis(1)).await;
///     let n: u32 = "42".parse()?;
///     assert_eq!(n, 42);
///     Ok(())
/// }
/// ```
///
/// A number may be written as any integer literal (`2`, `0x2`, `2_usize`):
///
/// ```
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::main(worker_threads = 0x2)]
/// async fn main() {
///     assert_eq!(corio::spawn(async { 0b10 }).await, 2);
/// }
/// ```
///
/// Anything but an `async fn` is rejected at compile time:
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::main]
/// fn main() {}
/// ```
///
/// So are arguments the runtime would refuse when it starts: no worker at all, however written,
/// more than the runtime's 4,096, or workers for a `local` runtime, which has one thread:
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::main(worker_threads = 00)]
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::main(worker_threads = 0x0)]
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::main(worker_threads = 5000)]
/// async fn main() {}
/// ```
///
/// A suffix must fit its type, as in any Rust literal:
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::main(worker_threads = 300u8)]
/// async fn main() {}
/// ```
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::main(local, worker_threads = 2)]
/// async fn main() {}
/// ```
#[proc_macro_attribute]
pub fn main(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, Kind::Main)
}

/// Runs an `async fn` test on a corio runtime: single-threaded by default, multi-threaded with
/// `multi`, in virtual time with `deterministic`.
///
/// # Examples
///
/// ```
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::test]
/// async fn sleeps() {
///     corio::sleep(std::time::Duration::from_millis(1)).await;
/// }
///
/// #[corio::test(multi, worker_threads = 2)]
/// async fn spawns() {
///     assert_eq!(corio::spawn(async { 1 + 1 }).await, 2);
/// }
/// # fn main() {} // a doctest builds without `--test`: the tests compile but do not run here
/// ```
///
/// An unknown option is a compile error that lists the valid ones:
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::test(threads = 2)]
/// async fn typo() {}
/// # fn main() {}
/// ```
///
/// So is a number too large for its option (a seed must replay as written, not wrapped), and an
/// option given twice:
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::test(seed = 99999999999999999999999)]
/// async fn replayed() {}
/// # fn main() {}
/// ```
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::test(seed = 1, seed = 2)]
/// async fn which_seed() {}
/// # fn main() {}
/// ```
///
/// `#[corio::test]` makes the function a test itself: a `#[test]` beside it, left over from a
/// synchronous test, is an error (it would run the test twice):
///
/// ```compile_fail
/// # include!("../doc/facade_stand_in.rs");
/// #[corio::test]
/// #[test]
/// async fn twice() {}
/// # fn main() {}
/// ```
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    expand(args, item, Kind::Test)
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Main,
    Test,
}

fn expand(args: TokenStream, item: TokenStream, kind: Kind) -> TokenStream {
    let is_main = kind == Kind::Main && names_fn_main(&item);
    match try_expand(args, item, kind) {
        Ok(ts) => ts,
        Err((msg, span)) => {
            let mut ts = compile_error(&msg, span);
            if is_main {
                // A stand-in `main`, so that the error above is the only one (without it rustc
                // adds "`main` function not found").
                ts.extend(parse("fn main() {}"));
            }
            ts
        }
    }
}

/// Whether the item is a function named `main`.
fn names_fn_main(item: &TokenStream) -> bool {
    let tokens: Vec<TokenTree> = item.clone().into_iter().collect();
    tokens.windows(2).any(|pair| {
        matches!(
            pair,
            [TokenTree::Ident(f), TokenTree::Ident(name)] if f.to_string() == "fn" && name.to_string() == "main"
        )
    })
}

type Error = (String, Span);

fn try_expand(args: TokenStream, item: TokenStream, kind: Kind) -> Result<TokenStream, Error> {
    let config = parse_args(args, kind)?;
    let mut tokens: Vec<TokenTree> = item.into_iter().collect();

    let body = match tokens.pop() {
        Some(TokenTree::Group(g)) if g.delimiter() == Delimiter::Brace => g,
        Some(other) => return Err(("expected a function body".into(), other.span())),
        None => return Err(("expected an async function".into(), Span::call_site())),
    };
    let fn_pos = tokens
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "fn"))
        .ok_or_else(|| ("expected an async function".to_string(), Span::call_site()))?;
    let async_pos = tokens[..fn_pos]
        .iter()
        .position(|t| matches!(t, TokenTree::Ident(i) if i.to_string() == "async"));
    let Some(async_pos) = async_pos else {
        let what = match kind {
            Kind::Main => "#[corio::main]",
            Kind::Test => "#[corio::test]",
        };
        return Err((
            format!("{what} goes on an `async fn`; add `async` before `fn`"),
            tokens[fn_pos].span(),
        ));
    };
    tokens.remove(async_pos);
    if kind == Kind::Test {
        if let Some(span) = test_attribute(&tokens[..fn_pos]) {
            // It would register the function a second time: the test ran twice.
            return Err((
                "#[corio::test] already makes the function a test; remove this attribute".into(),
                span,
            ));
        }
    }

    let mut out = TokenStream::new();
    if kind == Kind::Test {
        out.extend(parse("#[::core::prelude::v1::test]"));
    }
    out.extend(tokens);

    // { ::corio::__private::<runner>(<config>, async move <body>) }
    let mut call = parse(&format!("::corio::__private::{}", config.runner(kind)));
    let mut call_args = parse(&config.builder(kind));
    call_args.extend([
        TokenTree::Punct(Punct::new(',', Spacing::Alone)),
        TokenTree::Ident(Ident::new("async", Span::call_site())),
        TokenTree::Ident(Ident::new("move", Span::call_site())),
        TokenTree::Group(body),
    ]);
    call.extend([TokenTree::Group(Group::new(
        Delimiter::Parenthesis,
        call_args,
    ))]);
    out.extend([TokenTree::Group(Group::new(Delimiter::Brace, call))]);
    Ok(out)
}

/// The span of a `#[test]` among the attributes before `fn` (any path whose last segment is
/// `test`, with no arguments: `#[test]`, `#[core::prelude::v1::test]`, another runtime's
/// `#[x::test]`).
fn test_attribute(before_fn: &[TokenTree]) -> Option<Span> {
    before_fn.windows(2).find_map(|pair| match pair {
        [TokenTree::Punct(hash), TokenTree::Group(g)]
            if hash.as_char() == '#' && g.delimiter() == Delimiter::Bracket =>
        {
            let inner: Vec<TokenTree> = g.stream().into_iter().collect();
            let is_path = inner.iter().all(|t| match t {
                TokenTree::Ident(_) => true,
                TokenTree::Punct(p) => p.as_char() == ':',
                _ => false,
            });
            let last_is_test =
                matches!(inner.last(), Some(TokenTree::Ident(i)) if i.to_string() == "test");
            (is_path && last_is_test).then(|| g.span())
        }
        _ => None,
    })
}

#[derive(Default)]
struct Config {
    debug: bool,
    local: bool,
    multi: bool,
    deterministic: bool,
    seed: Option<String>,
    worker_threads: Option<String>,
}

impl Config {
    fn runner(&self, kind: Kind) -> &'static str {
        match kind {
            Kind::Main => "run_main",
            Kind::Test => "run_test",
        }
    }

    fn builder(&self, kind: Kind) -> String {
        let mut s = String::from("::corio::__private::MacroConfig::new()");
        let local = match kind {
            Kind::Main => self.local,
            Kind::Test => !self.multi,
        };
        s.push_str(&format!(".local({local})"));
        if self.debug {
            s.push_str(".debug(true)");
        }
        if let Some(n) = &self.worker_threads {
            s.push_str(&format!(".worker_threads({n})"));
        }
        if self.deterministic {
            s.push_str(".deterministic()");
        }
        if let Some(seed) = &self.seed {
            s.push_str(&format!(".seed({seed})"));
        }
        s
    }
}

/// The runtime's limit (`corio_executor::MAX_WORKER_THREADS`), checked at compile time here.
const MAX_WORKER_THREADS: u64 = 4096;

fn parse_args(args: TokenStream, kind: Kind) -> Result<Config, Error> {
    let mut config = Config::default();
    let mut seen = std::collections::HashSet::new();
    let mut iter = args.into_iter().peekable();
    while let Some(tt) = iter.next() {
        let TokenTree::Ident(name) = tt else {
            return Err(("expected an option name".into(), tt.span()));
        };
        let key = name.to_string();
        let value = match iter.peek() {
            Some(TokenTree::Punct(p)) if p.as_char() == '=' => {
                iter.next();
                match iter.next() {
                    Some(TokenTree::Literal(lit)) => Some(lit.to_string()),
                    // `debug = true`: the option says what it takes (below).
                    Some(TokenTree::Ident(word)) => Some(word.to_string()),
                    Some(other) => return Err(("expected a number".into(), other.span())),
                    None => return Err(("expected a value after `=`".into(), name.span())),
                }
            }
            _ => None,
        };
        let number = |v: &Option<String>| -> Result<u64, Error> {
            let v = v
                .clone()
                .ok_or_else(|| (format!("`{key}` needs a value: `{key} = N`"), name.span()))?;
            // Any integer literal Rust accepts: `0x`, `0o` and `0b` prefixes too.
            let (radix, body) = match v.get(..2) {
                Some("0x") => (16, &v[2..]),
                Some("0o") => (8, &v[2..]),
                Some("0b") => (2, &v[2..]),
                _ => (10, &v[..]),
            };
            let prefix_len = body
                .find(|c: char| !(c.is_digit(radix) || c == '_'))
                .unwrap_or(body.len());
            let digits: String = body[..prefix_len].chars().filter(|c| *c != '_').collect();
            let suffix = &body[prefix_len..];
            let suffix_ok = matches!(
                suffix,
                "" | "u8" | "u16" | "u32" | "u64" | "u128" | "usize" | "i32" | "i64"
            );
            if digits.is_empty() || !suffix_ok {
                return Err((format!("`{key}` takes a whole number"), name.span()));
            }
            // Parsed here, so that a number too large is an error (the literal the macro writes
            // would otherwise wrap silently: rustc's overflow lint is off in macro output).
            let n = u64::from_str_radix(&digits, radix).map_err(|_| {
                (
                    format!("`{key} = {v}` is out of range: at most {}", u64::MAX),
                    name.span(),
                )
            })?;
            // A suffix must fit what it names, as rustc requires of a literal (`300u8` is not
            // a `u8`).
            let max = match suffix {
                "u8" => u64::from(u8::MAX),
                "u16" => u64::from(u16::MAX),
                "u32" => u64::from(u32::MAX),
                "i32" => i32::MAX as u64,
                "i64" => i64::MAX as u64,
                _ => u64::MAX,
            };
            if n > max {
                return Err((
                    format!("`{key} = {v}` does not fit in a `{suffix}`"),
                    name.span(),
                ));
            }
            Ok(n)
        };
        if !seen.insert(key.clone()) {
            return Err((format!("`{key}` is given twice"), name.span()));
        }
        let flag = |config_flag: &mut bool| -> Result<(), Error> {
            if value.is_some() {
                return Err((
                    format!("`{key}` takes no value: write `{key}` alone"),
                    name.span(),
                ));
            }
            *config_flag = true;
            Ok(())
        };
        match (key.as_str(), kind) {
            ("debug", _) => flag(&mut config.debug)?,
            ("local", Kind::Main) => flag(&mut config.local)?,
            ("multi", Kind::Test) => flag(&mut config.multi)?,
            ("deterministic", Kind::Test) => flag(&mut config.deterministic)?,
            ("seed", Kind::Test) => config.seed = Some(format!("{}u64", number(&value)?)),
            ("worker_threads", _) => {
                let n = number(&value)?;
                if n == 0 {
                    return Err(("`worker_threads` must be at least 1".into(), name.span()));
                }
                if n > MAX_WORKER_THREADS {
                    return Err((
                        format!("`worker_threads` is at most {MAX_WORKER_THREADS}"),
                        name.span(),
                    ));
                }
                config.worker_threads = Some(format!("{n}usize"));
                if kind == Kind::Test {
                    config.multi = true;
                }
            }
            _ => {
                let known = match kind {
                    Kind::Main => "debug, local, worker_threads = N",
                    Kind::Test => "debug, multi, worker_threads = N, deterministic, seed = N",
                };
                return Err((
                    format!("unknown option `{key}`; known options: {known}"),
                    name.span(),
                ));
            }
        }
        match iter.next() {
            None => break,
            Some(TokenTree::Punct(p)) if p.as_char() == ',' => {}
            Some(other) => return Err(("expected `,` between options".into(), other.span())),
        }
    }
    if config.local && config.worker_threads.is_some() {
        return Err((
            "a `local` runtime runs on one thread; drop `local` or `worker_threads`".into(),
            Span::call_site(),
        ));
    }
    if config.deterministic || config.seed.is_some() {
        if config.multi {
            return Err((
                "deterministic tests run on one thread; drop `multi`/`worker_threads`".into(),
                Span::call_site(),
            ));
        }
        config.deterministic = true;
    }
    Ok(config)
}

fn parse(s: &str) -> TokenStream {
    s.parse().expect("the macro writes valid tokens")
}

fn compile_error(msg: &str, span: Span) -> TokenStream {
    let mut ts: TokenStream = parse(&format!("::core::compile_error!({msg:?});"));
    ts = ts
        .into_iter()
        .map(|mut t| {
            t.set_span(span);
            t
        })
        .collect();
    ts
}
