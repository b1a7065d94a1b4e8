# Ported from txampext 0.0.11's txampext/errors.py (ISC licence, Laurens
# Van Houtven; see LICENSE in this directory).
#
# What changed from the original: asAMP returns the code as bytes (ASCII),
# not str. On Python 3 Twisted's Command.errors maps exception classes to
# byte strings: a str code cannot be written into the error box (AmpBox
# refuses it with TypeError) and never matches a received one. The words
# are found by the same regular expression, so the code's text is
# txampext's. Nothing else changed.
"""
Helpers for errors that can be raised from AMP responders.
"""
import re


class Error(RuntimeError):
    """
    An error that automatically exposes an AMP-compatible ``errors`` entry.
    """
    @classmethod
    def asAMP(cls):
        """
        Returns the exception's name in an AMP Command friendly format.

        For example, given a class named ``ExampleExceptionClass``, returns
        ``"EXAMPLE_EXCEPTION_CLASS"``.
        """
        parts = groupByUpperCase(cls.__name__)
        return cls, "_".join(part.upper() for part in parts).encode("ascii")



groupByUpperCase = re.compile(r"[A-Z]+(?=[A-Z]|$)|[A-Z][a-z]*").findall
