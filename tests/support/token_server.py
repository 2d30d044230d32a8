#!/usr/bin/python3
"""A Docker registry token server (https://distribution.github.io/distribution/spec/auth/token/)
for Berth's tests.

The registry (docker-registry, `auth: token`) answers unauthenticated requests with a
`WWW-Authenticate: Bearer realm=...,service=...,scope=...` challenge; clients then GET
`/token?service=S&scope=T:NAME:ACTIONS[&scope=...]`, with HTTP basic credentials when logged in,
and retry with `Authorization: Bearer <token>`. Tokens are RS256 JWTs whose header carries the
signing certificate (`x5c`); the registry trusts that certificate through its `rootcertbundle`.

Access policy: a known user with the right password gets every action asked for; an anonymous
client gets a token granting nothing (as Docker Hub does for private repositories); a wrong
password gets 401. Every request is appended to the log file as one JSON object:
{"account": ..., "service": ..., "scopes": [...], "granted": [...], "status": ...}.

Usage: token_server.py --cert CERT.pem --log LOG --issuer ISS --service SVC --user NAME:PASSWORD...
It writes CERT.pem before listening and prints the port it listens on, then serves until killed.
"""

import argparse
import base64
import datetime
import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_signer():
    """An RSA key and a self-signed certificate for it (the registry's whole trust bundle)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "berth test token signer")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def parse_scope(scope: str):
    """`repository:name/with/slashes:pull,push` -> (type, name, [actions]); the name may hold ':'."""
    kind, _, rest = scope.partition(":")
    name, _, actions = rest.rpartition(":")
    if not kind or not name:
        return None
    return kind, name, [a for a in actions.split(",") if a]


class TokenServer:
    def __init__(self, args):
        self.key, self.cert = make_signer()
        self.issuer = args.issuer
        self.service = args.service
        self.users = dict(u.split(":", 1) for u in args.user)
        self.log_path = args.log
        self.lock = threading.Lock()
        der = self.cert.public_bytes(serialization.Encoding.DER)
        self.header = b64url(
            json.dumps({"typ": "JWT", "alg": "RS256", "x5c": [base64.b64encode(der).decode()]}).encode()
        )

    def issue(self, account: str, access: list) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": account,
            "aud": self.service,
            "exp": now + 300,
            "nbf": now - 10,
            "iat": now,
            "jti": b64url(os.urandom(12)),
            "access": access,
        }
        signing_input = f"{self.header}.{b64url(json.dumps(claims).encode())}"
        signature = self.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
        return f"{signing_input}.{b64url(signature)}"

    def record(self, entry: dict):
        with self.lock, open(self.log_path, "a") as log:
            log.write(json.dumps(entry) + "\n")


def handler_for(server: TokenServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *_):
            pass

        def reply(self, status: int, body: dict):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urllib.parse.urlsplit(self.path)
            if url.path != "/token":
                self.reply(404, {"errors": [{"code": "NOT_FOUND", "message": url.path}]})
                return
            query = urllib.parse.parse_qs(url.query)
            scopes = [s for value in query.get("scope", []) for s in value.split(" ") if s]
            account = ""
            entry = {"service": query.get("service", [""])[0], "scopes": scopes}
            header = self.headers.get("Authorization", "")
            if header.lower().startswith("basic "):
                try:
                    user, _, password = base64.b64decode(header[6:]).decode().partition(":")
                except ValueError:
                    user, password = "", None
                if server.users.get(user) != password:
                    entry.update(account=user, granted=[], status=401)
                    server.record(entry)
                    self.reply(401, {"details": "incorrect username or password"})
                    return
                account = user
            granted = []
            if account:
                for scope in scopes:
                    parsed = parse_scope(scope)
                    if parsed:
                        kind, name, actions = parsed
                        granted.append({"type": kind, "name": name, "actions": actions})
            entry.update(account=account, granted=granted, status=200)
            server.record(entry)
            token = server.issue(account, granted)
            issued = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
            self.reply(200, {"token": token, "access_token": token, "expires_in": 300, "issued_at": issued})

    return Handler


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cert", required=True, help="where to write the signing certificate (PEM)")
    parser.add_argument("--log", required=True, help="JSON-lines log of token requests")
    parser.add_argument("--issuer", required=True)
    parser.add_argument("--service", required=True)
    parser.add_argument("--user", action="append", default=[], help="NAME:PASSWORD (repeatable)")
    args = parser.parse_args()
    server = TokenServer(args)
    with open(args.cert, "wb") as f:
        f.write(server.cert.public_bytes(serialization.Encoding.PEM))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_for(server))
    print(httpd.server_address[1], flush=True)
    sys.stdout.close()
    httpd.serve_forever()


if __name__ == "__main__":
    main()
