//! Schema files: commands declared as Twisted declares them, read from TOML.
//!
//! ```toml
//! [commands.Divide]
//! arguments = { numerator = "Integer", denominator = "Integer" }
//! response = { result = "Float" }
//! errors = { ZERO_DIVISION = "ZeroDivisionError" }
//! ```
//!
//! Types are written as in Python (`Integer`, `amp.Integer()`,
//! `Unicode(optional=True)`, `ListOf(Float)`,
//! `AmpList([(b'n', Integer()), (b'note', Unicode(optional=True))])`) or
//! in a short form for AmpList's fields (`AmpList(n: Integer, note:
//! Unicode(optional=True))`). See `docs/cli.md`.

use std::fmt;
use std::path::Path;

use amp_core::MAX_KEY_LENGTH;

/// One of Twisted's argument types.
#[derive(Clone, Debug, PartialEq)]
pub enum Type {
    /// `Integer`: decimal text, any size.
    Integer,
    /// `String`: bytes as they are.
    String,
    /// `Unicode`: UTF-8 text.
    Unicode,
    /// `Boolean`: `True` or `False`.
    Boolean,
    /// `Float`: Python's `repr(float)`.
    Float,
    /// `Decimal`: Python's `str(Decimal)`.
    Decimal,
    /// `DateTime`: `YYYY-MM-DDTHH:MM:SS.ffffff±HH:MM`.
    DateTime,
    /// `Path`: UTF-8 text.
    Path,
    /// `Descriptor`: a descriptor's ordinal, as Integer.
    Descriptor,
    /// `ListOf(T)`: length-prefixed elements.
    ListOf(Box<Type>),
    /// `AmpList([...])`: boxes back to back, with these fields.
    AmpList(Vec<Field>),
}

impl Type {
    /// The type's name as Twisted spells it, with its parameters.
    pub fn name(&self) -> String {
        match self {
            Type::Integer => "Integer".into(),
            Type::String => "String".into(),
            Type::Unicode => "Unicode".into(),
            Type::Boolean => "Boolean".into(),
            Type::Float => "Float".into(),
            Type::Decimal => "Decimal".into(),
            Type::DateTime => "DateTime".into(),
            Type::Path => "Path".into(),
            Type::Descriptor => "Descriptor".into(),
            Type::ListOf(t) => format!("ListOf({})", t.name()),
            Type::AmpList(fields) => {
                let fields: Vec<String> = fields.iter().map(Field::to_string).collect();
                format!("AmpList({})", fields.join(", "))
            }
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// A named argument, response key or AmpList field.
#[derive(Clone, Debug, PartialEq)]
pub struct Field {
    /// The key.
    pub name: String,
    /// Its type.
    pub ty: Type,
    /// Whether the key may be absent.
    pub optional: bool,
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.optional {
            write!(f, "{}: {}(optional=True)", self.name, self.ty)
        } else {
            write!(f, "{}: {}", self.name, self.ty)
        }
    }
}

/// An error a command declares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeclaredError {
    /// `_error_code`.
    pub code: String,
    /// The exception Twisted maps to it (documentation only).
    pub exception: String,
    /// Whether the connection closes after it (Twisted's `fatalErrors`).
    pub fatal: bool,
}

/// A command as Twisted declares it.
#[derive(Clone, Debug, PartialEq)]
pub struct CommandSchema {
    /// The wire name (`_command`).
    pub name: String,
    /// `arguments`, in declaration order.
    pub arguments: Vec<Field>,
    /// `response`, in declaration order.
    pub response: Vec<Field>,
    /// `errors` and `fatalErrors`.
    pub errors: Vec<DeclaredError>,
    /// `requiresAnswer` (true unless declared false).
    pub requires_answer: bool,
}

impl CommandSchema {
    /// The declared error with this code.
    pub fn error(&self, code: &str) -> Option<&DeclaredError> {
        self.errors.iter().find(|e| e.code == code)
    }
}

/// Every command of a schema file, in file order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Schema {
    /// The commands.
    pub commands: Vec<CommandSchema>,
}

/// Why a schema file was refused: where, and what was wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaError {
    /// Where in the file: `commands.Sum.arguments.a`, or empty.
    pub at: String,
    /// What was wrong.
    pub message: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.at.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.at, self.message)
        }
    }
}

impl std::error::Error for SchemaError {}

fn err(at: impl Into<String>, message: impl Into<String>) -> SchemaError {
    SchemaError {
        at: at.into(),
        message: message.into(),
    }
}

impl Schema {
    /// Reads a schema file.
    pub fn load(path: &Path) -> Result<Schema, SchemaError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            err(
                "",
                format!("cannot read the schema {}: {e}", path.display()),
            )
        })?;
        Schema::parse(&text).map_err(|e| SchemaError {
            at: e.at,
            message: format!("{} (in the schema {})", e.message, path.display()),
        })
    }

    /// Reads a schema from TOML text.
    pub fn parse(text: &str) -> Result<Schema, SchemaError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| err("", format!("not TOML: {}", e.message())))?;
        let mut schema = Schema::default();
        for (key, value) in &table {
            if key != "commands" {
                return Err(err(
                    key.as_str(),
                    "unknown top-level key (a schema has only [commands.NAME] tables)",
                ));
            }
            let commands = value
                .as_table()
                .ok_or_else(|| err("commands", "expected a table of commands"))?;
            for (name, command) in commands {
                schema.commands.push(command_schema(name, command)?);
            }
        }
        Ok(schema)
    }

    /// The command with this wire name.
    pub fn command(&self, name: &str) -> Option<&CommandSchema> {
        self.commands.iter().find(|c| c.name == name)
    }

    /// The command with this wire name, as bytes.
    pub fn command_bytes(&self, name: &[u8]) -> Option<&CommandSchema> {
        self.commands.iter().find(|c| c.name.as_bytes() == name)
    }
}

fn command_schema(name: &str, value: &toml::Value) -> Result<CommandSchema, SchemaError> {
    let at = format!("commands.{name}");
    if name.is_empty() || name.len() > amp_core::MAX_VALUE_LENGTH {
        return Err(err(at, "a command's name must be 1 to 65535 bytes"));
    }
    let table = value
        .as_table()
        .ok_or_else(|| err(&at, "expected a table (arguments, response, errors, ...)"))?;
    let mut command = CommandSchema {
        name: name.to_owned(),
        arguments: Vec::new(),
        response: Vec::new(),
        errors: Vec::new(),
        requires_answer: true,
    };
    let mut fatal = Vec::new();
    for (key, value) in table {
        let at = format!("{at}.{key}");
        match key.as_str() {
            "arguments" => command.arguments = fields(&at, value)?,
            "response" => command.response = fields(&at, value)?,
            "errors" => command.errors = errors(&at, value, false)?,
            "fatal_errors" => fatal = errors(&at, value, true)?,
            "requires_answer" => {
                command.requires_answer = value
                    .as_bool()
                    .ok_or_else(|| err(&at, "expected true or false"))?;
            }
            _ => {
                return Err(err(
                    at,
                    "unknown key (expected arguments, response, errors, fatal_errors, requires_answer)",
                ));
            }
        }
    }
    // Twisted declares a fatal error in both `errors` and `fatalErrors`, or
    // in `fatalErrors` only: either way it is one fatal error.
    for f in fatal {
        match command.errors.iter_mut().find(|e| e.code == f.code) {
            Some(e) => e.fatal = true,
            None => command.errors.push(f),
        }
    }
    Ok(command)
}

fn fields(at: &str, value: &toml::Value) -> Result<Vec<Field>, SchemaError> {
    let table = value
        .as_table()
        .ok_or_else(|| err(at, "expected a table of KEY = \"Type\""))?;
    let mut out = Vec::new();
    for (key, ty) in table {
        let at = format!("{at}.{key}");
        check_key(&at, key)?;
        let text = ty
            .as_str()
            .ok_or_else(|| err(&at, "expected a type name in a string, as \"Integer\""))?;
        let (ty, optional) = parse_type(text).map_err(|m| err(&at, m))?;
        out.push(Field {
            name: key.clone(),
            ty,
            optional,
        });
    }
    Ok(out)
}

fn check_key(at: &str, key: &str) -> Result<(), String> {
    if key.is_empty() || key.len() > MAX_KEY_LENGTH {
        return Err(format!("{at}: a key must be 1 to {MAX_KEY_LENGTH} bytes"));
    }
    Ok(())
}

impl From<String> for SchemaError {
    fn from(message: String) -> SchemaError {
        err("", message)
    }
}

fn errors(at: &str, value: &toml::Value, fatal: bool) -> Result<Vec<DeclaredError>, SchemaError> {
    let table = value
        .as_table()
        .ok_or_else(|| err(at, "expected a table of CODE = \"ExceptionName\""))?;
    let mut out = Vec::new();
    for (code, exception) in table {
        let exception = exception.as_str().ok_or_else(|| {
            err(
                format!("{at}.{code}"),
                "expected the exception's name in a string",
            )
        })?;
        if code.is_empty() {
            return Err(err(at, "an error code cannot be empty"));
        }
        out.push(DeclaredError {
            code: code.clone(),
            exception: exception.to_owned(),
            fatal,
        });
    }
    Ok(out)
}

/// Parses a type expression; returns the type and whether it is optional.
///
/// ```
/// use amp::schema::{parse_type, Type};
/// assert_eq!(parse_type("ListOf(amp.Float())"), Ok((Type::ListOf(Box::new(Type::Float)), false)));
/// assert_eq!(parse_type("Unicode(optional=True)"), Ok((Type::Unicode, true)));
/// assert!(parse_type("Integr").unwrap_err().contains("unknown type"));
/// ```
pub fn parse_type(text: &str) -> Result<(Type, bool), String> {
    let mut p = Parser { text, at: 0 };
    let parsed = p.ty(0)?;
    p.space();
    if p.at < text.len() {
        return Err(p.error("unexpected text after the type"));
    }
    Ok(parsed)
}

/// How deeply types may nest (a guard against a stack overflow).
const MAX_DEPTH: usize = 32;

const TYPE_NAMES: &str = "Integer, String, Unicode, Boolean, Float, Decimal, DateTime, Path, Descriptor, ListOf, AmpList";

struct Parser<'a> {
    text: &'a str,
    at: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> String {
        format!("{what} at column {} of {:?}", self.at + 1, self.text)
    }

    fn space(&mut self) {
        while self.rest().starts_with(char::is_whitespace) {
            self.at += self.rest().chars().next().map_or(1, char::len_utf8);
        }
    }

    fn rest(&self) -> &str {
        &self.text[self.at..]
    }

    fn eat(&mut self, token: &str) -> bool {
        self.space();
        if self.rest().starts_with(token) {
            self.at += token.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, token: &str) -> Result<(), String> {
        if self.eat(token) {
            Ok(())
        } else {
            Err(self.error(&format!("expected `{token}`")))
        }
    }

    fn ident(&mut self) -> &str {
        self.space();
        let start = self.at;
        let len = self
            .rest()
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(self.rest().len());
        self.at += len;
        &self.text[start..start + len]
    }

    fn ty(&mut self, depth: usize) -> Result<(Type, bool), String> {
        if depth > MAX_DEPTH {
            return Err(self.error(&format!("types nest deeper than {MAX_DEPTH}")));
        }
        let start = {
            self.space();
            self.at
        };
        let mut name = self.ident().to_owned();
        if name == "amp" && self.eat(".") {
            name = self.ident().to_owned();
        }
        let ty = match name.as_str() {
            "Integer" => Type::Integer,
            "String" | "Bytes" => Type::String,
            "Unicode" => Type::Unicode,
            "Boolean" => Type::Boolean,
            "Float" => Type::Float,
            "Decimal" => Type::Decimal,
            "DateTime" => Type::DateTime,
            "Path" => Type::Path,
            "Descriptor" => Type::Descriptor,
            "ListOf" => {
                self.expect("(")?;
                let (element, optional) = self.ty(depth + 1)?;
                if optional {
                    return Err(self.error("a list's elements cannot be optional"));
                }
                let optional = self.optional_tail()?;
                return Ok((Type::ListOf(Box::new(element)), optional));
            }
            "AmpList" => {
                self.expect("(")?;
                let fields = self.fields(depth)?;
                let optional = self.optional_tail()?;
                return Ok((Type::AmpList(fields), optional));
            }
            "" => {
                self.at = start;
                return Err(self.error(&format!("expected a type ({TYPE_NAMES})")));
            }
            other => {
                let message = format!("unknown type {other:?} (expected one of {TYPE_NAMES})");
                self.at = start;
                return Err(self.error(&message));
            }
        };
        if self.eat("(") {
            let optional = if self.eat(")") {
                false
            } else {
                let optional = self.optional_value()?;
                self.expect(")")?;
                optional
            };
            return Ok((ty, optional));
        }
        Ok((ty, false))
    }

    /// After a list's element or an AmpList's fields: `)` or
    /// `, optional=True)`.
    fn optional_tail(&mut self) -> Result<bool, String> {
        if self.eat(")") {
            return Ok(false);
        }
        if !self.eat(",") {
            return Err(self.error("expected `)` (or `, optional=True)`)"));
        }
        let optional = self.optional_value()?;
        self.expect(")")?;
        Ok(optional)
    }

    /// `optional=True` (or `False`; `true`/`false` too).
    fn optional_value(&mut self) -> Result<bool, String> {
        if self.ident() != "optional" {
            return Err(self.error("expected `optional=True`"));
        }
        self.expect("=")?;
        match self.ident() {
            "True" | "true" => Ok(true),
            "False" | "false" => Ok(false),
            _ => Err(self.error("expected True or False")),
        }
    }

    /// AmpList's fields up to (not including) the closing `)` or
    /// `, optional=...`: `[(b'a', Integer()), ...]` or `a: Integer, ...`.
    fn fields(&mut self, depth: usize) -> Result<Vec<Field>, String> {
        let mut fields: Vec<Field> = Vec::new();
        let bracketed = self.eat("[");
        loop {
            self.space();
            if (bracketed && self.eat("]")) || (!bracketed && self.rest().starts_with(')')) {
                break;
            }
            let field = if self.eat("(") {
                let name = self.string()?;
                self.expect(",")?;
                let (ty, optional) = self.ty(depth + 1)?;
                self.expect(")")?;
                Field { name, ty, optional }
            } else {
                let name = self.ident().to_owned();
                if name.is_empty() {
                    return Err(self.error("expected a field: (b'name', Type()) or name: Type"));
                }
                self.expect(":")?;
                let (ty, optional) = self.ty(depth + 1)?;
                Field { name, ty, optional }
            };
            check_key("", &field.name).map_err(|_| {
                self.error(&format!(
                    "field name {:?} is not 1 to {MAX_KEY_LENGTH} bytes",
                    field.name
                ))
            })?;
            if fields.iter().any(|f| f.name == field.name) {
                return Err(self.error(&format!("field {:?} is declared twice", field.name)));
            }
            fields.push(field);
            self.space();
            if bracketed {
                if !self.eat(",") {
                    self.expect("]")?;
                    break;
                }
            } else if !self.rest().starts_with(')') {
                // `, next: T` or `, optional=True)`.
                let save = self.at;
                self.expect(",")?;
                let peek = self.ident().to_owned();
                if peek == "optional" && self.eat("=") {
                    self.at = save;
                    break;
                }
                self.at = save;
                self.expect(",")?;
            }
        }
        if fields.is_empty() {
            return Err(self.error("an AmpList needs at least one field"));
        }
        Ok(fields)
    }

    /// A Python string literal: `b'..'`, `'..'`, `".."` (no escapes but
    /// `\\` and the quote).
    fn string(&mut self) -> Result<String, String> {
        self.space();
        if self.rest().starts_with("b'") || self.rest().starts_with("b\"") {
            self.at += 1;
        }
        let quote = match self.rest().chars().next() {
            Some(q @ ('\'' | '"')) => q,
            _ => return Err(self.error("expected a quoted field name")),
        };
        self.at += 1;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            if c == quote {
                self.at += i + 1;
                return Ok(out);
            }
            if c == '\\' {
                match chars.next() {
                    Some((_, e)) => out.push(e),
                    None => break,
                }
            } else {
                out.push(c);
            }
        }
        Err(self.error("unterminated string"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, ty: Type, optional: bool) -> Field {
        Field {
            name: name.into(),
            ty,
            optional,
        }
    }

    #[test]
    fn types_parse_as_python_writes_them() {
        for (text, ty, optional) in [
            ("Integer", Type::Integer, false),
            ("Integer()", Type::Integer, false),
            ("amp.Integer()", Type::Integer, false),
            ("String(optional=True)", Type::String, true),
            ("Unicode( optional = true )", Type::Unicode, true),
            (
                "ListOf(ListOf(Boolean))",
                Type::ListOf(Box::new(Type::ListOf(Box::new(Type::Boolean)))),
                false,
            ),
            (
                "ListOf(Float(), optional=True)",
                Type::ListOf(Box::new(Type::Float)),
                true,
            ),
        ] {
            assert_eq!(parse_type(text), Ok((ty, optional)), "{text}");
        }
    }

    #[test]
    fn amp_lists_parse_in_both_spellings() {
        let expected = Type::AmpList(vec![
            field("name", Type::Unicode, false),
            field(
                "items",
                Type::AmpList(vec![field("n", Type::Integer, false)]),
                false,
            ),
            field("note", Type::Unicode, true),
        ]);
        let python = "AmpList([(b'name', amp.Unicode()), (b'items', AmpList([(b'n', Integer())])), (b\"note\", Unicode(optional=True))])";
        assert_eq!(parse_type(python), Ok((expected.clone(), false)));
        let short =
            "AmpList(name: Unicode, items: AmpList(n: Integer), note: Unicode(optional=True))";
        assert_eq!(parse_type(short), Ok((expected.clone(), false)));
        let optional = "AmpList(name: Unicode, items: AmpList(n: Integer), note: Unicode(optional=True), optional=True)";
        assert_eq!(parse_type(optional), Ok((expected, true)));
    }

    #[test]
    fn bad_types_say_what_and_where() {
        for (text, needle) in [
            ("Integr", "unknown type \"Integr\""),
            ("", "expected a type"),
            ("ListOf(Integer", "expected `)`"),
            ("ListOf(Integer(optional=True))", "cannot be optional"),
            ("Integer(optional=maybe)", "True or False"),
            ("AmpList()", "at least one field"),
            ("AmpList(a: Integer, a: Unicode)", "declared twice"),
            ("AmpList([(b'a, Integer())])", "unterminated string"),
            ("Integer junk", "unexpected text"),
        ] {
            let e = parse_type(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(e.contains("column"), "{text:?}: {e}");
        }
        let deep = format!("{}Integer{}", "ListOf(".repeat(100), ")".repeat(100));
        assert!(parse_type(&deep).unwrap_err().contains("nest deeper"));
    }

    #[test]
    fn a_schema_reads_commands_errors_and_fatal_errors() {
        let schema = Schema::parse(
            r#"
            [commands.Divide]
            arguments = { numerator = "Integer", denominator = "Integer" }
            response = { result = "Float" }
            errors = { ZERO_DIVISION = "ZeroDivisionError" }

            [commands.Fatal]
            errors = { FATAL_KEY = "KeyError" }
            fatal_errors = { FATAL_KEY = "KeyError" }

            [commands.Notify]
            arguments = { text = "Unicode" }
            requires_answer = false
            "#,
        )
        .unwrap();
        let divide = schema.command("Divide").unwrap();
        assert_eq!(
            divide.arguments,
            [
                field("numerator", Type::Integer, false),
                field("denominator", Type::Integer, false)
            ]
        );
        assert_eq!(divide.response, [field("result", Type::Float, false)]);
        assert!(!divide.error("ZERO_DIVISION").unwrap().fatal);
        assert!(
            schema
                .command("Fatal")
                .unwrap()
                .error("FATAL_KEY")
                .unwrap()
                .fatal
        );
        assert_eq!(schema.command("Fatal").unwrap().errors.len(), 1);
        assert!(!schema.command("Notify").unwrap().requires_answer);
        assert!(schema.command("Sum").is_none());
    }

    #[test]
    fn bad_schemas_say_where() {
        for (text, needle) in [
            (
                "[commands.Sum]\nargs = {}",
                "commands.Sum.args: unknown key",
            ),
            (
                "[commands.Sum]\narguments = { a = \"Int\" }",
                "commands.Sum.arguments.a: unknown type",
            ),
            (
                "[commands.Sum]\narguments = { a = 1 }",
                "commands.Sum.arguments.a",
            ),
            ("[other]", "other: unknown top-level key"),
            ("commands = 3", "commands: expected a table"),
            ("[commands.Sum]\nrequires_answer = 1", "true or false"),
            ("[commands", "not TOML"),
        ] {
            let e = Schema::parse(text).unwrap_err().to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }
}
