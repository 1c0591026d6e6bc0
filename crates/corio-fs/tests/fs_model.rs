//! A `File` against a model: random sequences of writes, reads, seeks, flushes, `set_len` and
//! syncs, some of them polled once and dropped (as a `select!` drops them), must leave the file's
//! bytes and the logical position exactly where a plain `Vec<u8>` and a cursor say. Reads of
//! cached data on the calling thread are switched on and off along the way.

use std::future::Future;
use std::io::SeekFrom;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use corio_fs::File;
use futures_lite::future::block_on;
use futures_lite::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};
use proptest::prelude::*;

#[derive(Clone, Debug)]
enum Op {
    /// Writes `len` bytes stamped with `seed`; `dropped`: polled once, dropped if pending.
    Write {
        len: usize,
        seed: u8,
        dropped: bool,
    },
    /// Reads up to `len` bytes.
    Read {
        len: usize,
        dropped: bool,
    },
    Seek(SeekFrom),
    Flush,
    SetLen(u64),
    Sync,
    /// `File::set_direct_reads`: reads of cached data on this thread, or every read on the pool.
    DirectReads(bool),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0usize..300_000, any::<u8>(), any::<bool>())
            .prop_map(|(len, seed, dropped)| Op::Write { len, seed, dropped }),
        4 => (0usize..300_000, any::<bool>()).prop_map(|(len, dropped)| Op::Read { len, dropped }),
        2 => prop_oneof![
            (0u64..2_000_000).prop_map(SeekFrom::Start),
            (-500_000i64..500_000).prop_map(SeekFrom::Current),
            (-500_000i64..100_000).prop_map(SeekFrom::End),
        ]
        .prop_map(Op::Seek),
        1 => Just(Op::Flush),
        1 => (0u64..1_500_000).prop_map(Op::SetLen),
        1 => Just(Op::Sync),
        1 => any::<bool>().prop_map(Op::DirectReads),
    ]
}

fn stamp(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| seed.wrapping_add((i as u8).wrapping_mul(7)) ^ (i >> 9) as u8)
        .collect()
}

fn poll_once<F: Future>(fut: F) -> Poll<F::Output> {
    let mut fut = pin!(fut);
    fut.as_mut().poll(&mut Context::from_waker(Waker::noop()))
}

/// The model: the file's bytes and the cursor.
struct Model {
    bytes: Vec<u8>,
    pos: u64,
}

impl Model {
    fn write(&mut self, data: &[u8]) {
        let at = self.pos as usize;
        if self.bytes.len() < at {
            self.bytes.resize(at, 0);
        }
        let end = at + data.len();
        if self.bytes.len() < end {
            self.bytes.resize(end, 0);
        }
        self.bytes[at..end].copy_from_slice(data);
        self.pos = end as u64;
    }

    fn read(&mut self, len: usize) -> &[u8] {
        let at = (self.pos as usize).min(self.bytes.len());
        let end = (at + len).min(self.bytes.len());
        self.pos = self.pos.max(at as u64) + (end - at) as u64;
        &self.bytes[at..end]
    }

    /// The new position, or `None` for a seek before the start (an error that moves nothing).
    fn seek(&mut self, to: SeekFrom) -> Option<u64> {
        let new = match to {
            SeekFrom::Start(n) => Some(n),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => (self.bytes.len() as u64).checked_add_signed(d),
        }?;
        self.pos = new;
        Some(new)
    }
}

fn run(ops: &[Op]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("model");
    block_on(async {
        let mut file = File::options()
            .read(true)
            .write(true)
            .create(true)
            .open(&path)
            .await
            .unwrap();
        let mut model = Model {
            bytes: Vec::new(),
            pos: 0,
        };
        for (step, op) in ops.iter().enumerate() {
            match op {
                Op::Write { len, seed, dropped } => {
                    let data = stamp(*len, *seed);
                    let mut at = 0;
                    if *dropped {
                        // One poll: what it took (all of a prefix, or nothing) is written.
                        if let Poll::Ready(n) = poll_once(file.write(&data)) {
                            at = n.unwrap();
                        }
                        model.write(&data[..at]);
                    } else {
                        file.write_all(&data).await.unwrap();
                        model.write(&data);
                    }
                }
                Op::Read { len, dropped } => {
                    let mut buf = vec![0; *len];
                    let n = if *dropped {
                        match poll_once(file.read(&mut buf)) {
                            Poll::Ready(n) => n.unwrap(),
                            Poll::Pending => 0, // took nothing
                        }
                    } else {
                        // Reads until `len` or the end, as read_exact would without the error.
                        let mut n = 0;
                        while n < buf.len() {
                            match file.read(&mut buf[n..]).await.unwrap() {
                                0 => break,
                                k => n += k,
                            }
                        }
                        n
                    };
                    let expected = model.read(n).to_vec();
                    assert_eq!(n, expected.len(), "step {step}: read past the model's end");
                    assert!(buf[..n] == expected[..], "step {step}: read bytes differ");
                    if !*dropped {
                        assert_eq!(n, (*len).min(expected.len()), "step {step}: short read");
                    }
                }
                Op::Seek(to) => {
                    let got = file.seek(*to).await;
                    match model.seek(*to) {
                        Some(new) => assert_eq!(got.unwrap(), new, "step {step}: seek"),
                        None => assert!(got.is_err(), "step {step}: a seek before the start"),
                    }
                }
                Op::Flush => file.flush().await.unwrap(),
                Op::SetLen(len) => {
                    file.set_len(*len).await.unwrap();
                    model.bytes.resize(*len as usize, 0);
                }
                Op::Sync => file.sync_data().await.unwrap(),
                Op::DirectReads(on) => file.set_direct_reads(*on),
            }
            let at = file.seek(SeekFrom::Current(0)).await.unwrap();
            assert_eq!(at, model.pos, "step {step} ({op:?}): the logical position");
        }
        file.flush().await.unwrap();
        drop(file);
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(on_disk.len(), model.bytes.len(), "the file's length");
        assert!(on_disk == model.bytes, "the file's bytes");
    });
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn a_file_behaves_as_a_vec_and_a_cursor(ops in prop::collection::vec(op(), 1..24)) {
        run(&ops);
    }
}
