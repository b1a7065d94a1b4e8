# txampext's constraints, nested and errors modules, ported to Python 3.
#
# Ported from txampext 0.0.11 (https://github.com/lvh/txampext, PyPI
# `txampext`), by Laurens Van Houtven, under the ISC licence (the licence its
# setup.py declares; reproduced in LICENSE beside this file). txampext itself
# imports only on Python 2; these modules keep its behaviour and its wire
# form, so that the Rust tests can talk to it on real Twisted. Each module
# says, in its header, what changed from the original.
