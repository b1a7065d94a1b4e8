//! `amp call`: one command called on a peer, its answer printed.

use std::collections::HashSet;
use std::io::{self, Write};
use std::path::PathBuf;
use std::time::Duration;

use amp_core::router::Route;
use amp_core::{AmpBox, CallError, MAX_KEY_LENGTH, MAX_VALUE_LENGTH, RemoteError};
use amp_tokio::{Options, Peer, Responders};
use bytes::Bytes;
use clap::Args;
use clap::builder::NonEmptyStringValueParser;
use serde_json::{Map, Value, json};
use tokio::time::{Instant, timeout_at};

use crate::addr::{Address, TlsArgs, parse_address};
use crate::failure::{Failure, REFUSED, UNREACHED, USAGE};
use crate::output::{Painter, json_value, shown};
use crate::schema::{CommandSchema, Schema};
use crate::typed::{Entry, decode_box, encode_arguments};

/// The arguments of `amp call`.
#[derive(Args, Debug)]
#[command(after_help = "\
Arguments are sent as raw values: without the command's schema, each value
is the bytes of the text given (`a=13` sends the two bytes `13`, which is
what Twisted's Integer, String and Unicode all put on the wire for 13).
Keys starting with `_` are AMP's own and cannot be given.

With --schema FILE (a TOML file declaring commands as Twisted does; see
docs/cli.md), the command's arguments are checked and encoded by type and
its answer decoded by type: scalars are given as text (`x=0.1`,
`flag=true`, `when=2012-01-23T12:34:56.054321-00:00`), ListOf and AmpList
as JSON (`xs=[1,2,3]`, `items=[{\"n\":1}]`), a String inside a list as
{\"hex\": \"00ff\"} for bytes that are not text. A command declared with
`requires_answer = false` is sent without `_ask`, and nothing waits for an
answer.

The answer's keys and values are printed one per line as `key: value`
(values as text when printable UTF-8, else as escaped bytes in the manner
of Python). An error answer prints its code and description, and a line on
standard error; so does any other failure.

--route NAME calls through an epsilon.amprouter route: a route is bound on
this side (named `0`, where the peer's answers go), connected to the peer's
route NAME, and the call made on it.
--open-route COMMAND first asks the peer for a route, as epsilon's guide
does: COMMAND is called on the default route with `name` set to this side's
route, and the route named in its answer's `name` is the one called.

Exit status: 0 answered, 1 error answer, 2 usage error, 3 no answer (the
peer unreachable, the connection lost, the time out).

Examples:
  amp call 127.0.0.1:1234 Sum a=13 b=81
  amp call --json 127.0.0.1:1234 Sum a=13 b=81 | jq -r .answer.total
  amp call --schema commands.toml 127.0.0.1:1234 Divide numerator=1 denominator=4
  amp call --schema commands.toml 127.0.0.1:1234 EchoListOfInteger 'value=[1,2,3]'
  amp call --timeout 2 example.org:1234 Ping
  amp call --route 3 127.0.0.1:7805 Count
  amp call --open-route NewRoute 127.0.0.1:7805 Count")]
pub struct CallArgs {
    /// Where the peer listens: HOST:PORT, unix:PATH or tls:HOST:PORT.
    #[arg(value_name = "ADDR", value_parser = parse_address)]
    addr: Address,
    #[command(flatten)]
    tls: TlsArgs,
    /// The command to call.
    #[arg(value_name = "COMMAND", value_parser = NonEmptyStringValueParser::new())]
    command: String,
    /// The command's arguments, each sent as the bytes of VALUE.
    #[arg(value_name = "KEY=VALUE", value_parser = parse_pair)]
    arguments: Vec<(String, String)>,
    /// Call on the peer's route NAME (an epsilon.amprouter route).
    #[arg(long, value_name = "NAME", conflicts_with = "open_route")]
    route: Option<String>,
    /// Open a route by calling COMMAND (name=<this side's route>) on the
    /// default route, then call on the route its answer names.
    #[arg(long, value_name = "COMMAND", value_parser = NonEmptyStringValueParser::new())]
    open_route: Option<String>,
    /// Encode the arguments and decode the answer by type, as the command
    /// is declared in this schema file (TOML; see docs/cli.md).
    #[arg(long, value_name = "FILE")]
    schema: Option<PathBuf>,
    /// Give up after this many seconds, connecting included.
    #[arg(long, value_name = "SECS", default_value = "10", value_parser = parse_secs)]
    timeout: Duration,
    /// Print one JSON object: {"ok": true, "answer": {...}}, or
    /// {"ok": false, "error": {"code", "description"}}, or
    /// {"ok": false, "reason": "..."}.
    #[arg(long)]
    json: bool,
}

/// `KEY=VALUE`, with a key AMP allows a command's argument to have.
pub fn parse_pair(s: &str) -> Result<(String, String), String> {
    let Some((key, value)) = s.split_once('=') else {
        return Err(format!("expected KEY=VALUE, got {s:?}"));
    };
    if key.is_empty() {
        return Err(format!("empty key in {s:?}"));
    }
    if key.starts_with('_') {
        return Err(format!(
            "key {key:?} is reserved: keys starting with _ are AMP's own"
        ));
    }
    if key.len() > MAX_KEY_LENGTH {
        return Err(format!(
            "key of {} bytes is longer than the {MAX_KEY_LENGTH} AMP allows",
            key.len()
        ));
    }
    if value.len() > MAX_VALUE_LENGTH {
        return Err(format!(
            "value of {} bytes for {key:?} is longer than the {MAX_VALUE_LENGTH} AMP allows",
            value.len()
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// A positive number of seconds.
fn parse_secs(s: &str) -> Result<Duration, String> {
    s.parse::<f64>()
        .ok()
        .filter(|secs| *secs > 0.0)
        .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
        .ok_or_else(|| format!("expected a positive number of seconds, got {s:?}"))
}

/// Runs `amp call`.
pub fn run(args: &CallArgs) -> Result<(), Failure> {
    args.tls
        .check(&args.addr)
        .map_err(|e| Failure::new(USAGE, e))?;
    let mut keys = HashSet::new();
    for (key, _) in &args.arguments {
        if !keys.insert(key) {
            return Err(Failure::new(
                USAGE,
                format_args!("the argument {key:?} is given twice"),
            ));
        }
    }
    let schema = args
        .schema
        .as_deref()
        .map(Schema::load)
        .transpose()
        .map_err(|e| Failure::new(USAGE, e))?;
    let command = match &schema {
        Some(schema) => Some(schema.command(&args.command).ok_or_else(|| {
            Failure::new(
                USAGE,
                format_args!("the schema declares no command {:?}", args.command),
            )
        })?),
        None => None,
    };
    let arguments: AmpBox = match command {
        Some(command) => encode_arguments(&command.name, &command.arguments, &args.arguments)
            .map_err(|e| Failure::new(USAGE, e))?,
        None => args
            .arguments
            .iter()
            .map(|(k, v)| (Bytes::from(k.clone()), Bytes::from(v.clone())))
            .collect(),
    };
    let requires_answer = command.is_none_or(|c| c.requires_answer);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(UNREACHED, format_args!("cannot start the runtime: {e}")))?;
    let outcome = runtime.block_on(call(args, arguments, requires_answer));
    // Whatever the peer still has running on this side ends with the runtime.
    runtime.shutdown_background();
    let mut out = io::stdout().lock();
    match outcome {
        Ok(None) => {
            if args.json {
                let line = json!({ "ok": true, "answer": null });
                writeln!(out, "{line}").map_err(Failure::output)?;
            }
            Ok(())
        }
        Ok(Some(answer)) => match command {
            Some(command) => print_typed_answer(command, &answer, args.json, &mut out),
            None => print_answer(&answer, args.json, &mut out).map_err(Failure::output),
        },
        Err(Stop::Remote(error)) => {
            print_error(&error, command, args.json, &mut out).map_err(Failure::output)?;
            Err(Failure::new(
                REFUSED,
                format_args!(
                    "{} answered {}: {}",
                    args.command, error.code, error.description
                ),
            ))
        }
        Err(Stop::Failed(reason)) => {
            if args.json {
                let line = json!({ "ok": false, "reason": reason });
                writeln!(out, "{line}").map_err(Failure::output)?;
            }
            Err(Failure::new(UNREACHED, reason))
        }
    }
}

/// Why a call has no answer.
enum Stop {
    /// The peer answered with an error.
    Remote(RemoteError),
    /// Any other reason, on one line.
    Failed(String),
}

/// Connects, calls, and closes, all within the timeout.
async fn call(
    args: &CallArgs,
    arguments: AmpBox,
    requires_answer: bool,
) -> Result<Option<AmpBox>, Stop> {
    let deadline = Instant::now() + args.timeout;
    let secs = args.timeout.as_secs_f64();
    let addr = &args.addr;
    let late = |what: &str| Stop::Failed(format!("{what}: no reply within {secs} s"));
    if args.route.is_none() && args.open_route.is_none() {
        let peer = timeout_at(deadline, addr.connect(Responders::new(), &args.tls))
            .await
            .map_err(|_| late(&format!("connecting to {addr}")))?
            .map_err(|e| Stop::Failed(format!("cannot connect to {addr}: {e}")))?;
        let answer = timeout_at(
            deadline,
            call_on(&peer, &args.command, arguments, requires_answer),
        )
        .await
        .map_err(|_| late(&format!("calling {}", args.command)));
        peer.shutdown(std::time::Duration::ZERO);
        return answer?;
    }
    let router = timeout_at(deadline, async {
        match addr {
            Address::Tcp(a) => amp_router::tokio::connect(a.as_str(), Options::default()).await,
            Address::Unix(path) => tokio::net::UnixStream::connect(path)
                .await
                .map(|s| amp_router::tokio::from_stream(s, Options::default())),
            Address::Tls(_) => Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "routes over tls: addresses are not supported yet",
            )),
        }
    })
    .await
    .map_err(|_| late(&format!("connecting to {addr}")))?
    .map_err(|e| Stop::Failed(format!("cannot connect to {addr}: {e}")))?;
    let answer = timeout_at(deadline, async {
        let route = router.bind_route(Responders::new());
        let remote = match (&args.route, &args.open_route) {
            (Some(name), _) => Bytes::from(name.clone()),
            (None, Some(opener)) => {
                let local = route.route().name().cloned().unwrap_or_default();
                open_route(&router, opener, local).await?
            }
            (None, None) => unreachable!("a plain call is made above"),
        };
        route.connect_to(Some(remote));
        let peer = route
            .peer()
            .map_err(|e| Stop::Failed(format!("cannot call on the route: {e}")))?;
        call_on(&peer, &args.command, arguments, requires_answer).await
    })
    .await
    .map_err(|_| late(&format!("calling {} on a route", args.command)));
    router.shutdown(std::time::Duration::ZERO);
    answer?
}

/// Asks the peer for a route with `opener` on the default route (epsilon's
/// guide's `NewRoute`): `name` is this side's route; the answer's `name` is
/// the peer's.
async fn open_route(
    router: &amp_router::live::RoutedPeer,
    opener: &str,
    local: Bytes,
) -> Result<Bytes, Stop> {
    let default = router
        .bind(Route::Default, Responders::new())
        .map_err(|e| Stop::Failed(format!("cannot bind the default route: {e}")))?;
    default.connect_to(None);
    let control = default
        .peer()
        .map_err(|e| Stop::Failed(format!("cannot call on the default route: {e}")))?;
    let answer = control
        .call_remote(
            opener,
            AmpBox::from_pairs([(Bytes::from_static(b"name"), local)]),
        )
        .await
        .map_err(|e| match e {
            CallError::Remote(e) => Stop::Failed(format!(
                "opening a route with {opener}: the peer answered {}: {}",
                e.code, e.description
            )),
            e => Stop::Failed(format!("opening a route with {opener}: {e}")),
        })?;
    answer.get_bytes("name").ok_or_else(|| {
        Stop::Failed(format!(
            "opening a route with {opener}: its answer has no `name`"
        ))
    })
}

/// Calls `command` on `peer`; or, when it wants no answer, sends it and
/// waits until it is written.
async fn call_on(
    peer: &Peer,
    command: &str,
    arguments: AmpBox,
    requires_answer: bool,
) -> Result<Option<AmpBox>, Stop> {
    let outcome = if requires_answer {
        peer.call_remote(command, arguments).await.map(Some)
    } else {
        match peer.notify_remote(command, arguments).await {
            Ok(()) => {
                // Written once the connection has flushed it: a graceful
                // shutdown waits for that.
                let _ = peer.shutdown(std::time::Duration::MAX).await;
                Ok(None)
            }
            Err(e) => Err(e),
        }
    };
    outcome.map_err(|e| match e {
        CallError::Remote(e) => Stop::Remote(e),
        CallError::Declared(never) => match never {},
        CallError::Connection(e) => Stop::Failed(format!("connection failed: {e}")),
        e => Stop::Failed(format!("cannot call {command}: {e}")),
    })
}

/// Prints an answer: `key: value` lines, or a JSON object.
fn print_answer(answer: &AmpBox, json: bool, out: &mut impl Write) -> io::Result<()> {
    if json {
        let pairs: Map<String, Value> = answer
            .iter()
            .map(|(k, v)| (shown(k), json_value(v)))
            .collect();
        return writeln!(out, "{}", json!({ "ok": true, "answer": pairs }));
    }
    for (key, value) in answer.iter() {
        writeln!(out, "{}: {}", shown(key), shown(value))?;
    }
    Ok(())
}

/// Prints an answer decoded by the command's schema; an answer that does
/// not match it is printed (the values that do not decode as bytes) and
/// then refused.
fn print_typed_answer(
    command: &CommandSchema,
    answer: &AmpBox,
    json: bool,
    out: &mut impl Write,
) -> Result<(), Failure> {
    let entries = decode_box(&command.response, answer);
    if json {
        let pairs: Map<String, Value> = entries
            .iter()
            .map(|e| (e.key.clone(), e.to_json()))
            .collect();
        writeln!(out, "{}", json!({ "ok": true, "answer": pairs })).map_err(Failure::output)?;
    } else {
        for entry in &entries {
            writeln!(out, "{entry}").map_err(Failure::output)?;
        }
    }
    match entries.iter().find(|e| e.value.is_err()) {
        Some(Entry {
            key,
            value: Err((_, e)),
            ..
        }) => Err(Failure::new(
            REFUSED,
            format_args!(
                "the answer to {} does not match the schema: {key}: {e}",
                command.name
            ),
        )),
        _ => Ok(()),
    }
}

/// Prints an error answer: its code and description (and, with a schema,
/// the exception it is declared for), or a JSON object.
fn print_error(
    error: &RemoteError,
    command: Option<&CommandSchema>,
    json: bool,
    out: &mut impl Write,
) -> io::Result<()> {
    let declared = command.and_then(|c| c.error(&error.code));
    if json {
        let mut body = json!({ "code": error.code, "description": error.description });
        if command.is_some() {
            body["declared"] = declared.map_or(Value::Null, |d| d.exception.clone().into());
            body["fatal"] = declared.is_some_and(|d| d.fatal).into();
        }
        return writeln!(out, "{}", json!({ "ok": false, "error": body }));
    }
    let p = Painter::stdout();
    writeln!(out, "{} {}", p.red("code:"), error.code)?;
    writeln!(out, "{} {}", p.red("description:"), error.description)?;
    if command.is_some() {
        match declared {
            Some(d) if d.fatal => writeln!(out, "declared: {} (fatal)", d.exception)?,
            Some(d) => writeln!(out, "declared: {}", d.exception)?,
            None => writeln!(out, "declared: no")?,
        }
    }
    Ok(())
}
