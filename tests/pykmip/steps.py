"""What the PyKMIP step scripts (lifecycle.py, crypto.py, asym.py) share: connecting to the server under test,
running steps that record their outcome instead of stopping at the first failure, and the JSON they print for
the Rust harness (tests/support/pykmip_script.rs)."""

import json
import sys

from kmip.pie import client as pie_client


def connect(args, version=None):
    """A ProxyKmipClient for HOST PORT CERT KEY CA, speaking `version` (PyKMIP's default, 1.2, when None)."""
    host, port, cert, key, ca = args
    options = {"kmip_version": version} if version is not None else {}
    return pie_client.ProxyKmipClient(
        hostname=host, port=int(port), cert=cert, key=key, ca=ca,
        ssl_version="PROTOCOL_SSLv23", **options)


class Steps:
    """Runs steps, recording each outcome instead of stopping at the first failure."""

    def __init__(self):
        self.results = []

    def run(self, name, action):
        try:
            detail = action()
            self.results.append({"step": name, "ok": True, "detail": detail})
            return detail
        except Exception as error:  # a failed step is a result, not a crash
            self.results.append({
                "step": name,
                "ok": False,
                "error": "{}: {}".format(type(error).__name__, error),
            })
            return None

    def report(self):
        """Prints the results as JSON and gives the exit status: 0 when every step passed, 1 otherwise."""
        json.dump({"steps": self.results}, sys.stdout, default=str)
        sys.stdout.write("\n")
        return 0 if all(s["ok"] for s in self.results) else 1


def expect(condition, message):
    if not condition:
        raise AssertionError(message)


def cannot_connect(error):
    """Prints why the client could not connect and gives exit status 2."""
    json.dump({"error": "{}: {}".format(type(error).__name__, error)}, sys.stdout)
    sys.stdout.write("\n")
    return 2
