#!/usr/bin/python3
"""A small identifier service of the tests' own, speaking the original
sendit's contract (README, "Pseudonyms and the identifier service"): POST
{"identifiers": [{"id", "id_source", "id_timestamp", "custom_fields",
"items": [{"id", "id_source", "id_timestamp"}]}]} and answer {"results":
[{"id", "id_source", "suid", "jittered_timestamp", "jitter", "items": [{"id",
"id_source", "suid", "jittered_timestamp"}]}]}. Codes and jitters are derived
from the ids with a keyed hash, so they are the same on every run.

  ids_service.py --port-file F [--mode MODE] [--token T] [--fail N] [--delay S]

It listens on 127.0.0.1 on a port the kernel picks and writes that port to F.
GET /count answers how many POSTs came; GET /last the last POST's body and
Authorization header (JSON); GET /expect/ID the code and jitter the service
gives patient ID. Modes:
  ok          the contract (the default)
  no-jitter   no "jitter" field: the client computes it from the timestamps
  list        the bare list instead of {"results": [...]} (the som client's form)
  fail        HTTP 500 for the first --fail POSTs, then ok
  unauthorized  HTTP 401 always
  malformed   HTTP 200 with a body that is not JSON
  slow        ok, after --delay seconds
  huge        HTTP 200 with a 2 MiB body
  stranger    an answer about another patient
With --token, a POST without "Authorization: Bearer T" gets HTTP 401.
"""
import argparse
import datetime
import hashlib
import hmac
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SECRET = b"sendit-test-service"


def digest(*parts):
    return hmac.new(SECRET, "\x00".join(parts).encode("utf-8", "surrogateescape"),
                    hashlib.sha256).hexdigest()


def entity_code(source, pid):
    return "DS" + digest("entity", source, pid)[:12].upper()


def item_code(pid, item):
    return "DI" + digest("item", pid, item)[:12].upper()


def jitter(source, pid):
    return -(int(digest("jitter", source, pid)[:8], 16) % 60 + 1)


def shifted(stamp, days):
    when = datetime.datetime.strptime(stamp[:19], "%Y-%m-%dT%H:%M:%S")
    return (when + datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")


class State:
    def __init__(self, args):
        self.args = args
        self.lock = threading.Lock()
        self.count = 0
        self.last = {}


def answer(state, request):
    results = []
    for ent in request["identifiers"]:
        source, pid = ent["id_source"], ent["id"]
        days = jitter(source, pid)
        if state.args.mode == "stranger":
            pid = pid + "-someone-else"
        out = {
            "id": pid,
            "id_source": source,
            "suid": entity_code(source, pid),
            "jittered_timestamp": shifted(ent["id_timestamp"], days),
            "custom_fields": ent.get("custom_fields", []),
            "items": [{
                "id": it["id"],
                "id_source": it["id_source"],
                "suid": item_code(pid, it["id"]),
                "jittered_timestamp": shifted(it["id_timestamp"], days),
            } for it in ent.get("items", [])],
        }
        if state.args.mode != "no-jitter":
            out["jitter"] = days
        results.append(out)
    return results if state.args.mode == "list" else {"results": results}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet: the test reads its own output
        pass

    def send(self, status, body, ctype="application/json"):
        data = body if isinstance(body, bytes) else body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading (the huge mode, a timeout): as it should

    def do_GET(self):
        state = self.server.state
        if self.path == "/count":
            with state.lock:
                return self.send(200, str(state.count), "text/plain")
        if self.path == "/last":
            with state.lock:
                return self.send(200, json.dumps(state.last))
        if self.path.startswith("/expect/"):
            pid = self.path[len("/expect/"):]
            return self.send(200, "%s %d" % (entity_code("PatientID", pid), jitter("PatientID", pid)),
                             "text/plain")
        self.send(404, '{"error": "no such page"}')

    def do_POST(self):
        state, args = self.server.state, self.server.state.args
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        with state.lock:
            state.count += 1
            n = state.count
            state.last = {"body": body.decode("utf-8", "replace"),
                          "authorization": self.headers.get("Authorization", ""),
                          "path": self.path}
        if args.token and self.headers.get("Authorization") != "Bearer " + args.token:
            return self.send(401, '{"error": "missing or wrong bearer token"}')
        if args.mode == "unauthorized":
            return self.send(401, '{"error": "invalid token"}')
        if args.mode == "fail" and n <= args.fail:
            return self.send(500, '{"error": "overloaded, try later"}')
        if args.mode == "malformed":
            return self.send(200, '{"results": [{"id": "x", "suid": ')
        if args.mode == "huge":
            return self.send(200, '{"results": [], "pad": "' + "x" * (2 << 20) + '"}')
        if args.mode == "slow":
            time.sleep(args.delay)
        try:
            request = json.loads(body)
        except ValueError:
            return self.send(400, '{"error": "the request is not JSON"}')
        self.send(200, json.dumps(answer(state, request)))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port-file", required=True)
    p.add_argument("--mode", default="ok",
                   choices=["ok", "no-jitter", "list", "fail", "unauthorized", "malformed", "slow",
                            "huge", "stranger"])
    p.add_argument("--token", default="")
    p.add_argument("--fail", type=int, default=2)
    p.add_argument("--delay", type=float, default=3.0)
    args = p.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.state = State(args)
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    import os
    os.rename(args.port_file + ".tmp", args.port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
