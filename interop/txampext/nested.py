# Ported from txampext 0.0.11's txampext/nested.py (ISC licence, Laurens
# Van Houtven; see LICENSE in this directory).
#
# What changed from the original: nothing but this header. The module was
# already valid Python 3 (Twisted's AmpList has the same fromStringProto and
# toStringProto there); it is copied so that it imports without the rest of
# txampext, whose other modules do not import on Python 3.
"""
Implementation of a nested AMP box.
"""
from twisted.protocols import amp


class NestedAMPBox(amp.AmpList):
    """
    An AMP box within an AMP box.

    Implemented as an ``amp.AmpList`` of length 1.
    """
    def fromStringProto(self, inString, proto):
        """
        Defers to `amp.AmpList`, then gets the element from the list.
        """
        value, = amp.AmpList.fromStringProto(self, inString, proto)
        return value


    def toStringProto(self, inObject, proto):
        """
        Wraps the object in a list, and then defers to ``amp.AmpList``.
        """
        return amp.AmpList.toStringProto(self, [inObject], proto)
