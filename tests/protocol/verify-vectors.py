#!/usr/bin/python3
# verify-vectors.py: an independent implementation of docs/PROTOCOL.md (SecureComm v1)
# that checks the known-answer trace docs/vectors/handshake-v1.txt (PROTOCOL.md 11).
#
# Usage: verify-vectors.py VECTOR_FILE PROTOCOL_MD
#
# Written from the document only (not from src/protocol/). From the [inputs] group and the wire
# records alone -- plus the ephemeral private scalars c_ephemeral_private / s_ephemeral_private
# from the key logs, the only secrets taken from the file -- it recomputes the ECDH, the key
# schedule, every traffic key, opens every protected record, checks both Identity messages,
# both Verify signatures and both Finished values, follows the application content (messages,
# ACKs, key updates, CLOSE), and compares every logged secret and every `.inner` line with its
# own values. It also recomputes the worked examples and constants printed in PROTOCOL.md
# (parsed out of the document, so a divergence between document and code fails).
#
# Output: TAP, one line per check group; exit status 1 if any check fails.
# Dependencies: the Python standard library and the `cryptography` package (Debian's
# python3-cryptography); run it with /usr/bin/python3.

import hashlib
import hmac
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
HS_NAMES = {1: "ClientHello", 2: "ServerHello", 3: "Identity", 4: "Verify", 5: "Finished"}
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

# What the trace is documented to contain (PROTOCOL.md 11 and the brief of this test).
EXPECTED_MESSAGES = {
    "c2s": [(1, b"Hello, secure world!"), (2, b"after the key update")],
    "s2c": [(1, b"Hello, client!"), (2, b"after the key update, too")],
}

LOG_FIXED_NAMES = ["ecdh_shared", "handshake_secret", "c_hs_traffic", "s_hs_traffic",
                   "master_secret", "exporter_secret"]
LOG_EPOCH_RE = re.compile(r"^([cs])_ap_traffic_(\d+)$")


class DecodeError(Exception):
    pass


class Prereq(Exception):
    """A value an earlier check group should have produced is missing."""


class State(dict):
    def __getitem__(self, k):
        if k not in self:
            raise Prereq(k)
        return dict.__getitem__(self, k)


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


GROUPS = []


def group(desc):
    def deco(fn):
        GROUPS.append((desc, fn))
        return fn
    return deco


S = State()


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


# ---------------------------------------------------------------------------------------------
# Vector file

def parse_vector_file(path):
    sections = {}
    order = []
    cur = None
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            m = re.fullmatch(r"\[([a-z.]+)\]", line)
            if m:
                cur = m.group(1)
                if cur in sections:
                    raise DecodeError("line %d: duplicate section [%s]" % (lineno, cur))
                sections[cur] = {}
                continue
            m = re.fullmatch(r"([A-Za-z0-9_.]+) = (\S.*)", line)
            if not m or cur is None:
                raise DecodeError("line %d: not 'name = value' inside a section: %r"
                                  % (lineno, line))
            name, val = m.groups()
            if name in sections[cur]:
                raise DecodeError("line %d: duplicate name %s in [%s]" % (lineno, name, cur))
            sections[cur][name] = val
            order.append((cur, name, val, lineno))
    return sections, order


HEX_RE = re.compile(r"^(?:[0-9a-f]{2})+$")


@group("vector file: format, groups and names (PROTOCOL.md 11)")
def g_vec_format(g):
    sections, order = S["vec_sections"], S["vec_order"]
    g.eq("groups", list(sections), ["inputs", "handshake", "application", "secrets.client",
                                    "secrets.server"])
    inputs = sections.get("inputs", {})
    want_inputs = {"client.seed", "server.seed", "wall_clock_ms", "client.identity_private",
                   "client.identity_public", "server.identity_private", "server.identity_public",
                   "server.client_auth", "binding_type"}
    g.eq("[inputs] names", sorted(inputs), sorted(want_inputs))
    for k in ("client.identity_public", "server.identity_public", "client.identity_private",
              "server.identity_private"):
        g.ok(HEX_RE.match(inputs.get(k, "")) is not None, "[inputs] %s is not lowercase hex" % k)
    for k in ("wall_clock_ms", "server.client_auth", "binding_type"):
        g.ok(re.fullmatch(r"\d+", inputs.get(k, "")) is not None, "[inputs] %s is not decimal" % k)

    # Records: NAME = c2s.NN / s2c.NN, NAME.inner for protected ones; numbered from 00 per direction.
    records = []
    counters = {"c2s": 0, "s2c": 0}
    inners = {}
    for sec, name, val, lineno in order:
        if sec not in ("handshake", "application"):
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
        g.eq("line %d: number of %s" % (lineno, name), num, counters[d])
        counters[d] = num + 1
        records.append({"name": name, "dir": d, "section": sec, "raw": bytes.fromhex(val),
                        "line": lineno})
    for r in records:
        r["inner"] = inners.get(r["name"])
    S["records"] = records

    for side, prefix in (("client", "c"), ("server", "s")):
        log = sections.get("secrets." + side, {})
        for k, v in log.items():
            g.ok(HEX_RE.match(v) is not None, "[secrets.%s] %s is not lowercase hex" % (side, k))
            ok = (k in LOG_FIXED_NAMES or LOG_EPOCH_RE.match(k)
                  or k == prefix + "_ephemeral_private")
            g.ok(bool(ok), "[secrets.%s]: unknown name %s" % (side, k))
        g.ok(prefix + "_ephemeral_private" in log,
             "[secrets.%s] lacks %s_ephemeral_private" % (side, prefix))
        for k in LOG_FIXED_NAMES + ["c_ap_traffic_0", "s_ap_traffic_0"]:
            g.ok(k in log, "[secrets.%s] lacks %s" % (side, k))
    S["logs"] = {"client": dict(sections.get("secrets.client", {})),
                 "server": dict(sections.get("secrets.server", {}))}
    S["inputs"] = inputs


@group("[inputs]: identity keys from the seeds, valid points, client_auth, binding_type")
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
    S["binding_block"] = b"\x00\x00"  # 5.4: binding_type 0, empty binding_data
    S["wall_clock_ms"] = int(inputs["wall_clock_ms"])


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
    """PROTOCOL.md 4.2.3."""
    r = Reader(data, what + " extensions")
    seen = []
    while r.i < len(data):
        etype = r.uint(2)
        elen = r.uint(2)
        r.take(elen)
        if etype in seen:
            raise DecodeError("%s: duplicate extension 0x%04x" % (what, etype))
        seen.append(etype)
        if len(seen) > MAX_EXTENSIONS:
            raise DecodeError("%s: more than 16 extensions" % what)
    return seen


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
    ch["extensions"] = parse_extensions(r.take(ext_len), "ClientHello")
    r.end()
    return ch


def parse_server_hello(body):
    r = Reader(body, "ServerHello")
    sh = {"version": r.uint(1), "random": r.take(32), "timestamp_ms": r.uint(8),
          "key_share": r.take(65), "max_message_size": r.uint(4)}
    if not 1 <= sh["max_message_size"] <= MAX_MESSAGE_SIZE_LIMIT:
        raise DecodeError("ServerHello: max_message_size %d" % sh["max_message_size"])
    ext_len = r.uint(2)
    sh["extensions"] = parse_extensions(r.take(ext_len), "ServerHello")
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


@group("ClientHello (4.2.1): strict parse, version, timestamp, max_message_size")
def g_client_hello(g):
    r = S["records"][0]
    body = parse_hs_message(r["body"], "c2s.00", HS_CLIENT_HELLO)
    ch = parse_client_hello(body)
    g.ok(VERSION_1 in ch["versions"], "ClientHello does not offer version 1")
    g.eq("ClientHello versions (version-1 client)", ch["versions"], [VERSION_1])
    g.eq("ClientHello extensions (version-1 client)", ch["extensions"], [])
    g.eq("ClientHello body length", len(body), 113)
    skew = abs(S["wall_clock_ms"] - ch["timestamp_ms"])
    g.ok(skew <= DEFAULT_MAX_SKEW_MS, "ClientHello timestamp %d off wall clock by %d ms"
         % (ch["timestamp_ms"], skew))
    g.eq("ClientHello record size (2.2)", len(r["raw"]), S["doc_sizes"]["ClientHello"])
    S["ch"], S["ch_msg"] = ch, r["body"]


@group("ServerHello (4.2.2, 4.2.4): strict parse, selected version, no extensions, timestamp")
def g_server_hello(g):
    r = S["records"][1]
    body = parse_hs_message(r["body"], "s2c.00", HS_SERVER_HELLO)
    sh = parse_server_hello(body)
    ch = S["ch"]
    g.ok(sh["version"] in ch["versions"], "selected version %d not offered" % sh["version"])
    first_supported = next((v for v in ch["versions"] if v in SUPPORTED_VERSIONS), None)
    g.eq("selected version = first offered supported (4.2.4)", sh["version"], first_supported)
    g.eq("ServerHello extensions", sh["extensions"], [])
    g.eq("ServerHello body length", len(body), 112)
    skew = abs(S["wall_clock_ms"] - sh["timestamp_ms"])
    g.ok(skew <= DEFAULT_MAX_SKEW_MS, "ServerHello timestamp %d off wall clock by %d ms"
         % (sh["timestamp_ms"], skew))
    g.ok(sh["random"] != ch["random"], "server random equals client random")
    g.eq("ServerHello record size (2.2)", len(r["raw"]), S["doc_sizes"]["ServerHello"])
    S["sh"], S["sh_msg"] = sh, r["body"]


@group("key shares (4.2.5): valid points = ephemeral scalars * G; scalars and randoms from seeds")
def g_key_shares(g):
    ch, sh, logs, n, p = S["ch"], S["sh"], S["logs"], S["n"], S["p"]
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
        # PROTOCOL.md 11: each side's random bytes are SHA-256(seed || u64 counter) blocks.
        seed = S["inputs"][side + ".seed"].encode()
        stream = b"".join(sha256(seed + struct.pack(">Q", i)) for i in range(2))
        g.ok({stream[:32], stream[32:]} == {d_bytes, hello["random"]},
             "%s: ephemeral scalar and hello random are not the first two blocks of the "
             "seeded random stream" % side)
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


@group("key schedule to handshake secrets (5.2): hs, c_hs, s_hs")
def g_ks_hs(g):
    early = hkdf_extract(b"\x00" * 32, b"\x00" * 32)
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
    g.eq("server protected handshake messages", [m[1][0] for m in msgs],
         [HS_IDENTITY, HS_VERIFY, HS_FINISHED])
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
    r, msg = S["server_flight"][2]
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
    S["c_ap_0"], S["s_ap_0"] = c_ap, s_ap


@group("client flight: open c2s handshake records under c_hs, compare .inner, record order")
def g_client_flight(g):
    msgs = open_flight(g, "c2s", S["c_hs"])
    # 4.4: auth_request 2 and a client identity -> Identity, Verify, Finished.
    want = {0: [HS_FINISHED], 1: None, 2: [HS_IDENTITY, HS_VERIFY, HS_FINISHED]}[S["auth_request"]]
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
    r, msg = S["client_flight"][2]
    check_finished(g, "client", r, msg, S["c_hs"])
    S["transcript"].append(msg)
    g.eq("client flight length", len(S["client_flight"]), 3)


# ---------------------------------------------------------------------------------------------
# Application content (sections 6 and 7): one pass over the [application] records in order.

class Peer:
    """Receiving state of one direction plus the bookkeeping of its sender."""

    def __init__(self, d, secret, own_max):
        self.d = d
        self.key = TrafficKey(secret, "ap", 0)
        self.receiver_max = own_max       # the receiving side's announced max_message_size
        self.in_progress = None           # (id, total, bytearray)
        self.last_completed = 0
        self.delivered = []               # (id, bytes, epoch, record names)
        self.sent_ids = 0                 # highest message id its sender has sent
        self.last_ack = 0                 # last ACK value received in this direction
        self.acks = []                    # (value, record name)
        self.must_answer_ku = False       # this direction owes a KEY_UPDATE(0)
        self.ping_sent = 0                # for PONG validation of the opposite direction
        self.pong_answered = 0
        self.key_updates = []             # (record name, update_requested, new epoch)


def app_walk(g_records, events):
    ch, sh = S["ch"], S["sh"]
    peers = {"c2s": Peer("c2s", S["c_ap_0"], sh["max_message_size"]),
             "s2c": Peer("s2c", S["s_ap_0"], ch["max_message_size"])}
    opp = {"c2s": "s2c", "s2c": "c2s"}
    closed = None
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
        g_records.ok(itype != IN_HANDSHAKE,
                     "%s: HANDSHAKE under application keys (unexpected_message)" % name)
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


@group("messages (6.1): ids 1, 2 each way, fragments reassembled, expected texts and epochs")
def g_messages(g):
    peers = S["peers"]
    for d in ("c2s", "s2c"):
        got = [(mid, data) for mid, data, _, _ in peers[d].delivered]
        g.eq("%s delivered messages" % d, got, EXPECTED_MESSAGES[d])
        g.ok(peers[d].in_progress is None, "%s: message left incomplete" % d)
        for mid, data, epoch, names in peers[d].delivered:
            want_epoch = 0 if mid == 1 else 1
            g.eq("%s message %d protected under epoch" % (d, mid), epoch, want_epoch)


@group("ACKs (6.2): each direction acknowledges the peer's messages 1 and 2")
def g_acks(g):
    peers = S["peers"]
    for d, other in (("s2c", "c2s"), ("c2s", "s2c")):
        vals = [v for v, _ in peers[d].acks]
        g.eq("%s ACK values" % d, vals, [1, 2])
        g.eq("%s final ACK = highest id %s delivered" % (d, other), peers[d].last_ack,
             peers[other].last_completed)


@group("key update (7.1): KEY_UPDATE(1) answered by KEY_UPDATE(0); c_ap_1, s_ap_1 vs logs")
def g_key_update(g):
    peers = S["peers"]
    c_ku, s_ku = peers["c2s"].key_updates, peers["s2c"].key_updates
    g.eq("client KEY_UPDATEs (update_requested, new epoch)", [(v, e) for _, v, e in c_ku], [(1, 1)])
    g.eq("server KEY_UPDATEs (update_requested, new epoch)", [(v, e) for _, v, e in s_ku], [(0, 1)])
    g.ok(not peers["c2s"].must_answer_ku and not peers["s2c"].must_answer_ku,
         "a KEY_UPDATE(1) was never answered")
    ratcheted = S.get("ratcheted", {})
    g.ok(set(ratcheted) == {"c_ap_traffic_1", "s_ap_traffic_1"},
         "ratcheted secrets: %s" % sorted(ratcheted))
    for name in sorted(ratcheted):
        log_compare(g, name, ratcheted[name])


@group("CLOSE (6.5): client's CLOSE(normal) is the last record, nothing incomplete")
def g_close(g):
    name, d, reason, in_progress = S["close"]
    recs = S["records"]
    g.eq("CLOSE record", name, recs[-1]["name"])
    g.eq("CLOSE sender", d, "c2s")
    g.eq("CLOSE reason (normal)", reason, 0)
    g.ok(in_progress is None, "message in progress at CLOSE")


@group("key logs: both sides agree and every logged secret was recomputed")
def g_logs(g):
    logs, computed = S["logs"], S.get("computed", {})
    for side, prefix in (("client", "c"), ("server", "s")):
        for k in logs[side]:
            if k == prefix + "_ephemeral_private":
                continue  # an input (the only secret taken from the file)
            g.ok(k in computed, "[secrets.%s] %s was not recomputed" % (side, k))
    common = set(logs["client"]) & set(logs["server"])
    for k in sorted(common):
        g.eq("%s: client log = server log" % k, logs["client"][k], logs["server"][k])
    g.eq("same names in both logs (ephemeral scalars aside)",
         sorted(k for k in logs["client"] if not k.endswith("_ephemeral_private")),
         sorted(k for k in logs["server"] if not k.endswith("_ephemeral_private")))


# ---------------------------------------------------------------------------------------------

def main(argv):
    if len(argv) != 3:
        sys.stderr.write("usage: %s VECTOR_FILE PROTOCOL_MD\n" % argv[0])
        return 2
    vec_path, doc_path = argv[1], argv[2]
    print("1..%d" % len(GROUPS))
    failed = 0
    setup_error = None
    try:
        with open(doc_path, encoding="utf-8") as f:
            S["doc_sections"] = doc_sections(f.read())
        S["vec_sections"], S["vec_order"] = parse_vector_file(vec_path)
    except (OSError, DecodeError, ValueError) as e:
        setup_error = str(e)
    for num, (desc, fn) in enumerate(GROUPS, 1):
        g = Group(desc)
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
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
