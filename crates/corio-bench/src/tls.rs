//! `tls_echo`'s shared setup: one self-signed certificate and one pair of rustls
//! configurations per process, used by every runtime, so that the crypto is identical and only
//! the runtime differs.

use std::sync::{Arc, OnceLock};

use corio_compat::tls::rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
use corio_compat::tls::rustls::{ClientConfig, ServerConfig};

/// The name in the certificate, and the one the clients ask for.
pub(crate) const SERVER_NAME: &str = "localhost";

/// The server's and the client's configurations (rustls with the `ring` provider, from
/// corio-compat's helpers: the same objects for every runtime).
#[derive(Debug)]
pub(crate) struct Configs {
    pub(crate) server: Arc<ServerConfig>,
    pub(crate) client: Arc<ClientConfig>,
}

/// Made on first use (untimed: the warm-up iteration, or before the first measured one's
/// clock starts, since every runtime calls this before `Instant::now()`).
pub(crate) fn configs() -> &'static Configs {
    static CONFIGS: OnceLock<Configs> = OnceLock::new();
    CONFIGS.get_or_init(|| {
        let cert = rcgen::generate_simple_self_signed(vec![SERVER_NAME.to_owned()])
            .expect("rcgen: self-signed certificate");
        let der = cert.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der()));
        let server =
            corio_compat::tls::server_config(vec![der.clone()], key).expect("server config");
        let client = corio_compat::tls::client_config_trusting([der]).expect("client config");
        Configs {
            server: Arc::new(server),
            client: Arc::new(client),
        }
    })
}

/// The message of client `c`: 1 KiB that differ between clients.
pub(crate) fn message(c: usize) -> [u8; crate::workload::TLS_BYTES] {
    let mut msg = [0u8; crate::workload::TLS_BYTES];
    for (i, b) in msg.iter_mut().enumerate() {
        *b = (i as u8).wrapping_add(c as u8);
    }
    msg
}
