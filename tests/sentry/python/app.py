"""capture_exception and capture_message, then a WSGI app whose requests the SDK counts
as request-mode sessions (one of them failing), then an exception nobody catches."""

import os
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server
from urllib.request import urlopen
from urllib.error import HTTPError

import sentry_sdk
from sentry_sdk.integrations.wsgi import SentryWsgiMiddleware

sentry_sdk.init(
    dsn=os.environ["SENTRY_DSN"],
    release="billing@5.0.1",
    environment="live-test",
    server_name="billing-host",
)
sentry_sdk.set_user({"id": "py-user-1", "email": "py@example.com"})
sentry_sdk.set_tag("feature", "invoices")
sentry_sdk.add_breadcrumb(category="invoice", message="rendering invoice 42", level="info")


def total_of(invoice):
    return invoice["lines"]["total"]


try:
    total_of({})
except Exception:
    sentry_sdk.capture_exception()
sentry_sdk.capture_message("invoice queue is backing up", level="warning")


def app(environ, start_response):
    if environ["PATH_INFO"].startswith("/fail"):
        raise ValueError("invoice template missing for " + environ["PATH_INFO"])
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass


server = make_server("127.0.0.1", 0, SentryWsgiMiddleware(app), handler_class=Quiet)
threading.Thread(target=server.serve_forever, daemon=True).start()
port = server.server_address[1]
for path in ["/a", "/b", "/fail/3", "/c"]:
    try:
        urlopen(f"http://127.0.0.1:{port}{path}").read()
    except HTTPError:
        pass
server.shutdown()
sentry_sdk.flush(5)

raise KeyError("ledger entry 17 vanished")
