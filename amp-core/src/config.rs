//! [`Config`]: the settings of a dispatcher and its connection.

use crate::codec::Limits;

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
