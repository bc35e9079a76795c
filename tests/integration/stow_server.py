#!/usr/bin/python3
"""A tiny STOW-RS peer for test_dest_stow.sh: answers crafted responses so that the per-instance
reading of the dicomweb destination is proven against bytes sendit did not write itself.

Usage: stow_server.py PORTFILE OUTDIR

Listens on 127.0.0.1 (a free port, written to PORTFILE). POST /MODE/studies with a
multipart/related body: each part is saved as OUTDIR/MODE/<n>.dcm (n counting over the run) and
one line "MODE PARTS CONTENT-LENGTH" is appended to OUTDIR/requests.log. The answer by MODE:
  partial200  HTTP 200 whose ReferencedSOPSequence names only the request's first instance
  mixed202    HTTP 202: first referenced with WarningReason B000, second failed A700 (retryable),
              third failed C000 (final), the rest not mentioned
  all409      HTTP 409: every instance failed 0xA900
  xml         HTTP 200 in application/dicom+xml (Accept ignored)
  garbage     HTTP 200 with a body that is not JSON
  empty400    HTTP 400 without a body
  s503        HTTP 503
  slow        sleeps 5 s before answering (for a timeout of 1 s)
  bearer      like partial200 but confirms all, only with "Authorization: Bearer tok-123"; 401 else
  then503     the first request of the run in this mode confirms all, every later one gets a 503
"""
import http.server
import json
import os
import re
import sys
import time

import pydicom
from io import BytesIO

portfile, outdir = sys.argv[1], sys.argv[2]
counter = [0]
seen = [0]  # requests in mode then503


def item(uid, extra=None):
    d = {"00081155": {"vr": "UI", "Value": [uid]}}
    d.update(extra or {})
    return d


def us(tag, value):
    return {tag: {"vr": "US", "Value": [value]}}


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", ctype="application/dicom+json"):
        self.send_response(status)
        if body:
            self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        m = re.fullmatch(r"/(\w+)/studies", self.path)
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        if not m:
            return self.answer(404)
        mode = m.group(1)
        ctype = self.headers.get("Content-Type", "")
        b = re.search(r'boundary=("?)([^";]+)\1', ctype)
        if not ctype.startswith('multipart/related; type="application/dicom"') or not b:
            return self.answer(415)
        delim = b"--" + b.group(2).encode()
        chunks = data.split(b"\r\n" + delim)
        # The first chunk begins with the delimiter itself; the last is "--\r\n".
        parts = []
        first = chunks[0]
        assert first.startswith(delim + b"\r\n"), first[:80]
        chunks[0] = first[len(delim):]
        assert chunks[-1] == b"--\r\n", chunks[-1][:80]
        for c in chunks[:-1]:
            head, _, body = c[2:].partition(b"\r\n\r\n")
            assert b"Content-Type: application/dicom" in head, head
            parts.append(body)
        os.makedirs(os.path.join(outdir, mode), exist_ok=True)
        uids = []
        for p in parts:
            counter[0] += 1
            with open(os.path.join(outdir, mode, "%d.dcm" % counter[0]), "wb") as f:
                f.write(p)
            uids.append(str(pydicom.dcmread(BytesIO(p), stop_before_pixels=True).SOPInstanceUID))
        with open(os.path.join(outdir, "requests.log"), "a") as f:
            f.write("%s %d %d\n" % (mode, len(parts), length))
        ref, failed, status = [], [], 200
        if mode == "bearer":
            if self.headers.get("Authorization") != "Bearer tok-123":
                return self.answer(401, b"no", "text/plain")
            ref = [item(u) for u in uids]
        elif mode == "then503":
            seen[0] += 1
            if seen[0] > 1:
                return self.answer(503, b"overloaded", "text/plain")
            ref = [item(u) for u in uids]
        elif mode == "partial200":
            ref = [item(uids[0])]
        elif mode == "mixed202":
            status = 202
            ref = [item(uids[0], us("00081196", 0xB000))]
            failed = [item(uids[1], us("00081197", 0xA700)), item(uids[2], us("00081197", 0xC000))]
        elif mode == "all409":
            status = 409
            failed = [item(u, us("00081197", 0xA900)) for u in uids]
        elif mode == "xml":
            return self.answer(200, b'<?xml version="1.0"?><NativeDicomModel/>', "application/dicom+xml")
        elif mode == "garbage":
            return self.answer(200, b"OK, stored them all!", "text/plain")
        elif mode == "empty400":
            return self.answer(400)
        elif mode == "s503":
            return self.answer(503, b"busy", "text/plain")
        elif mode == "slow":
            time.sleep(5)
        doc = {"00081199": {"vr": "SQ", "Value": ref}, "00081198": {"vr": "SQ", "Value": failed}}
        return self.answer(status, json.dumps(doc).encode())


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
with open(portfile + ".tmp", "w") as f:
    f.write(str(srv.server_address[1]))
os.rename(portfile + ".tmp", portfile)
srv.serve_forever()
