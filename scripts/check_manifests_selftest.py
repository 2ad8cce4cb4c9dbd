"""Self-test of scripts/check_manifests.py: each check must fail on a broken copy.

Every entry of BREAKAGES breaks a deep copy of the real renders in one way
(a Trigger uri that names no function, an unset ${VAR}, a ConfigMap one byte
over 1 MiB, ...) and names a phrase the matching check's error must contain.
A check that stays silent on its breakage fails the self-test.
"""

import base64
import copy

from check_manifests import (
    CONFIG_KEY, CONFIGMAP_LIMIT, FUNCTIONS_DIR, WASM_MAGIC,
    b64decode, configmap_size, destinations, ksvcs, run_checks,
)


def _first(renders, kind, pred=lambda d: True):
    for r in renders:
        for d in r.docs:
            if d.get("kind") == kind and pred(d):
                return d
    raise LookupError(f"self-test: no {kind} in the renders to break")


def _host(renders):
    return _first(renders, "Service", lambda d: d["apiVersion"].startswith("serving.knative.dev/"))


def _functions_cm(renders):
    return _first(renders, "ConfigMap", lambda d: CONFIG_KEY in (d.get("data") or {}))


def _vault_cm(renders):
    return _first(renders, "ConfigMap", lambda d: "env_files" in (d.get("data") or {}).get(CONFIG_KEY, ""))


def _set_uri(kind, uri):
    def mutate(renders):
        doc = _first(renders, kind)
        for _, dest in destinations(doc["spec"]):
            dest["uri"] = uri
    return mutate


def _drop_env(name):
    def mutate(renders):
        for r in renders:
            for svc in ksvcs(r):
                for c in svc["spec"]["template"]["spec"]["containers"]:
                    c["env"] = [e for e in c.get("env", []) if e.get("name") != name]
    return mutate


def _append_config(text):
    def mutate(renders):
        cm = _functions_cm(renders)
        cm["data"][CONFIG_KEY] += text
    return mutate


def _pad(renders):
    cm = _functions_cm(renders)
    old = len(b64decode(cm["binaryData"]["simple.wasm"]))
    api, _ = configmap_size(cm)
    # simple.wasm grows until the whole ConfigMap is one byte over the limit
    grown = WASM_MAGIC + b"\xff" * (CONFIGMAP_LIMIT - api + old + 1 - len(WASM_MAGIC))
    cm["binaryData"]["simple.wasm"] = base64.b64encode(grown).decode()


def _subpath(renders):
    svc = _host(renders)
    for c in svc["spec"]["template"]["spec"]["containers"]:
        for m in c.get("volumeMounts", []):
            if m["mountPath"] == FUNCTIONS_DIR:
                m["subPath"] = "handler.wasm"


def _env_file(renders):
    cm = _vault_cm(renders)
    cm["data"][CONFIG_KEY] = cm["data"][CONFIG_KEY].replace("my-secrets.env", "other.env")


def _broker_ns(renders):
    b = _first(renders, "Broker")
    b["metadata"]["namespace"] = "elsewhere"


def _drop_module(renders):
    cm = _functions_cm(renders)
    del cm["binaryData"]["transformer.wasm"]


def _text_module(renders):
    cm = _functions_cm(renders)
    cm["data"]["simple.wasm"] = "not wasm"
    del cm["binaryData"]["simple.wasm"]


def _dangling_volume(renders):
    svc = _host(renders)
    for v in svc["spec"]["template"]["spec"]["volumes"]:
        if "configMap" in v:
            v["configMap"]["name"] += "-abc123"  # e.g. a hash suffix kustomize did not propagate


def _moved_mount(renders):
    for c in _host(renders)["spec"]["template"]["spec"]["containers"]:
        for m in c.get("volumeMounts", []):
            if m["mountPath"] == FUNCTIONS_DIR:
                m["mountPath"] = "/etc/wasmfn/fns"


def _vault_other_container(renders):
    def injected(d):
        return "vault.hashicorp.com/agent-inject" in d["spec"]["template"]["metadata"]["annotations"]
    annotations = _first(renders, "Service", injected)["spec"]["template"]["metadata"]["annotations"]
    annotations["vault.hashicorp.com/agent-inject-containers"] = "queue-proxy"


def _unmounted_registry_auth(renders):
    for r in renders:
        for svc in ksvcs(r):
            for c in svc["spec"]["template"]["spec"]["containers"]:
                c["volumeMounts"] = [m for m in c.get("volumeMounts", [])
                                     if m.get("name") != "registry-auth"]


def _secret(renders):
    renders[0].docs.append({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "oops"}})


BREAKAGES = [
    ("Trigger uri names no function", _set_uri("Trigger", "/no-such-function"), "names no function"),
    ("PingSource uri is not a route", _set_uri("PingSource", "/simple/extra"), "not a function route"),
    ("Broker deadLetterSink uri misspelt", _set_uri("Broker", "/dead-lettr"), "names no function"),
    ("module a Trigger routes to is not packed", _drop_module, "would 404"),
    ("ksvc does not set BROKER_URL", _drop_env("BROKER_URL"), "does not set BROKER_URL"),
    ("wasmfn.toml uses an unset ${VAR}", _append_config('\n[functions.simple]\nsink = "${NOPE}"\n'),
     "does not set NOPE"),
    ("wasmfn.toml names a missing function", _append_config('\n[functions.ghost]\n'), "'ghost'"),
    ("env_files entry nobody writes", _env_file, "written by no Vault annotation"),
    ("Vault writes into another container", _vault_other_container, "written by no Vault annotation"),
    ("ConfigMap over 1 MiB", _pad, "exceeds the 1 MiB"),
    ("functions mounted with subPath", _subpath, "subPath"),
    ("ksvc mounts a ConfigMap that is not rendered", _dangling_volume, "is not a ConfigMap rendered"),
    ("functions not mounted where the host looks", _moved_mount, "no volume mounted at"),
    ("BROKER_URL addresses another namespace", _broker_ns, "which no overlay renders"),
    (".wasm stored as text", _text_module, "not binaryData"),
    ("a Secret is rendered", _secret, "no secret belongs"),
    ("the pull Secret is not mounted", _unmounted_registry_auth, "WASMFN_REGISTRY_AUTH="),
]


def self_test(renders, crates):
    passed = failed = 0
    for what, mutate, expected in BREAKAGES:
        broken = copy.deepcopy(renders)
        try:
            mutate(broken)
        except LookupError as e:
            print(f"FAIL self-test: {what}: {e}")
            failed += 1
            continue
        errors, _ = run_checks(broken, crates)
        if any(expected in e for e in errors):
            passed += 1
        else:
            failed += 1
            print(f"FAIL self-test: {what}: expected an error containing {expected!r}, got "
                  f"{errors or 'no error'}")
    print(f"self-test: {passed} passed, {failed} failed")
    return failed == 0
