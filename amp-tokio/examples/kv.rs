//! The key-value store of docs/service.md. `kv server [ADDR]` serves it and
//! prints `LISTENING <port>`; `kv client ADDR` stores 1,000 keys at once and
//! reads them back. Its Twisted twin is interop/kv.py.
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use amp_core::values::DateTime;
use amp_core::{AmpBox, CallError, Failure};
use amp_tokio::Responders;
use bytes::Bytes;

amp_core::command! { pub struct Put { key: String, value: Bytes } -> () }
amp_core::command! {
    pub struct Get { key: String } -> pub struct Value { value: Bytes }
    errors pub enum GetError { NotFound => "NOT_FOUND" }
}
amp_core::command! { pub struct Keys {} -> pub struct KeyList { keys: Vec<String> } }
amp_core::command! { pub struct Stats {} -> pub struct Count { count: i64, since: DateTime } }

struct Store {
    data: Mutex<BTreeMap<String, Bytes>>,
    since: DateTime,
}

impl Store {
    async fn put(self: Arc<Self>, Put { key, value }: Put) -> Result<(), Failure> {
        self.data.lock().unwrap().insert(key, value);
        Ok(())
    }

    async fn get(self: Arc<Self>, Get { key }: Get) -> Result<Value, Failure<GetError>> {
        let value = self.data.lock().unwrap().get(&key).cloned();
        Ok(Value {
            value: value.ok_or(GetError::NotFound(key))?,
        })
    }

    async fn keys(self: Arc<Self>, _: Keys) -> Result<KeyList, Failure> {
        let keys = self.data.lock().unwrap().keys().cloned().collect();
        Ok(KeyList { keys })
    }

    async fn stats(self: Arc<Self>, _: Stats) -> Result<Count, Failure> {
        let count = self.data.lock().unwrap().len() as i64;
        Ok(Count {
            count,
            since: self.since,
        })
    }
}

async fn server(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let store = Arc::new(Store {
        data: Mutex::default(),
        since: DateTime::now(),
    });
    let server = amp_tokio::bind(addr, move |_| {
        Responders::new()
            .on_method(&store, Store::put)
            .on_method(&store, Store::get)
            .on_method(&store, Store::keys)
            .on_method(&store, Store::stats)
    })
    .await?;
    println!("LISTENING {}", server.local_addr()?.port());
    Ok(server.run().await?)
}

async fn client(addr: &str) -> Result<(), Box<dyn std::error::Error>> {
    let peer = amp_tokio::connect(addr, Responders::new()).await?;
    let mut puts = tokio::task::JoinSet::new();
    for i in 0..1000 {
        puts.spawn(peer.call(Put {
            key: format!("k{i:03}"),
            value: format!("v{i}").into(),
        }));
    }
    while let Some(put) = puts.join_next().await {
        put??;
    }
    let Value { value } = peer.call(Get { key: "k007".into() }).await?;
    println!("k007 = {}", String::from_utf8_lossy(&value));
    match peer.call(Get { key: "nope".into() }).await {
        Err(CallError::Declared(GetError::NotFound(key))) => println!("{key}: NOT_FOUND"),
        other => return Err(format!("expected NOT_FOUND, got {other:?}").into()),
    }
    let KeyList { keys } =
        tokio::time::timeout(Duration::from_secs(5), peer.call(Keys {})).await??;
    println!(
        "{} keys, from {} to {}",
        keys.len(),
        keys[0],
        keys[keys.len() - 1]
    );
    let stats = peer.call_remote("Stats", AmpBox::new()).await?;
    println!("count {}", stats.get_str("count").unwrap_or("?"));
    peer.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["server"] => server("127.0.0.1:0").await,
        ["server", addr] => server(addr).await,
        ["client", addr] => client(addr).await,
        _ => Err("usage: kv server [ADDR] | kv client ADDR".into()),
    }
}
