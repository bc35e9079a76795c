#!/usr/bin/python3
"""A strict little S3 store for tests/integration/test_dest_s3.sh, where s3rver is lenient: it checks every
request's SigV4 signature (its own Python computation, against what actually arrived on the wire: host,
path, query), the body against x-amz-content-sha256 and Content-MD5, and names multipart objects the way S3
does (md5 of the part MD5s, "-N"). A MODE makes it misbehave on purpose:

  fake_store.py DIR MODE     (prints "port N" when listening on 127.0.0.1)
  MODE: ok | fail_part2 (UploadPart 2 answers 400 InvalidPart) | bad_head (HEAD after a PUT shows another
        ETag) | slow_down (every request: 503 SlowDown) | huge_error (a PUT answers a 2 MiB error)

Every request is logged to DIR/requests.log as "METHOD PATH?QUERY STATUS".
Credentials: access key TESTKEY, secret TESTSECRET; region us-east-1.
"""
import base64
import hashlib
import hmac
import os
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIR, MODE = sys.argv[1], sys.argv[2]
SECRET = {"TESTKEY": "TESTSECRET"}
objects = {}  # key -> (bytes, etag)
uploads = {}  # upload id -> {part number: (bytes, md5 digest)}


def enc(s, keep_slash):
    return urllib.parse.quote(s, safe="/-_.~" if keep_slash else "-_.~")


def expected_signature(handler, path, query_pairs, payload_hash):
    auth = handler.headers.get("Authorization", "")
    if not auth.startswith("AWS4-HMAC-SHA256 "):
        return None, "no SigV4 Authorization"
    fields = dict(p.strip().split("=", 1) for p in auth[len("AWS4-HMAC-SHA256 "):].split(","))
    key_id, date, region, service, _ = fields["Credential"].split("/")
    if key_id not in SECRET:
        return None, "InvalidAccessKeyId"
    signed = fields["SignedHeaders"].split(";")
    for required in ("host", "x-amz-date", "x-amz-content-sha256"):
        if required not in signed:
            return None, f"{required} not signed"
    canon_headers = "".join(f"{h}:{' '.join(handler.headers.get(h, '').split())}\n" for h in signed)
    canon_query = "&".join(f"{enc(k, False)}={enc(v, False)}" for k, v in sorted(query_pairs))
    canonical = "\n".join([handler.command, enc(path, True), canon_query, canon_headers, ";".join(signed),
                           payload_hash])
    amz_date = handler.headers.get("x-amz-date", "")
    scope = f"{date}/{region}/{service}/aws4_request"
    sts = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    k = ("AWS4" + SECRET[key_id]).encode()
    for part in (date, region, service, "aws4_request"):
        k = hmac.new(k, part.encode(), hashlib.sha256).digest()
    want = hmac.new(k, sts.encode(), hashlib.sha256).hexdigest()
    return (want == fields["Signature"]), "SignatureDoesNotMatch"


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):
        pass

    def answer(self, status, body=b"", headers=None):
        headers = dict(headers or {})
        headers.setdefault("Content-Length", str(len(body)))  # a HEAD names the object's length
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)
        with open(os.path.join(DIR, "requests.log"), "a") as log:
            log.write(f"{self.command} {self.path} {status}\n")

    def error(self, status, code, message):
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
                f"<Message>{message}</Message></Error>").encode()
        if MODE == "huge_error":
            body = b"<Error><Code>Big</Code><Message>" + b"x" * (2 << 20) + b"</Message></Error>"
        self.answer(status, body, {"Content-Type": "application/xml"})

    def handle_any(self):
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qsl(url.query, keep_blank_values=True)
        q = dict(query)
        body = self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))
        if MODE == "slow_down":
            return self.error(503, "SlowDown", "Please reduce your request rate.")
        sha = self.headers.get("x-amz-content-sha256", "")
        if sha != hashlib.sha256(body).hexdigest():
            return self.error(400, "XAmzContentSHA256Mismatch", "The provided 'x-amz-content-sha256' header "
                              "does not match what was computed.")
        ok, why = expected_signature(self, path, query, sha)
        if ok is None or not ok:
            return self.error(403, why if why in ("InvalidAccessKeyId", "SignatureDoesNotMatch")
                              else "AccessDenied", why)
        md5 = self.headers.get("Content-MD5")
        if md5 is not None and base64.b64decode(md5) != hashlib.md5(body).digest():
            return self.error(400, "BadDigest", "The Content-MD5 you specified did not match what we received.")
        bucket, _, key = path.lstrip("/").partition("/")
        if bucket != "dicom":
            return self.error(404, "NoSuchBucket", "The specified bucket does not exist")
        if self.command == "HEAD" or self.command == "GET":
            if key not in objects:
                return self.error(404, "NoSuchKey", "The specified key does not exist.")
            data, etag = objects[key]
            if MODE == "bad_head":
                etag = "0" * 32
            if self.command == "HEAD":
                return self.answer(200, b"", {"ETag": f'"{etag}"', "Content-Length": str(len(data))})
            return self.answer(200, data, {"ETag": f'"{etag}"'})
        if self.command == "POST" and "uploads" in q:
            uid = f"up{len(uploads) + 1}+/="  # characters that need encoding in a query
            uploads[uid] = {}
            return self.answer(200, f"<InitiateMultipartUploadResult><Bucket>dicom</Bucket><Key>{key}</Key>"
                               f"<UploadId>{uid}</UploadId></InitiateMultipartUploadResult>".encode())
        if self.command == "PUT" and "partNumber" in q:
            if q.get("uploadId") not in uploads:
                return self.error(404, "NoSuchUpload", "The specified upload does not exist.")
            if MODE == "fail_part2" and q["partNumber"] == "2":
                return self.error(400, "InvalidPart", "One or more of the specified parts could not be found.")
            uploads[q["uploadId"]][int(q["partNumber"])] = (body, hashlib.md5(body).digest())
            return self.answer(200, b"", {"ETag": f'"{hashlib.md5(body).hexdigest()}"'})
        if self.command == "POST" and "uploadId" in q:
            parts = uploads.pop(q["uploadId"], None)
            if parts is None:
                return self.error(404, "NoSuchUpload", "The specified upload does not exist.")
            numbers = sorted(parts)
            for n in numbers:
                if f'<PartNumber>{n}</PartNumber><ETag>"{parts[n][1].hex()}"</ETag>' not in body.decode():
                    return self.error(400, "InvalidPart", f"part {n} is not listed with its ETag")
            data = b"".join(parts[n][0] for n in numbers)
            etag = hashlib.md5(b"".join(parts[n][1] for n in numbers)).hexdigest() + f"-{len(numbers)}"
            objects[key] = (data, etag)
            return self.answer(200, f"<CompleteMultipartUploadResult><Key>{key}</Key><ETag>&quot;{etag}&quot;"
                               f"</ETag></CompleteMultipartUploadResult>".encode())
        if self.command == "DELETE" and "uploadId" in q:
            uploads.pop(q["uploadId"], None)
            return self.answer(204)
        if self.command == "PUT":
            if MODE == "huge_error":
                return self.error(400, "Big", "")
            objects[key] = (body, hashlib.md5(body).hexdigest())
            return self.answer(200, b"", {"ETag": f'"{objects[key][1]}"'})
        return self.error(405, "MethodNotAllowed", "not here")

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = handle_any


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(f"port {server.server_address[1]}", flush=True)
server.serve_forever()
