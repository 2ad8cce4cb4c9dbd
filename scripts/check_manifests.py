#!/usr/bin/env python3
"""Checks on rendered wasmfn manifests that the Knative CRD schemas cannot express.

usage: check_manifests.py --repo DIR [--self-test] RENDER.yaml...
       check_manifests.py --repo DIR --unwrap-binary-data RENDER.yaml

Each RENDER.yaml is the output of `kubectl kustomize deploy/<overlay>`; the
overlay's name is the file's stem. Run by scripts/check-manifests.sh, which
renders every overlay and validates it against the CRD schemas first.

Checks, over all renders together:
  routes   every destination that points at the host ksvc (Trigger subscriber,
           deadLetterSink, PingSource sink, ...) has a uri `/<name>` that names
           a function crate (functions/<name>/Cargo.toml) packed as <name>.wasm
           (or pulled by `source`) in every rendered functions ConfigMap; every
           packed or pulled module names a crate.
  config   per overlay, what the rendered objects decide (the config rules
           themselves are `wasmfn check`'s, run by scripts/check-manifests.sh
           with the host's own parser): every ${VAR} in wasmfn.toml is set in
           the env of the host container; `default` and [functions.<name>]
           name packed modules; every env_files entry is written by a Vault
           annotation or lies under a volume mount of the host container; a
           function with a `source` is not also packed; WASMFN_REGISTRY_AUTH
           lies in a pre-filled volume.
  mount    the functions ConfigMap is mounted as a directory (no subPath, no
           items) at /etc/wasmfn/functions.
  size     the functions ConfigMap stays within the API server's 1 MiB limit,
           measured as the API server does (ValidateConfigMap): the sum of the
           `data` values' bytes plus the DECODED `binaryData` bytes (keys and
           metadata not counted). The base64 size in the manifest is printed too.
  urls     BROKER_URL-style env values (kafka-broker-ingress / kafka-sink-ingress
           addresses) name <namespace>/<name> of a rendered Kafka Broker / KafkaSink.
  secrets  no overlay renders a Secret.

--self-test (scripts/check_manifests_selftest.py), once the renders pass,
also breaks copies of them one way at a time (a wrong Trigger uri, an unset
${VAR}, an oversized ConfigMap, ...) and makes sure the matching check fails.
"""

import argparse
import base64
import re
import sys
import tomllib
from pathlib import Path

import yaml

FUNCTIONS_DIR = "/etc/wasmfn/functions"
CONFIG_KEY = "wasmfn.toml"
CONFIGMAP_LIMIT = 1024 * 1024  # API server: MaxSecretSize, also used for ConfigMaps
WASM_MAGIC = b"\0asm"
VAULT = "vault.hashicorp.com/"
VAULT_DEFAULT_DIR = "/vault/secrets"
ROUTE = re.compile(r"^/([a-z0-9][a-z0-9-]*)$")
# As the host expands them (host/src/config/vars.rs): `${` up to the next `}`,
# in string values only (comments are never expanded).
VAR = re.compile(r"\$\{([^}]*)\}")
INGRESS = {
    # host of the eventing-kafka-broker data plane -> kind it addresses
    "kafka-broker-ingress.knative-eventing.svc.cluster.local": "Broker",
    "kafka-sink-ingress.knative-eventing.svc.cluster.local": "KafkaSink",
}
INGRESS_URL = re.compile(r"^http://([^/]+)/([^/]+)/([^/]+)/?$")


class Render:
    """One overlay's rendered objects."""

    def __init__(self, name, docs):
        self.name = name
        self.docs = [d for d in docs if isinstance(d, dict)]

    def of_kind(self, kind, group=None):
        for d in self.docs:
            api = d.get("apiVersion", "")
            if d.get("kind") == kind and (group is None or api.startswith(group + "/")):
                yield d


def label(doc):
    return f"{doc.get('kind')}/{doc.get('metadata', {}).get('name')}"


def namespace(doc):
    return doc.get("metadata", {}).get("namespace", "default")


def ksvcs(render):
    return render.of_kind("Service", "serving.knative.dev")


def host_mounts(render):
    """(ksvc, container, mount, volume, ConfigMap or None) for each functions mount."""
    for svc in ksvcs(render):
        spec = svc.get("spec", {}).get("template", {}).get("spec", {})
        volumes = {v.get("name"): v for v in spec.get("volumes", [])}
        for c in spec.get("containers", []):
            for m in c.get("volumeMounts", []):
                if m.get("mountPath", "").rstrip("/") != FUNCTIONS_DIR:
                    continue
                vol = volumes.get(m.get("name"), {})
                cm_name = vol.get("configMap", {}).get("name")
                cm = next((d for d in render.of_kind("ConfigMap")
                           if d["metadata"].get("name") == cm_name
                           and namespace(d) == namespace(svc)), None)
                yield svc, c, m, vol, cm


def packed_modules(cm):
    """Function names packed in a functions ConfigMap (<name>.wasm keys)."""
    keys = list(cm.get("binaryData") or {}) + list(cm.get("data") or {})
    return {k[: -len(".wasm")] for k in keys if k.endswith(".wasm")}


def sources(cm):
    """{function: source} of the functions its wasmfn.toml pulls from a registry."""
    try:
        config = tomllib.loads((cm.get("data") or {}).get(CONFIG_KEY, ""))
    except tomllib.TOMLDecodeError:
        return {}
    return {name: f["source"] for name, f in config.get("functions", {}).items()
            if isinstance(f, dict) and "source" in f}


def modules(cm):
    """Functions a functions ConfigMap provides: packed, or pulled by `source`."""
    return packed_modules(cm) | set(sources(cm))


def destinations(node, path=""):
    """Yield (path, destination) for every {ref: {...}} mapping below node."""
    if isinstance(node, dict):
        if isinstance(node.get("ref"), dict):
            yield path, node
        for k, v in node.items():
            yield from destinations(v, f"{path}.{k}" if path else k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from destinations(v, f"{path}[{i}]")


def strings(node):
    """Every string value in a parsed TOML document."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for v in node.values():
            yield from strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v)


def crate_names(repo):
    return {p.parent.name for p in (repo / "functions").glob("*/Cargo.toml")}


# --------------------------------------------------------------------------
# checks: each returns (errors, notes)
# --------------------------------------------------------------------------


def check_routes(renders, crates):
    errors, notes = [], []
    hosts = {(namespace(s), s["metadata"]["name"]) for r in renders for s in ksvcs(r)}
    packs = [(r.name, cm) for r in renders for *_, cm in host_mounts(r) if cm is not None]
    crate_list = ", ".join(sorted(crates)) or "none"
    for rname, cm in packs:
        for name in sorted(modules(cm) - crates):
            errors.append(f"{rname}: ConfigMap {cm['metadata']['name']} packs {name}.wasm, "
                          f"but there is no functions/{name}/Cargo.toml (functions: {crate_list})")
        for name in sorted(crates - modules(cm)):
            notes.append(f"note: {rname}: function crate {name} is not packed in "
                         f"ConfigMap {cm['metadata']['name']} (not deployed)")
    routes = set()
    for r in renders:
        for doc in r.docs:
            if doc.get("kind") == "Service":
                continue
            for path, dest in destinations(doc.get("spec", {}), "spec"):
                ref = dest["ref"]
                if not (ref.get("kind") == "Service"
                        and str(ref.get("apiVersion", "")).startswith("serving.knative.dev/")):
                    continue
                where = f"{r.name}: {label(doc)} {path}"
                target = (ref.get("namespace", namespace(doc)), ref.get("name"))
                if target not in hosts:
                    errors.append(f"{where}.ref: ksvc {target[0]}/{target[1]} is not rendered by "
                                  f"any overlay (hosts: {sorted(hosts) or 'none'})")
                    continue
                uri = dest.get("uri")
                m = ROUTE.match(uri) if isinstance(uri, str) else None
                if not m:
                    errors.append(f"{where}.uri: {uri!r} is not a function route `/<name>` "
                                  f"(the host serves each function at POST /<name>)")
                    continue
                name = m.group(1)
                if name not in crates:
                    errors.append(f"{where}.uri: {uri} names no function: there is no "
                                  f"functions/{name}/Cargo.toml (functions: {crate_list})")
                    continue
                for rname, cm in packs:
                    if name not in modules(cm):
                        errors.append(f"{where}.uri: {uri}: {name}.wasm is not packed in "
                                      f"{rname}'s ConfigMap {cm['metadata']['name']} (the route would 404)")
                routes.add(uri)
    if not errors:
        notes.append(f"ok   routes: every destination on the host names a packed function "
                     f"({', '.join(sorted(routes)) or 'none'})")
    return errors, notes


# Volume types whose files exist when the container starts (not emptyDir).
PREFILLED_VOLUMES = ("secret", "configMap", "projected", "csi", "persistentVolumeClaim", "image")


def env_file_sources(svc, container):
    """Files the container finds at start: (paths written by the Vault agent,
    directories of pre-filled volumes other than the functions directory)."""
    template = svc["spec"]["template"]
    annotations = template.get("metadata", {}).get("annotations", {}) or {}
    files, dirs = set(), set()
    inject_into = annotations.get(VAULT + "agent-inject-containers")
    if (str(annotations.get(VAULT + "agent-inject", "")).lower() == "true"
            and (inject_into is None
                 or container.get("name") in [c.strip() for c in inject_into.split(",")])):
        vdir = annotations.get(VAULT + "secret-volume-path", VAULT_DEFAULT_DIR).rstrip("/")
        prefix = VAULT + "agent-inject-secret-"
        for k in annotations:
            if k.startswith(prefix):
                files.add(f"{vdir}/{k[len(prefix):]}")
    volumes = {v.get("name"): v for v in template["spec"].get("volumes", [])}
    for m in container.get("volumeMounts", []):
        vol = volumes.get(m.get("name"), {})
        if (m.get("mountPath", "").rstrip("/") != FUNCTIONS_DIR
                and any(t in vol for t in PREFILLED_VOLUMES)):
            dirs.add(m["mountPath"].rstrip("/") + "/")
    return files, dirs


def check_vault(svc, rname):
    errors = []
    annotations = svc["spec"]["template"].get("metadata", {}).get("annotations", {}) or {}
    if str(annotations.get(VAULT + "agent-inject", "")).lower() != "true":
        return errors
    prefix = VAULT + "agent-inject-secret-"
    for k in annotations:
        if k.startswith(prefix):
            name = k[len(prefix):]
            template = annotations.get(VAULT + "agent-inject-template-" + name)
            if not template or "export " not in template:
                errors.append(f"{rname}: {label(svc)}: {k} has no agent-inject-template-{name} "
                              f"writing `export KEY=\"value\"` lines")
    if not annotations.get(VAULT + "role"):
        errors.append(f"{rname}: {label(svc)}: Vault injection without {VAULT}role")
    if not svc["spec"]["template"]["spec"].get("serviceAccountName"):
        errors.append(f"{rname}: {label(svc)}: Vault injection without a serviceAccountName")
    return errors


def check_config(render, crates):
    errors, notes = [], []
    mounted = {id(svc) for svc, *_ in host_mounts(render)}
    for svc in ksvcs(render):
        if id(svc) not in mounted:
            errors.append(f"{render.name}: {label(svc)} has no volume mounted at {FUNCTIONS_DIR} "
                          f"(where the host loads its functions)")
    for svc, container, mount, vol, cm in host_mounts(render):
        where = f"{render.name}: {label(svc)} container {container.get('name')}"
        errors += check_vault(svc, render.name)
        if cm is None:
            errors.append(f"{where}: volume {mount.get('name')} at {FUNCTIONS_DIR} is not a "
                          f"ConfigMap rendered by this overlay")
            continue
        if mount.get("subPath") or mount.get("subPathExpr"):
            errors.append(f"{where}: {FUNCTIONS_DIR} is mounted with subPath: the kubelet never "
                          f"updates subPath mounts, so no hot swap")
        if vol.get("configMap", {}).get("items"):
            errors.append(f"{where}: volume {vol.get('name')} lists configMap.items: new modules "
                          f"would not appear in {FUNCTIONS_DIR}")
        text = (cm.get("data") or {}).get(CONFIG_KEY)
        if text is None:
            errors.append(f"{render.name}: ConfigMap {cm['metadata']['name']} has no {CONFIG_KEY} in data")
            continue
        try:
            config = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            errors.append(f"{render.name}: {CONFIG_KEY}: not valid TOML: {e}")
            continue
        env = {e.get("name") for e in container.get("env", [])}
        used = sorted({v for s in strings(config) for v in VAR.findall(s)})
        for var in used:
            if var not in env:
                errors.append(f"{render.name}: {CONFIG_KEY} uses ${{{var}}}, but {label(svc)} does "
                              f"not set {var} in the env of container {container.get('name')} "
                              f"(the host fails to load an unset variable)")
        packed = modules(cm)
        named = ([("default", config["default"])] if "default" in config else [])
        named += [(f"[functions.{n}]", n) for n in config.get("functions", {})]
        for what, name in named:
            if name not in packed:
                errors.append(f"{render.name}: {CONFIG_KEY} {what} names {name!r}, which is not "
                              f"packed in ConfigMap {cm['metadata']['name']} "
                              f"(packed: {', '.join(sorted(packed)) or 'none'})")
        files, dirs = env_file_sources(svc, container)
        for fname in sorted(sources(cm)):
            if fname in packed_modules(cm):
                errors.append(f"{render.name}: {CONFIG_KEY} [functions.{fname}] has a source and "
                              f"{fname}.wasm is packed too (the host refuses both)")
        auth = next((e.get("value") for e in container.get("env", [])
                     if e.get("name") == "WASMFN_REGISTRY_AUTH"), None)
        if auth is not None and not any(auth.startswith(d) for d in dirs):
            errors.append(f"{render.name}: WASMFN_REGISTRY_AUTH={auth} lies in no pre-filled "
                          f"volume of {label(svc)} (mount the pull Secret there)")
        for fname, fconf in config.get("functions", {}).items():
            for path in fconf.get("env_files", []):
                if path not in files and not any(path.startswith(d) for d in dirs):
                    errors.append(f"{render.name}: {CONFIG_KEY} [functions.{fname}] env_files "
                                  f"{path!r} is written by no Vault annotation into container "
                                  f"{container.get('name')} and lies in no pre-filled volume of "
                                  f"{label(svc)} (the host fails to load when an env file is missing)")
        if not errors:
            vars_ = ", ".join("${" + v + "}" for v in used) or "no ${VAR}"
            notes.append(f"ok   {render.name}: {CONFIG_KEY} parses; {vars_} set by {label(svc)}; "
                         f"names only packed functions")
    return errors, notes


def b64decode(value):
    """Decodes base64 as the API server does: strict, but line breaks ignored.

    kustomize wraps binaryData at 70 columns; Go's encoding/base64 (and so the
    API server) skips \\r and \\n, anything else outside the alphabet is an error.
    """
    return base64.b64decode(unwrap(value), validate=True)


def extract_functions_configmap(render, out):
    """Writes the host's functions ConfigMap of `render` into `out` as the
    kubelet mounts it (data as text, binaryData decoded), for `wasmfn check`."""
    if not list(ksvcs(render)):
        return None  # no host in this overlay (e.g. only eventing objects): nothing to write
    mounted = [cm for *_, cm in host_mounts(render) if cm is not None]
    if not mounted:
        return f"{render.name}: no functions ConfigMap is mounted at {FUNCTIONS_DIR}"
    cm = mounted[0]
    out.mkdir(parents=True, exist_ok=True)
    for key, value in (cm.get("data") or {}).items():
        (out / key).write_text(value)
    for key, value in (cm.get("binaryData") or {}).items():
        (out / key).write_bytes(b64decode(value))
    return None


def unwrap(value):
    return value.replace("\n", "").replace("\r", "")


def unwrap_binary_data(text):
    """The render with every binaryData value on one line, other documents as
    they were: shared/tools/validate-manifests decodes base64 strictly and
    would refuse kustomize's 70-column wrapping, which the API server accepts."""
    out = []
    for part in re.split(r"^---[ \t]*$", text, flags=re.M):
        doc = yaml.safe_load(part) if "binaryData:" in part else None
        if isinstance(doc, dict) and isinstance(doc.get("binaryData"), dict):
            doc["binaryData"] = {k: unwrap(v) for k, v in doc["binaryData"].items()}
            part = "\n" + yaml.safe_dump(doc, sort_keys=False, width=1 << 30)
        out.append(part)
    return "---".join(out)


def configmap_size(cm):
    """(API-server bytes, bytes as written in the manifest with base64 binaryData)."""
    data = cm.get("data") or {}
    binary = cm.get("binaryData") or {}
    text = sum(len(v.encode()) for v in data.values())
    raw = sum(len(b64decode(v)) for v in binary.values())
    encoded = sum(len(unwrap(v)) for v in binary.values())
    return text + raw, text + encoded


def check_size(render):
    errors, notes = [], []
    for svc, container, mount, vol, cm in host_mounts(render):
        if cm is None:
            continue
        name = f"ConfigMap {namespace(cm)}/{cm['metadata']['name']}"
        for key in sorted(cm.get("data") or {}):
            if key.endswith(".wasm"):
                errors.append(f"{render.name}: {name}: {key} is in data, not binaryData "
                              f"(valid UTF-8, so not a real WebAssembly binary?)")
        for key, value in sorted((cm.get("binaryData") or {}).items()):
            if key.endswith(".wasm") and not b64decode(value).startswith(WASM_MAGIC):
                errors.append(f"{render.name}: {name}: {key} is not a WebAssembly binary "
                              f"(no \\0asm header)")
        api, manifest = configmap_size(cm)
        line = (f"{render.name}: {name}: {len(packed_modules(cm))} modules + {CONFIG_KEY}: "
                f"{api:,} bytes (API-server measure: data + decoded binaryData) of "
                f"{CONFIGMAP_LIMIT:,} ({100 * api / CONFIGMAP_LIMIT:.1f}%); "
                f"{manifest:,} bytes as base64 in the manifest")
        if api > CONFIGMAP_LIMIT:
            errors.append(f"{line}: exceeds the 1 MiB ConfigMap limit, the API server will "
                          f"refuse it. Shrink the modules (profile `wasm`) or ship them another "
                          f"way: deploy/README.md, \"Modules larger than 1 MiB\"")
        else:
            notes.append("ok   " + line)
    return errors, notes


def check_urls(renders):
    errors, notes = [], []
    targets = {kind: set() for kind in INGRESS.values()}
    for r in renders:
        for b in r.of_kind("Broker", "eventing.knative.dev"):
            cls = b.get("metadata", {}).get("annotations", {}).get("eventing.knative.dev/broker.class")
            if cls == "Kafka":
                targets["Broker"].add((namespace(b), b["metadata"]["name"]))
        for s in r.of_kind("KafkaSink", "eventing.knative.dev"):
            targets["KafkaSink"].add((namespace(s), s["metadata"]["name"]))
    checked = []
    for r in renders:
        for svc in ksvcs(r):
            for c in svc["spec"]["template"]["spec"].get("containers", []):
                for e in c.get("env", []):
                    m = INGRESS_URL.match(str(e.get("value", "")))
                    if not m or m.group(1) not in INGRESS:
                        continue
                    kind, target = INGRESS[m.group(1)], (m.group(2), m.group(3))
                    if target not in targets[kind]:
                        have = ", ".join("/".join(t) for t in sorted(targets[kind])) or "none"
                        errors.append(f"{r.name}: {label(svc)} env {e['name']}={e['value']} "
                                      f"addresses {'Kafka ' if kind == 'Broker' else ''}{kind} "
                                      f"{target[0]}/{target[1]}, which no overlay renders (rendered: {have})")
                    else:
                        checked.append(e["name"])
    if not errors:
        notes.append(f"ok   urls: {', '.join(sorted(set(checked))) or 'no ingress URL'} "
                     f"address rendered Kafka Broker / KafkaSink objects")
    return errors, notes


def check_secrets(renders):
    errors = [f"{r.name}: renders {label(d)}: no secret belongs in a manifest (use Vault)"
              for r in renders for d in r.of_kind("Secret") if d.get("apiVersion") == "v1"]
    return errors, ([] if errors else ["ok   secrets: no overlay renders a Secret"])


def run_checks(renders, crates):
    errors, notes = [], []
    for e, n in [check_routes(renders, crates), check_urls(renders), check_secrets(renders)]:
        errors += e
        notes += n
    for r in renders:
        for e, n in [check_config(r, crates), check_size(r)]:
            errors += e
            notes += n
    return errors, notes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, required=True, help="repository root (for functions/)")
    parser.add_argument("--self-test", action="store_true",
                        help="also check that each check fails on a broken copy of the renders")
    parser.add_argument("--unwrap-binary-data", action="store_true",
                        help="only print the one RENDER.yaml with binaryData values unwrapped "
                             "(input for validate-manifests) and exit")
    parser.add_argument("--extract-functions", type=Path, metavar="DIR",
                        help="only write the one RENDER.yaml's functions ConfigMap into DIR, "
                             "laid out as the kubelet mounts it (for `wasmfn check`), and exit")
    parser.add_argument("renders", nargs="+", type=Path, metavar="RENDER.yaml")
    args = parser.parse_args(argv)
    if args.unwrap_binary_data:
        for p in args.renders:
            sys.stdout.write(unwrap_binary_data(p.read_text()))
        return 0
    if args.extract_functions:
        for p in args.renders:
            error = extract_functions_configmap(
                Render(p.stem, yaml.safe_load_all(p.read_text())), args.extract_functions)
            if error:
                print(f"FAIL {error}")
                return 1
        return 0

    crates = crate_names(args.repo)
    if not crates:
        print(f"FAIL no function crates under {args.repo / 'functions'}")
        return 1
    renders = [Render(p.stem, yaml.safe_load_all(p.read_text())) for p in args.renders]
    errors, notes = run_checks(renders, crates)
    for n in notes:
        print(n)
    for e in errors:
        print(f"FAIL {e}")
    if errors:
        if args.self_test:
            print("self-test: skipped (the renders themselves fail)")
        return 1
    if args.self_test:
        from check_manifests_selftest import self_test
        if not self_test(renders, crates):
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
