#!/usr/bin/python3
"""skouterd's ClusterRole grants exactly what it watches, and create/patch on Events.

No wildcard, no write access beyond Events, nothing skouterd does not read: adding a
watch to skouterd means adding its resource here, on purpose.
"""

import os
import unittest

import yaml

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
RBAC = os.path.join(REPO, "deploy", "kubernetes", "rbac.yaml")

READ = frozenset({"get", "list", "watch"})
# (API group, resource) -> verbs
EXPECTED = {
    ("egress.skouter", "egresses"): READ,
    ("", "pods"): READ,
    ("", "namespaces"): READ,
    ("", "nodes"): READ,
    ("", "services"): READ,
    ("discovery.k8s.io", "endpointslices"): READ,
    ("", "events"): frozenset({"create", "patch"}),
}


def load(kind):
    with open(RBAC) as rbac:
        found = [document for document in yaml.safe_load_all(rbac)
                 if document and document["kind"] == kind]
    assert len(found) == 1, f"{RBAC} holds {len(found)} objects of kind {kind}, expected one"
    return found[0]


class ClusterRoleTest(unittest.TestCase):
    def test_grants_exactly_what_skouterd_needs(self):
        granted = {}
        for index, rule in enumerate(load("ClusterRole")["rules"]):
            with self.subTest(rule=index):
                self.assertEqual(set(rule) - {"apiGroups", "resources", "verbs"}, set(),
                                 "resourceNames or nonResourceURLs are not expected")
                for field in ("apiGroups", "resources", "verbs"):
                    self.assertNotIn("*", rule[field], f"wildcard in {field}")
            for group in rule["apiGroups"]:
                for resource in rule["resources"]:
                    granted.setdefault((group, resource), set()).update(rule["verbs"])
        self.assertEqual({key: frozenset(verbs) for key, verbs in granted.items()}, EXPECTED)

    def test_is_bound_to_the_daemonsets_service_account(self):
        role = load("ClusterRole")
        account = load("ServiceAccount")
        binding = load("ClusterRoleBinding")
        self.assertEqual(account["metadata"]["namespace"], "skouter-system")
        self.assertEqual(binding["roleRef"], {"apiGroup": "rbac.authorization.k8s.io",
                                              "kind": "ClusterRole",
                                              "name": role["metadata"]["name"]})
        self.assertEqual(binding["subjects"], [{"kind": "ServiceAccount",
                                                "name": account["metadata"]["name"],
                                                "namespace": "skouter-system"}])


if __name__ == "__main__":
    unittest.main(verbosity=2)
