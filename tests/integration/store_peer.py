#!/usr/bin/python3
"""A scripted storage SCP for tests/integration/test_deliver.sh: raw sockets, no DICOM library.

    store_peer.py PORT OUTDIR REFUSE_FILE

Accepts every association and every presentation context (with the first transfer syntax proposed),
answers each C-STORE-RQ: status A900 ("data set does not match SOP class") when the instance's SOP
Instance UID is a line of REFUSE_FILE, else 0000 after writing the data set to OUTDIR/<uid>.dcm
(OUTDIR/<uid>.dcm.N when it came before: a second copy shows). One association at a time; runs until
killed. Prints "listening" once bound.
"""
import os
import socket
import struct
import sys


def read_exact(conn, n):
    buf = b""
    while len(buf) < n:
        chunk = conn.recv(n - len(buf))
        if not chunk:
            raise EOFError
        buf += chunk
    return buf


def read_pdu(conn):
    head = read_exact(conn, 6)
    t, _, length = struct.unpack(">BBI", head)
    return t, read_exact(conn, length)


def items(body):
    out, i = [], 0
    while i + 4 <= len(body):
        t, _, n = struct.unpack(">BBH", body[i:i + 4])
        out.append((t, body[i + 4:i + 4 + n]))
        i += 4 + n
    return out


def item(t, payload):
    return struct.pack(">BBH", t, 0, len(payload)) + payload


def pdu(t, payload):
    return struct.pack(">BBI", t, 0, len(payload)) + payload


def associate_ac(rq):
    called, calling = rq[4:20], rq[20:36]
    body = struct.pack(">HH", 1, 0) + called + calling + b"\0" * 32
    body += item(0x10, b"1.2.840.10008.3.1.1.1")
    for t, payload in items(rq[68:]):
        if t != 0x20:
            continue
        pid = payload[0]
        subs = items(payload[4:])
        tss = [p for st, p in subs if st == 0x40]
        body += item(0x21, bytes([pid, 0, 0, 0]) + item(0x40, tss[0]))
    body += item(0x50, item(0x51, struct.pack(">I", 65536)) + item(0x52, b"1.2.3.4.5"))
    return pdu(2, body)


def command_elements(data):
    out, i = {}, 0
    while i + 8 <= len(data):
        g, e, n = struct.unpack("<HHI", data[i:i + 8])
        out[(g, e)] = data[i + 8:i + 8 + n]
        i += 8 + n
    return out


def elem(g, e, value):
    if len(value) % 2:
        value += b"\0"
    return struct.pack("<HHI", g, e, len(value)) + value


def store_rsp(cmd, status):
    body = elem(0, 2, cmd[(0, 2)]) + elem(0, 0x100, struct.pack("<H", 0x8001))
    body += elem(0, 0x120, cmd[(0, 0x110)]) + elem(0, 0x800, struct.pack("<H", 0x0101))
    body += elem(0, 0x900, struct.pack("<H", status)) + elem(0, 0x1000, cmd[(0, 0x1000)])
    body = elem(0, 0, struct.pack("<I", len(body))) + body
    return body


def serve(conn, outdir, refuse_file):
    t, rq = read_pdu(conn)
    if t != 1:
        return
    conn.sendall(associate_ac(rq))
    cmd, command_bytes, data, pid = None, b"", b"", 1
    while True:
        t, body = read_pdu(conn)
        if t == 5:
            conn.sendall(pdu(6, b"\0\0\0\0"))
            return
        if t != 4:
            return
        for _, pdv in [(0, body)]:
            i = 0
            while i + 6 <= len(pdv):
                n = struct.unpack(">I", pdv[i:i + 4])[0]
                pid, control = pdv[i + 4], pdv[i + 5]
                frag = pdv[i + 6:i + 4 + n]
                i += 4 + n
                if control & 1:
                    command_bytes += frag
                    if control & 2:
                        cmd, command_bytes, data = command_elements(command_bytes), b"", b""
                    continue
                data += frag
                if not control & 2 or cmd is None:
                    continue
                uid = cmd[(0, 0x1000)].rstrip(b"\0 ").decode()
                with open(refuse_file) as f:
                    refused = {line.strip() for line in f if line.strip()}
                if uid in refused:
                    status = 0xA900
                else:
                    name, k = os.path.join(outdir, uid + ".dcm"), 1
                    while os.path.exists(name):
                        name, k = os.path.join(outdir, "%s.dcm.%d" % (uid, k)), k + 1
                    with open(name + ".part", "wb") as f:
                        f.write(data)
                    os.rename(name + ".part", name)
                    status = 0
                rsp = store_rsp(cmd, status)
                conn.sendall(pdu(4, struct.pack(">IBB", len(rsp) + 2, pid, 3) + rsp))
                cmd, data = None, b""


def main():
    port, outdir, refuse_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    os.makedirs(outdir, exist_ok=True)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("127.0.0.1", port))
    s.listen(8)
    print("listening", flush=True)
    while True:
        conn, _ = s.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            serve(conn, outdir, refuse_file)
        except (EOFError, ConnectionError, KeyError):
            pass
        conn.close()


if __name__ == "__main__":
    main()
