//! `HyperIo`'s reads go through a buffer of the thread's, not one per connection: a new
//! connection's reads allocate nothing once the thread has read before, and connections that
//! share the buffer (even one read from inside another's) each get their own bytes.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll};

use corio_compat::HyperIo;
use futures_lite::io::{AsyncRead, Cursor};

/// Counts the bytes this thread allocates (the test harness runs other tests on other threads).
struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every call is passed straight to the system allocator; the counter is a const-
// initialised thread-local `Cell` without a destructor, so touching it never allocates.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + layout.size()));
        // SAFETY: the caller's contract for `alloc` is passed on unchanged.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for `dealloc` is passed on unchanged.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATED.try_with(|a| a.set(a.get() + new_size));
        // SAFETY: the caller's contract for `realloc` is passed on unchanged.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocated() -> usize {
    ALLOCATED.with(Cell::get)
}

/// Reads once through hyper's trait into `storage`; returns what was read.
fn read_into<T: AsyncRead + Unpin>(
    io: &mut HyperIo<T>,
    storage: &mut [MaybeUninit<u8>],
) -> Vec<u8> {
    let mut buf = hyper::rt::ReadBuf::uninit(storage);
    futures_lite::future::block_on(poll_fn(|cx| {
        hyper::rt::Read::poll_read(Pin::new(&mut *io), cx, buf.unfilled())
    }))
    .unwrap();
    buf.filled().to_vec()
}

#[test]
fn a_new_connections_reads_allocate_no_buffer_of_its_own() {
    let mut storage = vec![MaybeUninit::uninit(); 8 * 1024];
    // The thread's first read sizes its buffer.
    let mut first = HyperIo::new(Cursor::new(vec![1u8; 100]));
    assert_eq!(read_into(&mut first, &mut storage), [1u8; 100]);

    let mut second = HyperIo::new(Cursor::new(vec![2u8; 100]));
    let before = allocated();
    let got = read_into(&mut second, &mut storage);
    let spent = allocated() - before;
    assert_eq!(got, [2u8; 100]);
    // What is left is the `Vec` this test returns (100 bytes); a buffer of the connection's
    // own would be 8 KiB, the size hyper asks for.
    assert!(
        spent < 1024,
        "a second connection's first read allocated {spent} bytes"
    );
}

/// A stream whose every read first reads a byte through another `HyperIo` on the same thread,
/// while the outer read holds the thread's buffer.
struct Nested {
    other: HyperIo<Cursor<Vec<u8>>>,
    seen: Vec<u8>,
    own: Cursor<Vec<u8>>,
}

impl AsyncRead for Nested {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut [u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        let mut storage = [MaybeUninit::uninit(); 1];
        let mut buf = hyper::rt::ReadBuf::uninit(&mut storage);
        match hyper::rt::Read::poll_read(Pin::new(&mut this.other), cx, buf.unfilled()) {
            Poll::Ready(Ok(())) => this.seen.extend_from_slice(buf.filled()),
            other => return other.map(|r| r.map(|()| 0)),
        }
        Pin::new(&mut this.own).poll_read(cx, out)
    }
}

#[test]
fn connections_sharing_the_buffer_keep_their_own_bytes() {
    let mut storage = [MaybeUninit::uninit(); 64];
    let mut a = HyperIo::new(Cursor::new((0u8..200).collect::<Vec<_>>()));
    let mut b = HyperIo::new(Cursor::new((100u8..250).collect::<Vec<_>>()));
    let mut from_a = Vec::new();
    let mut from_b = Vec::new();
    for _ in 0..3 {
        from_a.extend(read_into(&mut a, &mut storage[..50]));
        from_b.extend(read_into(&mut b, &mut storage[..40]));
    }
    assert_eq!(from_a, (0u8..150).collect::<Vec<_>>());
    assert_eq!(from_b, (100u8..220).collect::<Vec<_>>());

    // A read made inside another read on the same thread gets a buffer of its own.
    let mut outer = HyperIo::new(Nested {
        other: HyperIo::new(Cursor::new(vec![9, 8, 7])),
        seen: Vec::new(),
        own: Cursor::new(b"outer bytes".to_vec()),
    });
    let mut got = Vec::new();
    for _ in 0..3 {
        got.extend(read_into(&mut outer, &mut storage[..4]));
    }
    assert_eq!(got, b"outer bytes");
    assert_eq!(outer.get_ref().seen, [9, 8, 7]);
}
