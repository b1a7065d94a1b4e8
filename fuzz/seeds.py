#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from Twisted's wire vectors.

    python3 fuzz/seeds.py [path/to/twisted-amp.json]

Reads the vectors Twisted produced (boxes, argument values, recorded
conversations; by default interop/vectors/twisted-amp.json, in this
repository, written by interop/record_vectors.py) and writes
one file per seed into fuzz/corpus/<target>/, in each target's input format
(see fuzz-checks/src/, one module per target). Files it wrote before (named seed-*) are replaced;
anything else there is left alone. Standard library only; deterministic.
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VECTORS = os.path.join(HERE, os.pardir, "interop", "vectors", "twisted-amp.json")

# fuzz-checks/src/values.rs: VALUE_TYPES, by Twisted argument type.
VALUE_SELECTORS = {
    "Integer": [0, 1, 2, 16],  # i64, u8, i128, u64
    "String": [12],  # Bytes
    "Unicode": [3, 11, 18],  # String, PathBuf, char
    "Boolean": [4],
    "Float": [5, 15],  # f64, f32
    "Decimal": [6],
    "DateTime": [7],
    "ListOf(Integer)": [8, 14],  # Vec<i64>, Vec<Vec<i64>>
    "ListOf(Unicode)": [9],
    "ListOf(Boolean)": [13],
    "ListOf(String)": [19],
}
AMPLIST_SELECTOR = 10
VEC_VEC_I64 = 14
VEC_F64 = 17

# fuzz-checks/src/dispatcher/mod.rs: dispatcher opcodes.
OP_RECEIVE_BYTES = 0
OP_RECEIVE_BOX = 1
OP_CALL = 2
OP_ANSWER = 3
OP_FAIL = 4
OP_RESPOND = 5
OP_FORGET = 6
OP_POLL = 7
OP_TRANSMIT = 8
OP_SEND_BOX = 9
OP_CLOSE = 10
OP_EOF = 11
OP_LOST = 12
OP_SWITCH = 13
OP_POLL_ALL = 14

SWITCH = b"\x00\x08_command\x00\x06Switch\x00\x00TLS"

# fuzz-checks/src/router/mod.rs: router opcodes.
R_RECEIVE_BYTES = 0
R_BIND = 2
R_CONNECT = 3
R_UNBIND = 4
R_CALL = 5
R_ANSWER = 6
R_RESPOND = 7
R_SEND_BOX = 8
R_FORGET = 9
R_TRANSMIT = 11
R_CLOSE = 12
R_EOF = 13
R_LOST = 14
R_POLL_ALL = 15


def encode_box(pairs):
    out = bytearray()
    for k, v in pairs:
        k = k.encode() if isinstance(k, str) else k
        v = v.encode() if isinstance(v, str) else v
        out += struct.pack(">H", len(k)) + k + struct.pack(">H", len(v)) + v
    return bytes(out + b"\x00\x00")


def list_of(items):
    return b"".join(struct.pack(">H", len(i)) + i for i in items)


def split_boxes(stream):
    """Cuts a stream into its whole boxes' wire bytes (a broken tail is dropped)."""
    boxes, at, start = [], 0, 0
    while at + 2 <= len(stream):
        (klen,) = struct.unpack(">H", stream[at : at + 2])
        if klen == 0:
            boxes.append(stream[start : at + 2])
            at += 2
            start = at
            continue
        at += 2 + klen
        if at + 2 > len(stream):
            break
        (vlen,) = struct.unpack(">H", stream[at : at + 2])
        at += 2 + vlen
    return boxes


def receive_bytes(data):
    """Dispatcher actions feeding `data`, 255 bytes at a time."""
    out = bytearray()
    for i in range(0, len(data), 255):
        chunk = data[i : i + 255]
        out += bytes([OP_RECEIVE_BYTES, len(chunk)]) + chunk
    return bytes(out)


def as_bytes(x):
    return x.encode() if isinstance(x, str) else x


def short(x):
    """A length byte and the bytes (the reader's `bytes`)."""
    x = as_bytes(x)
    assert len(x) < 256
    return bytes([len(x)]) + x


# Operands of the router target (fuzz-checks/src/router/). Its routes at
# the start: the default route ("D") connected to the peer's default route,
# "0" connected to "0", "1" connected to "7", "2" not connected.
def r_route(r):
    if r == "D":
        return bytes([0])
    if r in ("0", "1", "2", "3"):
        return bytes([1 + int(r)])
    if r == "7":
        return bytes([7])
    return bytes([6]) + short(r)


def r_remote(name):
    if name is None:
        return bytes([0])
    return {"0": bytes([2]), "1": bytes([4]), "7": bytes([5])}.get(name) or bytes([6]) + short(name)


def r_command(name):
    known = {"Sum": 0, "Count": 1, "NewRoute": 2, "": 3}
    return bytes([known[name]]) if name in known else bytes([4]) + short(name)


def r_args(pairs):
    assert len(pairs) < 4
    out = bytearray([len(pairs)])
    for k, v in pairs:
        k = as_bytes(k)
        out += {b"_route": bytes([0]), b"a": bytes([5]), b"b": bytes([6])}.get(k) or bytes([7]) + short(k)
        out += bytes([1]) + short(v)
    return bytes(out)


def r_call(route, command, pairs=(), wants=True):
    return bytes([R_CALL]) + r_route(route) + r_command(command) + r_args(pairs) + bytes([1 if wants else 0])


def r_answer(route, owed_index=0, pairs=()):
    return bytes([R_ANSWER]) + r_route(route) + bytes([owed_index]) + r_args(pairs)


def r_fail(route, owed_index=0, fatal=True):
    # respond(tagged, error): 1 = a fatal declared error, 3 = undeclared.
    return bytes([R_RESPOND]) + r_route(route) + bytes([1, owed_index, 0, 1 if fatal else 3])


def r_receive(boxes):
    """Receiving boxes (lists of pairs), 255 bytes at a time."""
    return receive_bytes(b"".join(encode_box(b) for b in boxes))


def with_route(stream, name):
    """The boxes of `stream`, each with `_route: name` added."""
    out = bytearray()
    for wire in split_boxes(stream):
        pairs, at = [], 0
        while True:
            (klen,) = struct.unpack(">H", wire[at : at + 2])
            if klen == 0:
                break
            k = wire[at + 2 : at + 2 + klen]
            at += 2 + klen
            (vlen,) = struct.unpack(">H", wire[at : at + 2])
            pairs.append((k, wire[at + 2 : at + 2 + vlen]))
            at += 2 + vlen
        out += encode_box(pairs + [("_route", name)])
    return bytes(out)


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_VECTORS
    with open(path) as f:
        vectors = json.load(f)
    seeds = {t: {} for t in ("decoder", "values", "serde_box", "dispatcher", "router", "cli_proxy", "cli_pcap", "txampext", "mux", "switch", "descriptors")}

    def add(target, name, data):
        seeds[target][name] = bytes(data)

    args_by_type = {}
    for a in vectors["arguments"]:
        args_by_type.setdefault(a["type"], []).append(bytes.fromhex(a["wire_hex"]))

    # decoder: every box and every conversation stream, whole, byte by byte,
    # and under small limits in small chunks.
    streams = []
    for i, b in enumerate(vectors["boxes"]):
        streams.append((f"box{i:02}", bytes.fromhex(b["wire_hex"])))
    for i, c in enumerate(vectors["conversations"]):
        streams.append((f"conv{i}-c2s", bytes.fromhex(c["client_to_server_hex"])))
        streams.append((f"conv{i}-s2c", bytes.fromhex(c["server_to_client_hex"])))
    for name, wire in streams:
        if len(wire) > 4096:
            # The 64 KiB-value box: keep the whole-stream seed only.
            add("decoder", f"seed-{name}-whole", bytes([0, 0, 0, 0, 0, 0]) + wire)
            continue
        add("decoder", f"seed-{name}-whole", bytes([0, 0, 0, 0, 0, 0]) + wire)
        add("decoder", f"seed-{name}-bytewise", bytes([0, 0, 0, 0, 1, 0]) + wire)
        add("decoder", f"seed-{name}-small", bytes([1, 4, 64, 64, 7, 3]) + wire)

    # values: each argument vector under every Rust type that reads it.
    for ty, wires in args_by_type.items():
        selectors = VALUE_SELECTORS.get(ty)
        if selectors is None and ty.startswith("AmpList"):
            selectors = [AMPLIST_SELECTOR]
        for sel in selectors or []:
            for i, wire in enumerate(wires):
                tag = ty.split("(")[0].lower()
                add("values", f"seed-{tag}-{sel:02}-{i:02}", bytes([sel]) + wire)
    ints = args_by_type["ListOf(Integer)"]
    add("values", "seed-listoflist", bytes([VEC_VEC_I64]) + list_of(ints))
    add("values", "seed-listoffloat", bytes([VEC_F64]) + list_of(args_by_type["Float"]))

    # serde_box: the vector boxes, each box of each conversation, and boxes
    # shaped like the target's structs, filled with the argument vectors.
    for i, b in enumerate(vectors["boxes"]):
        add("serde_box", f"seed-box{i:02}", bytes.fromhex(b["wire_hex"]))
    for i, c in enumerate(vectors["conversations"]):
        for side in ("client_to_server_hex", "server_to_client_hex"):
            for j, wire in enumerate(split_boxes(bytes.fromhex(c[side]))):
                add("serde_box", f"seed-conv{i}-{side[:3]}-{j}", wire)
    integers = args_by_type["Integer"]
    for i, n in enumerate(integers):
        add("serde_box", f"seed-sum-{i:02}", encode_box([("a", n), ("b", integers[-1 - i])]))
    for i, x in enumerate(args_by_type["Float"]):
        add("serde_box", f"seed-quotient-{i:02}", encode_box([("result", x)]))
    texts, raws = args_by_type["Unicode"], args_by_type["String"]
    for i, t in enumerate(texts):
        add("serde_box", f"seed-note-{i:02}", encode_box([("data", raws[i % len(raws)]), ("text", t)]))
    typed_fields = [
        ("int", "Integer"),
        ("text", "Unicode"),
        ("raw", "String"),
        ("flag", "Boolean"),
        ("amount", "Decimal"),
        ("when", "DateTime"),
        ("path", "Unicode"),
        ("counts", "ListOf(Integer)"),
        ("names", "ListOf(Unicode)"),
    ]
    for key, ty in typed_fields:
        for i, wire in enumerate(args_by_type[ty]):
            add("serde_box", f"seed-typed-{key}-{i:02}", encode_box([(key, wire)]))
    add(
        "serde_box",
        "seed-typed-all",
        encode_box([(k, args_by_type[ty][-1]) for k, ty in typed_fields]),
    )
    amplists = [w for ty, ws in args_by_type.items() if ty.startswith("AmpList") for w in ws]
    for i, wire in enumerate(amplists):
        add("serde_box", f"seed-listing-{i:02}", encode_box([("entries", wire), ("name", "x")]))

    # txampext: nested boxes (one, none, two, an empty one), routes of
    # nested boxes, and Paint's constrained arguments, valid and not
    # (fuzz-checks/src/txampext.rs).
    point = encode_box([("label", "a"), ("x", "1"), ("y", "-2")])
    noted = encode_box([("label", "\u00e9"), ("note", "n"), ("x", "0"), ("y", "9")])
    for name, value in (("one", point), ("noted", noted), ("none", b""), ("two", point + noted),
                        ("empty", b"\x00\x00"), ("cut", point[:-1])):
        add("txampext", f"seed-nested-{name}", encode_box([("to", value)]))
    stop = encode_box([("at", point), ("wait", "3")])
    add("txampext", "seed-route", encode_box([("stops", stop + encode_box([("at", noted), ("wait", "0")]))]))
    add("txampext", "seed-route-ok", encode_box([("stops", stop + stop)]))
    for name, pairs in (
        ("paint", [("coats", "2"), ("colour", "red")]),
        ("paint-painter", [("coats", "4"), ("colour", "blue"), ("painter", "ann")]),
        ("paint-root", [("coats", "2"), ("colour", "green"), ("painter", "root")]),
        ("paint-odd", [("coats", "3"), ("colour", "red")]),
        ("paint-mauve", [("coats", "2"), ("colour", "mauve")]),
        ("paint-zero", [("coats", "0"), ("colour", "red")]),
    ):
        add("txampext", f"seed-{name}", encode_box(pairs))

    # mux: a window byte, then actions (fuzz-checks/src/mux.rs): 0 Connect
    # (factory 0 keep, 1 drop, 2 refuse, 3 unknown), 1 Transmit (stream,
    # ask unless 1, length-prefixed data), 2 Disconnect (stream), 3 raw
    # bytes, 4 read (stream, two length bytes), 5 drop a kept stream.
    def transmit(stream, data, ask=0):
        return [1, stream, ask, len(data)] + list(data)
    mux_scripts = {
        "keep-feed-read": [4, 0, 0] + transmit(0, b"hello") + [4, 0, 0, 3] + transmit(0, b"world")
                          + [4, 0, 0, 16, 2, 0],
        "window-full": [0, 0, 0] + transmit(0, bytes(range(40))) + transmit(0, bytes(40)) + transmit(0, b"x" * 30)
                       + [4, 0, 0, 100] + transmit(0, b"more"),
        "drop-refuse-unknown": [8, 0, 1, 0, 2, 0, 3] + transmit(0, b"to a dropped stream") + transmit(5, b"made up"),
        "no-ask": [8, 0, 0] + transmit(0, b"quiet", 1) + transmit(3, b"unknown, no ask", 1),
        "cap": [8] + [0, 0] * 6 + [5, 0, 0, 0],
        "disconnect-twice": [8, 0, 0, 2, 0, 2, 0] + transmit(0, b"late"),
        "raw": [8, 3, 6, 0, 1, ord("k"), 0, 0, 0, 0, 0],
        # 6 opens a stream from the side under test, 7 answers its oldest
        # Connect (identifier index, 1 for NO_SUCH_FACTORY); bytes for index
        # 9 come before the answer naming it, for index 12 none ever does.
        "open-early": [2, 6, 6] + transmit(9, b"early bytes") + transmit(12, b"orphan" * 3)
                      + [7, 9, 0, 7, 3, 1] + transmit(9, b" then more") + [4, 0, 0, 64, 2, 9],
        "open-answered": [8, 6, 7, 2, 0] + transmit(2, b"after") + [4, 0, 0, 16],
    }
    for name, parts in mux_scripts.items():
        add("mux", f"seed-{name}", bytes(parts))

    # switch (fuzz-checks/src/switch.rs): settings (bit 0: this side calls
    # the switch, else it answers one; bit 1: the answer refuses), the
    # number of boxes before the switch and each one's kind (0-2 Sum, 3 an
    # unknown command, 4 a notification, 5-7 pairs from the input), the
    # number of the next protocol's pieces (each: 1 a box, else 0 and
    # length-prefixed bytes), then the size less one of each read.
    def piece(data):
        return [0, len(data)] + list(data)
    switch_scripts = {
        "answered-one-read": [0, 2, 0, 3, 2] + piece(b"hello") + [1],
        "answered-byte-by-byte": [0, 1, 0, 1] + piece(b"abc") + [0] * 200,
        "called-in-eights": [1, 1, 4, 2, 1] + piece(b"echo") + [7] * 40,
        "refused": [2, 1, 0, 1] + piece(b"xyz") + [3] * 30,
        "odd-prefix": [0, 1, 5, 1, 1, ord("k"), 1, ord("v"), 1] + piece(b"after") + [5] * 40,
    }
    for name, parts in switch_scripts.items():
        add("switch", f"seed-{name}", bytes(parts))

    # dispatcher: each conversation from the server's side (the client's
    # bytes arrive, every request is answered or failed) and from the
    # client's (calls, then the server's bytes arrive), plus a few scripted
    # sequences.
    for i, c in enumerate(vectors["conversations"]):
        c2s = bytes.fromhex(c["client_to_server_hex"])
        s2c = bytes.fromhex(c["server_to_client_hex"])
        n = max(1, len(c["client_results"]))
        server = bytearray([0]) + receive_bytes(c2s)
        for _ in range(n):
            server += bytes([OP_POLL, 0, OP_ANSWER, 0, 0, 0, OP_TRANSMIT])
        server += bytes([OP_POLL_ALL, OP_FAIL, 0, 1, 3, OP_POLL_ALL, OP_TRANSMIT, OP_EOF, OP_POLL_ALL])
        add("dispatcher", f"seed-conv{i}-server", server)
        client = bytearray([0])
        for _ in range(n):
            client += bytes([OP_CALL, 0, 2, 4, 1, 1]) + b"1" + bytes([5, 1, 1]) + b"2" + bytes([1])
        client += bytes([OP_TRANSMIT]) + receive_bytes(s2c) + bytes([OP_POLL_ALL, OP_EOF, OP_POLL_ALL])
        add("dispatcher", f"seed-conv{i}-client", client)
    # Each starts with the settings byte: 0, or 1 for raw boxes, or 2 and
    # three bytes of limits.
    scripted = {
        # Two calls, one forgotten, answers to both (the late one dropped).
        "forget": [0, OP_CALL, 0, 0, 1, OP_CALL, 1, 0, 1, OP_TRANSMIT, OP_FORGET, 1, 1,
                   OP_RECEIVE_BOX, 4, 0, 0, 0, 5, OP_RECEIVE_BOX, 7, 0, 1, 0, 0, 3, OP_POLL_ALL],
        # Requests with fresh, reused and no tags; answers; a fatal error.
        "requests": [0, OP_RECEIVE_BOX, 0, 0, 0, 0, 0, OP_POLL_ALL, OP_RECEIVE_BOX, 3, 1, 0, 0, 0,
                     OP_POLL_ALL, OP_ANSWER, 0, 0, 1, 4, 1, 1, b"x", OP_RESPOND, 0, 1, 0,
                     OP_RECEIVE_BOX, 0, 1, 0, 0, 0, OP_POLL_ALL, OP_FAIL, 0, 1, 1, OP_POLL_ALL, OP_TRANSMIT],
        # A duplicate _ask while calls are outstanding.
        "duplicate-ask": [0, OP_CALL, 0, 0, 1, OP_CALL, 0, 0, 1, OP_RECEIVE_BOX, 0, 0, 0, 0, 0, OP_POLL_ALL,
                          OP_RECEIVE_BOX, 2, 0, 0, 0, 0, 0, OP_POLL_ALL, OP_CALL, 0, 0, 1, OP_TRANSMIT],
        # Error answers, well-formed and missing their description.
        "errors": [0, OP_CALL, 0, 0, 1, OP_CALL, 0, 0, 1, OP_RECEIVE_BOX, 6, 0, 0, 1, b"d", 0, 0, 0,
                   OP_POLL_ALL, OP_RECEIVE_BOX, 6, 0, 2, 0, 0, 0, OP_POLL_ALL],
        # Neither request nor answer, with raw boxes on.
        "raw": [1, OP_RECEIVE_BOX, 9, 1, 1, b"k", 1, b"v", 0, 0, OP_POLL_ALL, OP_SEND_BOX, 1, 4, 1, 1, b"1",
                OP_RECEIVE_BOX, 10, 0, 0, 0, 0, OP_POLL_ALL],
        # Calls outstanding, then the transport is lost, then more calls.
        "lost": [0, OP_CALL, 0, 0, 1, OP_CALL, 0, 0, 1, OP_CALL, 0, 0, 1, OP_LOST, OP_POLL, 1,
                 OP_CALL, 0, 0, 1, OP_POLL_ALL, OP_ANSWER, 0, 0, 0],
        # A protocol switch with bytes after the switching box.
        "switch": [0, OP_CALL, 0, 0, 1, OP_RECEIVE_BYTES, len(SWITCH), SWITCH]
                  + [OP_POLL, 0, OP_SWITCH, OP_POLL_ALL],
        # Close with calls in flight; the end of the stream inside a box.
        "close": [0, OP_CALL, 0, 0, 1, OP_CLOSE, OP_POLL, 0, OP_CALL, 0, 0, 1, OP_POLL_ALL],
        "truncated": [0, OP_CALL, 0, 0, 1, OP_RECEIVE_BYTES, 3, 0, 1, ord("k"), OP_EOF, OP_POLL_ALL],
        # Small limits (2 keys, 64-byte boxes) and a box over them.
        "limits": [2, 2, 16, 16, OP_RECEIVE_BOX, 0, 0, 2, 1, b"k", 1, b"v", 1, b"l", 1, b"w", 0, 0, OP_POLL_ALL],
    }
    for name, parts in scripted.items():
        data = bytearray()
        for p in parts:
            data += p if isinstance(p, bytes) else bytes([p])
        add("dispatcher", f"seed-{name}", data)

    # router: each vector box arriving after calls on the default route and
    # route "0" (so answers have calls to answer), then answered where it is
    # a request; each conversation from the server's side on the default
    # route and on route "0" (every box with `_route: 0`) and from the
    # client's on route "0"; and scripted routed conversations.
    for i, b in enumerate(vectors["boxes"]):
        wire = bytes.fromhex(b["wire_hex"])
        if len(wire) > 4096:
            continue
        data = bytearray([0])
        data += r_call("D", "Sum", [("a", "1"), ("b", "2")]) + r_call("D", "Sum") + r_call("0", "Count")
        data += bytes([R_TRANSMIT]) + receive_bytes(wire) + bytes([R_POLL_ALL])
        keys = [k for k, _ in b["pairs"]] if isinstance(b["pairs"], list) else []
        if "_ask" in keys and "_command" in keys:
            data += r_answer("0" if "_route" in keys else "D", 0, [("total", "94")])
        data += bytes([R_TRANSMIT, R_EOF, R_POLL_ALL])
        add("router", f"seed-box{i:02}", data)
    for i, c in enumerate(vectors["conversations"]):
        c2s = bytes.fromhex(c["client_to_server_hex"])
        s2c = bytes.fromhex(c["server_to_client_hex"])
        n = max(1, len(c["client_results"]))
        for route, stream in (("D", c2s), ("0", with_route(c2s, "0"))):
            server = bytearray([0]) + receive_bytes(stream) + bytes([R_POLL_ALL])
            for _ in range(n):
                server += r_answer(route, 0, [("total", "3")])
            server += bytes([R_TRANSMIT, R_EOF, R_POLL_ALL])
            add("router", f"seed-conv{i}-server-{route}", server)
        client = bytearray([0])
        for _ in range(n):
            client += r_call("0", "Sum", [("a", "1"), ("b", "2")])
        client += bytes([R_TRANSMIT]) + receive_bytes(with_route(s2c, "0"))
        client += bytes([R_POLL_ALL, R_EOF, R_POLL_ALL])
        add("router", f"seed-conv{i}-client-0", client)
    count_answer = [("_answer", "1"), ("value", "1"), ("_route", "0")]
    routed = {
        # epsilon's guide: NewRoute on the default route names the peer's
        # new route, a fresh route here is connected to it, then Count on it.
        "newroute": [0, R_BIND, 1, r_call("D", "NewRoute", [("name", "3")]), R_TRANSMIT,
                     r_receive([[("_answer", "1"), ("name", "9")]]), R_POLL_ALL,
                     R_CONNECT, r_route("3"), r_remote("9"), r_call("3", "Count"), R_TRANSMIT,
                     r_receive([[("_answer", "1"), ("value", "1"), ("_route", "3")]]), R_POLL_ALL,
                     R_UNBIND, r_route("3"), R_CLOSE, R_POLL_ALL],
        # Calls on two routes answered in the other order; a request on
        # each, answered.
        "interleaved": [0, r_call("0", "Count"), r_call("1", "Count"), r_call("0", "Count"), R_TRANSMIT,
                        r_receive([[("_answer", "1"), ("value", "7"), ("_route", "1")],
                                   [("_answer", "2"), ("value", "2"), ("_route", "0")],
                                   [("_ask", "1"), ("_command", "Count"), ("_route", "1")],
                                   [("_ask", "1"), ("_command", "Count"), ("_route", "0")],
                                   [("_answer", "1"), ("value", "1"), ("_route", "0")]]),
                        R_POLL_ALL, r_answer("0", 0, [("value", "5")]), r_answer("1", 0, [("value", "6")]),
                        R_TRANSMIT, R_EOF, R_POLL_ALL],
        # A route unbound with calls in flight, bound again, called; the
        # old call's late answer is then for a call the new binding never made.
        "unbind": [0, r_call("0", "Count"), r_call("0", "Count"), R_UNBIND, r_route("0"), R_POLL_ALL,
                   R_BIND, 0, r_route("0"), R_CONNECT, r_route("0"), r_remote("0"), r_call("0", "Count"),
                   R_TRANSMIT, r_receive([count_answer, [("_answer", "2"), ("_route", "0")]]), R_POLL_ALL],
        # A fatal error on one route with calls in flight on every route.
        "fatal": [0, r_call("D", "Sum"), r_call("0", "Count"), r_call("1", "Count"),
                  r_receive([[("_ask", "9"), ("_command", "Boom"), ("_route", "1")]]), R_POLL_ALL,
                  r_fail("1", 0, True), R_POLL_ALL, r_call("0", "Count"), R_TRANSMIT],
        # A box for a route nobody bound.
        "unknown-route": [0, r_call("0", "Count"), r_call("D", "Sum"),
                          r_receive([[("_ask", "1"), ("_command", "Count"), ("_route", "99")]]),
                          R_POLL_ALL, r_call("0", "Count")],
        # Sending on a route not connected, then connected to the peer's
        # default route; a box with `_route` on routes connected each way.
        "not-connected": [0, r_call("2", "Count"), R_SEND_BOX, r_route("2"), r_args([("k", "v")]),
                          R_CONNECT, r_route("2"), r_remote(None), r_call("2", "Count"),
                          R_SEND_BOX, r_route("2"), r_args([("k", "v")]),
                          R_SEND_BOX, r_route("0"), r_args([("_route", "x")]),
                          R_SEND_BOX, r_route("D"), r_args([("k", "v")]), R_TRANSMIT, R_EOF, R_POLL_ALL],
        # `_route` in what the application sends, on routes connected to
        # the peer's default route and to a name: refused on both (it went
        # out as it was on the first once, and the peer routed it there).
        "route-key": [0, r_call("D", "Sum", [("_route", "1"), ("a", "1")]),
                      R_SEND_BOX, r_route("D"), r_args([("_route", "1")]),
                      R_CONNECT, r_route("2"), r_remote(None), r_call("2", "Count", [("_route", "0")]),
                      r_receive([[("_ask", "5"), ("_command", "Count")]]), R_POLL_ALL,
                      r_answer("D", 0, [("_route", "0")]),
                      r_call("0", "Count", [("_route", "0")]), R_TRANSMIT, R_EOF, R_POLL_ALL],
        # Forget a call, then its late answer arrives.
        "forget": [0, r_call("0", "Count"), r_call("0", "Count"), R_FORGET, r_route("0"), 0, 1,
                   R_TRANSMIT, r_receive([count_answer, [("_answer", "2"), ("_route", "0")]]), R_POLL_ALL],
        # Calls everywhere, then the transport is lost, then more calls.
        "lost": [0, r_call("D", "Sum"), r_call("0", "Count"), r_call("1", "Count"), R_LOST,
                 r_call("0", "Count"), R_POLL_ALL, R_UNBIND, r_route("1"), R_BIND, 1, R_POLL_ALL],
        # Raw boxes on: a box that is neither request nor answer, per route.
        "raw": [1, r_receive([[("k", "v"), ("_route", "0")], [("k", "w")]]), R_POLL_ALL,
                R_SEND_BOX, r_route("0"), r_args([("k", "v")]), R_TRANSMIT],
        # No default route bound: a box without `_route` has nowhere to go.
        "no-default": [4, r_call("0", "Count"), r_receive([[("_ask", "1"), ("_command", "Sum")]]), R_POLL_ALL],
        # Small limits (2 keys, 64-byte boxes): a routed box over them.
        "limits": [2, 2, 16, 16, r_receive([[("_ask", "1"), ("_command", "Count"), ("_route", "0")]]),
                   R_POLL_ALL],
        # The end of the stream inside a routed box.
        "truncated": [0, r_call("1", "Count"), R_RECEIVE_BYTES, 9,
                      encode_box([("_route", "1")])[:9], R_EOF, R_POLL_ALL],
    }
    for name, parts in routed.items():
        data = bytearray()
        for p in parts:
            data += p if isinstance(p, bytes) else bytes([p])
        add("router", f"seed-routed-{name}", data)

    # cli_proxy: each conversation (routed ones too) as the proxy sees it,
    # requests and answers interleaved box by box, with time passing, by
    # the schema and without; then whole streams in odd pieces, under small
    # limits; then both ends. A direction byte: bit 0 server to client,
    # bit 1 the end, bits 2-7 time passing.
    def proxy_steps(direction, data, tick=4):
        out = bytearray()
        for i in range(0, len(data), 255):
            piece = data[i : i + 255]
            out += bytes([direction | (tick << 2), len(piece)]) + piece
        return out

    conversations = vectors["conversations"] + vectors["routed_conversations"]
    for i, c in enumerate(conversations):
        c2s = split_boxes(bytes.fromhex(c["client_to_server_hex"]))
        s2c = split_boxes(bytes.fromhex(c["server_to_client_hex"]))
        steps = bytearray()
        for j in range(max(len(c2s), len(s2c))):
            if j < len(c2s):
                steps += proxy_steps(0, c2s[j])
            if j < len(s2c):
                steps += proxy_steps(1, s2c[j])
        ends = bytes([0b10, 0, 0b11, 0])
        add("cli_proxy", f"seed-conv{i}-schema", bytes([1]) + steps + ends)
        add("cli_proxy", f"seed-conv{i}-raw", bytes([0]) + steps + ends)
        whole = bytearray()
        for direction, side in ((0, "client_to_server_hex"), (1, "server_to_client_hex")):
            data = bytes.fromhex(c[side])
            for k in range(0, len(data), 7):
                whole += bytes([direction | (1 << 2), len(data[k : k + 7])]) + data[k : k + 7]
        add("cli_proxy", f"seed-conv{i}-pieces", bytes([1 | 0b100 | 0b10_0000]) + whole + ends)
    add("cli_proxy", "seed-garbage", bytes([1]) + proxy_steps(0, b"GET / HTTP/1.1\r\n\r\n") + bytes([0b11, 0]))

    # cli_pcap: a settings byte, then a capture: Twisted's documented example
    # captured by tcpdump (interop/captures/twisted-howto.pcap) under several
    # settings; the same packets as pcapng and on a raw-IP link; cut in half;
    # the file header alone.
    capture_path = os.path.join(HERE, os.pardir, "interop", "captures", "twisted-howto.pcap")
    with open(capture_path, "rb") as f:
        cap = f.read()

    def records(cap):
        at = 24
        while at + 16 <= len(cap):
            ts_s, ts_u, incl, orig = struct.unpack("<IIII", cap[at : at + 16])
            yield ts_s, ts_u, incl, orig, cap[at + 16 : at + 16 + incl]
            at += 16 + incl

    def ng_block(kind, body):
        body += b"\0" * ((-len(body)) % 4)
        total = len(body) + 12
        return struct.pack("<II", kind, total) + body + struct.pack("<I", total)

    for settings in range(0, 32, 3):
        add("cli_pcap", f"seed-howto-{settings:02}", bytes([settings]) + cap)
    ng = ng_block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    ng += ng_block(1, struct.pack("<HHI", 1, 0, 65535))
    raw = cap[:20] + struct.pack("<I", 101)
    for ts_s, ts_u, incl, orig, packet in records(cap):
        ng += ng_block(6, struct.pack("<IIIII", 0, 0, ts_u, incl, orig) + packet)
        ip = packet[14:]
        raw += struct.pack("<IIII", ts_s, ts_u, len(ip), len(ip)) + ip
    add("cli_pcap", "seed-howto-ng", b"\x00" + ng)
    add("cli_pcap", "seed-howto-ng-json", b"\x01" + ng)
    add("cli_pcap", "seed-howto-raw", b"\x00" + raw)
    add("cli_pcap", "seed-truncated", b"\x00" + cap[: len(cap) // 2])
    add("cli_pcap", "seed-header-only", b"\x00" + cap[:24])

    # descriptors: requests naming descriptors that came with them (whole,
    # split, two at once), unclaimed ones, lost control data, calls of our
    # own, and more held than the bound. Steps: 0 = a read (length-prefixed
    # bytes, then how many descriptors came with them), 2 = control data
    # lost, 3 = end of stream, 4 = a call (two choices: which descriptors);
    # each request then takes one choice (keep its arguments a while).
    def take(pairs, ask="1"):
        return encode_box([(b"_ask", ask.encode()), (b"_command", b"Take")] + pairs)

    one = take([(b"fd", b"0")])
    two = take([(b"fd", b"0"), (b"other", b"1")])
    add("descriptors", "seed-one", bytes([0, len(one)]) + one + bytes([1, 1]))
    add("descriptors", "seed-split", bytes([0, 1, one[0], 1, 0, len(one) - 1]) + one[1:] + bytes([0, 0]))
    add("descriptors", "seed-two", bytes([0, len(two)]) + two + bytes([2, 1]))
    plain = take([(b"text", b"hi")])
    add("descriptors", "seed-unclaimed", bytes([0, len(plain)]) + plain + bytes([3, 0]))
    add("descriptors", "seed-missing", bytes([0, len(one)]) + one + bytes([0, 0]))
    add("descriptors", "seed-lost", bytes([0, len(one)]) + one + bytes([1, 2]))
    add("descriptors", "seed-call", bytes([4, 1, 1, 4, 0, 1, 0, len(one)]) + one + bytes([1, 1, 3]))
    head = [0x00, 0xFF] + [ord("k")] * 20
    add("descriptors", "seed-too-many", b"".join(bytes([0, 1, b, 3]) for b in head) + bytes([3]))

    for target, files in seeds.items():
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for old in os.listdir(d):
            if old.startswith("seed-"):
                os.remove(os.path.join(d, old))
        for name, data in sorted(files.items()):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
        print(f"{target}: {len(files)} seeds, {sum(len(v) for v in files.values())} bytes")


if __name__ == "__main__":
    main()
