//! The public contract of `../shared/API.md`, written as a new user would write it, through
//! `corio::` only. If this file compiles and passes, the names and shapes hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_lite::{AsyncReadExt, AsyncWriteExt, StreamExt};

#[derive(Debug)]
struct AppError(String);

impl std::fmt::Display for AppError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for AppError {}

#[test]
fn event_loop_and_tasks() {
    // run, run_local, block_on, spawn, spawn_local, Task, task::Builder, yield_now.
    let v = corio::run(async {
        let t: corio::Task<u32> = corio::spawn(async { 1 });
        let named = corio::task::Builder::new().name("fetch").spawn(async { 2 });
        corio::yield_now().await;
        let cancelled = corio::spawn(std::future::pending::<u32>());
        assert!(!cancelled.is_finished());
        assert_eq!(cancelled.cancel().await, None);
        corio::spawn(async {}).detach();
        t.await + named.await
    });
    assert_eq!(v, 3);
    let local = corio::run_local(async {
        let rc = std::rc::Rc::new(5);
        corio::spawn_local(async move { *rc }).await
    });
    assert_eq!(local, 5);
    assert_eq!(corio::block_on(async { 7 }), 7);

    // Runtime::builder().worker_threads(n).build()?; block_on; spawn; handle. Send + Sync.
    fn assert_send_sync<T: Send + Sync>(_: &T) {}
    let rt = corio::Runtime::builder().worker_threads(2).build().unwrap();
    assert_send_sync(&rt);
    let handle = rt.handle();
    let from_thread = std::thread::spawn(move || handle.spawn(async { 4 }))
        .join()
        .unwrap();
    let t = rt.spawn(async { 6 });
    assert_eq!(rt.block_on(async { t.await + from_thread.await }), 10);
    let inside = rt.block_on(async { corio::spawn(async { 1 }).await });
    assert_eq!(inside, 1);
    let err = corio::Runtime::builder()
        .worker_threads(0)
        .build()
        .unwrap_err();
    let _: &dyn std::fmt::Debug = &err;
}

#[test]
fn time() {
    corio::run_local(async {
        corio::sleep(Duration::from_millis(1)).await;
        corio::sleep_until(Instant::now() + Duration::from_millis(1)).await;
        let mut every: corio::Interval = corio::interval(Duration::from_millis(1));
        every.tick().await;
        every.tick().await;
        let r: Result<u8, corio::Elapsed> =
            corio::timeout(Duration::from_secs(1), async { 1 }).await;
        assert_eq!(r, Ok(1));
        let e = corio::timeout_at(Instant::now(), std::future::pending::<()>())
            .await
            .unwrap_err();
        let _: &dyn std::error::Error = &e;
        println!("{e} {e:?}");
    });
}

#[test]
fn structured_concurrency() {
    corio::run(async {
        let r: Result<u32, corio::GroupError<AppError>> = corio::task_group(async |g| {
            let h = g.spawn(async { Ok::<_, AppError>(20) });
            let dropped_handle = g.spawn(async { Ok(1) });
            drop(dropped_handle); // does not cancel the child
            Ok(h.await.map_err(|c| AppError(c.to_string()))? + 1)
        })
        .await;
        assert_eq!(r.unwrap(), 21);
        let r: Result<(), corio::GroupError<AppError>> = corio::task_group(async |g| {
            g.spawn(async { Err::<(), _>(AppError("bad".into())) });
            Ok(())
        })
        .await;
        let err = r.unwrap_err();
        let errors: &[AppError] = err.errors();
        assert_eq!(errors.len(), 1);

        let all: Vec<u8> = corio::join_all((1..=2u8).map(|i| async move { i })).await;
        assert_eq!(all, [1, 2]);
        let tried: Result<Vec<u8>, AppError> =
            corio::try_join_all((1..=2u8).map(|i| async move { Ok(i) })).await;
        assert_eq!(tried.unwrap(), [1, 2]);
        let winner = corio::race(async { 1 }, std::future::pending()).await;
        assert_eq!(winner, 1);
        let (a, b) = corio::join!(async { 1 }, async { "b" });
        assert_eq!((a, b), (1, "b"));
        let ab: Result<(u8, u8), AppError> = corio::try_join!(async { Ok(1) }, async { Ok(2) });
        assert_eq!(ab.unwrap(), (1, 2));

        let none: Option<()> =
            corio::move_on_after(Duration::from_millis(1), std::future::pending()).await;
        assert_eq!(none, None);
        let late: Result<(), corio::Elapsed> =
            corio::fail_after(Duration::from_millis(1), std::future::pending()).await;
        assert!(late.is_err());

        let token = corio::CancelToken::new();
        let child = token.child();
        let shared = Arc::new(token.clone());
        assert!(!shared.is_cancelled());
        token.cancel();
        child.cancelled().await;
        assert!(child.is_cancelled());
    });
}

#[test]
fn sync_primitives() {
    corio::run(async {
        let sem = Arc::new(corio::Semaphore::new(2));
        {
            let permit = sem.acquire().await.unwrap();
            let _many = sem.acquire_many(1).await.unwrap();
            assert_eq!(sem.available_permits(), 0);
            assert!(sem.try_acquire().is_err());
            drop(permit);
        }
        let owned = corio::Semaphore::acquire_owned(sem.clone()).await.unwrap();
        drop(owned);
        sem.close();
        let closed: Result<_, corio::AcquireError> = sem.acquire().await;
        assert!(closed.is_err());

        let q: corio::Queue<u32> = corio::Queue::bounded(2);
        let q2 = q.clone();
        q.put(1).await.unwrap();
        q2.try_put(2).unwrap();
        match q.try_put(3) {
            Err(corio::TryPutError::Full(item)) => assert_eq!(item, 3),
            other => panic!("expected Full, got {other:?}"),
        }
        assert_eq!(q.len(), 2);
        assert_eq!(q.get().await.unwrap(), 1);
        q.task_done().unwrap();
        assert_eq!(q.try_get().unwrap(), 2);
        q.task_done().unwrap();
        q.join().await;
        assert!(matches!(q.try_get(), Err(corio::TryGetError::Empty)));
        q.put(9).await.unwrap();
        assert_eq!(q.close_now(), vec![9]);
        assert!(matches!(q.try_put(1), Err(corio::TryPutError::Closed(1))));
        assert!(matches!(q.try_get(), Err(corio::TryGetError::Closed)));
        q.close();
        let unbounded: corio::Queue<u8> = corio::Queue::unbounded();
        unbounded.put(1).await.unwrap();
        let pq: corio::PriorityQueue<u8> = corio::PriorityQueue::bounded(4);
        pq.put(3).await.unwrap();
        pq.put(1).await.unwrap();
        assert_eq!(pq.get().await.unwrap(), 1);
        let lq: corio::LifoQueue<u8> = corio::LifoQueue::unbounded();
        lq.put(1).await.unwrap();
        lq.put(2).await.unwrap();
        assert_eq!(lq.get().await.unwrap(), 2);

        let m = corio::sync::Mutex::new(1);
        *m.lock().await += 1;
        let rw = corio::sync::RwLock::new(1);
        assert_eq!(*rw.read().await, 1);
        *rw.write().await = 2;
        let ev = corio::sync::Event::new();
        ev.set();
        ev.wait().await;
        assert!(ev.is_set());
        ev.clear();
        let barrier = corio::sync::Barrier::new(1);
        barrier.wait().await;
        let notify = corio::sync::Notify::new();
        notify.notify_one();
        notify.notified().await;
        notify.notify_all();
        let (tx, rx) = corio::sync::oneshot::channel();
        let sent: Result<(), u8> = tx.send(5);
        assert!(sent.is_ok());
        let got: Result<u8, _> = rx.await;
        assert_eq!(got.unwrap(), 5);
    });
}

#[test]
fn blocking_and_files() {
    corio::run(async {
        let n = corio::to_thread(|| 2 + 2).await;
        let m = corio::unblock(|| 3).await;
        assert_eq!(n + m, 7);
        let mut reader = corio::Unblock::new(std::io::Cursor::new(b"abc".to_vec()));
        let mut s = String::new();
        reader.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "abc");

        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f.txt");
        corio::fs::write(&p, "hello").await.unwrap();
        corio::fs::write(&p, b"hello".to_vec()).await.unwrap();
        assert_eq!(corio::fs::read_to_string(&p).await.unwrap(), "hello");
        assert_eq!(corio::fs::read(&p).await.unwrap(), b"hello");
        let mut f = corio::fs::OpenOptions::new()
            .append(true)
            .open(&p)
            .await
            .unwrap();
        f.write_all(b"!").await.unwrap();
        f.flush().await.unwrap();
        drop(f);
        let mut f = corio::fs::File::open(&p).await.unwrap();
        let mut s = String::new();
        f.read_to_string(&mut s).await.unwrap();
        assert_eq!(s, "hello!");
        let _ = corio::fs::File::create(dir.path().join("g")).await.unwrap();
        let copied: u64 = corio::fs::copy(&p, dir.path().join("h")).await.unwrap();
        assert_eq!(copied, 6);
        corio::fs::create_dir_all(dir.path().join("a/b"))
            .await
            .unwrap();
        corio::fs::rename(dir.path().join("h"), dir.path().join("i"))
            .await
            .unwrap();
        corio::fs::remove_file(dir.path().join("i")).await.unwrap();
        assert!(corio::fs::metadata(&p).await.unwrap().is_file());
        let mut entries = corio::fs::read_dir(dir.path()).await.unwrap();
        let mut names = Vec::new();
        while let Some(entry) = entries.next().await {
            let name: std::ffi::OsString = entry.unwrap().file_name();
            names.push(name);
        }
        assert_eq!(names.len(), 3);
        let err = corio::fs::read(dir.path().join("missing"))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("missing"), "{err}");
    });
}

#[test]
fn network() {
    corio::run(async {
        let listener = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let client = corio::spawn(async move {
            let mut s = corio::net::TcpStream::connect(addr).await.unwrap();
            s.set_nodelay(true).unwrap();
            s.write_all(b"hi").await.unwrap();
            s.close().await.unwrap(); // shuts down the write half
        });
        let (mut stream, peer): (corio::net::TcpStream, std::net::SocketAddr) =
            listener.accept().await.unwrap();
        let _ = peer;
        let mut buf = Vec::new();
        stream.read_to_end(&mut buf).await.unwrap();
        assert_eq!(buf, b"hi");
        client.await;

        let udp = corio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        udp.send_to(b"x", udp.local_addr().unwrap()).await.unwrap();
        let mut b = [0u8; 1];
        udp.recv_from(&mut b).await.unwrap();

        #[cfg(unix)]
        {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("s");
            let ul = corio::net::UnixListener::bind(&path).unwrap();
            let _c = corio::net::UnixStream::connect(&path).await.unwrap();
            let _ = ul.accept().await.unwrap();
            let (_a, _b) = corio::net::UnixDatagram::pair().unwrap();
        }

        let raw = corio::Async::new(std::net::UdpSocket::bind("127.0.0.1:0").unwrap()).unwrap();
        let _ = raw.get_ref().local_addr();
    });
}

#[test]
fn outside_any_runtime() {
    // Spawning, timers and sockets all work under futures::executor::block_on-style executors.
    futures_lite::future::block_on(async {
        let t = corio::spawn(async { 1 });
        corio::sleep(Duration::from_millis(1)).await;
        let l = corio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let _c = corio::net::TcpStream::connect(l.local_addr().unwrap())
            .await
            .unwrap();
        assert_eq!(t.await, 1);
    });
}

#[corio::test]
async fn the_test_attribute_works() {
    corio::sleep(Duration::from_millis(1)).await;
}

#[corio::test(multi)]
async fn the_test_attribute_runs_multi_threaded() -> Result<(), AppError> {
    let t = corio::spawn(async { 5 });
    assert_eq!(t.await, 5);
    Ok(())
}
