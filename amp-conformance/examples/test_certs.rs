//! Writes a fresh test authority and the certificates it signed into a
//! directory, for the scripts that run the examples over TLS
//! (`interop/run-examples.sh`): `ca.pem`, `server.pem` and `server.key`
//! (for `localhost` and 127.0.0.1), `client.pem` and `client.key`. Made at
//! each run, never committed.
//!
//! `cargo run -p amp-conformance --example test_certs -- DIR`

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: test_certs DIR");
        std::process::exit(2);
    };
    let certs = amp_conformance::tls::Certs::generate_in(dir.into(), true);
    println!("{}", certs.ca.cert_path.display());
}
