"""The Helm chart (helm/memmesh), checked without a Kubernetes API server: `helm lint`, every
rendered manifest validated strictly against the Kubernetes schemas (kubernetes-validate), the
rendered objects' wiring asserted, the rendered node configuration loaded by memmesh-node
itself, and the rendered start script run with stand-ins for the binaries to check who
bootstraps and who joins.

Run by scripts/test.sh with .local/venv's Python (scripts/setup-deploy.sh installs helm and
kubernetes-validate). Usage: helm_test.py REPO_ROOT MEMMESH_NODE_BINARY
"""

import json
import os
import subprocess
import sys
import tempfile

import kubernetes_validate
import yaml

ROOT, NODE_BIN = sys.argv[1], sys.argv[2]
HELM = os.path.join(ROOT, ".local/bin/helm")
CHART = os.path.join(ROOT, "helm/memmesh")
K8S_VERSION = "1.30.0"
checks = 0


def check(cond, what):
    global checks
    checks += 1
    if not cond:
        raise AssertionError(what)


def render(*values, sets=()):
    args = [HELM, "template", "mm", CHART, "--namespace", "agents"]
    for v in values:
        args += ["-f", os.path.join(ROOT, "tests/deploy", v)]
    for s in sets:
        args += ["--set", s]
    out = subprocess.run(args, check=True, capture_output=True, text=True).stdout
    return [d for d in yaml.safe_load_all(out) if d]


def by_kind(docs):
    out = {}
    for d in docs:
        out.setdefault(d["kind"], []).append(d)
    return out


def validate(docs):
    for d in docs:
        if d["apiVersion"].startswith("monitoring.coreos.com/"):
            # A CRD: not in the bundled schemas; its fields are asserted below instead.
            continue
        try:
            kubernetes_validate.validate(d, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as e:
            raise AssertionError(f"{d['kind']} {d['metadata']['name']}: {e}") from e
        check(True, "validated")


def env_of(container):
    return {e["name"]: e for e in container.get("env", [])}


def effective_config(configmap):
    """The node's effective configuration from the rendered memmesh.json, as memmesh-node
    itself reads it (--print-config)."""
    with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
        f.write(configmap["memmesh.json"])
        f.flush()
        out = subprocess.run([NODE_BIN, "--config", f.name, "--print-config"], capture_output=True, text=True)
    check(out.returncode == 0, f"memmesh-node refused the rendered memmesh.json:\n{out.stderr}\n{configmap['memmesh.json']}")
    return json.loads(out.stdout)


def run_start_script(script, pod, healthy_peers=(), data_has_id=False):
    """Runs the rendered start.sh with memmesh and memmesh-node stand-ins; returns the
    arguments memmesh-node was started with."""
    with tempfile.TemporaryDirectory() as d:
        bindir, data = os.path.join(d, "bin"), os.path.join(d, "data")
        os.makedirs(bindir)
        os.makedirs(data)
        if data_has_id:
            open(os.path.join(data, "node_id"), "w").write("42\n")
        with open(os.path.join(bindir, "memmesh-node"), "w") as f:
            f.write('#!/bin/sh\necho "$@" > "$OUT"\n')
        # `memmesh --addr ADDR health` succeeds for the peers listed in HEALTHY.
        with open(os.path.join(bindir, "memmesh"), "w") as f:
            f.write('#!/bin/sh\ncase " $HEALTHY " in *" $2 "*) exit 0;; esac\nexit 1\n')
        for b in ("memmesh-node", "memmesh"):
            os.chmod(os.path.join(bindir, b), 0o755)
        path = os.path.join(d, "start.sh")
        open(path, "w").write(script)
        out = os.path.join(d, "args")
        env = {"PATH": f"{bindir}:/usr/bin:/bin", "POD_NAME": pod, "OUT": out, "HEALTHY": " ".join(healthy_peers),
               "PROBE_SCHEME": "", "MEMMESH__NODE__DATA_DIR": data}
        subprocess.run(["/bin/sh", path], check=True, env=env)
        return open(out).read().split()


def main():
    lint = subprocess.run([HELM, "lint", "--strict", CHART], capture_output=True, text=True)
    check(lint.returncode == 0, f"helm lint failed:\n{lint.stdout}{lint.stderr}")
    for values in (["values-tls.yaml"], []):
        lint = subprocess.run([HELM, "lint", "--strict", CHART] + [a for v in values for a in ("-f", os.path.join(ROOT, "tests/deploy", v))],
                              capture_output=True, text=True)
        check(lint.returncode == 0, f"helm lint {values} failed:\n{lint.stdout}{lint.stderr}")

    # --- default values
    docs = render()
    validate(docs)
    k = by_kind(docs)
    check(sorted(k) == ["ConfigMap", "PodDisruptionBudget", "Secret", "Service", "StatefulSet"], f"kinds {sorted(k)}")
    sts = k["StatefulSet"][0]
    spec, pod = sts["spec"], sts["spec"]["template"]
    headless = next(s for s in k["Service"] if s["spec"].get("clusterIP") == "None")
    check(spec["serviceName"] == headless["metadata"]["name"] == "mm-memmesh-headless", "the StatefulSet names the headless service")
    check(headless["spec"]["publishNotReadyAddresses"] is True, "members find each other before ready")
    check(spec["replicas"] == 3 and spec["podManagementPolicy"] == "OrderedReady", "3 members, started in order")
    labels = pod["metadata"]["labels"]
    for s in k["Service"]:
        check(all(labels.get(a) == b for a, b in s["spec"]["selector"].items()), f"service {s['metadata']['name']} selects the pods")
    pdb = k["PodDisruptionBudget"][0]
    check(pdb["spec"]["maxUnavailable"] == 1, "one voluntary disruption at a time")
    check(all(labels.get(a) == b for a, b in pdb["spec"]["selector"]["matchLabels"].items()), "the PDB selects the pods")
    c = pod["spec"]["containers"][0]
    check(c["readinessProbe"]["grpc"]["port"] == 7070 and c["livenessProbe"]["grpc"]["port"] == 7070, "gRPC probes")
    check({p["name"]: p["containerPort"] for p in c["ports"]} == {"grpc": 7070, "metrics": 9464}, "ports")
    env = env_of(c)
    check(env["MEMMESH__NODE__ADVERTISE"]["value"] == "$(POD_NAME).mm-memmesh-headless.agents.svc.cluster.local:7070", "advertise the stable name")
    check(env["MEMMESH__AUTH__BOOTSTRAP_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "mm-memmesh-auth", "token from the chart's secret")
    secret = k["Secret"][0]
    check(set(secret["data"]) == {"bootstrap-token", "cluster-secret"}, "generated secrets")
    check(pod["spec"]["securityContext"]["runAsNonRoot"] is True and pod["spec"]["securityContext"]["fsGroup"] == 10001, "non-root")
    check("preferredDuringSchedulingIgnoredDuringExecution" in pod["spec"]["affinity"]["podAntiAffinity"], "soft anti-affinity")
    check(spec["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "10Gi", "a volume per member")
    checksum = pod["metadata"]["annotations"]["checksum/config"]
    changed = render(sets=["config.raft.request_timeout_ms=7000"])
    changed_sum = by_kind(changed)["StatefulSet"][0]["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    check(len(checksum) == 64 and changed_sum != checksum, "a config change changes checksum/config (rolls the pods)")

    cm = k["ConfigMap"][0]["data"]
    effective = effective_config(cm)
    check(effective["metrics"]["listen"] == "0.0.0.0:9464" and effective["log"]["format"] == "json", f"effective config {effective}")

    script = cm["start.sh"]
    pod0 = "mm-memmesh-0.mm-memmesh-headless.agents.svc.cluster.local:7070"
    pod1 = "mm-memmesh-1.mm-memmesh-headless.agents.svc.cluster.local:7070"
    pod2 = "mm-memmesh-2.mm-memmesh-headless.agents.svc.cluster.local:7070"
    check("--join" not in run_start_script(script, "mm-memmesh-0"), "pod 0 bootstraps when no member answers")
    check(run_start_script(script, "mm-memmesh-0", healthy_peers=[pod2])[-2:] == ["--join", pod2], "pod 0 joins a member that answers")
    check(run_start_script(script, "mm-memmesh-1")[-2:] == ["--join", pod0], "pod 1 joins pod 0")
    check(run_start_script(script, "mm-memmesh-2", data_has_id=True)[-2:] == ["--join", pod0], "a restarted pod keeps --join (ignored once a member)")
    check(run_start_script(script, "mm-memmesh-0", healthy_peers=[pod1], data_has_id=True)[-2:] == ["--join", pod1],
          "a restarted pod 0 asks a live member (ignored once a member)")

    # --- TLS, ServiceMonitor, existing secret, 5 members
    docs = render("values-tls.yaml")
    validate(docs)
    k = by_kind(docs)
    check("Secret" not in k, "an existing secret: the chart makes none")
    sts = k["StatefulSet"][0]
    pod = sts["spec"]["template"]
    c = pod["spec"]["containers"][0]
    env = env_of(c)
    check(env["MEMMESH__AUTH__CLUSTER_SECRET"]["valueFrom"]["secretKeyRef"]["name"] == "memmesh-secrets", "secrets from the existing secret")
    check(sts["spec"]["replicas"] == 5, "5 members")
    check("exec" in c["readinessProbe"] and "https://" in " ".join(c["readinessProbe"]["exec"]["command"]), "TLS probes through the CLI")
    check(env["MEMMESH_CERT"]["value"] == "/etc/memmesh/tls/tls.crt", "the CLI presents the member's certificate")
    tls_vol = next(v for v in pod["spec"]["volumes"] if v["name"] == "tls")
    check(tls_vol["secret"]["secretName"] == "memmesh-tls", "TLS from the secret")
    check("requiredDuringSchedulingIgnoredDuringExecution" in pod["spec"]["affinity"]["podAntiAffinity"], "hard anti-affinity")
    cm = k["ConfigMap"][0]["data"]
    effective = effective_config(cm)
    check(effective["tls"]["cert"] == "/etc/memmesh/tls/tls.crt" and effective["tls"]["require_client_cert"] is True, f"tls config {effective['tls']}")
    check(effective["raft"]["request_timeout_ms"] == 8000, "config override")
    check("mm-memmesh-4.mm-memmesh-headless" in cm["start.sh"] or "-lt \"5\"" in cm["start.sh"], "pod 0 probes all 5 members")
    sm = k["ServiceMonitor"][0]
    check(sm["spec"]["endpoints"][0]["port"] == "metrics" and sm["metadata"]["labels"]["release"] == "prometheus", "ServiceMonitor")
    members = next(s for s in k["Service"] if s["spec"].get("clusterIP") == "None")
    check(all(members["metadata"]["labels"].get(a) == b for a, b in sm["spec"]["selector"]["matchLabels"].items()), "ServiceMonitor selects the members' service")
    check(not any(s["metadata"]["labels"].get("app.kubernetes.io/component") == "members" for s in k["Service"] if s is not members),
          "ServiceMonitor selects only the members' service")

    # TLS without a secret name is refused at render time.
    bad = subprocess.run([HELM, "template", "mm", CHART, "--set", "tls.enabled=true"], capture_output=True, text=True)
    check(bad.returncode != 0 and "tls.secretName is required" in bad.stderr, "tls.enabled without a secret is refused")
    print(f"helm chart: {checks} checks passed")


if __name__ == "__main__":
    main()
