//! A TCP echo server on corio.
//!
//! ```text
//! cargo run --release -p corio --example echo_server -- 127.0.0.1:7000
//! ```
//!
//! Then, for example, `nc 127.0.0.1 7000`. Each connection is served by its own task; a connection
//! that fails is logged and the server goes on (also when the process runs out of descriptors).

use corio::io::{AsyncReadExt, AsyncWriteExt};
use corio::net::TcpListener;

#[corio::main]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7000".to_owned());
    let listener = TcpListener::bind(addr.as_str()).await?;
    println!("echoing on {}", listener.local_addr()?);
    loop {
        let (mut stream, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // EMFILE and friends: report, breathe, keep serving.
                eprintln!("accept failed: {e}");
                corio::sleep(std::time::Duration::from_millis(10)).await;
                continue;
            }
        };
        corio::task::Builder::new()
            .name(format!("echo {peer}"))
            .spawn(async move {
                let mut buf = vec![0u8; 16 * 1024];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) => break,
                        Ok(n) => {
                            if let Err(e) = stream.write_all(&buf[..n]).await {
                                eprintln!("{peer}: write failed: {e}");
                                break;
                            }
                        }
                        Err(e) => {
                            eprintln!("{peer}: read failed: {e}");
                            break;
                        }
                    }
                }
            })
            .detach();
    }
}
