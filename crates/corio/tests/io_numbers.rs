//! `corio::io`'s number reads and writes (tokio's `read_u32`, `write_u64_le`, ...): exact bytes
//! in both orders, round trips of any value through readers and writers that move one byte at a
//! time or stop between bytes, the end of a stream in the middle of a number, a writer that
//! takes nothing, and a length-prefixed frame over a loopback socket. Only `corio::` names (and
//! std and proptest) are used.

use std::io::{self, ErrorKind};
use std::pin::Pin;
use std::task::{Context, Poll};

use corio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Cursor};
use corio::net::{TcpListener, TcpStream};
use proptest::prelude::*;

/// A reader over `data` that hands out at most `chunk` bytes per read and, when `stall`, says
/// `Pending` (after waking itself) before every read that could give bytes.
struct Trickle {
    data: Vec<u8>,
    at: usize,
    chunk: usize,
    stall: bool,
    stalled: bool,
}

impl Trickle {
    fn new(data: Vec<u8>, chunk: usize, stall: bool) -> Trickle {
        Trickle {
            data,
            at: 0,
            chunk: chunk.max(1),
            stall,
            stalled: false,
        }
    }
}

impl AsyncRead for Trickle {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        if self.stall && !self.stalled && self.at < self.data.len() {
            self.stalled = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.stalled = false;
        let n = buf.len().min(self.chunk).min(self.data.len() - self.at);
        buf[..n].copy_from_slice(&self.data[self.at..self.at + n]);
        self.at += n;
        Poll::Ready(Ok(n))
    }
}

/// A writer into a `Vec` that takes at most `chunk` bytes per write and, when `stall`, says
/// `Pending` (after waking itself) before every write; with `limit`, it takes nothing more
/// (`Ok(0)`) once it holds that many bytes.
struct Narrow {
    out: Vec<u8>,
    chunk: usize,
    stall: bool,
    stalled: bool,
    limit: Option<usize>,
}

impl Narrow {
    fn new(chunk: usize, stall: bool) -> Narrow {
        Narrow {
            out: Vec::new(),
            chunk: chunk.max(1),
            stall,
            stalled: false,
            limit: None,
        }
    }
}

impl AsyncWrite for Narrow {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.stall && !self.stalled {
            self.stalled = true;
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        self.stalled = false;
        let room = self.limit.map_or(usize::MAX, |l| l - self.out.len());
        let n = buf.len().min(self.chunk).min(room);
        self.out.extend_from_slice(&buf[..n]);
        Poll::Ready(Ok(n))
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[test]
fn numbers_are_written_in_the_order_their_name_says() -> io::Result<()> {
    corio::block_on(async {
        let mut out = Vec::new();
        out.write_u8(0xAB).await?;
        out.write_i8(-2).await?;
        out.write_u16(0x0102).await?;
        out.write_u16_le(0x0102).await?;
        out.write_i32(-1_000_000).await?;
        out.write_u32_le(0x0A0B_0C0D).await?;
        out.write_u64(1).await?;
        out.write_i64_le(-1).await?;
        out.write_u128(u128::MAX - 1).await?;
        out.write_i128_le(i128::MIN).await?;
        out.write_f32(1.5).await?;
        out.write_f64_le(-0.25).await?;
        let mut expected = vec![0xAB, 0xFE, 1, 2, 2, 1];
        expected.extend((-1_000_000i32).to_be_bytes());
        expected.extend([0x0D, 0x0C, 0x0B, 0x0A]);
        expected.extend([0, 0, 0, 0, 0, 0, 0, 1]);
        expected.extend([0xFF; 8]);
        expected.extend((u128::MAX - 1).to_be_bytes());
        expected.extend(i128::MIN.to_le_bytes());
        expected.extend(1.5f32.to_be_bytes());
        expected.extend((-0.25f64).to_le_bytes());
        assert_eq!(out, expected);

        let mut r = Cursor::new(out);
        assert_eq!(r.read_u8().await?, 0xAB);
        assert_eq!(r.read_i8().await?, -2);
        assert_eq!(r.read_u16().await?, 0x0102);
        assert_eq!(r.read_u16_le().await?, 0x0102);
        assert_eq!(r.read_i32().await?, -1_000_000);
        assert_eq!(r.read_u32_le().await?, 0x0A0B_0C0D);
        assert_eq!(r.read_u64().await?, 1);
        assert_eq!(r.read_i64_le().await?, -1);
        assert_eq!(r.read_u128().await?, u128::MAX - 1);
        assert_eq!(r.read_i128_le().await?, i128::MIN);
        assert_eq!(r.read_f32().await?, 1.5);
        assert_eq!(r.read_f64_le().await?, -0.25);
        let eof = r.read_u8().await.unwrap_err();
        assert_eq!(eof.kind(), ErrorKind::UnexpectedEof);
        Ok(())
    })
}

#[test]
fn a_stream_that_ends_inside_a_number_is_unexpected_eof() {
    corio::block_on(async {
        let mut r = Trickle::new(vec![1, 2, 3], 1, true);
        let err = r.read_u64().await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnexpectedEof);
        assert!(
            err.to_string().contains("3 bytes into a 8-byte number"),
            "{err}"
        );
    });
}

#[test]
fn a_writer_that_takes_nothing_more_is_write_zero() {
    corio::block_on(async {
        let mut w = Narrow::new(1, false);
        w.limit = Some(6);
        w.write_u32(7).await.unwrap();
        let err = w.write_u32(8).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::WriteZero);
        assert_eq!(
            w.out,
            [0, 0, 0, 7, 0, 0],
            "what fitted was written, in order"
        );
    });
}

#[test]
fn a_length_prefixed_frame_over_a_loopback_socket() {
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = corio::spawn(async move {
            let (mut stream, _) = listener.accept().await?;
            let mut total = 0u64;
            loop {
                let len = stream.read_u32().await? as usize;
                if len == 0 {
                    break;
                }
                let mut body = vec![0u8; len];
                stream.read_exact(&mut body).await?;
                total += body.iter().map(|&b| u64::from(b)).sum::<u64>();
            }
            stream.write_u64_le(total).await?;
            io::Result::Ok(())
        });
        let mut stream = TcpStream::connect(addr).await?;
        let mut expected = 0u64;
        for len in [1usize, 300, 70_000] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            expected += body.iter().map(|&b| u64::from(b)).sum::<u64>();
            stream.write_u32(len as u32).await?;
            stream.write_all(&body).await?;
        }
        stream.write_u32(0).await?;
        assert_eq!(stream.read_u64_le().await?, expected);
        server.await?;
        io::Result::Ok(())
    })
    .unwrap();
}

proptest! {
    /// Any values, in both orders, through a writer and a reader that move `chunk` bytes at a
    /// time and may stop between them, come back the same, bit for bit (NaNs too).
    #[test]
    fn any_numbers_round_trip_through_narrow_readers_and_writers(
        a in any::<u16>(), b in any::<i32>(), c in any::<u64>(), d in any::<i128>(),
        e in any::<f32>(), f in any::<f64>(), chunk in 1usize..9, stall in any::<bool>(),
    ) {
        let (bytes, back) = corio::block_on(async {
            let mut w = Narrow::new(chunk, stall);
            w.write_u16(a).await?;
            w.write_i32_le(b).await?;
            w.write_u64(c).await?;
            w.write_i128(d).await?;
            w.write_f32_le(e).await?;
            w.write_f64(f).await?;
            w.write_u16_le(a).await?;
            let mut r = Trickle::new(w.out.clone(), chunk, stall);
            let back = (
                r.read_u16().await?,
                r.read_i32_le().await?,
                r.read_u64().await?,
                r.read_i128().await?,
                r.read_f32_le().await?.to_bits(),
                r.read_f64().await?.to_bits(),
                r.read_u16_le().await?,
            );
            io::Result::Ok((w.out, back))
        })
        .unwrap();
        prop_assert_eq!(bytes.len(), 2 + 4 + 8 + 16 + 4 + 8 + 2);
        prop_assert_eq!(back, (a, b, c, d, e.to_bits(), f.to_bits(), a));
    }
}
