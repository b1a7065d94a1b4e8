//! A connection's settings: its limits against a flooding peer and its
//! timeouts.

use std::time::Duration;

use amp_core::Config;
#[cfg(doc)]
use amp_core::ConnectionError;

#[cfg(doc)]
use crate::ReadHalf;

/// The shortest timeout [`Options`] takes.
const MIN_TIMEOUT: Duration = Duration::from_millis(1);

/// Settings of a connection. Each setting is set by the method and read
/// from the field of the same name; the methods apply each setting's
/// minimum, and the engine applies them again to values written into the
/// fields.
///
/// ```
/// let options = amp_engine::Options::default()
///     .max_responders(64)
///     .max_outbound_bytes(1 << 20);
/// assert_eq!(options.max_responders, 64);
/// assert_eq!(options.max_outbound_bytes, 1 << 20);
/// ```
#[derive(Clone, Debug)]
pub struct Options {
    /// The state machine's settings: decoder limits, raw boxes (default:
    /// `Config::default()`).
    pub config: Config,
    /// Responders running at once on one connection, at least 1 (default
    /// 1024).
    pub max_responders: usize,
    /// Bytes this side's calls may hold, at least 1 (default 4 MiB).
    pub max_outbound_bytes: usize,
    /// Bytes of received requests that may wait for a responder, at least 1
    /// (default 8 MiB).
    pub max_waiting_bytes: usize,
    /// Bytes one read asks the transport for at most, at least 512 (default
    /// 64 KiB). Reads start at 1 KiB (or this, if smaller) and grow while
    /// they fill what they are given, so an idle connection holds little.
    pub read_buffer: usize,
    /// How long a box may stay unfinished, at least 1 ms (default: none).
    /// Also bounds an upgrade of the transport (a TLS handshake).
    pub unfinished_box_timeout: Option<Duration>,
    /// How long a connection may stay idle, at least 1 ms (default: none).
    /// Also bounds an upgrade of the transport (a TLS handshake).
    pub idle_timeout: Option<Duration>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            config: Config::default(),
            max_responders: 1024,
            max_outbound_bytes: 4 << 20,
            max_waiting_bytes: 8 << 20,
            read_buffer: 64 * 1024,
            unfinished_box_timeout: None,
            idle_timeout: None,
        }
    }
}

impl Options {
    /// These options with every setting at least its minimum (what the
    /// setters ensure; the fields can be written directly).
    pub(crate) fn normalized(self) -> Options {
        Options {
            max_responders: self.max_responders.max(1),
            max_outbound_bytes: self.max_outbound_bytes.max(1),
            max_waiting_bytes: self.max_waiting_bytes.max(1),
            read_buffer: self.read_buffer.max(512),
            unfinished_box_timeout: self.unfinished_box_timeout.map(|t| t.max(MIN_TIMEOUT)),
            idle_timeout: self.idle_timeout.map(|t| t.max(MIN_TIMEOUT)),
            config: self.config,
        }
    }

    /// The state machine's settings for a connection with these options:
    /// [`config`](Self::config) with the two timeouts, which the state
    /// machine decides ([`amp_core::Connection::poll_timeout`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// let o = amp_engine::Options::default().idle_timeout(Duration::from_secs(9));
    /// assert_eq!(o.connection_config().timeouts().idle, Some(Duration::from_secs(9)));
    /// ```
    pub fn connection_config(&self) -> Config {
        let this = self.clone().normalized();
        let (unfinished, idle) = (this.unfinished_box_timeout, this.idle_timeout);
        let mut config = this.config;
        if let Some(t) = unfinished {
            config = config.unfinished_box_timeout(t);
        }
        if let Some(t) = idle {
            config = config.idle_timeout(t);
        }
        config
    }

    /// The core's settings (decoder limits, raw boxes).
    ///
    /// ```
    /// let o = amp_engine::Options::default()
    ///     .config(amp_core::Config::default().limits(amp_core::Limits::default().max_keys(16)));
    /// assert_eq!(o.config.decoder_limits().keys(), 16);
    /// ```
    pub fn config(mut self, config: Config) -> Self {
        self.config = config;
        self
    }

    /// How many responders may run at once on one connection. When reached,
    /// further requests wait (see [`max_waiting_bytes`](Self::max_waiting_bytes))
    /// until one finishes.
    ///
    /// ```
    /// assert_eq!(amp_engine::Options::default().max_responders(8).max_responders, 8);
    /// ```
    pub fn max_responders(mut self, n: usize) -> Self {
        self.max_responders = n.max(1);
        self
    }

    /// How many bytes this side's calls may hold: bytes waiting to be
    /// written plus requests waiting for their answer. Past it, callers wait;
    /// and while the unwritten bytes alone are past it, no new responder
    /// starts (so a peer that does not read cannot grow this side's memory).
    ///
    /// ```
    /// assert_eq!(amp_engine::Options::default().max_outbound_bytes(4096).max_outbound_bytes, 4096);
    /// ```
    pub fn max_outbound_bytes(mut self, n: usize) -> Self {
        self.max_outbound_bytes = n.max(1);
        self
    }

    /// How many bytes of received requests may wait for a responder slot
    /// (also at most as many requests as [`max_responders`](Self::max_responders)).
    /// The connection keeps reading, and settling the answers to its own
    /// calls, while requests wait; once this is full it stops reading until
    /// responders catch up. The default (8 MiB) holds all the requests a peer
    /// with the default [`max_outbound_bytes`](Self::max_outbound_bytes) can
    /// have in flight, so two such peers never both stop reading.
    ///
    /// ```
    /// assert_eq!(amp_engine::Options::default().max_waiting_bytes(1 << 16).max_waiting_bytes, 1 << 16);
    /// ```
    pub fn max_waiting_bytes(mut self, n: usize) -> Self {
        self.max_waiting_bytes = n.max(1);
        self
    }

    /// How many bytes one read asks the transport for at most (at least
    /// 512): reads start small and grow to this while they fill their room.
    ///
    /// ```
    /// assert_eq!(amp_engine::Options::default().read_buffer(4096).read_buffer, 4096);
    /// ```
    pub fn read_buffer(mut self, n: usize) -> Self {
        self.read_buffer = n.max(512);
        self
    }

    /// How long a box may stay unfinished: once a whole `timeout` passes,
    /// while the peer has sent part of a box, with no box completed, the
    /// connection is closed with [`ConnectionError::BoxTimeout`]. The clock
    /// only runs while this side is reading and has nothing complete left
    /// to decode, so a busy responder never makes the peer late. The rule
    /// is the state machine's ([`amp_core::timeout`]); the engine only sets
    /// a timer, the transport's [`ReadHalf::sleep`], for the deadline it
    /// gives (with tokio, the runtime needs its time driver: `enable_time`
    /// or `enable_all`). Default: none (as in Twisted); a server open to
    /// untrusted peers wants one, with a connection cap. At least 1 ms
    /// (shorter counts as 1 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// use amp_engine::Options;
    /// let o = Options::default().unfinished_box_timeout(Duration::from_secs(30));
    /// assert_eq!(o.unfinished_box_timeout, Some(Duration::from_secs(30)));
    /// let o = Options::default().unfinished_box_timeout(Duration::ZERO);
    /// assert_eq!(o.unfinished_box_timeout, Some(Duration::from_millis(1)));
    /// ```
    pub fn unfinished_box_timeout(mut self, timeout: Duration) -> Self {
        self.unfinished_box_timeout = Some(timeout.max(MIN_TIMEOUT));
        self
    }

    /// How long a connection may stay idle: once a whole `timeout` passes
    /// with nothing received and nothing sent, and nothing under way (no
    /// call of this side waiting for its answer, no responder running or
    /// waiting, no part of a box received, nothing left to write), the
    /// connection is closed with [`ConnectionError::IdleTimeout`], about one
    /// timeout after it went quiet (the rule is the state machine's:
    /// [`amp_core::timeout`]). With a
    /// server's `max_connections`, it keeps peers that connect and then say
    /// nothing from holding every place. Default: none (as in Twisted).
    /// Like [`unfinished_box_timeout`](Self::unfinished_box_timeout), it
    /// uses the transport's [`ReadHalf::sleep`]. At least 1 ms (shorter
    /// counts as 1 ms: a timer that is always due would keep a busy
    /// connection's reader spinning).
    ///
    /// ```
    /// use std::time::Duration;
    /// use amp_engine::Options;
    /// let o = Options::default().idle_timeout(Duration::from_secs(300));
    /// assert_eq!(o.idle_timeout, Some(Duration::from_secs(300)));
    /// let o = Options::default().idle_timeout(Duration::ZERO);
    /// assert_eq!(o.idle_timeout, Some(Duration::from_millis(1)));
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.idle_timeout = Some(timeout.max(MIN_TIMEOUT));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_written_below_their_minimum_are_raised_to_it() {
        let o = Options {
            max_responders: 0,
            max_outbound_bytes: 0,
            max_waiting_bytes: 0,
            read_buffer: 1,
            unfinished_box_timeout: Some(Duration::ZERO),
            idle_timeout: Some(Duration::ZERO),
            ..Options::default()
        }
        .normalized();
        assert_eq!(
            (
                o.max_responders,
                o.max_outbound_bytes,
                o.max_waiting_bytes,
                o.read_buffer
            ),
            (1, 1, 1, 512)
        );
        assert_eq!(o.unfinished_box_timeout, Some(MIN_TIMEOUT));
        assert_eq!(o.connection_config().timeouts().idle, Some(MIN_TIMEOUT));
    }
}
