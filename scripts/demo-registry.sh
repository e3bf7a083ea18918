#!/usr/bin/env bash
# Part of `make demo` (step 23): a real Docker registry on the loopback whose token realm is the
# activation service. The vendor pushes a one-layer image with the admin credential; machine C
# pulls it with the pull token its seat got; an anonymous pull is refused.
# Usage: scripts/demo-registry.sh OUT SERVICE_URL ADMIN_CREDENTIAL PULL_TOKEN
set -euo pipefail
OUT=$1 URL=$2 ADMIN=$3 TOKEN=$4
DIR=$OUT/registry
rm -rf "$DIR" && mkdir -p "$DIR/img/blobs/sha256" "$DIR/layer/opt/gateway"
PORT=$((20000 + RANDOM % 20000))
cat > "$DIR/registry.yml" <<YML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $PWD/$DIR/data
http:
  addr: 127.0.0.1:$PORT
auth:
  token:
    realm: $URL/v1/registry/token
    service: airlock-registry
    issuer: airlock
    rootcertbundle: $PWD/$OUT/token.crt
YML
docker-registry serve "$DIR/registry.yml" >"$DIR/registry.log" 2>&1 &
REG=$!
trap 'kill $REG 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

# A one-layer OCI image layout, by hand: layer, config, manifest, index.
echo "gateway runtime 2.0.0" > "$DIR/layer/opt/gateway/VERSION"
tar --sort=name --mtime=@0 --owner=0 --group=0 -cf "$DIR/layer.tar" -C "$DIR/layer" .
gzip -n -c "$DIR/layer.tar" > "$DIR/layer.tar.gz"
blob() { local d; d=$(sha256sum "$1" | cut -d' ' -f1); cp "$1" "$DIR/img/blobs/sha256/$d"; echo "$d $(stat -c %s "$1")"; }
read -r LD LN < <(blob "$DIR/layer.tar.gz")
DIFF=$(sha256sum "$DIR/layer.tar" | cut -d' ' -f1)
printf '{"architecture":"amd64","os":"linux","config":{},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]}}' "$DIFF" > "$DIR/config.json"
read -r CD CN < <(blob "$DIR/config.json")
printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' "$CD" "$CN" "$LD" "$LN" > "$DIR/manifest.json"
read -r MD MN < <(blob "$DIR/manifest.json")
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"2.0.0"}}]}' "$MD" "$MN" > "$DIR/img/index.json"
echo '{"imageLayoutVersion":"1.0.0"}' > "$DIR/img/oci-layout"

export HOME=$PWD/$DIR   # skopeo keeps nothing of the caller's
skopeo --insecure-policy copy -q --dest-tls-verify=false --dest-creds "vendor:$ADMIN" \
  "oci:$DIR/img:2.0.0" "docker://127.0.0.1:$PORT/gateway/runtime:2.0.0"
echo "  the vendor pushed gateway/runtime:2.0.0 (sha256:${MD:0:16}…) with the admin credential"
if skopeo --insecure-policy copy -q --src-tls-verify=false "docker://127.0.0.1:$PORT/gateway/runtime:2.0.0" "oci:$DIR/anon:2.0.0" 2>/dev/null; then
  echo "ERROR: an anonymous pull succeeded"; exit 1
fi
echo "  an anonymous pull is refused (the realm gives no token without a live seat)"
skopeo --insecure-policy copy -q --src-tls-verify=false --src-registry-token "$TOKEN" \
  "docker://127.0.0.1:$PORT/gateway/runtime:2.0.0" "oci:$DIR/pulled:2.0.0"
GOT=$(grep -o '"digest":"sha256:[0-9a-f]*"' "$DIR/pulled/index.json" | head -1 | cut -d: -f3 | tr -d '"')
[ "$GOT" = "$MD" ] || { echo "ERROR: pulled $GOT, pushed $MD"; exit 1; }
echo "  machine C pulled it with its seat's token: the same manifest sha256:${GOT:0:16}…"
