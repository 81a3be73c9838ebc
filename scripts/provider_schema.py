#!/usr/bin/env python3
"""Extracts the Google provider's resource schema from the prebuilt CDK bindings.

`terraform init` cannot download the provider here, but the PyPI package
`cdktn-provider-google` (generated from the provider) carries a jsii assembly whose
documentation links name every resource, data source, argument and nested block in
Terraform's own spelling (`.../docs/resources/pubsub_subscription#ack_deadline_seconds`).
This writes them as compact JSON, read by the provider check in tests/terraform.rs:

    {"provider_version": "8.7.0",
     "resource": {"google_pubsub_subscription": {"topic": {"required": true}, ...}},
     "data": {...}}

where a nested block is {"required": bool, "block": {...its arguments...}}.

Usage: provider_schema.py <the .whl> <out.json>   (standard library only)
"""
import io
import json
import re
import sys
import tarfile
import zipfile

LINK = re.compile(r"/providers/hashicorp/google/([0-9.]+)/docs/(resources|data-sources)/(\w+)#(\w+)")
PREFIX = "@cdktn/provider-google."


def assembly(wheel):
    with zipfile.ZipFile(wheel) as z:
        name = next(n for n in z.namelist() if n.endswith(".jsii.tgz"))
        with tarfile.open(fileobj=io.BytesIO(z.read(name))) as tar:
            return json.load(tar.extractfile("package/.jsii"))


def link(prop):
    docs = prop.get("docs", {})
    return LINK.search(docs.get("remarks", "") + " " + docs.get("summary", ""))


def nested(ty):
    """The provider interface a property's type holds (a nested block), if any."""
    if "fqn" in ty:
        return ty["fqn"] if ty["fqn"].startswith(PREFIX) else None
    if "collection" in ty:
        return nested(ty["collection"]["elementtype"])
    if "union" in ty:
        for t in ty["union"]["types"]:
            found = nested(t)
            if found:
                return found
    return None


def walk(types, fqn, depth=0):
    out = {}
    t = types[fqn]
    if t.get("kind") != "interface" or depth > 12:
        return out
    for prop in t.get("properties", []):
        m = link(prop)
        if not m:
            continue
        arg = {"required": not prop.get("optional", False)}
        inner = nested(prop["type"])
        if inner and types.get(inner, {}).get("kind") == "interface":
            arg["block"] = walk(types, inner, depth + 1)
        out[m.group(4)] = arg
    return out


def main(wheel, out):
    types = assembly(wheel)["types"]
    schema = {"provider_version": None, "resource": {}, "data": {}}
    for fqn, t in types.items():
        if t.get("kind") != "interface" or not t.get("name", "").endswith("Config"):
            continue
        if "cdktn.TerraformMetaArguments" not in t.get("interfaces", []):
            continue
        m = next((link(p) for p in t.get("properties", []) if link(p)), None)
        if not m:
            continue
        schema["provider_version"] = m.group(1)
        kind = "resource" if m.group(2) == "resources" else "data"
        schema[kind]["google_" + m.group(3)] = walk(types, fqn)
    with open(out, "w") as f:
        json.dump(schema, f, sort_keys=True, separators=(",", ":"))
    print(
        f"provider schema: google {schema['provider_version']}, "
        f"{len(schema['resource'])} resources, {len(schema['data'])} data sources -> {out}"
    )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2])
