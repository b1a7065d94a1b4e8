//! `amp serve`: a mock AMP server answering the commands of a schema from
//! canned answers, and logging every call it receives.

use std::collections::HashMap;
use std::io::{self, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use amp_core::{AmpBox, ResponderError};
use amp_tokio::Responders;
use bytes::Bytes;
use clap::Args;
use serde_json::{Map, Value as Json, json};

use crate::addr::{Address, parse_address};
use crate::failure::{Failure, UNREACHED, USAGE};
use crate::output::{Painter, clock, timestamp};
use crate::schema::{CommandSchema, Schema};
use crate::typed::{Entry, decode_box, encode_json};

/// The arguments of `amp serve`.
#[derive(Args, Debug)]
#[command(after_help = "\
Serves every command the schema declares (see docs/cli.md for the schema
file). How each is answered comes from the answers file, a TOML table per
command:

  [Sum]
  answer = { total = 94 }        # these values, encoded by the schema
  [Divide]
  error = { code = \"ZERO_DIVISION\", description = \"float division by zero\" }
  [EchoInteger]
  echo = true                    # the request's arguments, as received
  [Hang]
  delay = 2.5                    # seconds to wait first (with any of the above)

A declared command without an entry is answered with its arguments (echo);
one the schema does not declare is answered UNHANDLED, as Twisted does.
Arguments that do not decode by the schema are answered UNKNOWN and the
connection closed, as Twisted does; so is an error the schema declares
fatal, after it is sent.

The first line printed is the address listened on (useful with port 0);
then each connection, each call and its outcome, one line each (one JSON
object each with --json). Runs until killed.

Exit status: 2 usage error (a bad schema or answers file), 3 cannot listen.

Examples:
  amp serve 127.0.0.1:1234 --schema commands.toml
  amp serve 127.0.0.1:0 --schema commands.toml --answers answers.toml --json")]
pub struct ServeArgs {
    /// Where to listen: HOST:PORT (port 0 picks a free port), unix:PATH,
    /// or tls:HOST:PORT with --cert and --key.
    #[arg(value_name = "ADDR", value_parser = parse_address)]
    addr: Address,
    /// For a tls: address, the certificate chain (PEM) to show clients.
    #[arg(long, value_name = "FILE", requires = "key")]
    cert: Option<PathBuf>,
    /// The private key (PEM) of --cert.
    #[arg(long, value_name = "FILE", requires = "cert")]
    key: Option<PathBuf>,
    /// The commands to serve (TOML; see docs/cli.md).
    #[arg(long, value_name = "FILE")]
    schema: PathBuf,
    /// The canned answers (TOML: [Command] answer = {...} | error = {...} |
    /// echo = true, and delay = SECS).
    #[arg(long, value_name = "FILE")]
    answers: Option<PathBuf>,
    /// Print one JSON object per line.
    #[arg(long)]
    json: bool,
}

/// How many characters of a key or value a log line shows.
const MAX_SHOWN: usize = 100;

/// How a command is answered.
#[derive(Clone, Debug, PartialEq)]
pub enum Reply {
    /// These keys and wire values.
    Answer(AmpBox),
    /// This error.
    Error {
        /// `_error_code`.
        code: String,
        /// `_error_description`.
        description: String,
    },
    /// The request's arguments, as received.
    Echo,
}

/// A command's canned answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Canned {
    /// What to answer.
    pub reply: Reply,
    /// How long to wait before answering.
    pub delay: Duration,
}

/// Reads an answers file against the schema: every command declared, every
/// value encoded by the command's response types.
pub fn parse_answers(schema: &Schema, text: &str) -> Result<HashMap<String, Canned>, String> {
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| format!("not TOML: {}", e.message()))?;
    let mut out = HashMap::new();
    for (name, entry) in &table {
        let command = schema
            .command(name)
            .ok_or_else(|| format!("{name}: the schema declares no command {name:?}"))?;
        let entry = entry
            .as_table()
            .ok_or_else(|| format!("{name}: expected a table (answer, error, echo, delay)"))?;
        let mut reply = None;
        let mut delay = Duration::ZERO;
        let mut set = |r: Reply, key: &str| {
            if reply.replace(r).is_some() {
                Err(format!("{name}.{key}: give one of answer, error and echo"))
            } else {
                Ok(())
            }
        };
        for (key, value) in entry {
            let at = format!("{name}.{key}");
            match key.as_str() {
                "answer" => set(Reply::Answer(canned_answer(&at, command, value)?), key)?,
                "error" => {
                    let e = value.as_table().ok_or_else(|| {
                        format!("{at}: expected {{ code = \"...\", description = \"...\" }}")
                    })?;
                    let text = |k: &str| -> Result<Option<String>, String> {
                        match e.get(k) {
                            None => Ok(None),
                            Some(v) => v
                                .as_str()
                                .map(|s| Some(s.to_owned()))
                                .ok_or_else(|| format!("{at}.{k}: expected a string")),
                        }
                    };
                    if let Some(extra) = e.keys().find(|k| *k != "code" && *k != "description") {
                        return Err(format!(
                            "{at}.{extra}: unknown key (expected code, description)"
                        ));
                    }
                    let code =
                        text("code")?.ok_or_else(|| format!("{at}: the error needs a code"))?;
                    let description = text("description")?.unwrap_or_default();
                    set(Reply::Error { code, description }, key)?;
                }
                "echo" => match value.as_bool() {
                    Some(true) => set(Reply::Echo, key)?,
                    Some(false) => {}
                    None => return Err(format!("{at}: expected true or false")),
                },
                "delay" => {
                    let secs = value
                        .as_float()
                        .or_else(|| value.as_integer().map(|i| i as f64))
                        .filter(|s| *s >= 0.0)
                        .and_then(|s| Duration::try_from_secs_f64(s).ok())
                        .ok_or_else(|| format!("{at}: expected a number of seconds"))?;
                    delay = secs;
                }
                _ => {
                    return Err(format!(
                        "{at}: unknown key (expected answer, error, echo, delay)"
                    ));
                }
            }
        }
        out.insert(
            name.clone(),
            Canned {
                reply: reply.unwrap_or(Reply::Echo),
                delay,
            },
        );
    }
    Ok(out)
}

/// A TOML value as JSON, for [`encode_json`].
fn toml_to_json(value: &toml::Value) -> Json {
    match value {
        toml::Value::String(s) => Json::String(s.clone()),
        toml::Value::Integer(i) => Json::from(*i),
        toml::Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .unwrap_or_else(|| Json::String(f.to_string())),
        toml::Value::Boolean(b) => Json::Bool(*b),
        toml::Value::Datetime(d) => Json::String(d.to_string()),
        toml::Value::Array(items) => Json::Array(items.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => Json::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

fn canned_answer(at: &str, command: &CommandSchema, value: &toml::Value) -> Result<AmpBox, String> {
    let values = value
        .as_table()
        .ok_or_else(|| format!("{at}: expected a table of the response's keys"))?;
    let mut b = AmpBox::new();
    for (key, value) in values {
        let field = command
            .response
            .iter()
            .find(|f| &f.name == key)
            .ok_or_else(|| format!("{at}.{key}: {} has no response key {key:?}", command.name))?;
        let wire = encode_json(&field.ty, &toml_to_json(value))
            .map_err(|e| format!("{at}.{key}: not a {}: {e}", field.ty))?;
        b.insert(Bytes::from(key.clone()), wire);
    }
    if let Some(missing) = command
        .response
        .iter()
        .find(|f| !f.optional && !b.contains_key(f.name.as_bytes()))
    {
        return Err(format!(
            "{at}: the answer needs {} ({})",
            missing.name, missing.ty
        ));
    }
    Ok(b)
}

/// Runs `amp serve` until killed.
pub fn run(args: &ServeArgs) -> Result<(), Failure> {
    if matches!(args.addr, Address::Tls(_)) && args.cert.is_none() {
        return Err(Failure::new(
            USAGE,
            format_args!("{} needs --cert FILE and --key FILE", args.addr),
        ));
    }
    let schema = Schema::load(&args.schema).map_err(|e| Failure::new(USAGE, e))?;
    let answers = match &args.answers {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Failure::new(
                    USAGE,
                    format_args!("cannot read the answers {}: {e}", path.display()),
                )
            })?;
            parse_answers(&schema, &text).map_err(|e| {
                Failure::new(
                    USAGE,
                    format_args!("{e} (in the answers {})", path.display()),
                )
            })?
        }
        None => HashMap::new(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::new(UNREACHED, format_args!("cannot start the runtime: {e}")))?;
    let log = Log {
        json: args.json,
        painter: Painter::stdout(),
    };
    runtime.block_on(serve(args, Arc::new(schema), Arc::new(answers), log))
}

/// Where the log goes.
#[derive(Clone, Copy)]
struct Log {
    json: bool,
    painter: Painter,
}

impl Log {
    fn line(&self, plain: impl FnOnce(&Painter) -> String, json: impl FnOnce() -> Json) {
        let mut out = io::stdout().lock();
        let _ = if self.json {
            writeln!(out, "{}", json())
        } else {
            writeln!(out, "{}", plain(&self.painter))
        };
    }
}

async fn serve(
    args: &ServeArgs,
    schema: Arc<Schema>,
    answers: Arc<HashMap<String, Canned>>,
    log: Log,
) -> Result<(), Failure> {
    let factory_schema = Arc::clone(&schema);
    let factory =
        move |peer: Option<std::net::SocketAddr>| responders(&factory_schema, &answers, peer, log);
    let addr = &args.addr;
    let cannot =
        |e: io::Error| Failure::new(UNREACHED, format_args!("cannot listen on {addr}: {e}"));
    match addr {
        Address::Tcp(a) => {
            let server = amp_tokio::bind(a.as_str(), move |a| factory(Some(a)))
                .await
                .map_err(cannot)?;
            let local = server.local_addr().map_err(cannot)?.to_string();
            run_server(server, local, &schema, log).await
        }
        Address::Unix(path) => {
            let server = amp_tokio::unix::bind(path, move |()| factory(None)).map_err(cannot)?;
            run_server(server, addr.to_string(), &schema, log).await
        }
        Address::Tls(a) => {
            let read = |path: &PathBuf| {
                std::fs::read(path).map_err(|e| {
                    Failure::new(
                        UNREACHED,
                        format_args!("cannot read {}: {e}", path.display()),
                    )
                })
            };
            let (Some(cert), Some(key)) = (&args.cert, &args.key) else {
                return Err(Failure::new(USAGE, "a tls: address needs --cert and --key"));
            };
            let tls = amp_tokio::tls::ServerTls::from_pem(&read(cert)?, &read(key)?)
                .map_err(|e| Failure::new(USAGE, format_args!("--cert/--key: {e}")))?;
            let server = amp_tokio::tls::bind(a.as_str(), tls, move |a| factory(Some(a)))
                .await
                .map_err(cannot)?;
            let local = format!("tls:{}", server.local_addr().map_err(cannot)?);
            run_server(server, local, &schema, log).await
        }
    }
}

/// Logs each connection of `server` (listening on `local`) and runs it.
async fn run_server<L: amp_engine::Listener>(
    server: amp_engine::Server<amp_tokio::Tokio, L>,
    local: String,
    schema: &Schema,
    log: Log,
) -> Result<(), Failure> {
    let server = server.on_connection(move |peer| {
        let who = peer
            .peer_addr()
            .map_or_else(|| "?".to_owned(), |a| a.to_string());
        log.line(
            |p| format!("{} {} connected", p.dim(&clock()), who),
            || json!({ "time": timestamp(), "peer": who, "event": "connected" }),
        );
        let closed = peer.closed();
        tokio::spawn(async move {
            let why = closed.await.to_string();
            log.line(
                |p| format!("{} {} closed: {why}", p.dim(&clock()), who),
                || json!({ "time": timestamp(), "peer": who, "event": "closed", "reason": why }),
            );
        });
    });
    let names: Vec<&str> = schema.commands.iter().map(|c| c.name.as_str()).collect();
    log.line(
        |_| format!("listening on {local}: {}", names.join(", ")),
        || json!({ "listening": local, "commands": names }),
    );
    server
        .run()
        .await
        .map_err(|e| Failure::new(UNREACHED, format_args!("serving on {local}: {e}")))
}

fn responders(
    schema: &Arc<Schema>,
    answers: &Arc<HashMap<String, Canned>>,
    peer: Option<std::net::SocketAddr>,
    log: Log,
) -> Responders {
    let who: Arc<str> = peer
        .map_or_else(|| "?".to_owned(), |a| a.to_string())
        .into();
    let mut responders = Responders::new();
    for (index, command) in schema.commands.iter().enumerate() {
        let canned = answers.get(&command.name).cloned().unwrap_or(Canned {
            reply: Reply::Echo,
            delay: Duration::ZERO,
        });
        let schema = Arc::clone(schema);
        let who = Arc::clone(&who);
        responders = responders.raw_responder(&command.name, move |_, arguments: AmpBox| {
            let schema = Arc::clone(&schema);
            let canned = canned.clone();
            let who = Arc::clone(&who);
            async move {
                let command = &schema.commands[index];
                let entries = decode_box(&command.arguments, &arguments);
                let bad = entries.iter().find(|e| e.value.is_err()).cloned();
                log.line(
                    |p| {
                        let args: Vec<String> = entries.iter().map(|e| e.inline(MAX_SHOWN)).collect();
                        format!(
                            "{} {who} {} {}",
                            p.dim(&clock()),
                            p.bold(&command.name),
                            args.join(" ")
                        )
                    },
                    || json!({
                        "time": timestamp(),
                        "peer": &*who,
                        "event": "call",
                        "command": command.name,
                        "arguments": entries_json(&entries),
                    }),
                );
                if let Some(bad) = bad {
                    let why = bad.to_string();
                    log.line(
                        |p| format!("{} {who} {} {}", p.dim(&clock()), command.name, p.red(&format!("UNKNOWN: arguments do not match the schema: {why}"))),
                        || json!({ "time": timestamp(), "peer": &*who, "event": "error", "command": command.name, "code": "UNKNOWN", "reason": why }),
                    );
                    return Err(ResponderError::undeclared(why));
                }
                if !canned.delay.is_zero() {
                    tokio::time::sleep(canned.delay).await;
                }
                let outcome = match canned.reply {
                    Reply::Answer(b) => Ok(b),
                    Reply::Echo => Ok(arguments),
                    Reply::Error { code, description } => {
                        let fatal = command.error(&code).is_some_and(|d| d.fatal);
                        Err(ResponderError::Declared {
                            code,
                            description,
                            fatal,
                        })
                    }
                };
                match &outcome {
                    Ok(answer) => {
                        let entries = decode_box(&command.response, answer);
                        log.line(
                            |p| {
                                let values: Vec<String> = entries.iter().map(|e| e.inline(MAX_SHOWN)).collect();
                                format!("{} {who} {} {} {}", p.dim(&clock()), command.name, p.green("answer"), values.join(" "))
                            },
                            || json!({ "time": timestamp(), "peer": &*who, "event": "answer", "command": command.name, "answer": entries_json(&entries) }),
                        );
                    }
                    Err(e) => {
                        let (code, description) = (e.code().to_owned(), e.description().into_owned());
                        log.line(
                            |p| format!("{} {who} {} {} {code}: {description}", p.dim(&clock()), command.name, p.red("error")),
                            || json!({ "time": timestamp(), "peer": &*who, "event": "error", "command": command.name, "code": code, "description": description, "fatal": e.is_fatal() }),
                        );
                    }
                }
                outcome
            }
        });
    }
    responders
}

fn entries_json(entries: &[Entry]) -> Json {
    Json::Object(
        entries
            .iter()
            .map(|e| (e.key.clone(), e.to_json()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schema() -> Schema {
        Schema::parse(
            r#"
            [commands.Sum]
            arguments = { a = "Integer", b = "Integer" }
            response = { total = "Integer" }
            [commands.Echo]
            arguments = { xs = "ListOf(Float)" }
            response = { xs = "ListOf(Float)", note = "Unicode(optional=True)" }
            "#,
        )
        .unwrap()
    }

    #[test]
    fn answers_are_encoded_by_the_schema() {
        let answers = parse_answers(
            &schema(),
            "[Sum]\nanswer = { total = 94 }\ndelay = 0.5\n[Echo]\nanswer = { xs = [0.1, 1e16] }\n",
        )
        .unwrap();
        assert_eq!(
            answers["Sum"],
            Canned {
                reply: Reply::Answer(AmpBox::from_pairs([("total", "94")])),
                delay: Duration::from_millis(500)
            }
        );
        assert_eq!(
            answers["Echo"].reply,
            Reply::Answer(AmpBox::from_pairs([(
                "xs",
                &b"\x00\x030.1\x00\x051e+16"[..]
            )]))
        );
        let answers = parse_answers(
            &schema(),
            "[Sum]\nerror = { code = \"NOPE\" }\n[Echo]\necho = true",
        )
        .unwrap();
        assert_eq!(
            answers["Sum"].reply,
            Reply::Error {
                code: "NOPE".into(),
                description: String::new()
            }
        );
        assert_eq!(answers["Echo"].reply, Reply::Echo);
    }

    #[test]
    fn bad_answers_say_where() {
        for (text, needle) in [
            (
                "[Nope]\necho = true",
                "Nope: the schema declares no command",
            ),
            (
                "[Sum]\nanswer = { total = \"x\" }",
                "Sum.answer.total: not a Integer",
            ),
            (
                "[Sum]\nanswer = { sum = 1 }",
                "Sum.answer.sum: Sum has no response key",
            ),
            ("[Sum]\nanswer = {}", "the answer needs total"),
            (
                "[Sum]\necho = true\nerror = { code = \"X\" }",
                "give one of",
            ),
            ("[Sum]\nerror = { description = \"x\" }", "needs a code"),
            ("[Sum]\ndelay = -1", "seconds"),
            ("[Sum]\nanswr = 1", "unknown key"),
            ("[Sum", "not TOML"),
        ] {
            let e = parse_answers(&schema(), text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
