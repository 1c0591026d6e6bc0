//! `corio::io` and `corio::stream` as a new user meets them: buffered lines over a loopback
//! socket, `copy`, `split`, the in-memory readers and writers, seeking; `Interval` and queues as
//! streams. Only `corio::` names (and std) are used.

use std::io::SeekFrom;
use std::time::Duration;

use corio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncSeek, AsyncSeekExt, AsyncWrite,
    AsyncWriteExt, BufReader, BufWriter, Cursor, ReadHalf, WriteHalf,
};
use corio::net::{TcpListener, TcpStream};
use corio::stream::{Stream, StreamExt};

#[test]
fn lines_over_a_loopback_socket_with_split_and_bufreader() {
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let server = corio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let (reader, writer): (ReadHalf<TcpStream>, WriteHalf<TcpStream>) =
                corio::io::split(stream);
            let mut writer = BufWriter::new(writer);
            let mut lines = BufReader::new(reader).lines();
            let mut count = 0;
            while let Some(line) = lines.next().await {
                let line = line?;
                count += 1;
                writer
                    .write_all(format!("{count}: {line}\n").as_bytes())
                    .await?;
            }
            writer.flush().await?;
            writer.close().await?;
            std::io::Result::Ok(count)
        });

        let mut stream = TcpStream::connect(addr).await?;
        stream.write_all(b"alpha\nbeta\ngamma\n").await?;
        stream.close().await?; // shuts down the write half: the server's lines() ends
        let mut reply = String::new();
        BufReader::new(&mut stream)
            .read_to_string(&mut reply)
            .await?;
        assert_eq!(reply, "1: alpha\n2: beta\n3: gamma\n");
        assert_eq!(server.await?, 3);
        std::io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn copy_between_a_socket_and_memory() {
    corio::run(async {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        // An echo server made of `copy` over the two halves of one stream.
        let server = corio::spawn(async move {
            let (stream, _) = listener.accept().await?;
            let (reader, mut writer) = corio::io::split(stream);
            let n = corio::io::copy(reader, &mut writer).await?;
            writer.close().await?;
            std::io::Result::Ok(n)
        });
        let payload: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let stream = TcpStream::connect(addr).await?;
        let (reader, mut writer) = corio::io::split(stream);
        let send = corio::spawn({
            let payload = payload.clone();
            async move {
                let sent = corio::io::copy(Cursor::new(payload), &mut writer).await?;
                writer.close().await?;
                std::io::Result::Ok(sent)
            }
        });
        let mut echoed = Vec::new();
        let received = corio::io::copy(reader, &mut echoed).await?;
        assert_eq!(send.await?, payload.len() as u64);
        assert_eq!(received, payload.len() as u64);
        assert_eq!(server.await?, payload.len() as u64);
        assert_eq!(echoed, payload);
        std::io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn in_memory_readers_writers_and_seeking() {
    corio::block_on(async {
        // empty, repeat, sink.
        let mut buf = Vec::new();
        corio::io::empty().read_to_end(&mut buf).await?;
        assert!(buf.is_empty());
        let mut five = [0u8; 5];
        corio::io::repeat(b'z').read_exact(&mut five).await?;
        assert_eq!(&five, b"zzzzz");
        let mut sink = corio::io::sink();
        assert_eq!(
            corio::io::copy(Cursor::new(vec![1u8; 1000]), &mut sink).await?,
            1000
        );

        // Cursor: read, seek, overwrite.
        let mut cursor = Cursor::new(b"hello world".to_vec());
        let mut word = [0u8; 5];
        cursor.read_exact(&mut word).await?;
        assert_eq!(&word, b"hello");
        assert_eq!(cursor.seek(SeekFrom::End(-5)).await?, 6);
        cursor.write_all(b"corio").await?;
        assert_eq!(cursor.get_ref().as_slice(), b"hello corio");

        // read_line and read_until through a BufReader.
        let mut reader = BufReader::with_capacity(4, Cursor::new(b"one\ntwo;three".to_vec()));
        let mut line = String::new();
        reader.read_line(&mut line).await?;
        assert_eq!(line, "one\n");
        let mut part = Vec::new();
        reader.read_until(b';', &mut part).await?;
        assert_eq!(part, b"two;");
        let rest: Vec<_> = reader.split(b'!').collect::<Vec<_>>().await;
        assert_eq!(rest.len(), 1);
        std::io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn the_traits_are_the_ones_corio_types_implement() {
    fn reads<T: AsyncRead + Unpin>() {}
    fn writes<T: AsyncWrite + Unpin>() {}
    fn buffered<T: AsyncBufRead + Unpin>() {}
    fn seeks<T: AsyncSeek + Unpin>() {}
    fn streams<S: Stream>() {}
    reads::<TcpStream>();
    writes::<TcpStream>();
    reads::<corio::net::UnixStream>();
    buffered::<BufReader<TcpStream>>();
    seeks::<corio::fs::File>();
    reads::<corio::fs::File>();
    streams::<corio::Interval>();
    streams::<corio::sync::QueueStream<u8>>();
    streams::<corio::AsCompleted<std::future::Ready<u8>>>();
}

#[test]
fn an_interval_is_a_stream_of_tick_instants() {
    corio::run_seeded(8, async {
        let start = corio::time::now();
        let ticks: Vec<_> = corio::interval(Duration::from_millis(10))
            .take(4)
            .collect()
            .await;
        let offsets: Vec<_> = ticks.iter().map(|t| *t - start).collect();
        assert_eq!(
            offsets,
            [0, 10, 20, 30].map(Duration::from_millis),
            "each item is the scheduled instant of a tick"
        );
        // A dropped `next()` loses no tick.
        let mut every = corio::interval(Duration::from_millis(10)); // first tick now, at 30 ms
        assert_eq!(every.next().await, Some(start + Duration::from_millis(30)));
        let cut = corio::timeout(Duration::from_millis(3), every.next()).await;
        assert!(cut.is_err());
        assert_eq!(every.next().await, Some(start + Duration::from_millis(40)));
    });
}

#[test]
fn a_queue_stream_in_a_consumer_task() {
    let total = corio::run(async {
        let queue = corio::Queue::bounded(8);
        let consumer = corio::spawn({
            let jobs = queue.stream();
            async move { jobs.fold(0u64, |acc, job: u64| acc + job).await }
        });
        for job in 1..=1000 {
            queue.put(job).await.unwrap();
        }
        queue.close();
        consumer.await
    });
    assert_eq!(total, 500_500);
}

/// A connected pair of loopback streams: (client, accepted server end).
async fn pair() -> std::io::Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let client = TcpStream::connect(listener.local_addr()?).await?;
    let (server, _) = listener.accept().await?;
    Ok((client, server))
}

#[test]
fn read_to_string_and_read_line_append_to_what_the_string_holds() {
    // Probe Q: futures-lite 2.6's versions panicked in debug builds on a non-empty string
    // (`assertion failed: buf.is_empty()`) and replaced its contents in release builds.
    corio::run(async {
        let (mut client, mut server) = pair().await?;
        server.write_all(b"world").await?;
        server.close().await?;
        let mut text = String::from("hello ");
        assert_eq!(client.read_to_string(&mut text).await?, 5);
        assert_eq!(text, "hello world");

        let mut reader = BufReader::new(Cursor::new(b"one\ntwo\nthree".to_vec()));
        let mut all = String::from("lines: ");
        let mut sizes = Vec::new();
        loop {
            let n = reader.read_line(&mut all).await?;
            if n == 0 {
                break;
            }
            sizes.push(n);
        }
        assert_eq!(all, "lines: one\ntwo\nthree");
        assert_eq!(sizes, [4, 4, 5]);
        std::io::Result::Ok(())
    })
    .unwrap();
}

#[test]
fn read_to_string_and_read_line_reject_invalid_utf8_and_leave_the_string_alone() {
    corio::block_on(async {
        let mut text = String::from("kept");
        let err = Cursor::new(vec![b'a', 0xff, b'b'])
            .read_to_string(&mut text)
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(text, "kept");

        let mut reader = BufReader::new(Cursor::new(b"ok\n\xc3(\nafter\n".to_vec()));
        let mut line = String::new();
        reader.read_line(&mut line).await.unwrap();
        let err = reader.read_line(&mut line).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        assert_eq!(line, "ok\n", "the bad line is not appended");
        // The bad line was consumed; the next one reads normally.
        reader.read_line(&mut line).await.unwrap();
        assert_eq!(line, "ok\nafter\n");
    });
}

#[test]
fn read_to_string_of_a_large_stream_and_read_line_of_a_line_longer_than_the_buffer() {
    corio::run(async {
        let (mut client, mut server) = pair().await?;
        let text: String = (0..200_000)
            .map(|i| char::from(b'a' + (i % 26) as u8))
            .collect();
        let sent = text.clone();
        let writer = corio::spawn(async move {
            server.write_all(sent.as_bytes()).await?;
            server.write_all("\nπ€𝄞\n".as_bytes()).await?;
            server.close().await
        });
        let mut reader = BufReader::with_capacity(1024, &mut client);
        let mut line = String::from(">");
        let n = reader.read_line(&mut line).await?;
        assert_eq!(n, text.len() + 1);
        assert_eq!(&line[1..line.len() - 1], text);
        let mut rest = String::new();
        reader.read_to_string(&mut rest).await?;
        assert_eq!(rest, "π€𝄞\n", "multi-byte characters split across reads");
        writer.await?;
        std::io::Result::Ok(())
    })
    .unwrap();
}

/// A reader that gives its chunks, then fails.
struct FailsAfter(Vec<&'static [u8]>);

impl AsyncRead for FailsAfter {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &mut [u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        if self.0.is_empty() {
            return std::task::Poll::Ready(Err(std::io::Error::other("link down")));
        }
        let chunk = self.0.remove(0);
        buf[..chunk.len()].copy_from_slice(chunk);
        std::task::Poll::Ready(Ok(chunk.len()))
    }
}

#[test]
fn a_reader_error_keeps_what_was_read_when_it_is_utf8() {
    // As std's: after an I/O error `buf` holds what was read before it, if that is UTF-8
    // (review: the first version dropped it).
    corio::block_on(async {
        let mut text = String::from(">");
        let err = FailsAfter(vec![b"ab", b"c"])
            .read_to_string(&mut text)
            .await
            .unwrap_err();
        assert_eq!(err.to_string(), "link down");
        assert_eq!(text, ">abc");

        let mut line = String::new();
        let mut reader = BufReader::new(FailsAfter(vec![b"par", b"tial"]));
        assert!(reader.read_line(&mut line).await.is_err());
        assert_eq!(line, "partial");

        let mut text = String::new();
        assert!(
            FailsAfter(vec![b"\xff"])
                .read_to_string(&mut text)
                .await
                .is_err()
        );
        assert_eq!(text, "", "bytes that are not UTF-8 are not kept");
    });
}
