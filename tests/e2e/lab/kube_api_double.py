#!/usr/bin/env python3
"""Kubernetes API server test double for the skouter e2e tests.

Speaks the real API wire protocol (HTTPS, bearer token, JSON lists, chunked watch
streams) for the few calls skouterd makes, so its Kubernetes client can be tested
without a cluster. The cluster's state is a directory of ordinary Kubernetes YAML
files: tests edit the files and the double turns the differences into watch events.

  kube_api_double.py --objects DIR --listen HOST:PORT --cert CERT.pem --key KEY.pem
                     --token TOKEN [--bookmark-interval SECONDS] [--poll-interval SECONDS]

Prints "listening on HOST:PORT" (the real port when PORT is 0) once it accepts
connections; logs go to stderr. SIGTERM or SIGINT ends every watch and exits.

Served kinds: Pod, Namespace, Node, Service, Event (v1), EndpointSlice
(discovery.k8s.io/v1) and Egress (egress.skouter/v1alpha1), at their usual REST paths:
list and get, watch (watch=1, resourceVersion, timeoutSeconds, allowWatchBookmarks),
labelSelector (k=v, k!=v, k, !k) and fieldSelector (metadata.name, metadata.namespace,
spec.nodeName). Events are created by POST only and never come from files.

Every *.yaml / *.yml file in DIR (multi-document) is re-read each poll interval. An
object is keyed by (API group, kind, namespace, name): a new key is ADDED, changed
content MODIFIED, a vanished key DELETED, each change taking the next value of one
global resourceVersion counter, as etcd does. A file that does not parse is logged and
ignored, its objects keeping their previous state until it is fixed.

Test controls (same bearer token):
  POST /_double/close-watches  ends every open watch cleanly          -> {"closed": n}
  POST /_double/expire         compacts history: open watches get a 410 ERROR event,
                               later watches (and Exact lists) from older versions too
                                                                       -> {"expired_watches": n}
  GET  /_double/stats          list/watch requests per plural since start, open watches
                               per plural and the current resourceVersion
"""

import argparse
import bisect
import copy
import datetime
import hmac
import json
import os
import re
import secrets
import select
import signal
import socket
import socketserver
import ssl
import sys
import threading
import time
import urllib.parse
import uuid
from collections import namedtuple
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml

Kind = namedtuple("Kind", "group version name plural namespaced")
KINDS = [
    Kind("", "v1", "Pod", "pods", True),
    Kind("", "v1", "Namespace", "namespaces", False),
    Kind("", "v1", "Node", "nodes", False),
    Kind("", "v1", "Service", "services", True),
    Kind("", "v1", "Event", "events", True),
    Kind("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", True),
    Kind("egress.skouter", "v1alpha1", "Egress", "egresses", True),
]
KIND_BY_PATH = {(k.group, k.version, k.plural): k for k in KINDS}
KIND_BY_NAME = {(k.group, k.name): k for k in KINDS}
FIELD_LABELS = ("metadata.name", "metadata.namespace", "spec.nodeName")
LABEL_KEY = re.compile(r"^[A-Za-z0-9][-A-Za-z0-9_./]*$")
# How often a waiting watch checks whether its client hung up.
CLIENT_CHECK_SECONDS = 0.5


def api_version(kind):
    return f"{kind.group}/{kind.version}" if kind.group else kind.version


def log(message):
    now = datetime.datetime.now().strftime("%H:%M:%S.%f")[:-3]
    print(f"{now} kube-api-double: {message}", file=sys.stderr, flush=True)


def status(code, reason, message, **extra):
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code, **extra}


class RequestError(Exception):
    """A request the real API would refuse; carries the Status to answer with."""

    def __init__(self, code, reason, message):
        super().__init__(message)
        self.status = status(code, reason, message)

    @classmethod
    def too_old(cls, version, compacted):
        return cls(410, "Expired", f"too old resource version: {version} ({compacted})")


class Selector:
    """labelSelector and fieldSelector of one request, in their equality-based forms."""

    def __init__(self, label_selector="", field_selector=""):
        self.labels = [self.parse_label(t) for t in self.terms(label_selector)]
        self.fields = [self.parse_field(t) for t in self.terms(field_selector)]

    @staticmethod
    def terms(text):
        return [term.strip() for term in text.split(",") if term.strip()]

    @staticmethod
    def split(term):
        for operator in ("!=", "==", "="):
            if operator in term:
                key, value = term.split(operator, 1)
                return key.strip(), operator != "!=", value.strip()
        return None

    def parse_label(self, term):
        parsed = self.split(term)
        if parsed is None:
            key, present = (term[1:], False) if term.startswith("!") else (term, True)
            parsed = (key.strip(), present, None)
        if not LABEL_KEY.match(parsed[0]):
            raise RequestError(400, "BadRequest", f"unable to parse labelSelector term: {term}")
        return parsed

    def parse_field(self, term):
        parsed = self.split(term)
        if parsed is None or parsed[0] not in FIELD_LABELS:
            raise RequestError(400, "BadRequest", f"field label not supported: {term}")
        return parsed

    def matches(self, obj):
        labels = obj.get("metadata", {}).get("labels") or {}
        for key, wanted, value in self.labels:
            found = key in labels if value is None else labels.get(key) == value
            if found != wanted:
                return False
        for path, wanted, value in self.fields:
            section, field = path.split(".")
            if (((obj.get(section) or {}).get(field) or "") == value) != wanted:
                return False
        return True


class Watch:
    """One open watch stream: what it selects and how far it has been sent."""

    def __init__(self, kind, namespace, selector):
        self.kind, self.namespace, self.selector = kind, namespace, selector
        self.sent_version = 0
        self.closed = False
        self.expired = None  # the ERROR Status to send, once history was compacted

    def in_scope(self, obj):
        return self.namespace is None or obj["metadata"].get("namespace") == self.namespace

    def event(self, entry):
        """The event this watch sees for a history entry, or None."""
        if entry.kind != self.kind or not self.in_scope(entry.obj):
            return None
        now = self.selector.matches(entry.obj)
        if entry.type != "MODIFIED":
            return (entry.type, entry.obj) if now else None
        before = self.selector.matches(entry.previous)
        if now:
            return ("MODIFIED" if before else "ADDED", entry.obj)
        if before:  # stopped matching: the real API sends the old state at the new version
            return ("DELETED", with_version(entry.previous, entry.version))
        return None


Entry = namedtuple("Entry", "version type kind obj previous")


def with_version(obj, version):
    obj = dict(obj, metadata=dict(obj["metadata"]))
    obj["metadata"]["resourceVersion"] = str(version)
    return obj


def now_timestamp():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Store:
    """The cluster state, its change history and the open watches, under one lock.

    Stored objects are never mutated, so they can be serialized outside the lock."""

    def __init__(self):
        self.changed = threading.Condition()
        self.version = 1
        self.compacted = 1
        self.objects = {}  # key -> object as served
        self.sources = {}  # key -> object as written in the files
        self.history = []  # Entry, by increasing version
        self.watches = set()
        self.stopping = False
        self.lists = {k.plural: 0 for k in KINDS}
        self.watch_counts = {k.plural: 0 for k in KINDS}

    def record(self, change, kind, key, obj, previous=None):
        self.version += 1
        obj = with_version(obj, self.version)
        if change == "DELETED":
            del self.objects[key]
        else:
            self.objects[key] = obj
        self.history.append(Entry(self.version, change, kind, obj, previous))
        log(f"{change} {kind.plural} {key[2] + '/' if key[2] else ''}{key[3]} "
            f"resourceVersion {self.version}")
        self.changed.notify_all()

    def apply_files(self, desired):
        """Turns the objects read from the files into changes."""
        with self.changed:
            for key in sorted(desired):
                source, previous = desired[key], self.objects.get(key)
                if key in self.sources and self.sources[key] == source:
                    continue
                kind = KIND_BY_NAME[key[:2]]
                obj = copy.deepcopy(source)
                metadata = obj["metadata"]
                if previous is None:
                    metadata["uid"] = str(uuid.uuid4())
                    metadata.setdefault("creationTimestamp", now_timestamp())
                else:
                    metadata["uid"] = previous["metadata"]["uid"]
                    metadata.setdefault("creationTimestamp",
                                        previous["metadata"]["creationTimestamp"])
                self.sources[key] = source
                self.record("MODIFIED" if previous else "ADDED", kind, key, obj, previous)
            for key in sorted(set(self.sources) - set(desired)):
                del self.sources[key]
                self.record("DELETED", KIND_BY_NAME[key[:2]], key, self.objects[key])

    def create_event(self, namespace, event):
        kind = KIND_BY_NAME[("", "Event")]
        if not isinstance(event, dict) or not isinstance(event.get("metadata", {}), dict):
            raise RequestError(400, "BadRequest", "the body is not a JSON object with metadata")
        metadata = event.setdefault("metadata", {})
        if metadata.setdefault("namespace", namespace) != namespace:
            raise RequestError(400, "BadRequest", "the namespace of the provided object does "
                               "not match the namespace sent on the request")
        if not isinstance(metadata.get("name", ""), str):
            raise RequestError(400, "BadRequest", "metadata.name is not a string")
        if not metadata.get("name"):
            if not isinstance(metadata.get("generateName"), str) or not metadata["generateName"]:
                raise RequestError(422, "Invalid", "name or generateName is required")
            metadata["name"] = metadata["generateName"] + secrets.token_hex(3)[:5]
        event.setdefault("kind", "Event")
        event.setdefault("apiVersion", "v1")
        metadata["uid"] = str(uuid.uuid4())
        metadata.setdefault("creationTimestamp", now_timestamp())
        key = ("", "Event", namespace, metadata["name"])
        with self.changed:
            if key in self.objects:
                raise RequestError(409, "AlreadyExists",
                                   f'events "{metadata["name"]}" already exists')
            self.record("ADDED", kind, key, event)
            return self.objects[key]

    def select(self, kind, namespace, selector):
        """Current objects of a kind (under the lock), ordered as etcd keys are."""
        return [obj for key, obj in sorted(self.objects.items())
                if key[:2] == (kind.group, kind.name)
                and (namespace is None or key[2] == namespace) and selector.matches(obj)]

    def list(self, kind, namespace, selector, version, exact):
        with self.changed:
            self.lists[kind.plural] += 1
            if exact and version is not None and version < self.compacted:
                raise RequestError.too_old(version, self.compacted)
            return self.version, self.select(kind, namespace, selector)

    def get(self, kind, namespace, name):
        with self.changed:
            return self.objects.get((kind.group, kind.name, namespace or "", name))

    def open_watch(self, watch, version):
        """Registers a watch; the events it starts with (or an ERROR, or None when stopping)."""
        with self.changed:
            self.watch_counts[watch.kind.plural] += 1
            if self.stopping:
                return None
            if version is not None and version < self.compacted:
                return [("ERROR", RequestError.too_old(version, self.compacted).status)]
            self.watches.add(watch)
            if version is None:  # no version: the current objects, as the real API does
                watch.sent_version = self.version
                return [("ADDED", obj)
                        for obj in self.select(watch.kind, watch.namespace, watch.selector)]
            watch.sent_version = min(version, self.version)
            return self.pending(watch)

    def pending(self, watch):
        """Events of history not yet sent to a watch (under the lock)."""
        start = bisect.bisect_right(self.history, watch.sent_version, key=lambda e: e.version)
        events = [e for e in map(watch.event, self.history[start:]) if e]
        watch.sent_version = self.version
        return events

    def next_events(self, watch, timeout):
        """Waits up to `timeout` for events; returns (events, ended)."""
        with self.changed:
            self.changed.wait_for(lambda: watch.closed or watch.expired
                                  or self.version > watch.sent_version, timeout)
            if watch.expired:
                return [("ERROR", watch.expired)], True
            return self.pending(watch), watch.closed

    def close_watch(self, watch):
        with self.changed:
            self.watches.discard(watch)
            self.changed.notify_all()

    def close_watches(self, expired=False):
        with self.changed:
            for watch in self.watches:
                watch.closed = True
                if expired:
                    watch.expired = RequestError.too_old(watch.sent_version, self.compacted).status
            self.changed.notify_all()
            return len(self.watches)

    def expire(self):
        with self.changed:
            self.compacted = self.version
            self.history.clear()
            return self.close_watches(expired=True)

    def stop(self, timeout):
        """Ends every watch and waits (a little) for the streams to be closed."""
        with self.changed:
            self.stopping = True
            self.close_watches()
            self.changed.wait_for(lambda: not self.watches, timeout)

    def stats(self):
        with self.changed:
            open_watches = {k.plural: 0 for k in KINDS}
            for watch in self.watches:
                open_watches[watch.kind.plural] += 1
            return {"lists": dict(self.lists), "watches": dict(self.watch_counts),
                    "open_watches": open_watches, "resource_version": str(self.version)}


class KubeYamlLoader(yaml.SafeLoader):
    """Safe YAML that keeps timestamps as strings, as Kubernetes (YAML to JSON) does."""


KubeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}


def parse_objects(text):
    """The objects of one file, keyed; raises ValueError naming what is wrong."""
    objects = {}
    for document in yaml.load_all(text, Loader=KubeYamlLoader):
        if document is None:
            continue
        # Through JSON: what is served must be JSON, and this copies it.
        document = json.loads(json.dumps(document))
        metadata = document.get("metadata") if isinstance(document, dict) else None
        if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or \
                not metadata["name"] or not isinstance(metadata.get("namespace", ""), str) or \
                not isinstance(document.get("apiVersion"), str) or \
                not isinstance(document.get("kind"), str):
            raise ValueError("a document is not an object with apiVersion, kind and "
                             "metadata.name (strings)")
        group = document["apiVersion"].rpartition("/")[0]
        kind = KIND_BY_NAME.get((group, document.get("kind")))
        if kind is None or kind.name == "Event":
            log(f"{document['apiVersion']} {document.get('kind')} {metadata['name']} "
                "is not served from files, ignored")
            continue
        if kind.namespaced:
            metadata.setdefault("namespace", "default")
        else:
            metadata.pop("namespace", None)
        objects[(group, kind.name, metadata.get("namespace", ""), metadata["name"])] = document
    return objects


class ObjectFiles:
    """The objects directory; parses a file again only when its content changed."""

    def __init__(self, directory):
        self.directory = directory
        self.files = {}  # name -> (content, objects of its last good content)

    def scan(self):
        """The desired state, or None when no file changed since the last scan."""
        try:
            names = sorted(n for n in os.listdir(self.directory) if n.endswith((".yaml", ".yml")))
        except OSError as error:
            log(f"cannot list {self.directory}: {error}")
            return None
        changed = set(names) != set(self.files)
        files = {}
        for name in names:
            try:
                with open(os.path.join(self.directory, name), "rb") as file:
                    content = file.read()
            except OSError:  # removed since the listing: gone (a change, as if unlisted)
                changed = True
                continue
            cached_content, objects = self.files.get(name, (None, {}))
            if content != cached_content:
                changed = True
                try:
                    objects = parse_objects(content)
                except Exception as error:  # anything in a file the tests wrote, never fatal
                    log(f"{name} is not valid, keeping its previous objects: "
                        + " ".join(str(error).split()))
            files[name] = (content, objects)
        self.files = files
        if not changed:
            return None
        desired = {}
        for name, (_, objects) in files.items():
            for key in objects.keys() & desired.keys():
                log(f"{name}: {key[1]} {key[3]} is also in an earlier file; this one wins")
            desired.update(objects)
        return desired


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "kube-api-double"
    sys_version = ""

    def log_message(self, format, *args):  # noqa: A002 - signature of the base class
        log(f"{self.address_string()} {format % args}")

    def setup(self):
        super().setup()
        self.connection.settimeout(10)  # a client that never completes the TLS handshake
        self.connection.do_handshake()
        self.connection.settimeout(None)

    # --- responses -------------------------------------------------------------------------

    def send_json(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Cache-Control", "no-cache, private")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def send_chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def send_event(self, change, obj):
        self.send_chunk(json.dumps({"type": change, "object": obj}).encode() + b"\n")

    # --- requests --------------------------------------------------------------------------

    def read_body(self):
        length = self.headers.get("Content-Length") or "0"
        if not length.isdigit() or "Transfer-Encoding" in self.headers:
            self.close_connection = True  # where the next request starts is unknown
            raise RequestError(400, "BadRequest", "a body needs a valid Content-Length")
        return self.rfile.read(int(length))

    def authorized(self):
        expected = f"Bearer {self.server.token}".encode()
        given = self.headers.get("Authorization", "").encode()
        if hmac.compare_digest(given, expected):
            return True
        self.send_json(401, status(401, "Unauthorized", "Unauthorized"))
        return False

    def handle_request(self, method):
        try:
            body = self.read_body()
            if not self.authorized():
                return
            url = urllib.parse.urlsplit(self.path)
            query = {k: v[-1] for k, v in urllib.parse.parse_qs(url.query).items()}
            method(url.path, query, body)
        except RequestError as error:
            self.send_json(error.status["code"], error.status)

    def do_GET(self):
        self.handle_request(self.get)

    def do_POST(self):
        self.handle_request(self.post)

    def refuse(self, path, query, body):
        raise RequestError(405, "MethodNotAllowed",
                           "the server does not allow this method on the requested resource")

    def do_PUT(self):
        self.handle_request(self.refuse)

    do_PATCH = do_DELETE = do_PUT

    def get(self, path, query, body):
        store = self.server.store
        if path == "/_double/stats":
            return self.send_json(200, store.stats())
        kind, namespace, name = self.route(path)
        if name is not None:
            obj = store.get(kind, namespace, name)
            if obj is None:
                raise RequestError(404, "NotFound", f'{kind.plural} "{name}" not found')
            return self.send_json(200, obj)
        selector = Selector(query.get("labelSelector", ""), query.get("fieldSelector", ""))
        version = self.version_param(query)
        if query.get("watch") in ("1", "true"):
            return self.watch(Watch(kind, namespace, selector), version, query)
        current, items = store.list(kind, namespace, selector, version,
                                    query.get("resourceVersionMatch") == "Exact")
        if kind.group == "" or kind.group.endswith(".k8s.io"):
            # Items of built-in lists carry no kind or apiVersion, only the list does.
            items = [{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}
                     for obj in items]
        self.send_json(200, {"kind": kind.name + "List", "apiVersion": api_version(kind),
                             "metadata": {"resourceVersion": str(current)}, "items": items})

    def post(self, path, query, body):
        store = self.server.store
        if path == "/_double/close-watches":
            return self.send_json(200, {"closed": store.close_watches()})
        if path == "/_double/expire":
            return self.send_json(200, {"expired_watches": store.expire()})
        try:
            kind, namespace, name = self.route(path)
        except RequestError:
            kind = None
        if kind is None or kind.plural != "events" or namespace is None or name is not None:
            self.refuse(path, query, body)
        try:
            event = json.loads(body)
        except (ValueError, UnicodeDecodeError) as error:
            raise RequestError(400, "BadRequest", f"the body is not valid JSON: {error}")
        self.send_json(201, store.create_event(namespace, event))

    @staticmethod
    def route(path):
        """(kind, namespace or None, name or None) of a REST path; RequestError if none."""
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        if len(parts) >= 2 and parts[0] == "api":
            group, version, rest = "", parts[1], parts[2:]
        elif len(parts) >= 3 and parts[0] == "apis":
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            rest = []
        namespace = None
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        kind = KIND_BY_PATH.get((group, version, rest[0])) if 1 <= len(rest) <= 2 else None
        name = rest[1] if len(rest) == 2 else None
        if kind is None or (namespace is not None and not kind.namespaced) or \
                (namespace is None and name is not None and kind.namespaced):
            raise RequestError(404, "NotFound", "the server could not find the requested resource")
        return kind, namespace, name

    @staticmethod
    def version_param(query):
        text = query.get("resourceVersion", "")
        if text in ("", "0"):
            return None
        if not text.isdigit():
            raise RequestError(400, "BadRequest", f"invalid resourceVersion: {text}")
        return int(text)

    # --- watch -----------------------------------------------------------------------------

    def watch(self, watch, version, query):
        try:
            timeout = int(query.get("timeoutSeconds") or 0)
        except ValueError:
            raise RequestError(400, "BadRequest", "timeoutSeconds is not an integer")
        store = self.server.store
        # Open before answering: once a client has the response, the watch counts as open.
        events = store.open_watch(watch, version)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "no-cache, private")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            if events is not None:
                self.stream(watch, events, timeout, query.get("allowWatchBookmarks") == "true")
            self.send_chunk(b"")
        except OSError:  # the client went away
            self.close_connection = True
        finally:
            store.close_watch(watch)

    def stream(self, watch, events, timeout, bookmarks):
        store = self.server.store
        interval = self.server.bookmark_interval
        deadline = time.monotonic() + timeout if timeout > 0 else float("inf")
        next_bookmark = time.monotonic() + interval if bookmarks else float("inf")
        ended = any(change == "ERROR" for change, _ in events)
        while True:
            for change, obj in events:
                self.send_event(change, obj)
            if ended:
                return
            now = time.monotonic()
            if now >= deadline:
                return
            if now >= next_bookmark:
                self.send_event("BOOKMARK", {
                    "kind": watch.kind.name, "apiVersion": api_version(watch.kind),
                    "metadata": {"resourceVersion": str(watch.sent_version)}})
                next_bookmark = now + interval
            if self.client_gone():
                raise ConnectionAbortedError("the client closed the watch")
            wait = min(deadline, next_bookmark) - time.monotonic()
            events, ended = store.next_events(watch, max(0, min(wait, CLIENT_CHECK_SECONDS)))

    def client_gone(self):
        """Whether the client closed the connection (it sends nothing during a watch)."""
        connection = self.connection
        if not select.select([connection], [], [], 0)[0] and not connection.pending():
            return False
        connection.settimeout(0)
        try:
            data = connection.recv(1)
        except (ssl.SSLWantReadError, BlockingIOError):
            return False  # only part of a TLS record so far
        except OSError:
            return True
        finally:
            connection.settimeout(None)
        if data:  # a pipelined request, now cut: the connection cannot be reused
            self.close_connection = True
        return not data


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def server_bind(self):
        # Not HTTPServer.server_bind: its getfqdn() can wait for DNS in a lab namespace.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def handle_error(self, request, client_address):
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            log(f"{client_address[0]}: connection ended: {error}")
        else:
            super().handle_error(request, client_address)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--objects", required=True, help="directory of Kubernetes YAML files")
    parser.add_argument("--listen", required=True, help="HOST:PORT (PORT 0: any free port)")
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--bookmark-interval", type=float, default=1.0)
    parser.add_argument("--poll-interval", type=float, default=0.1)
    args = parser.parse_args()
    host, _, port = args.listen.rpartition(":")
    if not host or not port.isdigit():
        parser.error(f"--listen {args.listen}: expected HOST:PORT")
    bare_host = host.strip("[]")

    store = Store()
    files = ObjectFiles(args.objects)
    store.apply_files(files.scan() or {})

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.set_alpn_protocols(["http/1.1"])
    Server.address_family = socket.AF_INET6 if ":" in bare_host else socket.AF_INET
    server = Server((bare_host, int(port)), Handler)
    # The handshake happens in each connection's thread (Handler.setup), not in accept().
    server.socket = context.wrap_socket(server.socket, server_side=True,
                                        do_handshake_on_connect=False)
    server.store, server.token = store, args.token
    server.bookmark_interval = args.bookmark_interval

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())

    def poll():
        while not stop.wait(args.poll_interval):
            desired = files.scan()
            if desired is not None:
                store.apply_files(desired)

    threading.Thread(target=poll, name="poller", daemon=True).start()
    threading.Thread(target=server.serve_forever, name="server", daemon=True).start()
    print(f"listening on {host}:{server.server_address[1]}", flush=True)
    log(f"serving {args.objects} at resourceVersion {store.version}")
    stop.wait()
    log("stopping")
    store.stop(timeout=2.0)
    server.shutdown()
    server.server_close()


if __name__ == "__main__":
    main()
