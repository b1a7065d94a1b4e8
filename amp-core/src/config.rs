//! [`Config`]: the settings of a dispatcher and its connection.

use std::time::Duration;

use crate::codec::Limits;
use crate::timeout::{MIN_TIMEOUT, Timeouts};

/// Settings of a dispatcher and its connection.
///
/// ```
/// let config = amp_core::Config::default().raw_boxes(true);
/// assert!(config.delivers_raw_boxes());
/// ```
#[derive(Clone, Debug, Default)]
pub struct Config {
    pub(crate) limits: Limits,
    pub(crate) raw_boxes: bool,
    pub(crate) timeouts: Timeouts,
}

impl Config {
    /// Sets the decoder's limits.
    ///
    /// ```
    /// let c = amp_core::Config::default().limits(amp_core::Limits::default().max_keys(8));
    /// assert_eq!(c.decoder_limits().keys(), 8);
    /// ```
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// When on, a received box that is neither a request nor an answer is
    /// delivered as [`Event::Box`](crate::Event::Box) instead of closing the
    /// connection with [`ProtocolError::NotAmp`](crate::ProtocolError::NotAmp).
    ///
    /// ```
    /// assert!(!amp_core::Config::default().delivers_raw_boxes());
    /// ```
    pub fn raw_boxes(mut self, on: bool) -> Self {
        self.raw_boxes = on;
        self
    }

    /// How long a box may stay unfinished: once a whole `timeout` passes
    /// with part of a box received, every whole box before it decoded, no
    /// box completed and reading not paused, the connection ends with
    /// [`ConnectionError::BoxTimeout`](crate::ConnectionError::BoxTimeout).
    /// The driver passes the time in
    /// ([`Connection::poll_timeout`](crate::Connection::poll_timeout),
    /// [`Connection::handle_timeout`](crate::Connection::handle_timeout));
    /// the [`timeout`](crate::timeout) module gives the rule in full.
    /// Default: none (as in Twisted); a server open to untrusted peers
    /// wants one. At least 1 ms (shorter counts as 1 ms).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = amp_core::Config::default().unfinished_box_timeout(Duration::from_secs(30));
    /// assert_eq!(c.timeouts().unfinished_box, Some(Duration::from_secs(30)));
    /// let c = amp_core::Config::default().unfinished_box_timeout(Duration::ZERO);
    /// assert_eq!(c.timeouts().unfinished_box, Some(Duration::from_millis(1)));
    /// ```
    pub fn unfinished_box_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.unfinished_box = Some(timeout.max(MIN_TIMEOUT));
        self
    }

    /// How long a connection may stay idle: once a whole `timeout` passes
    /// with nothing received and nothing taken for sending, and nothing
    /// under way (no call of this side waiting for its answer, no answer
    /// owed to the peer, no received byte left to decode, nothing left to
    /// send), the connection ends with
    /// [`ConnectionError::IdleTimeout`](crate::ConnectionError::IdleTimeout).
    /// The [`timeout`](crate::timeout) module gives the rule in full.
    /// Default: none (as in Twisted). At least 1 ms (shorter counts as 1 ms:
    /// a timer that is always due would keep a driver spinning).
    ///
    /// ```
    /// use std::time::Duration;
    /// let c = amp_core::Config::default().idle_timeout(Duration::from_secs(300));
    /// assert_eq!(c.timeouts().idle, Some(Duration::from_secs(300)));
    /// let c = amp_core::Config::default().idle_timeout(Duration::from_micros(10));
    /// assert_eq!(c.timeouts().idle, Some(Duration::from_millis(1)));
    /// ```
    pub fn idle_timeout(mut self, timeout: Duration) -> Self {
        self.timeouts.idle = Some(timeout.max(MIN_TIMEOUT));
        self
    }

    /// The timeouts set (none by default).
    ///
    /// ```
    /// assert!(amp_core::Config::default().timeouts().is_off());
    /// ```
    pub fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    /// The decoder's limits.
    ///
    /// ```
    /// assert_eq!(amp_core::Config::default().decoder_limits(), &amp_core::Limits::default());
    /// ```
    pub fn decoder_limits(&self) -> &Limits {
        &self.limits
    }

    /// Whether unclassified boxes are delivered.
    ///
    /// ```
    /// assert!(amp_core::Config::default().raw_boxes(true).delivers_raw_boxes());
    /// ```
    pub fn delivers_raw_boxes(&self) -> bool {
        self.raw_boxes
    }
}
