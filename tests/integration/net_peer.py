#!/usr/bin/python3
"""A scripted (and hostile) DICOM peer for tests/integration/test_net.sh: raw sockets, no DICOM library.

    net_peer.py HOST PORT CASE [CALLED_AE [CALLING_AE]]

Each CASE sends something to a DICOM SCP and prints what came back: "abort" (an A-ABORT PDU), "reject R S N"
(an A-ASSOCIATE-RJ with result, source, reason), "accept", "close" (the connection closed without a PDU),
"status XXXX" (a C-STORE-RSP), or "hang" when nothing came within the wait (the test fails on that). Exit
status 0 when the outcome is the one the case expects (printed as "expected ..." otherwise, exit 1).
"""
import socket
import struct
import sys
import time

IMPLICIT = b"1.2.840.10008.1.2"
CT = b"1.2.840.10008.5.1.4.1.1.2"
WAIT = 15.0  # longer than the SCP's --timeout in the test


def item(t, payload):
    return struct.pack(">BBH", t, 0, len(payload)) + payload


def pdu(t, payload):
    return struct.pack(">BBI", t, 0, len(payload)) + payload


def assoc_rq(called=b"SENDIT", calling=b"HOSTILE", contexts=None, version=1, max_pdu=16384):
    if contexts is None:
        contexts = [(1, CT, [IMPLICIT])]
    body = struct.pack(">HH", version, 0) + called.ljust(16) + calling.ljust(16) + b"\0" * 32
    body += item(0x10, b"1.2.840.10008.3.1.1.1")
    for pid, abstract, tss in contexts:
        sub = item(0x30, abstract) + b"".join(item(0x40, ts) for ts in tss)
        body += item(0x20, bytes([pid, 0, 0, 0]) + sub)
    user = item(0x51, struct.pack(">I", max_pdu)) + item(0x52, b"1.2.3.4")
    body += item(0x50, user)
    return pdu(1, body)


def element(tag, value):
    if len(value) % 2:
        value += b"\0"
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def command_store(msg_id=1, instance=b"1.2.3.4.5.6"):
    els = element(0x00000002, CT) + element(0x00000100, struct.pack("<H", 1))
    els += element(0x00000110, struct.pack("<H", msg_id)) + element(0x00000700, struct.pack("<H", 0))
    els += element(0x00000800, struct.pack("<H", 0)) + element(0x00001000, instance)
    return element(0x00000000, struct.pack("<I", len(els))) + els


def dataset(instance=b"1.2.3.4.5.6"):
    return (element(0x00080016, CT) + element(0x00080018, instance) + element(0x00080050, b"HOSTILE1")
            + element(0x0020000D, b"1.2.3.4") + element(0x7FE00010, b"\1\2" * 5000))


def pdv(pid, mch, data):
    return pdu(4, struct.pack(">IBB", len(data) + 2, pid, mch) + data)


def read_pdu(s, wait=WAIT):
    s.settimeout(wait)
    try:
        hdr = b""
        while len(hdr) < 6:
            got = s.recv(6 - len(hdr))
            if not got:
                return ("close", None)
            hdr += got
        t, _, n = struct.unpack(">BBI", hdr)
        body = b""
        while len(body) < n:
            got = s.recv(min(65536, n - len(body)))
            if not got:
                return ("close", None)
            body += got
        return (t, body)
    except socket.timeout:
        return ("hang", None)
    except ConnectionResetError:
        return ("close", None)


def outcome(s, wait=WAIT):
    """What the SCP does next, skipping nothing."""
    t, body = read_pdu(s, wait)
    if t == 7:
        return "abort"
    if t == 3:
        return "reject %d %d %d" % (body[1], body[2], body[3])
    if t == 2:
        return "accept"
    if t == 4:
        # a C-STORE-RSP: find (0000,0900)
        data = body[6:]
        i = 0
        while i + 8 <= len(data):
            g, e, n = struct.unpack("<HHI", data[i:i + 8])
            if (g, e) == (0, 0x0900):
                return "status %04x" % struct.unpack("<H", data[i + 8:i + 10])[0]
            i += 8 + n
        return "pdata"
    return t if isinstance(t, str) else "pdu %d" % t


def context_results(body):
    """The A-ASSOCIATE-AC's presentation context results as "id:result" words."""
    out, i = [], 68
    while i + 4 <= len(body):
        t, n = body[i], struct.unpack(">H", body[i + 2:i + 4])[0]
        if t == 0x21:
            out.append("%d:%d" % (body[i + 4], body[i + 6]))
        i += 4 + n
    return " ".join(out)


def associate(s, **kw):
    s.sendall(assoc_rq(**kw))
    got = outcome(s)
    if got != "accept":
        raise SystemExit("association not accepted: " + got)


def run(case, s, called, calling=b"HOSTILE"):
    """Returns (outcome, the outcomes that pass)."""
    if case == "outcome":  # an A-ASSOCIATE-RQ as CALLING_AE: whatever comes back passes
        s.sendall(assoc_rq(called=called, calling=calling))
        got = outcome(s)
        return got, (got,)
    if case == "contexts":  # one context of each kind: the AC's result for each (PS3.8 9.3.3.2)
        ctx = [(1, CT, [IMPLICIT]), (3, CT, [b"1.2.3.4.5.6.7"]),
               (5, b"1.2.840.10008.5.1.4.1.1.9.9.9", [IMPLICIT])]
        s.sendall(assoc_rq(called=called, calling=calling, contexts=ctx))
        t, body = read_pdu(s)
        got = "accept " + context_results(body) if t == 2 else "pdu %s" % t
        return got, ("accept 1:0 3:4 5:3",)
    if case == "slow-pdu":  # a C-ECHO-RQ's PDU dribbled a byte every 0.7 s: ARTIM ends it
        associate(s, called=called, calling=calling)
        els = element(0x00000002, b"1.2.840.10008.1.1") + element(0x00000100, struct.pack("<H", 0x30))
        els += element(0x00000110, struct.pack("<H", 1)) + element(0x00000800, struct.pack("<H", 0x101))
        data = pdv(1, 3, element(0x00000000, struct.pack("<I", len(els))) + els)
        s.settimeout(0.7)
        for b in data:
            try:
                s.sendall(bytes([b]))
                got = s.recv(65536)  # anything back (the A-ABORT) or the close ends it
                if not got:
                    return "close", ("abort", "close")
                return ("abort" if got[0] == 7 else "pdu %d" % got[0]), ("abort", "close")
            except socket.timeout:
                continue
            except (BrokenPipeError, ConnectionResetError):
                return "close", ("abort", "close")
        return "sent whole", ("abort", "close")
    if case == "truncated-rq":  # a header promising more than comes, then the end
        rq = assoc_rq(called=called)
        s.sendall(rq[:40])
        s.shutdown(socket.SHUT_WR)
        return outcome(s), ("close", "abort")
    if case == "stall-mid-pdu":  # half a PDU, then silence: ARTIM ends it
        rq = assoc_rq(called=called)
        s.sendall(rq[:40])
        return outcome(s), ("close", "abort")
    if case == "stall-mid-header":
        s.sendall(b"\x01\x00\x00")
        return outcome(s), ("close", "abort")
    if case == "silent":  # connects and says nothing
        return outcome(s), ("close", "abort")
    if case == "pdata-before-rq":
        s.sendall(pdv(1, 3, b"\0" * 10))
        return outcome(s), ("abort",)
    if case == "release-before-rq":
        s.sendall(pdu(5, b"\0" * 4))
        return outcome(s), ("abort",)
    if case == "unknown-pdu":
        s.sendall(pdu(9, b"\0" * 4))
        return outcome(s), ("abort",)
    if case == "huge-rq":  # a length far beyond any A-ASSOCIATE-RQ
        s.sendall(struct.pack(">BBI", 1, 0, 0x7FFFFFFF) + b"\0" * 100)
        return outcome(s), ("abort",)
    if case == "garbage-rq":
        body = struct.pack(">HH", 1, 0) + b"SENDIT".ljust(16) + b"X".ljust(16) + b"\0" * 32
        body += b"\x10\x00\xff\xff" + b"1.2"  # an item longer than the PDU
        s.sendall(pdu(1, body))
        return outcome(s), ("abort",)
    if case == "many-contexts":  # 200 contexts: more than the 128 ids there are
        ctx = [((2 * i + 1) % 256, CT, [IMPLICIT]) for i in range(200)]
        s.sendall(assoc_rq(called=called, contexts=ctx))
        return outcome(s), ("abort",)
    if case == "bad-version":
        s.sendall(assoc_rq(called=called, version=2))
        return outcome(s), ("reject 1 2 2",)
    if case == "second-rq":  # an A-ASSOCIATE-RQ on an established association
        associate(s, called=called)
        s.sendall(assoc_rq(called=called))
        return outcome(s), ("abort",)
    if case == "pdata-too-long":  # beyond the max PDU the SCP announced
        associate(s, called=called)
        s.sendall(struct.pack(">BBI", 4, 0, 0x01000000) + b"\0" * 64)
        return outcome(s), ("abort",)
    if case == "bad-pdv":  # a PDV whose length runs past its PDU
        associate(s, called=called)
        s.sendall(pdu(4, struct.pack(">IBB", 1000, 1, 3) + b"\0" * 10))
        return outcome(s), ("abort",)
    if case == "data-before-command":
        associate(s, called=called)
        s.sendall(pdv(1, 2, dataset()))
        return outcome(s), ("abort",)
    if case == "bad-command":  # a command set whose element runs past its end
        associate(s, called=called)
        s.sendall(pdv(1, 3, struct.pack("<HHI", 0, 0x100, 5000) + b"\0" * 8))
        return outcome(s), ("abort",)
    if case == "stall-mid-dataset":  # command and half the data set, then silence
        associate(s, called=called)
        s.sendall(pdv(1, 3, command_store(instance=b"1.2.3.4.5.7")))
        s.sendall(pdv(1, 0, dataset(b"1.2.3.4.5.7")[:3000]))
        return outcome(s), ("abort", "close")
    if case == "store-then-abort":  # one instance stored, then an A-ABORT
        associate(s, called=called)
        s.sendall(pdv(1, 3, command_store(instance=b"1.2.3.4.5.8")))
        s.sendall(pdv(1, 2, dataset(b"1.2.3.4.5.8")))
        got = outcome(s)
        s.sendall(pdu(7, b"\0\0\0\0"))
        time.sleep(0.2)
        return got, ("status 0000",)
    if case == "store-then-vanish":  # half a data set, then the connection closes
        associate(s, called=called)
        s.sendall(pdv(1, 3, command_store(instance=b"1.2.3.4.5.9")))
        s.sendall(pdv(1, 0, dataset(b"1.2.3.4.5.9")[:3000]))
        s.close()
        return "close", ("close",)
    if case == "hold":  # an association that stays open (for the cap on associations)
        associate(s, called=called)
        print("holding", flush=True)
        time.sleep(4)
        s.sendall(pdu(5, b"\0" * 4))
        return outcome(s), ("pdu 6",)
    raise SystemExit("unknown case " + case)


def main():
    host, port, case = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    called = (sys.argv[4] if len(sys.argv) > 4 else "SENDIT").encode()
    calling = (sys.argv[5] if len(sys.argv) > 5 else "HOSTILE").encode()
    s = socket.create_connection((host, port), timeout=5)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    started = time.monotonic()
    got, expected = run(case, s, called, calling)
    took = time.monotonic() - started
    print("%s: %s after %.1fs" % (case, got, took))
    if got not in expected:
        print("expected " + " or ".join(expected))
        sys.exit(1)


main()
