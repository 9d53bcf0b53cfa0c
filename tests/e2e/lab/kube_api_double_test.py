#!/usr/bin/env python3
"""Self-test of the Kubernetes API server test double (kube_api_double.py).

Each test starts its own double on 127.0.0.1:0 over a fresh objects directory and talks
to it with http.client over TLS, verifying the certificate made here with openssl.
Run: /usr/bin/python3 kube_api_double_test.py
"""

import http.client
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

DOUBLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "kube_api_double.py")
TOKEN = "lab-token"
# Upper bound for anything asynchronous to happen; tests never assert durations.
PATIENCE_SECONDS = 10

PODS = """
apiVersion: v1
kind: Pod
metadata: {name: web-1, labels: {app: web}}
spec: {nodeName: node-a}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: shop, labels: {app: web, tier: front}}
spec: {nodeName: node-a}
---
apiVersion: v1
kind: Pod
metadata: {name: db-1, namespace: shop, labels: {app: db}}
spec: {nodeName: node-b}
"""

CLUSTER = """
apiVersion: v1
kind: Node
metadata: {name: node-a}
---
apiVersion: v1
kind: Namespace
metadata: {name: shop}
---
# an empty document and a comment
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system}
spec: {clusterIP: 192.0.2.10}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kube-dns-abcde
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns}
endpoints: [{addresses: [192.0.2.53]}]
---
apiVersion: egress.skouter/v1alpha1
kind: Egress
metadata: {name: allow-api, namespace: shop}
spec: {podSelector: {app: web}, hosts: [api.example.com]}
"""


def pod(name, node, namespace="default", app="web"):
    return (f"apiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: {namespace}, "
            f"labels: {{app: {app}}}}}\nspec: {{nodeName: {node}}}\n")


def eventually(predicate, what):
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def setUpModule():
    global CERT_DIR, CERT, KEY
    CERT_DIR = tempfile.TemporaryDirectory(prefix="kube-api-double-cert-")
    CERT, KEY = os.path.join(CERT_DIR.name, "cert.pem"), os.path.join(CERT_DIR.name, "key.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1", "-subj",
                    "/CN=kube-api-double", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", KEY, "-out", CERT], check=True, capture_output=True)


def tearDownModule():
    CERT_DIR.cleanup()


class WatchStream:
    """One watch response, read event by event."""

    def __init__(self, connection, response):
        self.connection, self.response = connection, response

    def next(self, skip_bookmarks=True):
        """The next event, or None once the stream ended cleanly (terminating chunk)."""
        while True:
            line = self.response.readline()
            if not line:
                return None
            event = json.loads(line)
            if not (skip_bookmarks and event["type"] == "BOOKMARK"):
                return event

    def events(self, count):
        return [(e["type"], e["object"]["metadata"]["name"]) for e in
                (self.next() for _ in range(count))]

    def close(self):
        self.connection.close()


class DoubleTest(unittest.TestCase):
    """Starts a double per test; helpers to edit its objects and call it."""

    extra_args = ["--bookmark-interval", "0.2", "--poll-interval", "0.05"]

    def setUp(self):
        self.workdir = tempfile.TemporaryDirectory(prefix="kube-api-double-test-")
        self.addCleanup(self.workdir.cleanup)
        self.objects = os.path.join(self.workdir.name, "objects")
        os.mkdir(self.objects)
        self.write("pods.yaml", PODS)
        self.write("cluster.yml", CLUSTER)
        self.log_path = os.path.join(self.workdir.name, "double.log")
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [sys.executable, DOUBLE, "--objects", self.objects, "--listen", "127.0.0.1:0",
                 "--cert", CERT, "--key", KEY, "--token", TOKEN] + self.extra_args,
                stdout=subprocess.PIPE, stderr=log, text=True)
        self.addCleanup(self.stop_double)
        if not select.select([self.process.stdout], [], [], PATIENCE_SECONDS)[0]:
            self.fail("the double did not start:\n" + self.log())
        line = self.process.stdout.readline()
        self.assertRegex(line, r"^listening on 127\.0\.0\.1:\d+\n$", self.log())
        self.port = int(line.rsplit(":", 1)[1])
        self.context = ssl.create_default_context(cafile=CERT)

    def stop_double(self):
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(PATIENCE_SECONDS)
        self.process.stdout.close()

    def log(self):
        with open(self.log_path) as log:
            return log.read()

    def write(self, name, text):
        # Written aside and renamed, so the double never reads half a file.
        temporary = os.path.join(self.objects, name + ".tmp")
        with open(temporary, "w") as file:
            file.write(text)
        os.replace(temporary, os.path.join(self.objects, name))

    def connect(self):
        connection = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.context,
                                                 timeout=PATIENCE_SECONDS)
        self.addCleanup(connection.close)
        return connection

    def request(self, method, path, body=None, token=TOKEN, connection=None):
        """(HTTP status, decoded JSON body)."""
        connection = connection or self.connect()
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        self.assertEqual(response.getheader("Content-Type"), "application/json")
        return response.status, json.loads(response.read())

    def get(self, path):
        code, body = self.request("GET", path)
        self.assertEqual(code, 200, body)
        return body

    def names(self, path):
        return sorted(item["metadata"]["name"] for item in self.get(path)["items"])

    def watch(self, path):
        connection = self.connect()
        connection.request("GET", path, headers={"Authorization": f"Bearer {TOKEN}"})
        response = connection.getresponse()
        self.assertEqual(response.status, 200)
        self.assertEqual(response.getheader("Transfer-Encoding"), "chunked")
        return WatchStream(connection, response)

    def stats(self):
        return self.get("/_double/stats")

    def version(self):
        return int(self.stats()["resource_version"])

    def wait_for_version_after(self, version):
        eventually(lambda: self.version() > version, "the double to see the file change")


class RequestTest(DoubleTest):
    def test_requests_without_the_token_are_unauthorized(self):
        for token in (None, "wrong-token"):
            code, body = self.request("GET", "/api/v1/pods", token=token)
            self.assertEqual(code, 401)
            self.assertEqual((body["kind"], body["status"], body["reason"], body["code"]),
                             ("Status", "Failure", "Unauthorized", 401))
        self.assertEqual(self.request("POST", "/_double/expire", token="wrong-token")[0], 401)

    def test_unknown_paths_are_not_found(self):
        for path in ("/api/v1/configmaps", "/apis/apps/v1/deployments", "/api/v1/pods/web-1",
                     "/api/v1/namespaces/shop/nodes", "/api/v1/namespaces/shop/pods/db-1/log"):
            code, body = self.request("GET", path)
            self.assertEqual((code, body["reason"]), (404, "NotFound"), path)

    def test_list_has_the_current_version_and_filled_metadata(self):
        pods = self.get("/api/v1/pods")
        self.assertEqual((pods["kind"], pods["apiVersion"]), ("PodList", "v1"))
        self.assertEqual(pods["metadata"]["resourceVersion"], self.stats()["resource_version"])
        by_name = {p["metadata"]["name"]: p for p in pods["items"]}
        self.assertEqual(sorted(by_name), ["db-1", "web-1", "web-2"])
        web1 = by_name["web-1"]["metadata"]
        self.assertEqual(web1["namespace"], "default")
        self.assertTrue(web1["uid"] and web1["creationTimestamp"])
        self.assertLessEqual(int(web1["resourceVersion"]), int(pods["metadata"]["resourceVersion"]))
        self.assertEqual(len({p["metadata"]["uid"] for p in pods["items"]}), 3)

    def test_list_filters_by_namespace_and_selectors(self):
        def selected(path, **query):
            return self.names(path + "?" + urllib.parse.urlencode(query))

        self.assertEqual(selected("/api/v1/pods", fieldSelector="spec.nodeName=node-a"),
                         ["web-1", "web-2"])
        self.assertEqual(selected("/api/v1/pods", fieldSelector="spec.nodeName!=node-a"), ["db-1"])
        self.assertEqual(selected("/api/v1/pods", labelSelector="app=web,tier=front"), ["web-2"])
        self.assertEqual(selected("/api/v1/pods", labelSelector="app!=web"), ["db-1"])
        self.assertEqual(selected("/api/v1/pods", labelSelector="tier"), ["web-2"])
        self.assertEqual(selected("/api/v1/pods", labelSelector="!tier"), ["db-1", "web-1"])
        self.assertEqual(selected("/api/v1/namespaces/shop/pods", labelSelector="app=web",
                                  limit="500", resourceVersion="0"), ["web-2"])
        self.assertEqual(selected("/api/v1/nodes", fieldSelector="metadata.name=node-a"),
                         ["node-a"])
        self.assertEqual(selected("/api/v1/services", fieldSelector="metadata.name=kube-dns"),
                         ["kube-dns"])
        slices = self.get("/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices?"
                          "labelSelector=kubernetes.io%2Fservice-name%3Dkube-dns")
        self.assertEqual(slices["kind"], "EndpointSliceList")
        self.assertEqual([s["endpoints"] for s in slices["items"]],
                         [[{"addresses": ["192.0.2.53"]}]])
        egresses = self.get("/apis/egress.skouter/v1alpha1/egresses")
        self.assertEqual((egresses["kind"], egresses["apiVersion"]),
                         ("EgressList", "egress.skouter/v1alpha1"))
        self.assertEqual([e["spec"]["hosts"] for e in egresses["items"]], [["api.example.com"]])
        code, body = self.request("GET", "/api/v1/pods?fieldSelector=status.phase%3DRunning")
        self.assertEqual((code, body["reason"]), (400, "BadRequest"))

    def test_get_single_objects(self):
        web2 = self.get("/api/v1/namespaces/shop/pods/web-2")
        self.assertEqual((web2["kind"], web2["apiVersion"], web2["spec"]["nodeName"]),
                         ("Pod", "v1", "node-a"))
        self.assertEqual(self.get("/api/v1/nodes/node-a")["kind"], "Node")
        self.assertEqual(self.get("/api/v1/namespaces/shop")["kind"], "Namespace")
        self.assertEqual(self.get("/apis/egress.skouter/v1alpha1/namespaces/shop/egresses/"
                                  "allow-api")["spec"]["podSelector"], {"app": "web"})
        code, body = self.request("GET", "/api/v1/namespaces/default/pods/web-2")
        self.assertEqual((code, body["kind"], body["reason"]), (404, "Status", "NotFound"))

    def test_requests_share_a_keep_alive_connection(self):
        connection = self.connect()
        for _ in range(3):
            self.assertEqual(self.request("GET", "/api/v1/pods", connection=connection)[0], 200)

    def test_posted_events_are_listed(self):
        event = {"apiVersion": "v1", "kind": "Event",
                 "metadata": {"generateName": "allow-api."},
                 "involvedObject": {"kind": "Egress", "namespace": "shop", "name": "allow-api"},
                 "reason": "PolicyLoaded", "message": "loaded", "type": "Normal"}
        code, created = self.request("POST", "/api/v1/namespaces/shop/events", json.dumps(event))
        self.assertEqual(code, 201, created)
        metadata = created["metadata"]
        self.assertTrue(metadata["name"].startswith("allow-api.") and metadata["uid"])
        self.assertEqual((metadata["namespace"], metadata["resourceVersion"]),
                         ("shop", self.stats()["resource_version"]))
        self.assertEqual(self.names("/api/v1/namespaces/shop/events"), [metadata["name"]])
        self.assertEqual(self.names("/api/v1/namespaces/default/events"), [])
        listed = self.get("/api/v1/events")["items"]
        self.assertEqual([(e["reason"], e["involvedObject"]["name"]) for e in listed],
                         [("PolicyLoaded", "allow-api")])
        # Events come from POST only: a change to the files leaves them alone.
        version = self.version()
        self.write("pods.yaml", pod("web-1", "node-a"))
        self.wait_for_version_after(version)
        self.assertEqual(self.names("/api/v1/events"), [metadata["name"]])

    def test_posts_that_the_api_refuses(self):
        code, body = self.request("POST", "/api/v1/namespaces/shop/events", "{not json")
        self.assertEqual((code, body["reason"]), (400, "BadRequest"))
        code, body = self.request("POST", "/api/v1/namespaces/shop/pods", "{}")
        self.assertEqual((code, body["reason"]), (405, "MethodNotAllowed"))
        code, body = self.request("POST", "/api/v1/events", "{}")
        self.assertEqual((code, body["reason"]), (405, "MethodNotAllowed"))

    def test_malformed_file_is_ignored_keeping_its_previous_objects(self):
        before = self.get("/api/v1/pods")
        self.write("pods.yaml", "apiVersion: v1\nkind: Pod\nmetadata: {name: [unclosed\n")
        eventually(lambda: "pods.yaml is not valid" in self.log(), "the parse error in the log")
        self.assertEqual(self.get("/api/v1/pods"), before)
        self.write("pods.yaml", pod("web-1", "node-c"))
        eventually(lambda: self.names("/api/v1/pods") == ["web-1"], "the fixed file")
        self.assertEqual(self.get("/api/v1/namespaces/default/pods/web-1")["spec"]["nodeName"],
                         "node-c")

    def test_stats_count_lists_and_watches(self):
        self.get("/api/v1/pods")
        self.get("/api/v1/namespaces/shop/pods?labelSelector=app%3Dweb")
        self.get("/api/v1/nodes/node-a")  # a single GET is no list
        watch = self.watch("/api/v1/nodes?watch=1")
        stats = self.stats()
        self.assertEqual((stats["lists"]["pods"], stats["lists"]["nodes"]), (2, 0))
        self.assertEqual((stats["watches"]["nodes"], stats["open_watches"]["nodes"]), (1, 1))
        self.assertEqual(stats["open_watches"]["pods"], 0)
        # A client that goes away mid-watch is noticed, and the double keeps serving.
        watch.close()
        eventually(lambda: self.stats()["open_watches"]["nodes"] == 0, "the watch to close")
        self.assertEqual(self.stats()["watches"]["nodes"], 1)


class WatchTest(DoubleTest):
    def test_watch_without_version_starts_with_the_current_objects(self):
        watch = self.watch("/api/v1/namespaces/shop/pods?watch=true")
        self.assertEqual(sorted(watch.events(2)), [("ADDED", "db-1"), ("ADDED", "web-2")])
        self.write("more.yaml", pod("late", "node-b", namespace="shop"))
        event = watch.next()
        self.assertEqual((event["type"], event["object"]["kind"]), ("ADDED", "Pod"))
        self.assertEqual(event["object"]["metadata"]["name"], "late")

    def test_watch_replays_history_then_streams_live_changes(self):
        listed = self.get("/api/v1/pods")
        start = listed["metadata"]["resourceVersion"]
        self.write("pods.yaml", PODS.replace("node-b", "node-c"))  # db-1 MODIFIED
        self.wait_for_version_after(int(start))
        self.write("cluster.yml", CLUSTER.replace("node-a", "node-z"))  # a node, not a pod
        watch = self.watch(f"/api/v1/pods?watch=1&resourceVersion={start}")
        replayed = watch.next()
        self.assertEqual((replayed["type"], replayed["object"]["metadata"]["name"]),
                         ("MODIFIED", "db-1"))
        self.assertEqual(replayed["object"]["spec"]["nodeName"], "node-c")
        self.assertGreater(int(replayed["object"]["metadata"]["resourceVersion"]), int(start))
        uid = {p["metadata"]["name"]: p["metadata"]["uid"] for p in listed["items"]}["db-1"]
        self.assertEqual(replayed["object"]["metadata"]["uid"], uid)

        self.write("more.yaml", pod("late", "node-a"))
        added = watch.next()
        self.assertEqual((added["type"], added["object"]["metadata"]["name"]), ("ADDED", "late"))
        self.write("more.yaml", pod("late", "node-b"))
        modified = watch.next()
        self.assertEqual((modified["type"], modified["object"]["spec"]["nodeName"]),
                         ("MODIFIED", "node-b"))
        os.remove(os.path.join(self.objects, "more.yaml"))
        deleted = watch.next()
        self.assertEqual((deleted["type"], deleted["object"]["metadata"]["name"]),
                         ("DELETED", "late"))
        versions = [int(e["object"]["metadata"]["resourceVersion"])
                    for e in (replayed, added, modified, deleted)]
        self.assertEqual(versions, sorted(set(versions)))
        self.write("more.yaml", pod("late", "node-b"))
        recreated = watch.next()
        self.assertEqual(recreated["type"], "ADDED")
        self.assertNotEqual(recreated["object"]["metadata"]["uid"],
                            added["object"]["metadata"]["uid"])

    def test_object_leaving_the_field_selector_arrives_as_deleted(self):
        watch = self.watch("/api/v1/pods?watch=1&fieldSelector=spec.nodeName%3Dnode-a")
        self.assertEqual(sorted(watch.events(2)), [("ADDED", "web-1"), ("ADDED", "web-2")])
        self.write("pods.yaml", PODS.replace("{nodeName: node-a}", "{nodeName: node-b}", 1))
        deleted = watch.next()
        self.assertEqual((deleted["type"], deleted["object"]["metadata"]["name"]),
                         ("DELETED", "web-1"))
        self.assertEqual(deleted["object"]["spec"]["nodeName"], "node-a")  # its last match
        self.write("pods.yaml", PODS.replace("node-b", "node-a"))  # web-1 back, db-1 joins
        self.assertEqual(sorted(watch.events(2)), [("ADDED", "db-1"), ("ADDED", "web-1")])

    def test_object_leaving_the_label_selector_arrives_as_deleted(self):
        version = self.version()
        watch = self.watch(
            f"/api/v1/pods?watch=1&labelSelector=app%3Dweb&resourceVersion={version}")
        self.write("pods.yaml", PODS.replace("labels: {app: web, tier: front}", "labels: {}"))
        self.assertEqual(watch.events(1), [("DELETED", "web-2")])

    def test_bookmarks_carry_the_current_version(self):
        version = self.version()
        watch = self.watch(f"/api/v1/nodes?watch=1&resourceVersion={version}"
                           "&allowWatchBookmarks=true")
        bookmark = watch.next(skip_bookmarks=False)
        self.assertEqual(bookmark, {"type": "BOOKMARK", "object": {
            "kind": "Node", "apiVersion": "v1", "metadata": {"resourceVersion": str(version)}}})
        self.write("pods.yaml", pod("web-1", "node-a"))  # a change no node watch sees
        eventually(lambda: watch.next(skip_bookmarks=False)["object"]["metadata"]
                   ["resourceVersion"] != str(version), "a bookmark with a later version")

    def test_no_bookmarks_unless_allowed(self):
        watch = self.watch("/api/v1/nodes?watch=1&timeoutSeconds=1")
        self.assertEqual(watch.events(1), [("ADDED", "node-a")])
        self.assertIsNone(watch.next(skip_bookmarks=False))

    def test_timeout_seconds_ends_the_stream_cleanly(self):
        watch = self.watch("/api/v1/namespaces/shop/pods?watch=1&timeoutSeconds=1"
                           "&allowWatchBookmarks=true")
        self.assertEqual(len(watch.events(2)), 2)
        self.assertIsNone(watch.next())
        # Ended by its terminating chunk, the connection is ready for the next request.
        code, _ = self.request("GET", "/api/v1/pods", connection=watch.connection)
        self.assertEqual(code, 200)

    def test_stream_frames_one_event_per_chunk(self):
        raw = self.context.wrap_socket(socket.create_connection(("127.0.0.1", self.port),
                                                                PATIENCE_SECONDS),
                                       server_hostname="127.0.0.1")
        self.addCleanup(raw.close)
        raw.sendall(f"GET /api/v1/pods?watch=1&timeoutSeconds=1 HTTP/1.1\r\nHost: x\r\n"
                    f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
        stream = raw.makefile("rb")
        while stream.readline() != b"\r\n":  # headers
            pass
        chunks = []
        while size := int(stream.readline(), 16):
            chunks.append(stream.read(size))
            self.assertEqual(stream.readline(), b"\r\n")
        self.assertEqual(len(chunks), 3)
        for chunk in chunks:
            self.assertTrue(chunk.endswith(b"}\n") and chunk.count(b"\n") == 1, chunk)
            self.assertEqual(json.loads(chunk)["type"], "ADDED")

    def test_close_watches_ends_every_stream(self):
        pods = self.watch("/api/v1/pods?watch=1&fieldSelector=metadata.name%3Dnone")
        nodes = self.watch("/api/v1/nodes?watch=1&allowWatchBookmarks=true")
        self.assertEqual(nodes.events(1), [("ADDED", "node-a")])
        eventually(lambda: sum(self.stats()["open_watches"].values()) == 2, "two open watches")
        code, body = self.request("POST", "/_double/close-watches")
        self.assertEqual((code, body), (200, {"closed": 2}))
        self.assertIsNone(pods.next())
        self.assertIsNone(nodes.next())
        eventually(lambda: sum(self.stats()["open_watches"].values()) == 0, "no open watch")

    def test_expire_ends_open_watches_and_refuses_old_versions(self):
        old = self.version()
        watch = self.watch(f"/api/v1/pods?watch=1&resourceVersion={old}")
        eventually(lambda: self.stats()["open_watches"]["pods"] == 1, "the open watch")
        self.write("pods.yaml", pod("web-1", "node-a"))
        self.wait_for_version_after(old)
        current = self.version()
        code, body = self.request("POST", "/_double/expire")
        self.assertEqual((code, body), (200, {"expired_watches": 1}))
        events = []
        while (event := watch.next()) is not None:
            events.append(event)
        self.assertEqual(events[-1]["type"], "ERROR")
        expired = events[-1]["object"]
        self.assertEqual((expired["kind"], expired["status"], expired["reason"], expired["code"]),
                         ("Status", "Failure", "Expired", 410))
        self.assertRegex(expired["message"], r"^too old resource version: \d+ \(\d+\)$")

        later = self.watch(f"/api/v1/pods?watch=1&resourceVersion={old}")
        error = later.next()
        self.assertEqual((error["type"], error["object"]["code"]), ("ERROR", 410))
        self.assertEqual(error["object"]["message"], f"too old resource version: {old} ({current})")
        self.assertIsNone(later.next())
        code, body = self.request(
            "GET", f"/api/v1/pods?resourceVersion={old}&resourceVersionMatch=Exact")
        self.assertEqual((code, body["reason"], body["code"]), (410, "Expired", 410))
        self.assertEqual(self.names(f"/api/v1/pods?resourceVersion={old}"), ["web-1"])

        # From the compaction point on, watches work again.
        fresh = self.watch(f"/api/v1/pods?watch=1&resourceVersion={current}")
        self.write("more.yaml", pod("late", "node-a"))
        self.assertEqual(fresh.events(1), [("ADDED", "late")])

    def test_sigterm_ends_watches_and_exits(self):
        watch = self.watch("/api/v1/nodes?watch=1")
        self.assertEqual(watch.events(1), [("ADDED", "node-a")])
        self.process.send_signal(signal.SIGTERM)
        self.assertEqual(self.process.wait(PATIENCE_SECONDS), 0, self.log())
        self.assertIsNone(watch.next())


class ObjectFilesTest(unittest.TestCase):
    """The directory scan itself, in-process: races no running double can be timed into."""

    def test_file_removed_between_listing_and_reading_is_a_deletion(self):
        sys.path.insert(0, os.path.dirname(DOUBLE))
        try:
            import kube_api_double
        finally:
            sys.path.pop(0)
        with tempfile.TemporaryDirectory() as directory:
            for name in ("a.yaml", "b.yaml"):
                with open(os.path.join(directory, name), "w") as file:
                    file.write(PODS)
            files = kube_api_double.ObjectFiles(directory)
            self.assertIsNotNone(files.scan())
            listed = sorted(os.listdir(directory))
            os.remove(os.path.join(directory, "b.yaml"))
            real_listdir = kube_api_double.os.listdir
            kube_api_double.os.listdir = lambda _: listed  # listed before the removal
            try:
                self.assertIsNotNone(files.scan(), "the removal must count as a change")
            finally:
                kube_api_double.os.listdir = real_listdir
            self.assertIsNone(files.scan())


if __name__ == "__main__":
    unittest.main(verbosity=2)
