#!/usr/bin/env sh
# Checks the k6 scripts without k6: `node --check` on each (as ES modules), then loads each with the k6 modules
# replaced by stand-ins (./k6*.mjs) to validate its options. With SMOKE_TARGET=<GraphQL URL>, also runs setup()
# and ITERATIONS (60) iterations of each scenario against that shop, through curl.
#   sh loadtest/k6/check/check.sh
#   SMOKE_TARGET=http://127.0.0.1:8080/graphql sh loadtest/k6/check/check.sh
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -R "$here/." "$tmp/"
echo '{ "type": "module" }' > "$tmp/package.json"
for f in "$tmp"/*.js "$tmp"/lib/*.js; do
  node --check "$f"
  rel=$(realpath --relative-to="$(dirname "$f")" "$tmp/check")
  sed -i \
    -e "s#from 'k6/http'#from '$rel/k6-http.mjs'#" \
    -e "s#from 'k6/metrics'#from '$rel/k6-metrics.mjs'#" \
    -e "s#from 'k6'#from '$rel/k6.mjs'#" \
    "$f"
done
for s in thrift-shop-mix.js journey.js flash-sale.js catalog-read.js sweep.js; do
  node "$tmp/check/run.mjs" "$tmp" "$s"
done
echo "k6 scripts ok"
