#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora from Twisted's wire vectors.

    python3 fuzz/seeds.py [path/to/twisted-amp.json]

Reads the vectors Twisted produced (boxes, argument values, recorded
conversations; by default /work/shared/vectors/twisted-amp.json) and writes
one file per seed into fuzz/corpus/<target>/, in each target's input format
(see fuzz/src/checks.rs). Files it wrote before (named seed-*) are replaced;
anything else there is left alone. Standard library only; deterministic.
"""

import json
import os
import struct
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VECTORS = "/work/shared/vectors/twisted-amp.json"

# fuzz/src/checks.rs: VALUE_TYPES, by Twisted argument type.
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

# fuzz/src/checks.rs: dispatcher opcodes.
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


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_VECTORS
    with open(path) as f:
        vectors = json.load(f)
    seeds = {t: {} for t in ("decoder", "values", "serde_box", "dispatcher")}

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
