#!/usr/bin/python3
"""The Egress CRD (deploy/kubernetes/crd.yaml) against Kubernetes' rules and skouterd.

1. The schema is structural, as the API server demands of a CRD (checked node by
   node here, since no API server runs in the tests).
2. Converted to JSON Schema the way the API server applies it (unknown fields
   refused, as strict field validation does), it accepts every example policy of the
   repository and rejects each wrong document of a table, for the reason named there.
3. With --policy-check PATH (the skouter_policy_check helper, built with skouterd's
   own loader) every document the schema accepts also loads, and every document the
   schema rejects is refused by the loader too, except where the table says why the
   two differ on purpose. What the schema cannot express and only the loader catches
   is listed as well, so the gap stays known.
"""

import argparse
import copy
import glob
import ipaddress
import os
import re
import subprocess
import sys
import tempfile
import unittest

import jsonschema
import yaml

REPO = os.path.realpath(os.path.join(os.path.dirname(__file__), "..", ".."))
CRD_PATH = os.path.join(REPO, "deploy", "kubernetes", "crd.yaml")
EXAMPLE_GLOBS = [
    os.path.join(REPO, "deploy", "kubernetes", "examples", "*.yaml"),
    os.path.join(REPO, "deploy", "examples", "*.yaml"),
    # the example the Debian package installs in /etc/skouter/policy.d
    os.path.join(REPO, "deploy", "etc", "skouter", "policy.d", "*.yaml"),
]
API_VERSION = "egress.skouter/v1alpha1"

# Set from the command line in main().
POLICY_CHECK = os.environ.get("SKOUTER_POLICY_CHECK", "")


def load_crd():
    with open(CRD_PATH) as crd_file:
        return yaml.safe_load(crd_file)


def egress_schema(crd):
    (version,) = crd["spec"]["versions"]
    return version["schema"]["openAPIV3Schema"]


# ---------------------------------------------------------------------------------
# Structural schema rules
# (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/
#  custom-resource-definitions/#specifying-a-structural-schema, and what
#  apiextensions-apiserver's validation refuses besides).

SCHEMA_KEYS = {
    "type", "format", "title", "description", "default", "maximum", "exclusiveMaximum",
    "minimum", "exclusiveMinimum", "maxLength", "minLength", "pattern", "maxItems",
    "minItems", "uniqueItems", "multipleOf", "enum", "maxProperties", "minProperties",
    "required", "items", "allOf", "oneOf", "anyOf", "not", "properties",
    "additionalProperties", "nullable", "example", "externalDocs",
    "x-kubernetes-preserve-unknown-fields", "x-kubernetes-embedded-resource",
    "x-kubernetes-int-or-string", "x-kubernetes-list-map-keys", "x-kubernetes-list-type",
    "x-kubernetes-map-type", "x-kubernetes-validations",
}
TYPES = {"object", "array", "string", "integer", "number", "boolean"}
JUNCTORS = ("allOf", "anyOf", "oneOf")
# Inside allOf/anyOf/oneOf/not only value validations may appear.
NOT_IN_JUNCTORS = {"type", "description", "default", "additionalProperties", "nullable"}
# Constructs Go's RE2 (which the API server uses for `pattern`) does not support.
NOT_RE2 = re.compile(r"\(\?[=!<]|\\[1-9]")


def structural_errors(schema):
    """Every violation of the structural schema rules, as 'path: reason' strings."""
    errors = []

    def fail(path, reason):
        errors.append(f"{path or '<root>'}: {reason}")

    def check(node, path, in_junctor):
        if not isinstance(node, dict):
            fail(path, "a schema must be a map")
            return
        for key in node:
            if key not in SCHEMA_KEYS:
                fail(path, f"'{key}' is not allowed in a CRD schema")
            if in_junctor and (key in NOT_IN_JUNCTORS or key.startswith("x-kubernetes-")):
                fail(path, f"'{key}' is not allowed inside allOf/anyOf/oneOf/not")
        if not in_junctor:
            exempt = node.get("x-kubernetes-int-or-string") or node.get(
                "x-kubernetes-preserve-unknown-fields")
            if "type" not in node and not exempt:
                fail(path, "has no type")
        if "type" in node and node["type"] not in TYPES:
            fail(path, f"type '{node['type']}' is not one of {sorted(TYPES)}")
        if node.get("uniqueItems"):
            fail(path, "uniqueItems must not be true")
        if "pattern" in node:
            try:
                re.compile(node["pattern"])
            except re.error as error:
                fail(path, f"pattern does not compile: {error}")
            if NOT_RE2.search(node["pattern"]):
                fail(path, "pattern uses lookaround or backreferences, which RE2 lacks")
        if "additionalProperties" in node:
            additional = node["additionalProperties"]
            if additional is False:
                fail(path, "additionalProperties must not be false")
            if "properties" in node:
                fail(path, "additionalProperties and properties exclude each other")
            if isinstance(additional, dict):
                check(additional, f"{path}.additionalProperties", in_junctor)
        if node.get("type") == "array" and not in_junctor and not isinstance(
                node.get("items"), dict):
            fail(path, "an array needs one items schema")
        if "items" in node:
            check(node["items"], f"{path}[]", in_junctor)
        for name, child in node.get("properties", {}).items():
            check(child, f"{path}.{name}" if path else name, in_junctor)
        for junctor in JUNCTORS:
            for index, branch in enumerate(node.get(junctor, [])):
                branch_path = f"{path}.{junctor}[{index}]"
                check(branch, branch_path, True)
                check_projection(branch, node, branch_path)
        if "not" in node:
            check(node["not"], f"{path}.not", True)
            check_projection(node["not"], node, f"{path}.not")
        for index, validation in enumerate(node.get("x-kubernetes-validations", [])):
            if not isinstance(validation, dict) or not isinstance(validation.get("rule"), str):
                fail(f"{path}.x-kubernetes-validations[{index}]", "needs a rule")
            elif set(validation) - {"rule", "message", "messageExpression", "reason",
                                    "fieldPath", "optionalOldSelf"}:
                fail(f"{path}.x-kubernetes-validations[{index}]", "has unknown keys")
        if node.get("x-kubernetes-map-type", "granular") not in ("granular", "atomic"):
            fail(path, "x-kubernetes-map-type must be granular or atomic")
        if node.get("x-kubernetes-list-type", "atomic") not in ("atomic", "set", "map"):
            fail(path, "x-kubernetes-list-type must be atomic, set or map")

    def check_projection(branch, outer, path):
        """A field a junctor names must be specified outside the junctor too."""
        for name, child in branch.get("properties", {}).items():
            if name not in outer.get("properties", {}):
                fail(path, f"property '{name}' is not specified outside the junctor")
            else:
                check_projection(child, outer["properties"][name], f"{path}.{name}")
        if "items" in branch:
            if "items" not in outer:
                fail(path, "items are not specified outside the junctor")
            else:
                check_projection(branch["items"], outer["items"], f"{path}[]")
        for junctor in JUNCTORS:
            for index, nested in enumerate(branch.get(junctor, [])):
                check_projection(nested, outer, f"{path}.{junctor}[{index}]")
        if "not" in branch:
            check_projection(branch["not"], outer, f"{path}.not")

    check(schema, "", False)
    if schema.get("type") != "object":
        fail("", "the root must be of type object")
    metadata = schema.get("properties", {}).get("metadata", {})
    if set(metadata.get("properties", {})) - {"name", "generateName"}:
        fail("metadata", "only metadata.name and metadata.generateName may be restricted")
    return errors


# ---------------------------------------------------------------------------------
# The schema as the API server applies it, in JSON Schema (draft 7).

# What the API server itself checks of ObjectMeta when creating an object.
OBJECT_META = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string", "minLength": 1},
                   "namespace": {"type": "string"}},
}
DROPPED_KEYS = {"description", "example", "externalDocs", "default", "nullable", "title"}


def to_json_schema(node, in_junctor=False):
    """`node` with Kubernetes' extensions turned into what they mean for validation.

    An object that lists its properties refuses any other field: the API server prunes
    unknown fields, and refuses them under strict field validation (kubectl's default).
    Inside a junctor properties only add restrictions, so nothing is refused there.
    """
    converted = {}
    for key, value in node.items():
        if key in DROPPED_KEYS or key.startswith("x-kubernetes-"):
            continue
        if key == "properties":
            converted[key] = {name: to_json_schema(child, in_junctor)
                              for name, child in value.items()}
        elif key in ("items", "not") or (key == "additionalProperties"
                                         and isinstance(value, dict)):
            converted[key] = to_json_schema(value, in_junctor or key == "not")
        elif key in JUNCTORS:
            converted[key] = [to_json_schema(branch, True) for branch in value]
        else:
            converted[key] = copy.deepcopy(value)
    if node.get("nullable") and "type" in converted:
        converted["type"] = [converted["type"], "null"]
    if node.get("x-kubernetes-int-or-string"):
        converted["anyOf"] = converted.get("anyOf", []) + [{"type": "integer"},
                                                          {"type": "string"}]
    if ("properties" in node and not in_junctor
            and not node.get("x-kubernetes-preserve-unknown-fields")):
        converted["additionalProperties"] = False
    return converted


def api_schema(crd):
    """The JSON Schema of an Egress as a client would send it to the API server."""
    schema = to_json_schema(egress_schema(crd))
    schema["properties"]["metadata"] = OBJECT_META
    schema["properties"]["apiVersion"] = {"const": API_VERSION}
    schema["properties"]["kind"] = {"const": crd["spec"]["names"]["kind"]}
    schema["required"] = sorted(set(schema.get("required", [])) | {"apiVersion", "kind",
                                                                   "metadata"})
    return schema


def parse_ip_like_go(text):
    """An address as the API server's ipv4/ipv6/cidr formats parse it (Go's
    net.ParseIP, sloppy about leading zeros in IPv4 as Kubernetes is); None if not."""
    if ":" in text:
        if "%" in text:  # Go refuses zones
            return None
        try:
            return ipaddress.IPv6Address(text)
        except ValueError:
            return None
    parts = text.split(".")
    if len(parts) != 4 or not all(part.isdigit() and part.isascii() for part in parts):
        return None
    octets = [int(part) for part in parts]
    return ipaddress.IPv4Address(bytes(octets)) if max(octets) <= 255 else None


def kubernetes_format_checker():
    checker = jsonschema.FormatChecker(formats=())

    @checker.checks("ipv4")
    def is_ipv4(text):
        return not isinstance(text, str) or ("." in text and parse_ip_like_go(text) is not None)

    @checker.checks("ipv6")
    def is_ipv6(text):
        return not isinstance(text, str) or (":" in text and parse_ip_like_go(text) is not None)

    @checker.checks("cidr")
    def is_cidr(text):
        if not isinstance(text, str):
            return True
        address, slash, length = text.partition("/")
        parsed = parse_ip_like_go(address)
        if not slash or parsed is None or not length.isdigit() or not length.isascii():
            return False
        return int(length) <= parsed.max_prefixlen

    return checker


def validator_for(crd):
    schema = api_schema(crd)
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema, format_checker=kubernetes_format_checker())


def path_text(error):
    text = ""
    for part in error.absolute_path:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def within(path, scope):
    return scope == "" or path == scope or path.startswith(scope + ".") or path.startswith(
        scope + "[")


def parent_of(path):
    return re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path) if path else ""


# ---------------------------------------------------------------------------------
# Documents.

def egress(spec, metadata=None):
    return {"apiVersion": API_VERSION, "kind": "Egress",
            "metadata": metadata or {"name": "wrong", "namespace": "shop"},
            "spec": yaml.safe_load(spec) if isinstance(spec, str) else spec}


def with_rule(rule):
    return egress({"podSelector": {}, "rules": [yaml.safe_load(rule)]})


def with_ports(ports):
    return with_rule("{domains: [example.com], ports: " + ports + "}")


def with_expression(expression):
    return egress("podSelector: {matchExpressions: [" + expression + "]}")


def without(field):
    document = egress("podSelector: {}")
    del document[field]
    return document


class Wrong:
    """A document the schema must reject with `keyword` at `path`.

    loader: also what skouterd's loader does with it: "rejects", or why it accepts what
    the CRD refuses on purpose.
    """

    def __init__(self, reason, document, path, keyword, mentions="", loader="rejects"):
        self.reason, self.document, self.path = reason, document, path
        self.keyword, self.mentions, self.loader = keyword, mentions, loader


WRONG = [
    Wrong("mode is not enforce or audit", egress("mode: Audit"), "spec.mode", "enum"),
    Wrong("mode is not enforce or audit", egress("mode: dryrun"), "spec.mode", "enum"),
    Wrong("mode is not a string", egress("mode: [audit]"), "spec.mode", "type"),
    Wrong("denyResponse is not passthrough, nxdomain or refused", egress("denyResponse: drop"),
          "spec.denyResponse", "enum"),
    Wrong("denyResponse is case-sensitive", egress("denyResponse: NXDOMAIN"),
          "spec.denyResponse", "enum"),
    Wrong("queries is allow or deny", egress("queries: block"), "spec.queries", "enum"),
    Wrong("tls.verifySNI is not a boolean", egress("tls: {verifySNI: yes-please}"),
          "spec.tls.verifySNI", "type"),
    Wrong("tls.serverNames is not a known match", egress("tls: {verifySNI: true, serverNames: any}"),
          "spec.tls.serverNames", "enum"),
    Wrong("tls.ports has port 0", egress("tls: {verifySNI: true, ports: [0]}"),
          "spec.tls.ports[0]", "minimum"),
    Wrong("tls has an unknown field", egress("tls: {verifySNI: true, sni: on}"), "spec.tls",
          "additionalProperties"),
    Wrong("port 0", with_ports("[{port: 0}]"), "spec.rules[0].ports[0].port", "minimum"),
    Wrong("port 65536", with_ports("[{port: 65536}]"), "spec.rules[0].ports[0].port",
          "maximum"),
    Wrong("endPort 65536", with_ports("[{port: 80, endPort: 65536}]"),
          "spec.rules[0].ports[0].endPort", "maximum"),
    Wrong("endPort 0", with_ports("[{port: 80, endPort: 0}]"),
          "spec.rules[0].ports[0].endPort", "minimum"),
    Wrong("a named port", with_ports("[{port: http}]"), "spec.rules[0].ports[0].port", "type"),
    Wrong("port is a list", with_ports("[{port: [80]}]"), "spec.rules[0].ports[0].port",
          "type"),
    Wrong("protocol ICMP", with_ports("[{port: 80, protocol: ICMP}]"),
          "spec.rules[0].ports[0].protocol", "enum"),
    Wrong("protocol in lower case", with_ports("[{port: 80, protocol: tcp}]"),
          "spec.rules[0].ports[0].protocol", "enum"),
    Wrong("endPort without port", with_ports("[{endPort: 80}]"), "spec.rules[0].ports[0]",
          "anyOf"),
    Wrong("unknown field in a port entry", with_ports("[{port: 53, protcol: UDP}]"),
          "spec.rules[0].ports[0]", "additionalProperties", mentions="protcol"),
    Wrong("ports lists more than 32 entries",
          with_ports("[" + ", ".join(f"{{port: {2 * n}}}" for n in range(1, 34)) + "]"),
          "spec.rules[0].ports", "maxItems"),
    Wrong("ports is empty", with_ports("[]"), "spec.rules[0].ports", "minItems"),
    Wrong("ports is not a list", with_ports("443"), "spec.rules[0].ports", "type"),
    Wrong("a port entry is not a map", with_ports("[443]"), "spec.rules[0].ports[0]", "type"),
    Wrong("unknown field in a rule", with_rule("{domain: [example.com]}"), "spec.rules[0]",
          "additionalProperties", mentions="domain"),
    Wrong("a rule that allows nothing", with_rule("{}"), "spec.rules[0]", "anyOf"),
    Wrong("a rule with empty lists only", with_rule("{domains: [], ips: []}"),
          "spec.rules[0]", "anyOf"),
    Wrong("a rule with ports only", with_rule("{ports: [{port: 443}]}"), "spec.rules[0]",
          "anyOf"),
    Wrong("a rule is not a map", with_rule("example.com"), "spec.rules[0]", "type"),
    Wrong("domains is not a list", with_rule("{domains: example.com}"),
          "spec.rules[0].domains", "type"),
    Wrong("a domain is not a string", with_rule("{domains: [~]}"), "spec.rules[0].domains[0]",
          "type"),
    Wrong("an empty label", with_rule("{domains: [bad..example.com]}"),
          "spec.rules[0].domains[0]", "pattern"),
    Wrong("a character DNS names do not have", with_rule("{domains: [ex@mple.com]}"),
          "spec.rules[0].domains[0]", "pattern"),
    Wrong("a lone dot", with_rule("{domains: ['.']}"), "spec.rules[0].domains[0]", "pattern"),
    Wrong("a label of 64 characters", with_rule("{domains: [" + "a" * 64 + ".com]}"),
          "spec.rules[0].domains[0]", "pattern"),
    Wrong("a name of 259 characters",
          with_rule("{domains: [" + ("a" * 63 + ".") * 4 + "com]}"),
          "spec.rules[0].domains[0]", "maxLength"),
    Wrong("'*' inside a name", with_rule("{domains: ['a.*.example.com']}"),
          "spec.rules[0].domains[0]", "pattern"),
    Wrong("'*' glued to a label", with_rule("{domains: ['*example.com']}"),
          "spec.rules[0].domains[0]", "pattern"),
    Wrong("two wildcard labels", with_rule("{domains: ['*.*.example.com']}"),
          "spec.rules[0].domains[0]", "pattern"),
    Wrong("a wildcard top-level domain", with_rule("{domains: ['example.*']}"),
          "spec.rules[0].domains[0]", "pattern"),
    Wrong("'*.' with nothing after it", with_rule("{domains: ['*.']}"),
          "spec.rules[0].domains[0]", "pattern"),
    Wrong("regex is not a list", with_rule("{regex: '.*'}"), "spec.rules[0].regex", "type"),
    Wrong("fqdn holds a map", with_rule("{fqdn: [{name: a}]}"), "spec.rules[0].fqdn[0]",
          "type"),
    Wrong("a CIDR under ips", with_rule("{ips: [10.0.0.0/8]}"), "spec.rules[0].ips[0]",
          "anyOf"),
    Wrong("an IPv4 octet over 255", with_rule("{ips: [1.2.3.256]}"), "spec.rules[0].ips[0]",
          "anyOf"),
    Wrong("a name under ips", with_rule("{ips: [example.com]}"), "spec.rules[0].ips[0]",
          "anyOf"),
    Wrong("an IPv6 zone", with_rule("{ips: ['fe80::1%eth0']}"), "spec.rules[0].ips[0]",
          "anyOf"),
    Wrong("an IPv4 prefix over 32", with_rule("{cidrs: [10.0.0.0/33]}"),
          "spec.rules[0].cidrs[0]", "format"),
    Wrong("an IPv6 prefix over 128", with_rule("{cidrs: ['2001:db8::/129']}"),
          "spec.rules[0].cidrs[0]", "format"),
    Wrong("a CIDR without length", with_rule("{cidrs: [10.0.0.1]}"), "spec.rules[0].cidrs[0]",
          "format"),
    Wrong("a CIDR of three octets", with_rule("{cidrs: [10.0.0/8]}"), "spec.rules[0].cidrs[0]",
          "format"),
    Wrong("rules is not a list", egress("rules: {domains: [a.com]}"), "spec.rules", "type"),
    Wrong("unknown spec field", egress("egress: []"), "spec", "additionalProperties",
          mentions="egress"),
    Wrong("a selector field in the wrong case", egress("nodeselector: {}"), "spec",
          "additionalProperties", mentions="nodeselector"),
    Wrong("spec is missing", without("spec"), "", "required", mentions="spec"),
    Wrong("unknown top-level field", dict(egress("podSelector: {}"), specs={}), "",
          "additionalProperties", mentions="specs"),
    Wrong("metadata.name is missing", egress("podSelector: {}", metadata={"namespace": "shop"}),
          "metadata", "required"),
    Wrong("another kind", dict(egress("podSelector: {}"), kind="NetworkPolicy"), "kind",
          "const"),
    Wrong("another apiVersion", dict(egress("podSelector: {}"), apiVersion="egress.skouter/v1"),
          "apiVersion", "const"),
    Wrong("a selector is a list", egress("podSelector: [app]"), "spec.podSelector", "type"),
    Wrong("a label value is a list", egress("nodeSelector: {matchLabels: {role: [web]}}"),
          "spec.nodeSelector.matchLabels.role", "type"),
    Wrong("unknown selector field", egress("nodeSelector: {matchLabels: {}, zone: a}"),
          "spec.nodeSelector", "additionalProperties", mentions="zone"),
    Wrong("operator Is", with_expression("{key: role, operator: Is, values: [web]}"),
          "spec.podSelector.matchExpressions[0].operator", "enum"),
    Wrong("In without values", with_expression("{key: role, operator: In}"),
          "spec.podSelector.matchExpressions[0]", "anyOf"),
    Wrong("NotIn with no values", with_expression("{key: role, operator: NotIn, values: []}"),
          "spec.podSelector.matchExpressions[0]", "anyOf"),
    Wrong("Exists with values", with_expression("{key: role, operator: Exists, values: [a]}"),
          "spec.podSelector.matchExpressions[0]", "anyOf"),
    Wrong("an expression without key", with_expression("{operator: Exists}"),
          "spec.podSelector.matchExpressions[0]", "required", mentions="key"),
    Wrong("matchExpressions is a map", egress("namespaceSelector: {matchExpressions: {}}"),
          "spec.namespaceSelector.matchExpressions", "type"),
    # Refused by the CRD, accepted by the loader: on purpose.
    Wrong("a plain {k: v} selector", egress("podSelector: {app: web}"), "spec.podSelector",
          "additionalProperties", mentions="app",
          loader="accepts it as matchLabels in policy files; the CRD takes the Kubernetes "
                 "LabelSelector form only (see crd.yaml)"),
    Wrong("minTTL below 0", with_rule("{domains: [example.com], minTTL: -1}"),
          "spec.rules[0].minTTL", "minimum"),
    Wrong("minTTL above a week", with_rule("{domains: [example.com], minTTL: 604801}"),
          "spec.rules[0].minTTL", "maximum"),
    Wrong("minTTL as a duration", with_rule("{domains: [example.com], minTTL: 30s}"),
          "spec.rules[0].minTTL", "type"),
    Wrong("minTTL with a fraction", with_rule("{domains: [example.com], minTTL: 1.5}"),
          "spec.rules[0].minTTL", "type"),
    Wrong("a port written as a string", with_ports("[{port: '443'}]"),
          "spec.rules[0].ports[0].port", "type",
          loader="reads YAML scalars as text; in the API a port is a number, as in a "
                 "NetworkPolicy"),
    Wrong("more than 1024 rules",
          egress({"podSelector": {}, "rules": [{"ips": ["192.0.2.1"]}] * 1025}),
          "spec.rules", "maxItems",
          loader="has no limit; the API server needs one to bound the cost of the CEL rules"),
]

# Accepted by the schema and by the loader: the corners of every field.
RIGHT = {
    "no selector at all: selects nothing": egress("{}"),
    "every selector empty: selects everything": egress(
        "{nodeSelector: {}, podSelector: {}, namespaceSelector: {}, rules: []}"),
    "empty matchLabels and matchExpressions": egress(
        "podSelector: {matchLabels: {}, matchExpressions: []}"),
    "every operator": egress("""
      podSelector:
        matchLabels: {app: web}
        matchExpressions:
          - {key: tier, operator: In, values: [a, b]}
          - {key: track, operator: NotIn, values: [canary]}
          - {key: gpu, operator: DoesNotExist}
          - {key: kubernetes.io/os, operator: Exists, values: []}
      namespaceSelector:
        matchExpressions: [{key: team, operator: Exists}]
    """),
    "every mode and denyResponse": egress("{mode: enforce, denyResponse: passthrough}"),
    "audit and refused": egress("{mode: audit, denyResponse: refused}"),
    "queries denied": egress("{queries: deny, denyResponse: refused}"),
    "queries allowed": egress("{queries: allow}"),
    "server names checked": egress(
        "{tls: {verifySNI: true, ports: [443, 8443], serverNames: allowedByPolicy}}"),
    "names in every form": with_rule(
        "{domains: ['*', '*.Example.COM.', _dmarc.x-y.org, WWW.Example.COM., "
        + "a" * 63 + ".com, '*.a.b.example.org']}"),
    "regex and its alias fqdn": with_rule(
        "{regex: ['.*\\.wikipedia\\.org'], fqdn: ['api[0-9]+\\.example\\.com']}"),
    "addresses of both families": with_rule(
        "{ips: [192.0.2.10, '2001:db8::10', '::ffff:192.0.2.1']}"),
    "CIDRs with host bits and the extremes": with_rule(
        "{cidrs: [127.0.0.1/8, 0.0.0.0/0, '::/0', '2001:db8::1/128', 10.0.10.0/24]}"),
    "ports in every form": with_ports(
        "[{port: 443}, {port: 8000, endPort: 8080}, {port: 53, protocol: UDP}, "
        "{port: 1, endPort: 1, protocol: SCTP}, {protocol: TCP}, {}]"),
    "the extreme ports": with_ports("[{port: 1}, {port: 65535, endPort: 65535}]"),
    "minTTL at its extremes": egress({"podSelector": {}, "rules": [
        {"domains": ["example.com"], "minTTL": 0},
        {"domains": ["*.example.org"], "minTTL": 604800, "ports": [{"port": 443}]}]}),
    "32 ports": with_ports("[" + ", ".join(f"{{port: {2 * n}}}" for n in range(1, 33)) + "]"),
    "1024 rules": egress({"podSelector": {}, "rules": [{"ips": ["192.0.2.1"]}] * 1024}),
    "Kubernetes metadata": egress("podSelector: {}", metadata={
        "name": "web", "namespace": "shop", "labels": {"app": "web"},
        "annotations": {"note": "hi"}, "uid": "0f1e", "resourceVersion": "7",
        "generation": 3}),
}

# Accepted by the schema, refused by the loader (and reported as an Event on the
# Egress): what the schema cannot express.
LOADER_ONLY = {
    "endPort below port (a CEL rule refuses it on API servers from 1.25)":
        with_ports("[{port: 8080, endPort: 80}]"),
    "a regex RE2 refuses": with_rule("{regex: ['(unclosed']}"),
    "a name of 254 characters":
        with_rule("{domains: [" + ("a" * 62 + ".") * 4 + "aa]}"),
    "an IPv4 address with a leading zero (Kubernetes parses IPv4 sloppily)":
        with_rule("{ips: [010.1.2.3]}"),
}


class PolicyLoader:
    """skouter_policy_check: skouterd's loader on one document or file."""

    def __init__(self, program):
        self.program = program

    def loads_file(self, path):
        result = subprocess.run([self.program, path], capture_output=True, text=True,
                                timeout=30)
        if result.returncode not in (0, 1):
            raise RuntimeError(f"{self.program} {path} exited {result.returncode}: "
                               f"{result.stderr}")
        return result.returncode == 0, result.stderr.strip()

    def loads(self, document):
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as policy:
            yaml.safe_dump(document, policy, sort_keys=False)
        try:
            return self.loads_file(policy.name)
        finally:
            os.unlink(policy.name)


def example_documents():
    """(file, index, document) for every document of every example policy file."""
    files = sorted(path for pattern in EXAMPLE_GLOBS for path in glob.glob(pattern))
    documents = []
    for path in files:
        with open(path) as example:
            for index, document in enumerate(yaml.safe_load_all(example), start=1):
                if document is not None:
                    documents.append((os.path.relpath(path, REPO), index, document))
    return files, documents


class CrdTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.crd = load_crd()
        cls.schema = egress_schema(cls.crd)
        cls.validator = validator_for(cls.crd)

    def loader(self):
        if not POLICY_CHECK:
            self.skipTest("no --policy-check PATH (or SKOUTER_POLICY_CHECK) given: the "
                          "loader cross-check needs tests/deploy's skouter_policy_check")
        return PolicyLoader(POLICY_CHECK)

    def errors_of(self, document):
        return [f"{path_text(error) or '<root>'}: {error.message} ({error.validator})"
                for error in self.validator.iter_errors(document)]

    def test_names_the_resource_as_skouterd_requests_it(self):
        crd = self.crd
        self.assertEqual(crd["apiVersion"], "apiextensions.k8s.io/v1")
        self.assertEqual(crd["kind"], "CustomResourceDefinition")
        self.assertEqual(crd["metadata"]["name"], "egresses.egress.skouter")
        self.assertEqual(crd["spec"]["group"], "egress.skouter")
        self.assertEqual(crd["spec"]["scope"], "Namespaced")
        names = crd["spec"]["names"]
        self.assertEqual((names["kind"], names["plural"], names["singular"],
                          names["shortNames"]), ("Egress", "egresses", "egress", ["egr"]))
        (version,) = crd["spec"]["versions"]
        self.assertEqual((version["name"], version["served"], version["storage"]),
                         ("v1alpha1", True, True))
        columns = {column["name"]: column for column in version["additionalPrinterColumns"]}
        self.assertEqual(columns["Mode"]["jsonPath"], ".spec.mode")
        self.assertEqual(columns["Age"]["jsonPath"], ".metadata.creationTimestamp")
        self.assertEqual(columns["Age"]["type"], "date")

    def test_schema_is_structural(self):
        self.assertEqual(structural_errors(self.schema), [])

    def test_structural_check_catches_what_kubernetes_refuses(self):
        broken = {
            "type": "object",
            "properties": {
                "untyped": {"properties": {}},
                "closed": {"type": "object", "properties": {"a": {"type": "string"}},
                           "additionalProperties": False},
                "ref": {"$ref": "#/definitions/x"},
                "list": {"type": "array"},
                "typed_in_junctor": {"type": "string", "anyOf": [{"type": "string"}]},
                "unprojected": {"type": "object", "properties": {},
                                "anyOf": [{"required": ["x"], "properties": {"x": {}}}]},
            },
        }
        reasons = "\n".join(structural_errors(broken))
        for expected in ["untyped: has no type", "additionalProperties must not be false",
                         "additionalProperties and properties exclude each other",
                         "'$ref' is not allowed", "list: an array needs one items schema",
                         "'type' is not allowed inside", "property 'x' is not specified"]:
            self.assertIn(expected, reasons)

    def test_the_three_selectors_share_one_schema(self):
        spec = self.schema["properties"]["spec"]["properties"]
        node = dict(spec["nodeSelector"], description="")
        for name in ("podSelector", "namespaceSelector"):
            self.assertEqual(dict(spec[name], description=""), node, name)

    def test_spec_lists_exactly_the_fields_the_loader_reads(self):
        spec = self.schema["properties"]["spec"]
        self.assertEqual(set(spec["properties"]), {"nodeSelector", "podSelector",
                                                   "namespaceSelector", "mode",
                                                   "denyResponse", "queries", "tls", "rules"})
        self.assertEqual(set(spec["properties"]["tls"]["properties"]),
                         {"verifySNI", "ports", "serverNames"})
        rule = spec["properties"]["rules"]["items"]
        self.assertEqual(set(rule["properties"]), {"domains", "regex", "fqdn", "ips",
                                                   "cidrs", "ports", "minTTL"})
        self.assertEqual(set(rule["properties"]["ports"]["items"]["properties"]),
                         {"port", "endPort", "protocol"})

    def test_cel_rules_back_the_port_checks_only_cel_can_make(self):
        port = (self.schema["properties"]["spec"]["properties"]["rules"]["items"]
                ["properties"]["ports"]["items"])
        rules = [validation["rule"] for validation in port["x-kubernetes-validations"]]
        self.assertIn("!has(self.endPort) || !has(self.port) || self.endPort >= self.port",
                      rules)

    def test_every_example_policy_is_accepted(self):
        files, documents = example_documents()
        self.assertGreaterEqual(len(files), 7, "the example policies were not found")
        for path, index, document in documents:
            with self.subTest(f"{path} document {index}"):
                self.assertEqual(self.errors_of(document), [])

    def test_every_example_policy_loads_in_skouterd(self):
        loader = self.loader()
        files, _ = example_documents()
        for path in files:
            with self.subTest(path):
                loaded, error = loader.loads_file(path)
                self.assertTrue(loaded, error)

    def test_the_corners_of_every_field_are_accepted(self):
        for description, document in RIGHT.items():
            with self.subTest(description):
                self.assertEqual(self.errors_of(document), [])

    def test_the_corners_of_every_field_load_in_skouterd(self):
        loader = self.loader()
        for description, document in RIGHT.items():
            with self.subTest(description):
                loaded, error = loader.loads(document)
                self.assertTrue(loaded, error)

    def test_each_wrong_document_is_rejected_for_its_reason(self):
        for wrong in WRONG:
            with self.subTest(wrong.reason):
                errors = list(self.validator.iter_errors(wrong.document))
                found = [f"{path_text(error) or '<root>'}: {error.validator}: {error.message}"
                         for error in errors]
                matching = [error for error in errors
                            if path_text(error) == wrong.path and error.validator == wrong.keyword
                            and wrong.mentions in error.message]
                self.assertTrue(matching, f"expected {wrong.keyword} at "
                                          f"{wrong.path or '<root>'}, got {found}")
                # Nothing else is wrong, so the case fails for its own reason.
                scope = parent_of(wrong.path)
                self.assertEqual([text for error, text in zip(errors, found)
                                  if not within(path_text(error), scope)], [])

    def test_skouterd_rejects_the_wrong_documents_too(self):
        loader = self.loader()
        for wrong in WRONG:
            with self.subTest(wrong.reason):
                loaded, error = loader.loads(wrong.document)
                if wrong.loader == "rejects":
                    self.assertFalse(loaded, "skouterd's loader accepts it")
                else:
                    self.assertTrue(loaded, f"the table says the loader {wrong.loader}; "
                                            f"it says: {error}")

    def test_what_only_the_loader_catches(self):
        for description, document in LOADER_ONLY.items():
            with self.subTest(description):
                self.assertEqual(self.errors_of(document), [],
                                 "the schema catches this now: move it to WRONG")
        loader = self.loader()
        for description, document in LOADER_ONLY.items():
            with self.subTest(description):
                loaded, _ = loader.loads(document)
                self.assertFalse(loaded, "skouterd's loader accepts it")


def main():
    global POLICY_CHECK
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--policy-check", default=POLICY_CHECK,
                        help="skouter_policy_check, to cross-check with skouterd's loader")
    arguments, rest = parser.parse_known_args()
    POLICY_CHECK = arguments.policy_check
    if POLICY_CHECK and not os.access(POLICY_CHECK, os.X_OK):
        sys.exit(f"--policy-check: {POLICY_CHECK} is not an executable")
    unittest.main(argv=[sys.argv[0]] + rest, verbosity=2)


if __name__ == "__main__":
    main()
