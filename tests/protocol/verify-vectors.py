#!/usr/bin/python3
# verify-vectors.py: an independent implementation of docs/PROTOCOL.md (SecureComm v1)
# that checks the known-answer traces of docs/vectors/ (PROTOCOL.md 11).
#
# Usage: verify-vectors.py VECTOR_FILE... PROTOCOL_MD
#   e.g. verify-vectors.py docs/vectors/handshake-v1.txt docs/vectors/resumption-v1.txt \
#                          docs/PROTOCOL.md
# The last argument is the document; every argument before it is a trace. A trace with a
# [resumed-handshake] group (resumption-v1.txt) is checked as a stream over two connections.
#
# Written from the document only (not from src/protocol/). From the [inputs] group and the wire
# records alone -- plus the ephemeral private scalars c_ephemeral_private / s_ephemeral_private
# from the key logs, the only secrets taken from the file, themselves checked against the seeded
# random streams -- it recomputes the ECDH, the key schedule (with the resumption psk for a
# resumed handshake, 5.2), every traffic key, opens every protected record, checks the Identity
# messages, the Verify signatures and the Finished values, follows the application content
# (messages, ACKs, key updates, NewSessionTickets, CLOSE), opens every ticket with the server's
# ticket key (4.7.4) and checks its contents, checks the resumption extensions of the hellos
# (4.7.2, 4.7.5, 4.7.6), and compares every logged secret and every `.inner` line with its own
# values. It also recomputes the worked examples and constants printed in PROTOCOL.md
# (parsed out of the document, so a divergence between document and code fails).
#
# Output: TAP, one line per check group; exit status 1 if any check fails.
# Dependencies: the Python standard library and the `cryptography` package (Debian's
# python3-cryptography); run it with /usr/bin/python3.

import hashlib
import hmac
import os
import re
import struct
import sys

try:
    from cryptography.exceptions import InvalidSignature, InvalidTag
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec, utils
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
except ImportError:
    print("1..0 # SKIP python3-cryptography not installed")
    sys.exit(0)


# ---------------------------------------------------------------------------------------------
# Constants (PROTOCOL.md sections 1.4, 3, 4, 6, 10). Values the document prints as examples are
# parsed from the document instead (see the doc.* check groups).

REC_ALERT, REC_HANDSHAKE, REC_PROTECTED = 0x15, 0x16, 0x17
RECORD_VERSION = 0x01
MAX_RECORD_PLAINTEXT = 16384
MAX_PROTECTED_BODY = 16401
TAG_LEN = 16

IN_HANDSHAKE, IN_MESSAGE, IN_ACK, IN_PING, IN_PONG, IN_KEY_UPDATE, IN_CLOSE, IN_ERROR = range(1, 9)
INNER_NAMES = {1: "HANDSHAKE", 2: "MESSAGE", 3: "ACK", 4: "PING", 5: "PONG", 6: "KEY_UPDATE",
               7: "CLOSE", 8: "ERROR"}

HS_CLIENT_HELLO, HS_SERVER_HELLO, HS_IDENTITY, HS_VERIFY, HS_FINISHED = 1, 2, 3, 4, 5
HS_NEW_SESSION_TICKET = 6
HS_NAMES = {1: "ClientHello", 2: "ServerHello", 3: "Identity", 4: "Verify", 5: "Finished",
            6: "NewSessionTicket"}
MAX_HANDSHAKE_MSG = 16380
MAX_OFFERED_VERSIONS = 8
MAX_EXTENSIONS = 16
MAX_MESSAGE_SIZE_LIMIT = 67108864
DEFAULT_MAX_SKEW_MS = 300000
MAX_CERT_CHAIN = 8
SIG_SCHEME_ECDSA_P256_SHA256 = 0x0403
MESSAGE_HEADER_LEN = 16
MAX_FRAGMENT = 16368
VERSION_1 = 0x01
SUPPORTED_VERSIONS = (VERSION_1,)

# P-256 curve coefficient b (SEC 2); p and n are parsed from PROTOCOL.md 1.4 and cross-checked.
P256_B = 0x5AC635D8AA3A93E7B3EBBD55769886BC651D06B0CC53B0F63BCE3C3E27D2604B

# Session resumption (4.7). Extension types are parsed from the 4.2.3 table and cross-checked.
EXT_RESUMPTION_TICKET, EXT_RESUMPTION_ACCEPT = 0x0001, 0x0002
MAX_TICKET_LIFETIME_S = 86400
MAX_TICKET_LEN = 512
TICKET_FORMAT = 1
# TicketContents (4.7.4) as this script expects it; the layout used for parsing is the one parsed
# from the document, and the group doc.resumption fails if the two differ.
TICKET_LAYOUT = [("uint8", "format", 1), ("uint64", "issued_ms", 8), ("uint32", "lifetime_s", 4),
                 ("opaque", "stream_id", 16), ("uint32", "generation", 4), ("opaque", "psk", 32),
                 ("opaque", "server_fingerprint", 32), ("uint8", "client_identity_type", 1),
                 ("opaque", "client_spki", 91)]

# What each trace is documented to contain (PROTOCOL.md 11 and the brief of this test):
# messages (id, text, epoch of the key that protected them), ACK values, KEY_UPDATEs
# (update_requested, new epoch), the CLOSE (direction, reason) and the NewSessionTickets.
EXPECT_FULL = {
    "messages": {"c2s": [(1, b"Hello, secure world!", 0), (2, b"after the key update", 1)],
                 "s2c": [(1, b"Hello, client!", 0), (2, b"after the key update, too", 1)]},
    "acks": {"s2c": [1, 2], "c2s": [1, 2]},
    "key_updates": {"c2s": [(1, 1)], "s2c": [(0, 1)]},
    "close": ("c2s", 0),
    "tickets": 0,
}
# resumption-v1.txt, first connection: a message each way, a ticket, then the connection breaks
# (no CLOSE: the stream goes on in the resumed connection).
EXPECT_RES_1 = {
    "messages": {"c2s": [(1, b"before the break", 0)], "s2c": [(1, b"me too", 0)]},
    "acks": {"s2c": [1], "c2s": [1]},
    "key_updates": {"c2s": [], "s2c": []},
    "close": None,
    "tickets": 1,
}
# Resumed connection: the next ticket, a message with id 2 (ids continue the stream), its ACK,
# the client's CLOSE.
EXPECT_RES_2 = {
    "messages": {"c2s": [(2, b"after the break", 0)], "s2c": []},
    "acks": {"s2c": [2], "c2s": []},
    "key_updates": {"c2s": [], "s2c": []},
    "close": ("c2s", 0),
    "tickets": 1,
}

LOG_FIXED_NAMES = ["ecdh_shared", "handshake_secret", "c_hs_traffic", "s_hs_traffic",
                   "master_secret", "exporter_secret"]
LOG_RES = "resumption_secret"
LOG_PSK = "resumption_psk"
LOG_EPOCH_RE = re.compile(r"^([cs])_ap_traffic_(\d+)$")

LAYOUT_FULL = ["inputs", "handshake", "application", "secrets.client", "secrets.server"]
LAYOUT_RESUMPTION = LAYOUT_FULL + ["resumed-handshake", "resumed-application", "secrets.client",
                                   "secrets.server"]


class DecodeError(Exception):
    pass


class Prereq(Exception):
    """A value an earlier check group should have produced is missing."""


class State(dict):
    """Values of one check context. A connection's context falls back to the document's (parent)
    for values parsed from PROTOCOL.md, never to another connection's."""

    def __init__(self, parent=None):
        dict.__init__(self)
        self.parent = parent

    def __getitem__(self, k):
        if dict.__contains__(self, k):
            return dict.__getitem__(self, k)
        if self.parent is not None:
            return self.parent[k]
        raise Prereq(k)


def hx(b):
    return b.hex()


def sha256(b):
    return hashlib.sha256(b).digest()


# ---------------------------------------------------------------------------------------------
# Primitives (PROTOCOL.md 1.4, 3.6, 5.1)

def hkdf_extract(salt, ikm):
    return hmac.new(salt, ikm, hashlib.sha256).digest()


def hkdf_label(label, context, length):
    full = b"sc1 " + label
    if not (4 <= len(full) <= 255) or len(context) > 255 or not (1 <= length <= 8160):
        raise ValueError("HkdfLabel out of range")
    return struct.pack(">H", length) + bytes([len(full)]) + full + bytes([len(context)]) + context


def expand_label(secret, label, context, length):
    return HKDFExpand(hashes.SHA256(), length, hkdf_label(label, context, length)).derive(secret)


def make_nonce(iv, seq):
    pad = b"\x00" * 4 + struct.pack(">Q", seq)
    return bytes(a ^ b for a, b in zip(iv, pad))


class TrafficKey:
    """One direction's traffic key: secret, AEAD key and IV, sequence number."""

    def __init__(self, secret, phase, epoch):
        self.secret = secret
        self.phase = phase  # "hs" or "ap"
        self.epoch = epoch
        self.key = expand_label(secret, b"key", b"", 32)
        self.iv = expand_label(secret, b"iv", b"", 12)
        self.seq = 0

    def open(self, header, body):
        nonce = make_nonce(self.iv, self.seq)
        pt = AESGCM(self.key).decrypt(nonce, body, header)  # raises InvalidTag
        self.seq += 1
        return pt

    def updated(self):
        return TrafficKey(expand_label(self.secret, b"traffic upd", b"", 32), self.phase,
                          self.epoch + 1)


class Reader:
    def __init__(self, data, what):
        self.d = data
        self.i = 0
        self.what = what

    def take(self, n):
        if self.i + n > len(self.d):
            raise DecodeError("%s: truncated at offset %d (need %d bytes, have %d)"
                              % (self.what, self.i, n, len(self.d) - self.i))
        b = self.d[self.i:self.i + n]
        self.i += n
        return b

    def uint(self, n):
        return int.from_bytes(self.take(n), "big")

    def end(self):
        if self.i != len(self.d):
            raise DecodeError("%s: %d trailing bytes" % (self.what, len(self.d) - self.i))


# ---------------------------------------------------------------------------------------------
# Check-group bookkeeping and TAP output

class Group:
    def __init__(self, desc):
        self.desc = desc
        self.errors = []
        self.notes = []
        self.checks = 0

    def ok(self, cond, detail):
        self.checks += 1
        if not cond:
            self.errors.append(detail)
        return cond

    def eq(self, what, got, want):
        if isinstance(got, bytes):
            got_s, want_s = hx(got), (hx(want) if isinstance(want, bytes) else repr(want))
        else:
            got_s, want_s = repr(got), repr(want)
        return self.ok(got == want, "%s: computed %s, expected %s" % (what, got_s, want_s))


def group(desc):
    """Name a check group; the plans at the end of the file say which groups run on what."""
    def deco(fn):
        fn.desc = desc
        return fn
    return deco


DOC = State()   # values parsed from PROTOCOL.md
S = DOC         # the context the running group works on (see run_plan)


# ---------------------------------------------------------------------------------------------
# PROTOCOL.md parsing

def doc_sections(text):
    """Map section number ("5.1", "4.5.2") -> text up to the next heading."""
    out = {}
    cur = None
    buf = []
    for line in text.splitlines():
        m = re.match(r"^#{2,4} (\d+(?:\.\d+)*)\.? ", line)
        if m:
            if cur is not None:
                out[cur] = "\n".join(buf)
            cur = m.group(1)
            buf = []
        elif cur is not None:
            buf.append(line)
    if cur is not None:
        out[cur] = "\n".join(buf)
    return out


def need(g, what, value):
    if value is None or value == [] or value == {}:
        raise DecodeError("could not parse %s from PROTOCOL.md" % what)
    return value


def one(regex, text, flags=0):
    m = re.search(regex, text, flags)
    return m


def flat(text):
    return " ".join(text.split())


def doc_sec(num):
    secs = S["doc_sections"]
    if num not in secs:
        raise DecodeError("PROTOCOL.md has no section %s" % num)
    return secs[num]


def parse_point_validity(point, p):
    """PROTOCOL.md 1.4: a point is valid iff 65 bytes, 0x04, X < p, Y < p, on the curve."""
    if len(point) != 65:
        return "length %d, not 65" % len(point)
    if point[0] != 0x04:
        return "first byte 0x%02x, not 0x04" % point[0]
    x = int.from_bytes(point[1:33], "big")
    y = int.from_bytes(point[33:], "big")
    if x >= p or y >= p:
        return "coordinate not below p"
    if (y * y - (x * x * x - 3 * x + P256_B)) % p != 0:
        return "not on the curve"
    return None


def scalar_point(d):
    priv = ec.derive_private_key(d, ec.SECP256R1())
    return priv, priv.public_key().public_bytes(serialization.Encoding.X962,
                                                serialization.PublicFormat.UncompressedPoint)


# ---------------------------------------------------------------------------------------------
# Document checks

@group("PROTOCOL.md 1.3/1.4: SHA-256(\"\"), P-256 p and n, SPKI prefix")
def g_doc_basics(g):
    sec13, sec14 = flat(doc_sec("1.3")), doc_sec("1.4")
    m = need(g, "SHA-256(\"\") (1.3)", one(r'`SHA-256\(""\)` is `([0-9a-f]{64})`', sec13))
    g.eq("SHA-256(\"\")", sha256(b""), bytes.fromhex(m.group(1)))
    S["sha256_empty"] = bytes.fromhex(m.group(1))

    mp = need(g, "p (1.4)", one(r"`p = ([0-9a-f]{64})`", sec14))
    mn = need(g, "n (1.4)", one(r"`n = ([0-9a-f]{64})`", sec14))
    p, n = int(mp.group(1), 16), int(mn.group(1), 16)
    g.eq("p = 2^256 - 2^224 + 2^192 + 2^96 - 1", p, 2**256 - 2**224 + 2**192 + 2**96 - 1)
    # n: (n-1)*G must be -G, i.e. same X, Y = p - Gy (cryptography's curve has order n).
    _, gpt = scalar_point(1)
    g.ok(parse_point_validity(gpt, p) is None, "generator not valid under the document's p")
    _, mg = scalar_point(n - 1)
    gy = int.from_bytes(gpt[33:], "big")
    g.ok(mg[1:33] == gpt[1:33] and int.from_bytes(mg[33:], "big") == p - gy,
         "(n-1)*G != -G: the document's n is not the order of P-256")
    S["p"], S["n"] = p, n

    ms = need(g, "SPKI prefix (1.4)",
              one(r"^\s*([0-9a-f]+) \|\| 04 \|\| X \|\| Y\s*$", sec14, re.M))
    prefix = bytes.fromhex(ms.group(1))
    g.eq("SPKI prefix length", len(prefix), 26)
    # Cross-check with an SPKI the library produces for the generator's key.
    lib_spki = ec.derive_private_key(1, ec.SECP256R1()).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    g.eq("SPKI of G (library) vs document prefix || point", lib_spki, prefix + gpt)
    g.ok("exactly 91 bytes" in flat(sec14), "1.4 does not state the 91-byte SPKI length")
    S["spki_prefix"] = prefix


@group("PROTOCOL.md 5.1: HkdfLabel worked example and encodings table")
def g_doc_hkdflabel(g):
    sec = doc_sec("5.1")
    m = need(g, "worked example result (5.1)", one(r"^= ([0-9a-f]+)\s*$", sec, re.M))
    g.eq('HkdfLabel("key", "", 32)', hkdf_label(b"key", b"", 32), bytes.fromhex(m.group(1)))
    rows = re.findall(r'^\| "([^"]*)", ("[^"]*"|SHA-256\(""\)), (\d+) \| ((?:`[0-9a-f]+`\s*)+)\|\s*$',
                      sec, re.M)
    need(g, "HkdfLabel table rows (5.1)", rows)
    g.ok(len(rows) == 4, "expected 4 HkdfLabel table rows, parsed %d" % len(rows))
    for label, ctx, length, hexes in rows:
        context = sha256(b"") if ctx.startswith("SHA-256") else ctx.strip('"').encode()
        want = bytes.fromhex("".join(re.findall(r"`([0-9a-f]+)`", hexes)))
        g.eq('HkdfLabel("%s", %s, %s)' % (label, ctx, length),
             hkdf_label(label.encode(), context, int(length)), want)


@group("PROTOCOL.md 5.1: HKDF-Expand-Label expansion examples")
def g_doc_expand(g):
    sec = doc_sec("5.1")
    m = need(g, "example Secret (5.1)", one(r"Secret = `([0-9a-f]{64})`", sec))
    secret = bytes.fromhex(m.group(1))
    S["doc_expand_secret"] = secret
    rows = re.findall(r'^\| HKDF-Expand-Label\(Secret, "([^"]*)", "([^"]*)", (\d+)\) \| `([0-9a-f]+)` \|\s*$',
                      sec, re.M)
    need(g, "expansion table rows (5.1)", rows)
    g.ok(len(rows) == 3, "expected 3 expansion rows, parsed %d" % len(rows))
    for label, ctx, length, want in rows:
        got = expand_label(secret, label.encode(), ctx.encode(), int(length))
        g.eq('HKDF-Expand-Label(Secret, "%s", "%s", %s)' % (label, ctx, length), got,
             bytes.fromhex(want))
        S["doc_expand_" + label] = bytes.fromhex(want)


@group("PROTOCOL.md 5.2: constants early, derived_0 and the label-length table")
def g_doc_constants(g):
    sec = doc_sec("5.2")
    vals = dict(re.findall(r"^\| (early|derived_0) \| `([0-9a-f]{64})` \|\s*$", sec, re.M))
    need(g, "early / derived_0 (5.2)", vals)
    early = hkdf_extract(b"\x00" * 32, b"\x00" * 32)
    derived_0 = expand_label(early, b"derived", sha256(b""), 32)
    g.ok("early" in vals and "derived_0" in vals, "5.2 table lacks early or derived_0")
    if "early" in vals:
        g.eq("early = HKDF-Extract(0^32, 0^32)", early, bytes.fromhex(vals["early"]))
    if "derived_0" in vals:
        g.eq('derived_0 = HKDF-Expand-Label(early, "derived", SHA-256(""), 32)', derived_0,
             bytes.fromhex(vals["derived_0"]))
    rows = re.findall(r'^\| ((?:"[^"]*"(?:, )?)+) \| ([\d, ]+) \| [^|]+\|\s*$', sec, re.M)
    need(g, "label table (5.2)", rows)
    for labels, lengths in rows:
        labs = re.findall(r'"([^"]*)"', labels)
        lens = [int(x) for x in lengths.split(",")]
        if len(lens) == 1:
            lens = lens * len(labs)
        g.ok(len(lens) == len(labs), "label table row %s: %d labels, %d lengths"
             % (labels, len(labs), len(lens)))
        for lab, ln in zip(labs, lens):
            g.eq('len("sc1 %s")' % lab, len(b"sc1 " + lab.encode()), ln)


@group("PROTOCOL.md 3.6: nonce examples and the example PING record")
def g_doc_nonce(g):
    sec = doc_sec("3.6")
    iv = S["doc_expand_iv"]
    # "iv from the worked example in section 5.1": the parsed and recomputed 5.1 value.
    g.eq("3.6 iv = HKDF-Expand-Label(5.1 Secret, \"iv\", \"\", 12)", iv,
         expand_label(S["doc_expand_secret"], b"iv", b"", 12))
    rows = re.findall(r"^\| (0x[0-9a-f]+|\d+) \| `([0-9a-f]{24})` \|\s*$", sec, re.M)
    need(g, "nonce table (3.6)", rows)
    for seq, want in rows:
        s = int(seq, 0)
        g.eq("nonce(seq %s)" % seq, make_nonce(iv, s), bytes.fromhex(want))
    fs = flat(sec)
    m = need(g, "example record parameters (3.6)",
             one(r"Example record: key `([0-9a-f]{64})`, iv `([0-9a-f]{24})`, seq (\d+), a PING "
                 r"\(inner type 0x04\) with content `([0-9a-f]+)`", fs))
    key, iv2, seq, content = (bytes.fromhex(m.group(1)), bytes.fromhex(m.group(2)),
                              int(m.group(3)), bytes.fromhex(m.group(4)))
    g.eq("3.6 example key = 5.1 \"key\" expansion", key, S["doc_expand_key"])
    g.eq("3.6 example iv = 5.1 \"iv\" expansion", iv2, iv)

    def line_hex(name):
        mm = need(g, "'%s' line (3.6)" % name,
                  one(r"^%s\s*: ([0-9a-f ]+?)(?:\s{2,}.*)?$" % name, sec, re.M))
        return bytes.fromhex(mm.group(1).replace(" ", ""))

    plaintext, header, nonce, record = (line_hex("plaintext"), line_hex("header"),
                                        line_hex("nonce"), line_hex("record"))
    g.eq("example plaintext", plaintext, bytes([IN_PING]) + content)
    g.eq("example header", header,
         bytes([REC_PROTECTED, RECORD_VERSION]) + struct.pack(">H", len(plaintext) + TAG_LEN))
    g.eq("example nonce", nonce, make_nonce(iv2, seq))
    sealed = AESGCM(key).encrypt(make_nonce(iv2, seq), plaintext, header)
    g.eq("example record = header || AES-256-GCM-Seal", header + sealed, record)
    g.eq("example record length", len(record), 29)


@group("PROTOCOL.md 4.5.2: signature context strings")
def g_doc_context(g):
    sec = doc_sec("4.5.2")
    pairs = re.findall(r'"(SecureComm v1 (server|client) signature)" = `([0-9a-f]+)`', sec)
    need(g, "context strings (4.5.2)", pairs)
    ctx = {}
    for text, who, hexv in pairs:
        g.eq("%s context hex = ASCII" % who, bytes.fromhex(hexv), text.encode("ascii"))
        g.eq("%s context length" % who, len(text), 30)
        ctx[who] = text.encode("ascii")
    g.ok(set(ctx) == {"server", "client"}, "4.5.2 must give both context strings")
    g.ok("30 + 1 + 32 = 63" in flat(sec), "4.5.2 content length statement changed")
    S["context"] = ctx


STRUCT_FIELD_RE = re.compile(r"^\s*(uint8|uint16|uint32|uint64|opaque)\s+(\w+)(?:\[(\d+)\])?"
                             r"(?:<(\d+)\.\.(\d+)>)?(?:\s*=\s*(\d+))?;", re.M)
INT_SIZES = {"uint8": 1, "uint16": 2, "uint32": 4, "uint64": 8}


def doc_struct(text, name):
    """Fields of the `struct { ... } NAME;` code in a section: (type, name, fixed size or None,
    (min, max) of a <min..max> vector or None, fixed value or None)."""
    m = re.search(r"struct \{\n(.*?)\n\} " + name + r";", text, re.S)
    if m is None:
        raise DecodeError("could not parse struct %s from PROTOCOL.md" % name)
    out = []
    for typ, fname, arr, lo, hi, val in STRUCT_FIELD_RE.findall(m.group(1)):
        size = INT_SIZES.get(typ) if typ != "opaque" else (int(arr) if arr else None)
        out.append((typ, fname, size, (int(lo), int(hi)) if lo else None,
                    int(val) if val else None))
    return out


@group("PROTOCOL.md 4.1, 4.2, 4.7, 5.2, 10, 11: resumption structures, sizes, extension types, "
       "\"res master\", constants")
def g_doc_resumption(g):
    # 4.1: handshake type 6.
    g.ok(re.search(r"^\| 6 \| NewSessionTicket \| PROTECTED, inner type HANDSHAKE, application keys "
                   r"\| server", doc_sec("4.1"), re.M) is not None,
         "4.1 does not list msg_type 6 NewSessionTicket under application keys, sent by the server")
    # 4.2.3: extension types.
    rows = re.findall(r"^\| 0x([0-9a-f]{4}) \| (\w+) \| (ClientHello|ServerHello) \| [\d.]+ \|",
                      doc_sec("4.2.3"), re.M)
    need(g, "extension table (4.2.3)", rows)
    ext = {name: (int(code, 16), where) for code, name, where in rows}
    g.eq("4.2.3 resumption_ticket (type, hello)", ext.get("resumption_ticket"),
         (EXT_RESUMPTION_TICKET, "ClientHello"))
    g.eq("4.2.3 resumption_accept (type, hello)", ext.get("resumption_accept"),
         (EXT_RESUMPTION_ACCEPT, "ServerHello"))
    # 4.2.1 / 4.2.2: hello body sizes (1 + 32 + 8 + 65 + 4 + 2 fixed bytes after the versions).
    m = need(g, "ClientHello body size (4.2.1)", one(r"ClientHello body is (\d+) bytes",
                                                     flat(doc_sec("4.2.1"))))
    g.eq("4.2.1 ClientHello body (one version, no extensions)", int(m.group(1)),
         1 + 1 + 32 + 8 + 65 + 4 + 2)
    s422 = flat(doc_sec("4.2.2"))
    m = need(g, "ServerHello body sizes (4.2.2)",
             one(r"body is (\d+) bytes, (\d+) with `resumption_accept`", s422))
    m2 = need(g, "ServerHello extensions_length (4.2.2)",
              one(r"extensions_length \| 0, or (\d+) with `resumption_accept`", s422))
    g.eq("4.2.2 ServerHello body without extensions", int(m.group(1)), 1 + 32 + 8 + 65 + 4 + 2)
    g.eq("4.2.2 extensions_length with resumption_accept (4 + 8)", int(m2.group(1)), 4 + 8)
    g.eq("4.2.2 ServerHello body with resumption_accept", int(m.group(2)),
         int(m.group(1)) + int(m2.group(1)))
    DOC["sh_body"] = (int(m.group(1)), int(m.group(2)))
    # 4.7.1: the resumption secret.
    m = need(g, "res formula (4.7.1)",
             one(r'res = Derive-Secret\(master, "([^"]+)", CH\.\.client Finished\)', doc_sec("4.7.1")))
    g.eq("4.7.1 res label", m.group(1), "res master")
    DOC["res_label"] = m.group(1).encode()
    # 4.7.2, 4.7.3, 4.7.6: the wire structures.
    g.eq("4.7.2 ResumptionTicket", doc_struct(doc_sec("4.7.2"), "ResumptionTicket"),
         [("opaque", "ticket", None, (1, MAX_TICKET_LEN), None), ("uint64", "recv_id", 8, None, None)])
    g.eq("4.7.3 NewSessionTicket", doc_struct(doc_sec("4.7.3"), "NewSessionTicket"),
         [("uint32", "lifetime_s", 4, None, None), ("opaque", "ticket", None, (1, MAX_TICKET_LEN), None)])
    m = need(g, "lifetime_s range (4.7.3)", one(r"lifetime_s;\s*/\* 1\.\.(\d+) ", doc_sec("4.7.3")))
    g.eq("4.7.3 lifetime_s maximum", int(m.group(1)), MAX_TICKET_LIFETIME_S)
    s476 = doc_sec("4.7.6")
    g.eq("4.7.6 ResumptionAccept", doc_struct(s476, "ResumptionAccept"),
         [("uint64", "recv_id", 8, None, None)])
    g.ok("ext_data: exactly 8 bytes" in s476, "4.7.6 no longer says ext_data is exactly 8 bytes")
    # 4.7.4: ticket = key_id || nonce || AES-256-GCM(...), TicketContents.
    s474 = doc_sec("4.7.4")
    m = need(g, "ticket formula (4.7.4)",
             one(r"ticket = key_id\[(\d+)\] \|\| nonce\[(\d+)\] \|\| AES-256-GCM\(ticket_key, nonce, "
                 r"aad = key_id, contents\)", s474))
    kid_len, nonce_len = int(m.group(1)), int(m.group(2))
    g.eq("4.7.4 key_id length", kid_len, 8)
    g.eq("4.7.4 nonce length (AES-256-GCM nonce)", nonce_len, 12)
    fields = doc_struct(s474, "TicketContents")
    layout = [(t, n, sz) for t, n, sz, _, _ in fields]
    g.eq("4.7.4 TicketContents layout", layout, TICKET_LAYOUT)
    fmt = [v for _, n, _, _, v in fields if n == "format"]
    g.eq("4.7.4 format value", fmt, [TICKET_FORMAT])
    g.ok(all(sz is not None for _, _, sz in layout), "TicketContents has a field without fixed size")
    short = sum(sz for _, n, sz in layout if n != "client_spki")
    full = short + dict((n, sz) for _, n, sz in layout)["client_spki"]
    m = need(g, "TicketContents sizes (4.7.4)",
             one(r"/\* (\d+) or (\d+) bytes; the ticket is (\d+) or (\d+) bytes \*/", s474))
    tl = (kid_len + nonce_len + short + TAG_LEN, kid_len + nonce_len + full + TAG_LEN)
    g.eq("4.7.4 TicketContents sizes", (int(m.group(1)), int(m.group(2))), (short, full))
    g.eq("4.7.4 ticket sizes", (int(m.group(3)), int(m.group(4))), tl)
    m = need(g, "ticket size range (4.7.5)",
             one(r"the ticket is (\d+) to (\d+) bytes and opens under that key", flat(doc_sec("4.7.5"))))
    g.eq("4.7.5 ticket size range", (int(m.group(1)), int(m.group(2))), tl)
    DOC["ticket_layout"] = layout
    DOC["ticket_kid_len"], DOC["ticket_nonce_len"], DOC["ticket_lens"] = kid_len, nonce_len, tl
    # 5.2: early takes the psk.
    g.ok(re.search(r"^early\s+= HKDF-Extract\(salt = 0\^32, IKM = psk or 0\^32\)", doc_sec("5.2"),
                   re.M) is not None, "5.2: early is no longer HKDF-Extract(0^32, psk or 0^32)")
    # 10: constants.
    consts = dict((k, int(v)) for k, v in
                  re.findall(r"^\| `(SC_[A-Z0-9_]+)` \| (\d+)", doc_sec("10"), re.M))
    sizes = dict((n, sz) for _, n, sz in layout)
    g.eq("10 SC_STREAM_ID_LEN = stream_id size", consts.get("SC_STREAM_ID_LEN"), sizes["stream_id"])
    g.eq("10 SC_TICKET_KEY_ID_LEN = key_id size", consts.get("SC_TICKET_KEY_ID_LEN"), kid_len)
    g.eq("10 SC_RESUMPTION_PSK_LEN = psk size", consts.get("SC_RESUMPTION_PSK_LEN"), sizes["psk"])
    g.eq("10 SC_MAX_TICKET_LEN", consts.get("SC_MAX_TICKET_LEN"), MAX_TICKET_LEN)
    g.eq("10 SC_MAX_TICKET_LIFETIME_S", consts.get("SC_MAX_TICKET_LIFETIME_S"), MAX_TICKET_LIFETIME_S)
    g.ok(consts.get("SC_MAX_TICKET_KEYS", 0) >= 2, "10: SC_MAX_TICKET_KEYS < 2 (current + previous)")
    m = need(g, "longest ticket (10)", one(r"longest ticket; ours are (\d+) at most", flat(doc_sec("10"))))
    g.eq("10 longest ticket of ours", int(m.group(1)), tl[1])
    # 11: the resumed connection's clock.
    m = need(g, "resumption trace delay (11)",
             one(r"then, (\d+) s later \(`wall_clock_ms` in `\[resumed-handshake\]`\)", flat(doc_sec("11"))))
    DOC["resume_delay_ms"] = int(m.group(1)) * 1000
    g.ok("(`resumption_psk` in the key logs)" in flat(doc_sec("11")),
         "11 no longer names resumption_psk in the key logs")


# ---------------------------------------------------------------------------------------------
# Vector file

def parse_vector_file(path):
    """PROTOCOL.md 11. Returns the groups in file order: [(name, {name: value}, [(name, value,
    lineno)])]. A group name may repeat (the key logs of a second connection); a name may not
    repeat inside one group."""
    groups = []
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            m = re.fullmatch(r"\[([a-z][a-z.-]*)\]", line)
            if m:
                groups.append((m.group(1), {}, []))
                continue
            m = re.fullmatch(r"([A-Za-z0-9_.]+) = (\S.*)", line)
            if not m or not groups:
                raise DecodeError("line %d: not 'name = value' inside a group: %r" % (lineno, line))
            name, val = m.groups()
            sec, values, order = groups[-1]
            if name in values:
                raise DecodeError("line %d: duplicate name %s in [%s]" % (lineno, name, sec))
            values[name] = val
            order.append((name, val, lineno))
    return groups


HEX_RE = re.compile(r"^(?:[0-9a-f]{2})+$")


def log_names_ok(prefix, k, resumed):
    return (k in LOG_FIXED_NAMES or k == LOG_RES or LOG_EPOCH_RE.match(k) is not None
            or k == prefix + "_ephemeral_private" or (resumed and k == LOG_PSK))


def vec_connection(g, ctx, hs_group, app_group, log_groups):
    """Records and key logs of one connection (PROTOCOL.md 11) into its context."""
    resumed = dict.__getitem__(ctx, "resumed")
    records = []
    counters = {"c2s": 0, "s2c": 0}
    inners = {}
    for section, (gname, _, order) in (("handshake", hs_group), ("application", app_group)):
        for i, (name, val, lineno) in enumerate(order):
            if gname == "resumed-handshake" and name == "wall_clock_ms":
                g.ok(i == 0, "line %d: wall_clock_ms is not the first line of [%s]" % (lineno, gname))
                g.ok(re.fullmatch(r"\d+", val) is not None,
                     "line %d: [%s] wall_clock_ms is not decimal" % (lineno, gname))
                ctx["resumed_wall_clock"] = int(val) if val.isdigit() else None
                continue
            m = re.fullmatch(r"(c2s|s2c)\.(\d\d)(\.inner)?", name)
            if not g.ok(m is not None, "line %d: unexpected record name %s" % (lineno, name)):
                continue
            g.ok(HEX_RE.match(val) is not None, "line %d: %s is not lowercase hex" % (lineno, name))
            d, num, inner = m.group(1), int(m.group(2)), m.group(3)
            if inner:
                g.ok(records and records[-1]["name"] == name[:-6],
                     "line %d: %s does not follow its record" % (lineno, name))
                inners[name[:-6]] = bytes.fromhex(val)
                continue
            # Numbered from 00 per direction, restarting for each connection (11).
            g.eq("line %d: number of %s" % (lineno, name), num, counters[d])
            counters[d] = num + 1
            records.append({"name": name, "dir": d, "section": section, "raw": bytes.fromhex(val),
                            "line": lineno})
    if resumed:
        g.ok("resumed_wall_clock" in ctx, "[resumed-handshake] lacks wall_clock_ms (11)")
    for r in records:
        r["inner"] = inners.get(r["name"])
    ctx["records"] = records

    logs = {}
    for side, prefix, (gname, log, _) in (("client", "c", log_groups[0]),
                                          ("server", "s", log_groups[1])):
        for k, v in log.items():
            g.ok(HEX_RE.match(v) is not None, "[secrets.%s] %s is not lowercase hex" % (side, k))
            g.ok(log_names_ok(prefix, k, resumed), "[secrets.%s]: unknown name %s" % (side, k))
        g.ok(prefix + "_ephemeral_private" in log,
             "[secrets.%s] lacks %s_ephemeral_private" % (side, prefix))
        want = LOG_FIXED_NAMES + ["c_ap_traffic_0", "s_ap_traffic_0", LOG_RES]
        for k in want + ([LOG_PSK] if resumed else []):
            g.ok(k in log, "[secrets.%s] lacks %s" % (side, k))
        logs[side] = dict(log)
        logs[side + "_order"] = [k for k, _, _ in log_groups[0 if side == "client" else 1][2]]
    ctx["logs"] = logs


@group("vector file: format, groups and names (PROTOCOL.md 11)")
def g_vec_format(g):
    F = S["file"]
    groups = parse_vector_file(F["path"])
    layout = LAYOUT_RESUMPTION if F["kind"] == "resumption" else LAYOUT_FULL
    if not g.eq("groups", [n for n, _, _ in groups], layout):
        raise DecodeError("groups of %s are not %s" % (F["name"], layout))
    inputs = groups[0][1]
    want_inputs = {"client.seed", "server.seed", "wall_clock_ms", "client.identity_private",
                   "client.identity_public", "server.identity_private", "server.identity_public",
                   "server.client_auth", "binding_type"}
    if F["kind"] == "resumption":
        want_inputs |= {"server.ticket_key_id", "server.ticket_key", "server.ticket_lifetime_s"}
    g.eq("[inputs] names", sorted(inputs), sorted(want_inputs))
    for k in ("client.identity_public", "server.identity_public", "client.identity_private",
              "server.identity_private", "server.ticket_key_id", "server.ticket_key"):
        if k in want_inputs:
            g.ok(HEX_RE.match(inputs.get(k, "")) is not None, "[inputs] %s is not lowercase hex" % k)
    for k in ("wall_clock_ms", "server.client_auth", "binding_type", "server.ticket_lifetime_s"):
        if k in want_inputs:
            g.ok(re.fullmatch(r"\d+", inputs.get(k, "")) is not None,
                 "[inputs] %s is not decimal" % k)
    for i, ctx in enumerate(F["ctxs"]):
        base = 1 + 4 * i
        vec_connection(g, ctx, groups[base], groups[base + 1], (groups[base + 2], groups[base + 3]))
        ctx["inputs"] = inputs


def ticket_keys():
    """The server's ticket keys from [inputs] (resumption-v1.txt only): {key_id: key}."""
    inputs = S["inputs"]
    if "server.ticket_key_id" not in inputs:
        return {}
    return {bytes.fromhex(inputs["server.ticket_key_id"]): bytes.fromhex(inputs["server.ticket_key"])}


@group("[inputs]: identity keys from the seeds, valid points, client_auth, binding_type, ticket key")
def g_inputs(g):
    inputs, p = S["inputs"], S["p"]
    for side in ("client", "server"):
        pub = bytes.fromhex(inputs[side + ".identity_public"])
        err = parse_point_validity(pub, p)
        g.ok(err is None, "%s.identity_public invalid: %s" % (side, err))
        # File comment: identity scalars are SHA-256("identity:" || seed).
        d = int.from_bytes(sha256(b"identity:" + inputs[side + ".seed"].encode()), "big")
        _, pt = scalar_point(d)
        g.eq("%s identity: SHA-256(\"identity:\" || seed) * G" % side, pt, pub)
        g.eq("%s.identity_private = SHA-256(\"identity:\" || seed)" % side,
             bytes.fromhex(inputs[side + ".identity_private"]), d.to_bytes(32, "big"))
    g.ok(inputs["server.client_auth"] in ("0", "1", "2"), "server.client_auth not 0..2")
    g.eq("binding_type (only 0 is reproducible offline)", inputs["binding_type"], "0")
    if S["file"]["kind"] == "resumption":
        g.eq("server.ticket_key_id length (4.7.4)", len(bytes.fromhex(inputs["server.ticket_key_id"])),
             S["ticket_kid_len"])
        g.eq("server.ticket_key length (AES-256)", len(bytes.fromhex(inputs["server.ticket_key"])), 32)
        lt = int(inputs["server.ticket_lifetime_s"])
        g.ok(1 <= lt <= MAX_TICKET_LIFETIME_S, "server.ticket_lifetime_s %d not 1..86400" % lt)
    S["binding_block"] = b"\x00\x00"  # 5.4: binding_type 0, empty binding_data
    S["wall_clock_ms"] = int(inputs["wall_clock_ms"])


@group("[resumed-handshake]: same inputs, the new wall clock (11: 60 s later)")
def g_resumed_inputs(g):
    prev = S["prev"]
    now = S["resumed_wall_clock"]
    g.ok(now is not None, "[resumed-handshake] wall_clock_ms missing or not decimal")
    g.eq("resumed wall_clock_ms - first wall_clock_ms (11)", now - prev["wall_clock_ms"],
         S["resume_delay_ms"])
    S["binding_block"] = prev["binding_block"]
    S["wall_clock_ms"] = now


# ---------------------------------------------------------------------------------------------
# Records and handshake

def parse_record(raw, what):
    """PROTOCOL.md 3.1-3.3: strict header checks. Returns (type, header, body)."""
    if len(raw) < 4:
        raise DecodeError("%s: shorter than a record header" % what)
    rtype, ver, length = raw[0], raw[1], struct.unpack(">H", raw[2:4])[0]
    if rtype not in (REC_ALERT, REC_HANDSHAKE, REC_PROTECTED):
        raise DecodeError("%s: record type 0x%02x (decode_error)" % (what, rtype))
    if ver != RECORD_VERSION:
        raise DecodeError("%s: record_version 0x%02x (decode_error)" % (what, ver))
    upper = MAX_PROTECTED_BODY if rtype == REC_PROTECTED else MAX_RECORD_PLAINTEXT
    if length > upper:
        raise DecodeError("%s: length %d > %d (record_overflow)" % (what, length, upper))
    lower_ok = {REC_ALERT: length == 1, REC_HANDSHAKE: length >= 4,
                REC_PROTECTED: length >= 1 + TAG_LEN}[rtype]
    if not lower_ok:
        raise DecodeError("%s: length %d too small for type 0x%02x (decode_error)"
                          % (what, length, rtype))
    if len(raw) != 4 + length:
        raise DecodeError("%s: header length %d but %d body bytes in the file"
                          % (what, length, len(raw) - 4))
    return rtype, raw[:4], raw[4:]


def parse_hs_message(data, what, expect_type):
    """PROTOCOL.md 4.1: exactly one handshake message of the expected type. Returns body."""
    if len(data) < 4:
        raise DecodeError("%s: shorter than a handshake header" % what)
    mtype = data[0]
    length = int.from_bytes(data[1:4], "big")
    if mtype == 0 or mtype > 6:
        raise DecodeError("%s: msg_type %d (decode_error)" % (what, mtype))
    if length > MAX_HANDSHAKE_MSG:
        raise DecodeError("%s: handshake length %d > 16380" % (what, length))
    if len(data) != 4 + length:
        raise DecodeError("%s: handshake length %d, %d bytes present" % (what, length, len(data) - 4))
    if mtype != expect_type:
        raise DecodeError("%s: %s where %s expected (unexpected_message)"
                          % (what, HS_NAMES.get(mtype, mtype), HS_NAMES[expect_type]))
    return data[4:]


def parse_extensions(data, what):
    """PROTOCOL.md 4.2.3. Returns [(ext_type, ext_data)] in order."""
    r = Reader(data, what + " extensions")
    seen = []
    while r.i < len(data):
        etype = r.uint(2)
        elen = r.uint(2)
        edata = r.take(elen)
        if etype in [t for t, _ in seen]:
            raise DecodeError("%s: duplicate extension 0x%04x" % (what, etype))
        seen.append((etype, edata))
        if len(seen) > MAX_EXTENSIONS:
            raise DecodeError("%s: more than 16 extensions" % what)
    return seen


def parse_resumption_ticket(data):
    """PROTOCOL.md 4.7.2: ResumptionTicket, filling ext_data exactly."""
    r = Reader(data, "resumption_ticket ext_data")
    n = r.uint(2)
    if not 1 <= n <= MAX_TICKET_LEN:
        raise DecodeError("resumption_ticket: ticket length %d not 1..512" % n)
    ticket = r.take(n)
    recv_id = r.uint(8)
    r.end()
    return ticket, recv_id


def parse_new_session_ticket(body, what):
    """PROTOCOL.md 4.7.3."""
    r = Reader(body, what)
    lifetime = r.uint(4)
    if not 1 <= lifetime <= MAX_TICKET_LIFETIME_S:
        raise DecodeError("%s: lifetime_s %d not 1..86400" % (what, lifetime))
    n = r.uint(2)
    if not 1 <= n <= MAX_TICKET_LEN:
        raise DecodeError("%s: ticket length %d not 1..512" % (what, n))
    ticket = r.take(n)
    r.end()
    return lifetime, ticket


def open_ticket(ticket, keys, what):
    """PROTOCOL.md 4.7.4 / 4.7.5 steps 1-3: key_id || nonce || AES-256-GCM(key, nonce, aad =
    key_id, contents); strict TicketContents parse with the layout parsed from the document."""
    kl, nl = S["ticket_kid_len"], S["ticket_nonce_len"]
    lo, hi = S["ticket_lens"]
    if not lo <= len(ticket) <= hi:
        raise DecodeError("%s: ticket is %d bytes, not %d..%d" % (what, len(ticket), lo, hi))
    key_id, nonce, sealed = ticket[:kl], ticket[kl:kl + nl], ticket[kl + nl:]
    if key_id not in keys:
        raise DecodeError("%s: no ticket key with key_id %s" % (what, hx(key_id)))
    try:
        plain = AESGCM(keys[key_id]).decrypt(nonce, sealed, key_id)
    except InvalidTag:
        raise DecodeError("%s: ticket does not open under key %s (AAD key_id)" % (what, hx(key_id)))
    r = Reader(plain, what + " TicketContents")
    tc = {"key_id": key_id, "nonce": nonce, "raw": plain}
    for typ, name, size in S["ticket_layout"]:
        if name == "client_spki" and tc["client_identity_type"] == 0:
            continue
        tc[name] = r.uint(size) if typ != "opaque" else r.take(size)
        if name == "format" and tc[name] != TICKET_FORMAT:
            raise DecodeError("%s: TicketContents format %d" % (what, tc[name]))
        if name == "client_identity_type" and tc[name] not in (0, 1, 2):
            raise DecodeError("%s: client_identity_type %d" % (what, tc[name]))
        if name == "lifetime_s" and not 1 <= tc[name] <= MAX_TICKET_LIFETIME_S:
            raise DecodeError("%s: lifetime_s %d" % (what, tc[name]))
    r.end()
    return tc


def parse_client_hello(body):
    r = Reader(body, "ClientHello")
    n = r.uint(1)
    if not 1 <= n <= MAX_OFFERED_VERSIONS:
        raise DecodeError("ClientHello: n_versions %d" % n)
    versions = list(r.take(n))
    if 0 in versions or len(set(versions)) != n:
        raise DecodeError("ClientHello: versions %r (zero or duplicate)" % versions)
    ch = {"versions": versions, "random": r.take(32), "timestamp_ms": r.uint(8),
          "key_share": r.take(65), "max_message_size": r.uint(4)}
    if not 1 <= ch["max_message_size"] <= MAX_MESSAGE_SIZE_LIMIT:
        raise DecodeError("ClientHello: max_message_size %d" % ch["max_message_size"])
    ext_len = r.uint(2)
    exts = parse_extensions(r.take(ext_len), "ClientHello")
    ch["extensions"], ch["ext_data"] = [t for t, _ in exts], dict(exts)
    r.end()
    return ch


def parse_server_hello(body):
    r = Reader(body, "ServerHello")
    sh = {"version": r.uint(1), "random": r.take(32), "timestamp_ms": r.uint(8),
          "key_share": r.take(65), "max_message_size": r.uint(4)}
    if not 1 <= sh["max_message_size"] <= MAX_MESSAGE_SIZE_LIMIT:
        raise DecodeError("ServerHello: max_message_size %d" % sh["max_message_size"])
    ext_len = r.uint(2)
    exts = parse_extensions(r.take(ext_len), "ServerHello")
    sh["extensions"], sh["ext_data"] = [t for t, _ in exts], dict(exts)
    r.end()
    return sh


def parse_identity(body, server_form, what):
    """PROTOCOL.md 4.4 (raw keys and X.509 framing; the trace uses raw keys)."""
    r = Reader(body, what)
    auth_request = r.uint(1)
    itype = r.uint(1)
    if server_form and auth_request not in (0, 1, 2):
        raise DecodeError("%s: auth_request %d" % (what, auth_request))
    if not server_form and auth_request != 0:
        raise DecodeError("%s: client auth_request %d (must be 0)" % (what, auth_request))
    if itype not in (0, 1, 2) or (server_form and itype == 0):
        raise DecodeError("%s: identity_type %d" % (what, itype))
    ident = {"auth_request": auth_request, "identity_type": itype, "spki": None, "certs": None}
    if itype == 1:
        spki_len = r.uint(2)
        if spki_len != 91:
            raise DecodeError("%s: spki_len %d" % (what, spki_len))
        ident["spki"] = r.take(91)
    elif itype == 2:
        n = r.uint(1)
        if not 1 <= n <= MAX_CERT_CHAIN:
            raise DecodeError("%s: n_certs %d" % (what, n))
        certs = []
        for _ in range(n):
            cl = r.uint(3)
            if not 1 <= cl <= MAX_HANDSHAKE_MSG:
                raise DecodeError("%s: cert_len %d" % (what, cl))
            certs.append(r.take(cl))
        ident["certs"] = certs
    r.end()
    return ident


def spki_key(g, spki, what):
    """PROTOCOL.md 1.4: canonical 91-byte SPKI with a valid point -> public key object."""
    prefix = S["spki_prefix"]
    if not g.ok(len(spki) == 91 and spki[:26] == prefix, "%s: SPKI prefix not canonical" % what):
        return None, None
    point = spki[26:]
    err = parse_point_validity(point, S["p"])
    if not g.ok(err is None, "%s: SPKI point invalid: %s" % (what, err)):
        return None, None
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    reenc = key.public_bytes(serialization.Encoding.DER,
                             serialization.PublicFormat.SubjectPublicKeyInfo)
    g.eq("%s: SPKI re-encoded by the library" % what, reenc, spki)
    return key, point


def TH(msgs):
    """PROTOCOL.md 5.4."""
    return sha256(S["binding_block"] + b"".join(msgs))


def log_compare(g, name, value):
    """Compare one computed secret with both key logs (PROTOCOL.md 11)."""
    S.setdefault("computed", {})[name] = value
    for side in ("client", "server"):
        log = S["logs"][side]
        if g.ok(name in log, "[secrets.%s] lacks %s" % (side, name)):
            g.eq("%s vs [secrets.%s]" % (name, side), value, bytes.fromhex(log[name]))


@group("record headers: strict parse of every record (3.1-3.3), sizes of 2.2 and 10")
def g_records(g):
    records = S["records"]
    for r in records:
        try:
            r["type"], r["header"], r["body"] = parse_record(r["raw"], r["name"])
        except DecodeError as e:
            g.ok(False, str(e))
            raise
        g.ok(r["type"] != REC_ALERT, "%s: plaintext ALERT in the trace" % r["name"])
        g.ok((r["type"] == REC_PROTECTED) == (r["inner"] is not None),
             "%s: .inner present iff the record is PROTECTED" % r["name"])
    # Handshake section layout: plaintext hellos first, then protected records.
    hs = [r for r in records if r["section"] == "handshake"]
    g.ok(len(hs) >= 2 and hs[0]["name"] == "c2s.00" and hs[1]["name"] == "s2c.00",
         "[handshake] must start with c2s.00 (ClientHello), s2c.00 (ServerHello)")
    g.ok(all(r["type"] == REC_HANDSHAKE for r in hs[:2]), "hellos must be plaintext HANDSHAKE")
    g.ok(all(r["type"] == REC_PROTECTED for r in records[2:]),
         "every record after the hellos must be PROTECTED (3.2)")
    # Documented sizes (2.2: raw-key identity, one version, no client identity; 10: fixed records).
    s22 = flat(doc_sec("2.2"))
    m = need(g, "typical sizes (2.2)",
             one(r"ClientHello record (\d+) bytes; ServerHello record (\d+); Identity record (\d+); "
                 r"Verify record (\d+); Finished record (\d+) bytes", s22))
    S["doc_sizes"] = dict(zip(["ClientHello", "ServerHello", "Identity", "Verify", "Finished"],
                              [int(x) for x in m.groups()]))
    s10 = flat(doc_sec("10"))
    m = need(g, "fixed record sizes (10)",
             one(r"ACK, PING, PONG (\d+) bytes; KEY_UPDATE, CLOSE, ERROR (\d+) bytes; plaintext "
                 r"ALERT (\d+) bytes; MESSAGE (\d+) \+ fragment bytes", s10))
    a, k, al, msg = (int(x) for x in m.groups())
    S["doc_app_sizes"] = {IN_ACK: a, IN_PING: a, IN_PONG: a, IN_KEY_UPDATE: k, IN_CLOSE: k,
                          IN_ERROR: k, "alert": al, "message_base": msg}
    g.eq("10: plaintext ALERT size = header + 1", al, 5)


@group("ClientHello (4.2.1, 4.7.2): strict parse, version, extensions, timestamp, max_message_size")
def g_client_hello(g):
    r = S["records"][0]
    body = parse_hs_message(r["body"], "c2s.00", HS_CLIENT_HELLO)
    ch = parse_client_hello(body)
    g.ok(VERSION_1 in ch["versions"], "ClientHello does not offer version 1")
    g.eq("ClientHello versions (version-1 client)", ch["versions"], [VERSION_1])
    ext_bytes = 0
    if S["resumed"]:
        prev = S["prev"]
        g.eq("ClientHello extensions (a resuming client: resumption_ticket only)", ch["extensions"],
             [EXT_RESUMPTION_TICKET])
        data = ch["ext_data"][EXT_RESUMPTION_TICKET]
        ticket, recv_id = parse_resumption_ticket(data)
        last = prev["tickets"][-1]
        g.eq("offered ticket = the ticket of the last NewSessionTicket received (%s, 4.7.3)"
             % last["record"], ticket, last["ticket"])
        g.eq("resumption_ticket recv_id = highest id the client delivered from the server "
             "in the stream (4.7.2)", recv_id, prev["peers"]["s2c"].last_completed)
        # 4.7.2: offered only before the lifetime has passed by the client's clock, which counts
        # from the moment it received the ticket (the first connection's fixed clock).
        age = S["wall_clock_ms"] - prev["wall_clock_ms"]
        g.ok(0 <= age < last["lifetime_s"] * 1000,
             "ticket offered %d ms after receipt, lifetime %d s" % (age, last["lifetime_s"]))
        ext_bytes = 4 + len(data)
        S["offered"] = (ticket, recv_id)
    else:
        g.eq("ClientHello extensions (a client without a ticket)", ch["extensions"], [])
    g.eq("ClientHello body length", len(body), 113 + ext_bytes)
    skew = abs(S["wall_clock_ms"] - ch["timestamp_ms"])
    g.ok(skew <= DEFAULT_MAX_SKEW_MS, "ClientHello timestamp %d off wall clock by %d ms"
         % (ch["timestamp_ms"], skew))
    g.eq("ClientHello record size (2.2)", len(r["raw"]), S["doc_sizes"]["ClientHello"] + ext_bytes)
    S["ch"], S["ch_msg"] = ch, r["body"]


@group("ServerHello (4.2.2, 4.2.4, 4.7.6): strict parse, selected version, extensions, timestamp")
def g_server_hello(g):
    r = S["records"][1]
    body = parse_hs_message(r["body"], "s2c.00", HS_SERVER_HELLO)
    sh = parse_server_hello(body)
    ch = S["ch"]
    g.ok(sh["version"] in ch["versions"], "selected version %d not offered" % sh["version"])
    first_supported = next((v for v in ch["versions"] if v in SUPPORTED_VERSIONS), None)
    g.eq("selected version = first offered supported (4.2.4)", sh["version"], first_supported)
    ext_bytes = 0
    if S["resumed"]:
        prev = S["prev"]
        g.eq("ServerHello extensions (4.7.6: resumption_accept, nothing else)", sh["extensions"],
             [EXT_RESUMPTION_ACCEPT])
        data = sh["ext_data"].get(EXT_RESUMPTION_ACCEPT, b"")
        g.eq("resumption_accept ext_data length (4.7.6)", len(data), 8)
        recv_id = int.from_bytes(data, "big")
        g.eq("resumption_accept recv_id = highest id the server delivered from the client in the "
             "stream", recv_id, prev["peers"]["c2s"].last_completed)
        g.ok(recv_id <= prev["peers"]["c2s"].sent_ids,
             "resumption_accept recv_id %d > highest id the client sent (decode_error)" % recv_id)
        S["accept_recv_id"] = recv_id
        ext_bytes = 4 + len(data)
        g.eq("ServerHello body length (4.2.2, with resumption_accept)", len(body), S["sh_body"][1])
    else:
        g.eq("ServerHello extensions", sh["extensions"], [])
        g.eq("ServerHello body length", len(body), S["sh_body"][0])
    skew = abs(S["wall_clock_ms"] - sh["timestamp_ms"])
    g.ok(skew <= DEFAULT_MAX_SKEW_MS, "ServerHello timestamp %d off wall clock by %d ms"
         % (sh["timestamp_ms"], skew))
    g.ok(sh["random"] != ch["random"], "server random equals client random")
    g.eq("ServerHello record size (2.2)", len(r["raw"]), S["doc_sizes"]["ServerHello"] + ext_bytes)
    S["sh"], S["sh_msg"] = sh, r["body"]


@group("server processing (4.7.5): the offered ticket opens and passes checks 1-7, the server "
       "resumes; psk = the stored res")
def g_server_resumption(g):
    prev = S["prev"]
    ticket, recv_id = S["offered"]
    tc = open_ticket(ticket, ticket_keys(), "offered ticket")      # steps 1, 2, 3 (format, types)
    g.ok(True, "")
    if tc["client_identity_type"] != 0:                            # step 3: a valid P-256 key
        spki_key(g, tc["client_spki"], "offered ticket client_spki")
    now = S["wall_clock_ms"]                                       # step 4
    g.ok(tc["issued_ms"] <= now + DEFAULT_MAX_SKEW_MS, "issued_ms %d after now + max_skew"
         % tc["issued_ms"])
    g.ok(now - tc["issued_ms"] < tc["lifetime_s"] * 1000, "ticket expired: now - issued_ms = %d ms"
         % (now - tc["issued_ms"]))
    own = sha256(S["spki_prefix"] + bytes.fromhex(S["inputs"]["server.identity_public"]))
    g.eq("server_fingerprint = SHA-256(own SPKI) (step 5)", tc["server_fingerprint"], own)
    if S["inputs"]["server.client_auth"] == "2":                   # step 6
        g.ok(tc["client_identity_type"] != 0, "anonymous ticket, client authentication required")
    # Step 7: the stream is resumable: same stream, current generation, recv_id not beyond
    # what the server sent.
    g.eq("ticket stream_id = the stream's (step 7)", tc["stream_id"], prev["stream_id"])
    g.eq("ticket generation = the stream's current generation (step 7)", tc["generation"],
         prev["stream_generation"])
    g.ok(recv_id <= prev["peers"]["s2c"].sent_ids, "recv_id %d > highest id the server sent %d"
         % (recv_id, prev["peers"]["s2c"].sent_ids))
    g.ok(EXT_RESUMPTION_ACCEPT in S["sh"]["extensions"],
         "a ticket that passes 4.7.5 was not accepted (no resumption_accept)")
    # The server's psk (from the ticket) and the client's (its stored res, 4.7.1) agree.
    g.eq("ticket psk = res of the connection that issued it (the client's psk)", tc["psk"],
         prev["res"])
    S["psk"] = tc["psk"]


def find_block(seed, value, start, span=64):
    for i in range(start, start + span):
        if sha256(seed + struct.pack(">Q", i))[:len(value)] == value:
            return i
    return None


def random_uses(g, side, uses, first=False):
    """PROTOCOL.md 11: each side's random bytes are consecutive SHA-256(seed || u64 counter)
    blocks from counter 0, truncated to what each request needs. The values of `uses`, drawn
    together, must each be (a prefix of) its own block, after every block drawn before; `first`:
    they are exactly the first blocks of the stream."""
    seed = S["inputs"][side + ".seed"].encode()
    start = S["rand_next"][side]
    idx = []
    for what, v in uses:
        i = find_block(seed, v, start)
        if g.ok(i is not None, "%s %s is not a block of the %s's seeded random stream after "
                "counter %d" % (side, what, side, start - 1)):
            idx.append(i)
    if len(idx) != len(uses):
        return
    g.ok(len(set(idx)) == len(idx), "%s: two random values from the same block" % side)
    if first:
        g.eq("%s: blocks of %s" % (side, ", ".join(w for w, _ in uses)), sorted(idx),
             list(range(start, start + len(uses))))
    skipped = sorted(set(range(start, max(idx) + 1)) - set(idx))
    if skipped:
        g.notes.append("%s random block(s) %s drawn for something the trace does not show "
                       "(not a failure)" % (side, skipped))
    S["rand_next"][side] = max(idx) + 1


@group("key shares (4.2.5): valid points = ephemeral scalars * G; scalars and randoms from seeds")
def g_key_shares(g):
    ch, sh, logs, n, p = S["ch"], S["sh"], S["logs"], S["n"], S["p"]
    S["rand_next"] = dict(S["prev"]["rand_next"]) if S["resumed"] else {"client": 0, "server": 0}
    priv = {}
    for side, prefix, hello in (("client", "c", ch), ("server", "s", sh)):
        err = parse_point_validity(hello["key_share"], p)
        g.ok(err is None, "%s key_share invalid: %s" % (side, err))
        d_bytes = bytes.fromhex(logs[side][prefix + "_ephemeral_private"])
        g.eq("%s ephemeral scalar length" % side, len(d_bytes), 32)
        d = int.from_bytes(d_bytes, "big")
        g.ok(1 <= d < n, "%s ephemeral scalar outside [1, n-1]" % side)
        key, pt = scalar_point(d)
        g.eq("%s key_share = %s_ephemeral_private * G" % (side, prefix), hello["key_share"], pt)
        priv[side] = key
        # The first hello of a trace draws the first two blocks; a resumed hello later ones.
        random_uses(g, side, [("ephemeral scalar", d_bytes), ("hello random", hello["random"])],
                    first=not S["resumed"])
        if S["resumed"]:
            g.ok(d_bytes != bytes.fromhex(S["prev"]["logs"][side][prefix + "_ephemeral_private"]),
                 "%s reuses its ephemeral scalar in the resumed handshake (4.2.5)" % side)
    g.ok(ch["key_share"] != sh["key_share"], "client and server key shares are equal")
    S["eph"] = priv


@group("ECDH (1.4, 4.2.5): shared secret from both sides = ecdh_shared of both logs")
def g_ecdh(g):
    ch, sh, priv = S["ch"], S["sh"], S["eph"]
    spub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), sh["key_share"])
    cpub = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), ch["key_share"])
    z_client = priv["client"].exchange(ec.ECDH(), spub)
    z_server = priv["server"].exchange(ec.ECDH(), cpub)
    g.eq("ECDH client view = server view", z_client, z_server)
    g.eq("ECDH output length", len(z_client), 32)
    log_compare(g, "ecdh_shared", z_client)
    S["ecdh"] = z_client


@group("key schedule to handshake secrets (5.2): early (psk or 0), hs, c_hs, s_hs")
def g_ks_hs(g):
    if S["resumed"]:
        psk = S["psk"]
        g.eq("resumption psk length", len(psk), 32)
        log_compare(g, LOG_PSK, psk)
    else:
        psk = b"\x00" * 32
    early = hkdf_extract(b"\x00" * 32, psk)
    derived_0 = expand_label(early, b"derived", sha256(b""), 32)
    hs = hkdf_extract(derived_0, S["ecdh"])
    th_sh = TH([S["ch_msg"], S["sh_msg"]])
    c_hs = expand_label(hs, b"c hs traffic", th_sh, 32)
    s_hs = expand_label(hs, b"s hs traffic", th_sh, 32)
    log_compare(g, "handshake_secret", hs)
    log_compare(g, "c_hs_traffic", c_hs)
    log_compare(g, "s_hs_traffic", s_hs)
    g.ok(c_hs != s_hs, "c_hs = s_hs")
    S["hs"], S["c_hs"], S["s_hs"] = hs, c_hs, s_hs
    S["transcript"] = [S["ch_msg"], S["sh_msg"]]


def open_flight(g, direction, secret):
    """Open the protected [handshake] records of one direction under handshake keys."""
    key = TrafficKey(secret, "hs", 0)
    msgs = []
    for r in S["records"]:
        if r["section"] != "handshake" or r["dir"] != direction or r["type"] != REC_PROTECTED:
            continue
        try:
            pt = key.open(r["header"], r["body"])
        except InvalidTag:
            g.ok(False, "%s: AEAD open failed under %s handshake key (seq %d)"
                 % (r["name"], direction, key.seq))
            raise DecodeError("cannot open %s" % r["name"])
        g.eq("%s decrypted inner plaintext vs %s.inner" % (r["name"], r["name"]), pt, r["inner"])
        g.eq("%s inner type" % r["name"], pt[0], IN_HANDSHAKE)
        r["plain"] = pt
        msgs.append((r, pt[1:]))
    return msgs


@group("server flight: open s2c handshake records under s_hs, compare .inner")
def g_server_flight(g):
    msgs = open_flight(g, "s2c", S["s_hs"])
    # 4.7, 4.7.5: a resumed handshake has no Identity and no Verify: only {Finished}.
    want = [HS_FINISHED] if S["resumed"] else [HS_IDENTITY, HS_VERIFY, HS_FINISHED]
    g.eq("server protected handshake messages", [m[1][0] for m in msgs], want)
    S["server_flight"] = msgs


@group("server Identity (4.4): auth_request, raw key SPKI = server.identity_public")
def g_server_identity(g):
    r, msg = S["server_flight"][0]
    ident = parse_identity(parse_hs_message(msg, r["name"], HS_IDENTITY), True, "server Identity")
    g.eq("server auth_request = [inputs] server.client_auth", ident["auth_request"],
         int(S["inputs"]["server.client_auth"]))
    g.eq("server identity_type (raw key)", ident["identity_type"], 1)
    key, point = spki_key(g, ident["spki"], "server Identity")
    g.eq("server SPKI point = server.identity_public", point,
         bytes.fromhex(S["inputs"]["server.identity_public"]))
    g.eq("server Identity record size (2.2)", len(r["raw"]), S["doc_sizes"]["Identity"])
    S["transcript"].append(msg)
    S["server_key"], S["auth_request"] = key, ident["auth_request"]


def check_verify(g, who, r, msg, pubkey):
    body = parse_hs_message(msg, r["name"], HS_VERIFY)
    rd = Reader(body, who + " Verify")
    scheme = rd.uint(2)
    sig = rd.take(64)
    rd.end()
    g.eq("%s signature_scheme" % who, scheme, SIG_SCHEME_ECDSA_P256_SHA256)
    rr, ss = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    n = S["n"]
    g.ok(1 <= rr < n and 1 <= ss < n, "%s signature r or s outside [1, n-1]" % who)
    th = TH(S["transcript"])
    content = S["context"][who] + b"\x00" + th
    g.eq("%s signed content length" % who, len(content), 63)
    try:
        pubkey.verify(utils.encode_dss_signature(rr, ss), content, ec.ECDSA(hashes.SHA256()))
        g.ok(True, "")
    except InvalidSignature:
        g.ok(False, "%s Verify: ECDSA signature over context || 0x00 || TH(CH..%s Identity) = %s "
             "does not verify with the %s identity key" % (who, who, hx(th), who))


@group("server Verify (4.5.1, 4.5.2): ECDSA over context || 0 || TH(CH..server Identity)")
def g_server_verify(g):
    r, msg = S["server_flight"][1]
    check_verify(g, "server", r, msg, S["server_key"])
    g.eq("server Verify record size (2.2)", len(r["raw"]), S["doc_sizes"]["Verify"])
    S["transcript"].append(msg)


def check_finished(g, who, r, msg, traffic_secret):
    body = parse_hs_message(msg, r["name"], HS_FINISHED)
    g.eq("%s Finished body length" % who, len(body), 32)
    fk = expand_label(traffic_secret, b"finished", b"", 32)
    th = TH(S["transcript"])
    want = hmac.new(fk, th, hashlib.sha256).digest()
    g.eq("%s Finished verify_data = HMAC(finished_key, TH %s)" % (who, hx(th)), body, want)


@group("server Finished (4.5.3): HMAC(finished_key(s_hs), TH(CH..server Verify))")
def g_server_finished(g):
    r, msg = S["server_flight"][-1]
    check_finished(g, "server", r, msg, S["s_hs"])
    g.eq("server Finished record size (2.2)", len(r["raw"]), S["doc_sizes"]["Finished"])
    S["transcript"].append(msg)


@group("key schedule to application secrets (5.2): master, c_ap_0, s_ap_0, exporter (TH..server Finished)")
def g_ks_ap(g):
    derived_1 = expand_label(S["hs"], b"derived", sha256(b""), 32)
    master = hkdf_extract(derived_1, b"\x00" * 32)
    th = TH(S["transcript"])
    c_ap = expand_label(master, b"c ap traffic", th, 32)
    s_ap = expand_label(master, b"s ap traffic", th, 32)
    exporter = expand_label(master, b"exp master", th, 32)
    log_compare(g, "master_secret", master)
    log_compare(g, "c_ap_traffic_0", c_ap)
    log_compare(g, "s_ap_traffic_0", s_ap)
    log_compare(g, "exporter_secret", exporter)
    S["c_ap_0"], S["s_ap_0"], S["master"] = c_ap, s_ap, master


@group("client flight: open c2s handshake records under c_hs, compare .inner, record order")
def g_client_flight(g):
    msgs = open_flight(g, "c2s", S["c_hs"])
    if S["resumed"]:
        want = [HS_FINISHED]  # 4.7.6: the resuming client sends only {Finished}
    else:
        # 4.4: auth_request 2 and a client identity -> Identity, Verify, Finished.
        want = {0: [HS_FINISHED], 1: None,
                2: [HS_IDENTITY, HS_VERIFY, HS_FINISHED]}[S["auth_request"]]
    if want is not None:
        g.eq("client protected handshake messages", [m[1][0] for m in msgs], want)
    # SIGMA-I order (2.2): the whole server flight precedes the client's protected flight.
    recs = S["records"]
    last_server = max(recs.index(r) for r, _ in S["server_flight"])
    first_client = min(recs.index(r) for r, _ in msgs)
    g.ok(last_server < first_client, "client flight starts before the server's Finished")
    g.ok(all(r["section"] == "application" for r in recs[max(recs.index(r) for r, _ in msgs) + 1:]),
         "handshake records after the client's Finished")
    S["client_flight"] = msgs


@group("client Identity (4.4): auth_request 0, raw key SPKI = client.identity_public")
def g_client_identity(g):
    r, msg = S["client_flight"][0]
    ident = parse_identity(parse_hs_message(msg, r["name"], HS_IDENTITY), False, "client Identity")
    g.eq("client auth_request", ident["auth_request"], 0)
    g.eq("client identity_type (raw key)", ident["identity_type"], 1)
    key, point = spki_key(g, ident["spki"], "client Identity")
    g.eq("client SPKI point = client.identity_public", point,
         bytes.fromhex(S["inputs"]["client.identity_public"]))
    S["transcript"].append(msg)
    S["client_key"] = key


@group("client Verify (4.5.1, 4.5.2): ECDSA over context || 0 || TH(CH..client Identity)")
def g_client_verify(g):
    r, msg = S["client_flight"][1]
    check_verify(g, "client", r, msg, S["client_key"])
    S["transcript"].append(msg)


@group("client Finished (4.5.3): HMAC(finished_key(c_hs), TH(CH..client Verify))")
def g_client_finished(g):
    r, msg = S["client_flight"][-1]
    check_finished(g, "client", r, msg, S["c_hs"])
    S["transcript"].append(msg)
    g.eq("client flight length", len(S["client_flight"]), 1 if S["resumed"] else 3)


@group("resumption secret (4.7.1): res = Derive-Secret(master, \"res master\", TH(CH..client "
       "Finished)) vs both logs")
def g_res(g):
    th = TH(S["transcript"])
    names = [HS_NAMES[m[0]] for m in S["transcript"]]
    g.eq("transcript of res (CH..client Finished, no NewSessionTicket)", names,
         ["ClientHello", "ServerHello"] + (["Finished", "Finished"] if S["resumed"] else
                                           ["Identity", "Verify", "Finished"] * 2))
    res = expand_label(S["master"], S["res_label"], th, 32)
    log_compare(g, LOG_RES, res)
    S["res"] = res


# ---------------------------------------------------------------------------------------------
# Application content (sections 6 and 7): one pass over the [application] records in order.

class Peer:
    """Receiving state of one direction plus the bookkeeping of its sender."""

    def __init__(self, d, secret, own_max, last_completed=0, sent_ids=0):
        self.d = d
        self.key = TrafficKey(secret, "ap", 0)
        self.receiver_max = own_max       # the receiving side's announced max_message_size
        self.in_progress = None           # (id, total, bytearray)
        self.last_completed = last_completed  # in the stream (4.7, 6.1)
        self.delivered = []               # (id, bytes, epoch, record names), this connection
        self.sent_ids = sent_ids          # highest message id its sender has sent in the stream
        self.last_ack = 0                 # last ACK value received in this direction
        self.acks = []                    # (value, record name)
        self.must_answer_ku = False       # this direction owes a KEY_UPDATE(0)
        self.ping_sent = 0                # for PONG validation of the opposite direction
        self.pong_answered = 0
        self.key_updates = []             # (record name, update_requested, new epoch)


def app_walk(g_records, events):
    ch, sh = S["ch"], S["sh"]
    if S["resumed"]:
        # 4.7.5, 4.7.6: the resumed session continues the stream. Each receiver's last completed
        # id is what its hello announced as recv_id; each sender has sent up to its stream's
        # highest id (the checks of the hellos tie these to the first connection).
        prev = S["prev"]["peers"]
        peers = {"c2s": Peer("c2s", S["c_ap_0"], sh["max_message_size"], S["accept_recv_id"],
                             prev["c2s"].sent_ids),
                 "s2c": Peer("s2c", S["s_ap_0"], ch["max_message_size"], S["offered"][1],
                             prev["s2c"].sent_ids)}
    else:
        peers = {"c2s": Peer("c2s", S["c_ap_0"], sh["max_message_size"]),
                 "s2c": Peer("s2c", S["s_ap_0"], ch["max_message_size"])}
    opp = {"c2s": "s2c", "s2c": "c2s"}
    closed = None
    S["nst"] = []
    has_ticket_keys = bool(ticket_keys())
    for r in [r for r in S["records"] if r["section"] == "application"]:
        pr = peers[r["dir"]]
        name = r["name"]
        if closed is not None:
            g_records.ok(False, "%s after the CLOSE in %s (6.5)" % (name, closed))
            break
        if r["type"] != REC_PROTECTED:
            g_records.ok(False, "%s: not PROTECTED" % name)
            break
        seq, epoch = pr.key.seq, pr.key.epoch
        try:
            pt = pr.key.open(r["header"], r["body"])
        except InvalidTag:
            g_records.ok(False, "%s: AEAD open failed under %s_ap_%d seq %d"
                         % (name, r["dir"][0], epoch, seq))
            break
        g_records.eq("%s (%s_ap_%d, seq %d) vs %s.inner" % (name, "c" if r["dir"] == "c2s" else "s",
                                                           epoch, seq, name), pt, r["inner"])
        itype, content = pt[0], pt[1:]
        if not g_records.ok(itype in INNER_NAMES, "%s: inner type %d (decode_error)" % (name, itype)):
            break
        if itype == IN_HANDSHAKE:
            # 3.7, 4.7.3, 8.6: under application keys only a NewSessionTicket from the server,
            # sent by a server that has ticket keys.
            mtype = content[0] if content else 0
            if not g_records.ok(r["dir"] == "s2c" and mtype == HS_NEW_SESSION_TICKET,
                                "%s: HANDSHAKE (msg_type %d) %s under application keys "
                                "(unexpected_message)" % (name, mtype, r["dir"])):
                break
            g_records.ok(has_ticket_keys, "%s: NewSessionTicket from a server without ticket keys"
                         % name)
            S["nst"].append((r, content, epoch, seq))
        g_records.ok(itype != IN_ERROR, "%s: peer ERROR alert %s" % (name, hx(content)))
        fixed = S["doc_app_sizes"].get(itype)
        if fixed is not None:
            g_records.eq("%s: %s record size (10)" % (name, INNER_NAMES[itype]), len(r["raw"]), fixed)
        events.append((name, r["dir"], itype, content, epoch, seq))

        # A KEY_UPDATE(1) must be answered by the peer's own KEY_UPDATE(0) (7.1).
        if pr.must_answer_ku:
            g_records.ok(itype == IN_KEY_UPDATE and content == b"\x00",
                         "%s: expected the answering KEY_UPDATE(0) (7.1), got %s"
                         % (name, INNER_NAMES.get(itype)))
            pr.must_answer_ku = False

        if itype == IN_MESSAGE:
            g_records.eq("%s: MESSAGE record size (10)" % name, len(r["raw"]),
                         S["doc_app_sizes"]["message_base"] + len(content) - MESSAGE_HEADER_LEN)
            if not g_records.ok(len(content) >= MESSAGE_HEADER_LEN, "%s: MESSAGE < 16 bytes" % name):
                break
            mid, total, off = struct.unpack(">QII", content[:16])
            frag = content[16:]
            g_records.ok(len(frag) <= MAX_FRAGMENT, "%s: fragment > 16368" % name)
            if pr.in_progress is not None:
                g_records.eq("%s: message_id of the message in progress" % name, mid,
                             pr.in_progress[0])
                g_records.eq("%s: total_length of later fragment" % name, total,
                             pr.in_progress[1])
            else:
                g_records.eq("%s: message_id (last completed + 1)" % name, mid,
                             pr.last_completed + 1)
                g_records.ok(total <= pr.receiver_max, "%s: total_length %d > max_message_size %d"
                             % (name, total, pr.receiver_max))
                pr.in_progress = (mid, total, bytearray(), [], epoch)
            _, total0, buf, names, ep0 = pr.in_progress
            g_records.eq("%s: offset" % name, off, len(buf))
            g_records.ok(off + len(frag) <= total, "%s: offset + fragment > total_length" % name)
            g_records.ok(len(frag) > 0 or off + len(frag) == total,
                         "%s: empty fragment that does not complete the message" % name)
            buf += frag
            names.append(name)
            pr.sent_ids = max(pr.sent_ids, mid)
            if len(buf) >= total0:
                pr.delivered.append((mid, bytes(buf), epoch, list(names)))
                pr.last_completed = mid
                pr.in_progress = None
        elif itype == IN_ACK:
            if not g_records.eq("%s: ACK content length" % name, len(content), 8):
                break
            val = struct.unpack(">Q", content)[0]
            other = peers[opp[r["dir"]]]
            # 6.2: <= highest id the ACK receiver has sent; >= previous ACK; and (sanity) the
            # sender of the ACK has actually received that message whole.
            g_records.ok(val <= other.sent_ids, "%s: ACK %d > highest id sent %d"
                         % (name, val, other.sent_ids))
            g_records.ok(val >= pr.last_ack, "%s: ACK %d < previous ACK %d" % (name, val, pr.last_ack))
            g_records.ok(val <= other.last_completed, "%s: ACK %d for a message not yet complete"
                         % (name, val))
            pr.last_ack = val
            pr.acks.append((val, name))
        elif itype in (IN_PING, IN_PONG):
            if not g_records.eq("%s: %s content length" % (name, INNER_NAMES[itype]), len(content), 8):
                break
            val = struct.unpack(">Q", content)[0]
            if itype == IN_PING:
                pr.ping_sent = val
            else:
                other = peers[opp[r["dir"]]]
                g_records.ok(other.pong_answered < val <= other.ping_sent,
                             "%s: PONG %d not in (last answered, last sent]" % (name, val))
                other.pong_answered = val
        elif itype == IN_KEY_UPDATE:
            if not g_records.eq("%s: KEY_UPDATE content length" % name, len(content), 1):
                break
            g_records.ok(content[0] in (0, 1), "%s: update_requested %d" % (name, content[0]))
            # 7.1: sender installs S_{k+1} after sending; receiver after processing.
            pr.key = pr.key.updated()
            pr.key_updates.append((name, content[0], pr.key.epoch))
            pfx = "c" if r["dir"] == "c2s" else "s"
            S.setdefault("ratcheted", {})["%s_ap_traffic_%d" % (pfx, pr.key.epoch)] = pr.key.secret
            S.setdefault("ku_order", []).append("%s_ap_traffic_%d" % (pfx, pr.key.epoch))
            if content[0] == 1:
                peers[opp[r["dir"]]].must_answer_ku = True
        elif itype == IN_CLOSE:
            if not g_records.eq("%s: CLOSE content length" % name, len(content), 1):
                break
            closed = name
            S["close"] = (name, r["dir"], content[0], pr.in_progress)
        elif itype == IN_ERROR:
            break
    S["peers"] = peers
    S["closed"] = closed


@group("application records (3.5, 3.6, 6, 7.1): open all under ratcheting keys, compare .inner")
def g_app_records(g):
    events = []
    app_walk(g, events)
    S["events"] = events
    n_app = len([r for r in S["records"] if r["section"] == "application"])
    g.eq("application records opened", len(events), n_app)
    first_s2c = next((e for e in events if e[1] == "s2c"), None)
    g.ok(first_s2c is not None, "no server application records")
    # 2.2 / 3.7: the server sends application content only after the client's Finished.
    recs = S["records"]
    client_fin = recs.index(S["client_flight"][-1][0])
    g.ok(all(recs.index(r) > client_fin for r in recs if r["section"] == "application"),
         "application record before the client's Finished")


@group("NewSessionTicket (4.7.3, 4.7.4): the server's first application record; ticket opens "
       "under the ticket key; TicketContents checked field by field")
def g_tickets(g):
    nst = S["nst"]
    want = S["expect"]["tickets"]
    g.eq("NewSessionTickets in this connection", len(nst), want)
    tickets = []
    for r, msg, epoch, seq in nst:
        name = r["name"]
        # Sent right after the server verified the client's Finished: its first record under
        # s_ap_0, before any other application content of the server.
        first_s2c = next(x for x in S["records"] if x["section"] == "application" and x["dir"] == "s2c")
        g.eq("%s is the server's first application record" % name, name, first_s2c["name"])
        g.eq("%s protected under s_ap_0 seq 0" % name, (epoch, seq), (0, 0))
        body = parse_hs_message(msg, name, HS_NEW_SESSION_TICKET)
        lifetime, ticket = parse_new_session_ticket(body, name + " NewSessionTicket")
        g.eq("%s lifetime_s = server.ticket_lifetime_s" % name, lifetime,
             int(S["inputs"]["server.ticket_lifetime_s"]))
        g.eq("%s ticket length (4.7.4, raw-key client identity)" % name, len(ticket),
             S["ticket_lens"][1])
        tc = open_ticket(ticket, ticket_keys(), name + " ticket")
        g.eq("%s key_id = server.ticket_key_id" % name, tc["key_id"],
             bytes.fromhex(S["inputs"]["server.ticket_key_id"]))
        g.eq("%s format" % name, tc["format"], TICKET_FORMAT)
        g.eq("%s issued_ms = the server's wall clock" % name, tc["issued_ms"], S["wall_clock_ms"])
        g.eq("%s contents lifetime_s = NewSessionTicket lifetime_s" % name, tc["lifetime_s"], lifetime)
        g.eq("%s psk = res of this connection (4.7.1)" % name, tc["psk"], S["res"])
        # The identities are those of the full handshake that began the stream (4.7).
        full = S["prev"] if S["resumed"] else S
        server_spki = parse_identity(parse_hs_message(full["server_flight"][0][1], "server Identity",
                                                      HS_IDENTITY), True, "server Identity")["spki"]
        g.eq("%s server_fingerprint = SHA-256(server SPKI of the full handshake)" % name,
             tc["server_fingerprint"], sha256(server_spki))
        g.eq("%s server_fingerprint = SHA-256(prefix || server.identity_public)" % name,
             tc["server_fingerprint"],
             sha256(S["spki_prefix"] + bytes.fromhex(S["inputs"]["server.identity_public"])))
        client_ident = parse_identity(parse_hs_message(full["client_flight"][0][1], "client Identity",
                                                       HS_IDENTITY), False, "client Identity")
        g.eq("%s client_identity_type = the client Identity's (raw key)" % name,
             tc["client_identity_type"], client_ident["identity_type"])
        g.eq("%s client_identity_type" % name, tc["client_identity_type"], 1)
        g.eq("%s client_spki = the client Identity's SPKI" % name, tc.get("client_spki"),
             client_ident["spki"])
        g.eq("%s client_spki = prefix || client.identity_public" % name, tc.get("client_spki"),
             S["spki_prefix"] + bytes.fromhex(S["inputs"]["client.identity_public"]))
        spki_key(g, tc.get("client_spki", b""), name + " client_spki")
        g.eq("%s TicketContents length" % name, len(tc["raw"]),
             S["ticket_lens"][1] - S["ticket_kid_len"] - S["ticket_nonce_len"] - TAG_LEN)
        if S["resumed"]:
            # 4.7.5: generation = ticket generation + 1; same stream; a new ticket.
            g.eq("%s stream_id = the stream's" % name, tc["stream_id"], S["prev"]["stream_id"])
            g.eq("%s generation = offered ticket's + 1" % name, tc["generation"],
                 S["prev"]["stream_generation"] + 1)
            g.ok(ticket != S["offered"][0], "%s: the new ticket equals the spent one" % name)
            random_uses(g, "server", [("ticket nonce", tc["nonce"])])
        else:
            g.eq("%s generation (1 at the full handshake)" % name, tc["generation"], 1)
            # stream_id random, chosen at the full handshake; the nonce random (4.7.4).
            random_uses(g, "server", [("stream_id", tc["stream_id"]), ("ticket nonce", tc["nonce"])])
            S["stream_id"] = tc["stream_id"]
        S["stream_generation"] = tc["generation"]
        tickets.append({"record": name, "ticket": ticket, "lifetime_s": lifetime, "contents": tc})
    if S["resumed"]:
        S["stream_id"] = S["prev"]["stream_id"]
    S["tickets"] = tickets


@group("messages (6.1, 4.7): ids continue per direction per stream, fragments reassembled, "
       "expected texts and epochs")
def g_messages(g):
    peers = S["peers"]
    for d in ("c2s", "s2c"):
        got = [(mid, data, epoch) for mid, data, epoch, _ in peers[d].delivered]
        g.eq("%s delivered messages (id, text, epoch)" % d, got, S["expect"]["messages"][d])
        g.ok(peers[d].in_progress is None, "%s: message left incomplete" % d)
        if S["resumed"] and peers[d].delivered:
            # 4.7.5 / 4.7.6: the first message of the resumed session is the peer's recv_id + 1.
            recv = S["accept_recv_id"] if d == "c2s" else S["offered"][1]
            g.eq("%s first message id = peer's recv_id + 1" % d, peers[d].delivered[0][0], recv + 1)


@group("ACKs (6.2): each direction acknowledges the peer's messages")
def g_acks(g):
    peers = S["peers"]
    for d, other in (("s2c", "c2s"), ("c2s", "s2c")):
        vals = [v for v, _ in peers[d].acks]
        g.eq("%s ACK values" % d, vals, S["expect"]["acks"][d])
        if peers[other].delivered:
            g.eq("%s final ACK = highest id %s delivered" % (d, other), peers[d].last_ack,
                 peers[other].last_completed)


@group("key update (7.1): KEY_UPDATE(1) answered by KEY_UPDATE(0); ratcheted secrets vs logs")
def g_key_update(g):
    peers = S["peers"]
    c_ku, s_ku = peers["c2s"].key_updates, peers["s2c"].key_updates
    want = S["expect"]["key_updates"]
    g.eq("client KEY_UPDATEs (update_requested, new epoch)", [(v, e) for _, v, e in c_ku], want["c2s"])
    g.eq("server KEY_UPDATEs (update_requested, new epoch)", [(v, e) for _, v, e in s_ku], want["s2c"])
    g.ok(not peers["c2s"].must_answer_ku and not peers["s2c"].must_answer_ku,
         "a KEY_UPDATE(1) was never answered")
    ratcheted = S.get("ratcheted", {})
    want_names = {"%s_ap_traffic_%d" % (p, e) for p, d in (("c", "c2s"), ("s", "s2c"))
                  for _, e in want[d]}
    g.eq("ratcheted secrets", sorted(ratcheted), sorted(want_names))
    for name in sorted(ratcheted):
        log_compare(g, name, ratcheted[name])


@group("CLOSE (6.5): client's CLOSE(normal) is the last record, nothing incomplete")
def g_close(g):
    want = S["expect"]["close"]
    S["peers"]  # the application walk must have run (Prereq otherwise)
    if want is None:
        # The connection breaks without a CLOSE; the stream goes on in the resumed connection.
        g.ok(S.get("close") is None, "unexpected CLOSE in %s" % (S.get("close") or ("",))[0])
        return
    name, d, reason, in_progress = S["close"]
    recs = S["records"]
    g.eq("CLOSE record", name, recs[-1]["name"])
    g.eq("CLOSE sender", d, want[0])
    g.eq("CLOSE reason (normal)", reason, want[1])
    g.ok(in_progress is None, "message in progress at CLOSE")


@group("key logs: both sides agree, derivation order (11), every logged secret was recomputed")
def g_logs(g):
    logs, computed = S["logs"], S.get("computed", {})
    for side, prefix in (("client", "c"), ("server", "s")):
        for k in logs[side]:
            if k == prefix + "_ephemeral_private":
                continue  # an input (the only secret taken from the file)
            g.ok(k in computed, "[secrets.%s] %s was not recomputed" % (side, k))
        # 11: derivation order: the ephemeral scalar, ecdh_shared, [resumption_psk], hs, c_hs,
        # s_hs, master, exporter, then the application secrets in installation order (s_ap_0
        # before c_ap_0 on both sides, 5.5) with resumption_secret where it is derived (before
        # any key update).
        order = logs[side + "_order"]
        head = [prefix + "_ephemeral_private", "ecdh_shared"] + ([LOG_PSK] if S["resumed"] else []) \
            + ["handshake_secret", "c_hs_traffic", "s_hs_traffic", "master_secret", "exporter_secret"]
        g.eq("[secrets.%s] order of the handshake secrets" % side, order[:len(head)], head)
        tail = order[len(head):]
        g.eq("[secrets.%s] application secrets at the handshake" % side,
             sorted(tail[:3]), sorted(["s_ap_traffic_0", "c_ap_traffic_0", LOG_RES]))
        g.ok(tail.index("s_ap_traffic_0") < tail.index("c_ap_traffic_0") if
             "s_ap_traffic_0" in tail and "c_ap_traffic_0" in tail else False,
             "[secrets.%s]: c_ap_traffic_0 before s_ap_traffic_0" % side)
        # Epochs >= 1 in the order of the KEY_UPDATE records in the trace (each side installs
        # when it sends or processes one).
        g.eq("[secrets.%s] key-update secrets in trace order" % side, tail[3:], S.get("ku_order", []))
    common = set(logs["client"]) & set(logs["server"])
    for k in sorted(common):
        g.eq("%s: client log = server log" % k, logs["client"][k], logs["server"][k])
    g.eq("same names in both logs (ephemeral scalars aside)",
         sorted(k for k in logs["client"] if not k.endswith("_ephemeral_private")),
         sorted(k for k in logs["server"] if not k.endswith("_ephemeral_private")))


@group("stream (4.7, 4.7.7): tickets chain, ids continue, the resumed session is a new one")
def g_stream(g):
    prev = S["prev"]
    t1, t2 = prev["tickets"][-1], S["tickets"][-1]
    g.ok(t1["ticket"] != t2["ticket"], "the second ticket repeats the first")
    g.eq("stream_id unchanged across the resumption", t2["contents"]["stream_id"],
         t1["contents"]["stream_id"])
    g.eq("generation chain", (t1["contents"]["generation"], t2["contents"]["generation"]), (1, 2))
    g.eq("issued_ms difference = resumed clock - first clock",
         t2["contents"]["issued_ms"] - t1["contents"]["issued_ms"], S["resume_delay_ms"])
    g.eq("psk chain: second ticket's psk = resumed res, not the first res",
         (t2["contents"]["psk"] != t1["contents"]["psk"], t2["contents"]["psk"]), (True, S["res"]))
    # Fresh ECDH (4.7): the resumed session's secrets share nothing with the first's.
    for k in ("ecdh_shared", "handshake_secret", "master_secret", "c_ap_traffic_0", "s_ap_traffic_0",
              "exporter_secret", LOG_RES):
        g.ok(S["computed"][k] != prev["computed"][k], "%s repeats across connections" % k)
    # Message ids per direction per stream: 1 in the first connection, 2 in the resumed one.
    for d in ("c2s", "s2c"):
        ids = [m[0] for m in prev["peers"][d].delivered] + [m[0] for m in S["peers"][d].delivered]
        g.eq("%s stream message ids" % d, ids, list(range(1, len(ids) + 1)))
    # 4.7.7: nothing was lost at the break: every message of the first connection was
    # acknowledged there, so nothing is resent.
    for d, other in (("c2s", "s2c"), ("s2c", "c2s")):
        g.eq("%s: recv_id covers all %s sent in the first connection" % (d, d),
             S["accept_recv_id"] if d == "c2s" else S["offered"][1], prev["peers"][d].sent_ids)


# ---------------------------------------------------------------------------------------------

DOC_PLAN = [g_doc_basics, g_doc_hkdflabel, g_doc_expand, g_doc_constants, g_doc_nonce,
            g_doc_context, g_doc_resumption]

# One full handshake (handshake-v1.txt; the first connection of resumption-v1.txt).
FULL_PLAN = [g_vec_format, g_inputs, g_records, g_client_hello, g_server_hello, g_key_shares,
             g_ecdh, g_ks_hs, g_server_flight, g_server_identity, g_server_verify,
             g_server_finished, g_ks_ap, g_client_flight, g_client_identity, g_client_verify,
             g_client_finished, g_res, g_app_records, g_tickets, g_messages, g_acks, g_key_update,
             g_close, g_logs]

# The resumed connection of resumption-v1.txt: no Identity, no Verify (4.7).
RESUMED_PLAN = [g_resumed_inputs, g_records, g_client_hello, g_server_hello, g_server_resumption,
                g_key_shares, g_ecdh, g_ks_hs, g_server_flight,
                (g_server_finished, "server Finished (4.5.3, 4.7): HMAC(finished_key(s_hs), "
                                    "TH(CH..SH)), right after the ServerHello"),
                g_ks_ap, g_client_flight,
                (g_client_finished, "client Finished (4.5.3, 4.7): HMAC(finished_key(c_hs), "
                                    "TH(CH..server Finished))"),
                g_res, g_app_records, g_tickets, g_messages, g_acks, g_key_update, g_close, g_logs,
                g_stream]


def trace_kind(path):
    """A trace with a [resumed-handshake] group is a resumption stream (PROTOCOL.md 11)."""
    try:
        with open(path, encoding="utf-8") as f:
            if any(line.strip() == "[resumed-handshake]" for line in f):
                return "resumption"
    except (OSError, UnicodeDecodeError):
        pass
    return "resumption" if os.path.basename(path).startswith("resumption") else "full"


def new_ctx(F, resumed, expect):
    ctx = State(DOC)
    ctx["file"], ctx["resumed"], ctx["expect"] = F, resumed, expect
    F["ctxs"].append(ctx)
    return ctx


def build_plan(vec_paths):
    plan = [(fn, fn.desc, DOC, None) for fn in DOC_PLAN]
    for path in vec_paths:
        kind = trace_kind(path)
        F = {"path": path, "name": os.path.basename(path), "kind": kind, "ctxs": []}
        if kind == "full":
            c1 = new_ctx(F, False, EXPECT_FULL)
            plan += [(fn, fn.desc, c1, F["name"]) for fn in FULL_PLAN]
        else:
            c1 = new_ctx(F, False, EXPECT_RES_1)
            c2 = new_ctx(F, True, EXPECT_RES_2)
            c2["prev"] = c1
            plan += [(fn, fn.desc, c1, F["name"] + " #1") for fn in FULL_PLAN]
            for entry in RESUMED_PLAN:
                fn, desc = entry if isinstance(entry, tuple) else (entry, entry.desc)
                plan.append((fn, desc, c2, F["name"] + " #2 resumed"))
    return plan


def main(argv):
    global S
    if len(argv) < 3 or not argv[-1].endswith(".md"):
        sys.stderr.write("usage: %s VECTOR_FILE... PROTOCOL_MD\n" % argv[0])
        return 2
    vec_paths, doc_path = argv[1:-1], argv[-1]
    plan = build_plan(vec_paths)
    print("1..%d" % len(plan))
    failed = 0
    setup_error = None
    try:
        with open(doc_path, encoding="utf-8") as f:
            DOC["doc_sections"] = doc_sections(f.read())
    except (OSError, ValueError) as e:
        setup_error = str(e)
    for num, (fn, desc, ctx, label) in enumerate(plan, 1):
        if label is not None:
            desc = "[%s] %s" % (label, desc)
        g = Group(desc)
        S = ctx
        if setup_error is not None and num == 1:
            g.errors.append(setup_error)
        else:
            try:
                fn(g)
            except Prereq as e:
                g.errors.append("not reached: prerequisite %s missing (an earlier check failed)"
                                % e.args[0])
            except DecodeError as e:
                g.errors.append(str(e))
            except Exception as e:  # a crash is a failure of this group, not of the run
                g.errors.append("%s: %s" % (type(e).__name__, e))
            if g.checks == 0 and not g.errors:
                g.errors.append("no checks ran")
        if g.errors:
            failed += 1
            print("not ok %d - %s: %s" % (num, desc, g.errors[0].replace("#", "No.")))
            for e in g.errors:
                print("# %s" % e)
        else:
            print("ok %d - %s (%d checks)" % (num, desc, g.checks))
        for note in g.notes:
            print("# note: %s" % note)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
