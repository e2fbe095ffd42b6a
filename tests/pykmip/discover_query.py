#!/usr/bin/env python3
"""Asks a KMIP server, through the real PyKMIP client over mutual TLS, what it speaks.

Runs Discover Versions and then Query (operations, objects, server information) in the
KMIP version given, and prints one JSON object on stdout:

    {"kmip_version": "1.2",
     "discover_versions": {"status": "SUCCESS", "versions": ["2.0", "1.4", ...]},
     "query": {"status": "SUCCESS", "operations": ["CREATE", ...], "object_types": [...],
               "vendor_identification": "...", "server_information": true}}

A failed operation carries its "status", "reason" and "message" instead. Exits 0 when both
operations succeeded, 1 when the server answered either with a failure, 2 when the exchange
itself failed (TLS, framing, decoding: the JSON then holds "error"), 64 on bad arguments.
The Rust test tests/pykmip.rs drives it, so that kmipd is checked against a client that was
not written alongside it.

Usage: discover_query.py HOST PORT CERT KEY CA VERSION
       discover_query.py --config PYKMIP_CONF VERSION   (the [client] section of a pykmip.conf)
VERSION: 1.0 1.1 1.2 1.3 1.4 2.0
"""

import json
import logging
import sys
import warnings

# PyKMIP 0.11 imports SQLAlchemy's old declarative API and uses ssl.PROTOCOL_SSLv23; both only
# warn, and the warnings would bury the JSON a reader is looking for.
warnings.simplefilter("ignore")

from kmip.core import enums  # noqa: E402
from kmip.services.kmip_client import KMIPProxy  # noqa: E402

VERSIONS = {
    "1.0": enums.KMIPVersion.KMIP_1_0,
    "1.1": enums.KMIPVersion.KMIP_1_1,
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.3": enums.KMIPVersion.KMIP_1_3,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}

QUERY_FUNCTIONS = [
    enums.QueryFunction.QUERY_OPERATIONS,
    enums.QueryFunction.QUERY_OBJECTS,
    enums.QueryFunction.QUERY_SERVER_INFORMATION,
]


def enum_name(value):
    """The name of a PyKMIP enumeration member, or the raw value for unknown ones."""
    return getattr(value, "name", str(value))


def exchange(proxy, batch_item):
    """Sends one batch item and returns the response's batch item as PyKMIP decoded it.

    KMIPProxy.discover_versions() crashes on a failed Discover Versions that echoes its
    Operation without a payload (as the specification asks), so the script reads the
    response batch item itself instead of through KMIPProxy's result processors.
    """
    request = proxy._build_request_message(None, [batch_item])
    response = proxy._send_and_receive_message(request)
    if len(response.batch_items) != 1:
        raise ValueError("expected 1 response batch item, got {}".format(
            len(response.batch_items)))
    return response.batch_items[0]


def outcome(item):
    """The Result Status, Reason and Message of a response batch item, as names and text."""
    reason = item.result_reason.value if item.result_reason else None
    message = item.result_message.value if item.result_message else None
    return {
        "status": enum_name(item.result_status.value),
        "reason": enum_name(reason) if reason is not None else None,
        "message": message,
    }


def succeeded(item):
    return item.result_status.value == enums.ResultStatus.SUCCESS


def discover_versions(proxy):
    item = exchange(proxy, proxy._build_discover_versions_batch_item())
    out = outcome(item)
    if succeeded(item):
        versions = item.response_payload.protocol_versions if item.response_payload else []
        out["versions"] = ["{}.{}".format(v.major, v.minor) for v in versions]
    return succeeded(item), out


def query(proxy):
    item = exchange(proxy, proxy._build_query_batch_item(QUERY_FUNCTIONS))
    out = outcome(item)
    if succeeded(item):
        payload = item.response_payload
        out["operations"] = [enum_name(op) for op in (payload.operations or [])]
        out["object_types"] = [enum_name(t) for t in (payload.object_types or [])]
        out["vendor_identification"] = payload.vendor_identification
        out["server_information"] = payload.server_information is not None
    return succeeded(item), out


def connect_directly(host, port, cert, key, ca, version):
    return KMIPProxy(
        host=host,
        port=int(port),
        certfile=cert,
        keyfile=key,
        ca_certs=ca,
        cert_reqs="CERT_REQUIRED",
        # PROTOCOL_SSLv23 (= PROTOCOL_TLS) negotiates TLS 1.2 or 1.3; PROTOCOL_TLS_CLIENT would
        # demand a hostname check, which KMIPProxy cannot do: it passes no server_hostname.
        ssl_version="PROTOCOL_SSLv23",
        kmip_version=version,
        timeout=15,
    )


def connect_by_config(path, version):
    """Every connection setting from the [client] section of the pykmip.conf at `path`."""
    return KMIPProxy(config="client", config_file=path, kmip_version=version)


def run(proxy):
    proxy.open()
    try:
        discovered_ok, discovered = discover_versions(proxy)
        queried_ok, queried = query(proxy)
    finally:
        proxy.close()
    return discovered_ok and queried_ok, {"discover_versions": discovered, "query": queried}


def main(argv):
    by_config = len(argv) == 4 and argv[1] == "--config"
    if not (by_config or len(argv) == 7) or argv[-1] not in VERSIONS:
        sys.stderr.write(__doc__)
        return 64
    version = argv[-1]
    logging.basicConfig(level=logging.ERROR)
    # PyKMIP's config helper raises itself to INFO unless a level is set, and then warns that
    # no default pykmip.conf exists, which does not matter: settings are given or named.
    logging.getLogger("kmip.core.config_helper").setLevel(logging.ERROR)
    try:
        if by_config:
            proxy = connect_by_config(argv[2], VERSIONS[version])
        else:
            proxy = connect_directly(*argv[1:6], VERSIONS[version])
        ok, out = run(proxy)
    except Exception as error:  # any failure of the exchange is the answer, not a crash
        json.dump({"kmip_version": version, "error": "{}: {}".format(type(error).__name__, error)},
                  sys.stdout)
        sys.stdout.write("\n")
        return 2
    out = {"kmip_version": version, **out}
    json.dump(out, sys.stdout)
    sys.stdout.write("\n")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
