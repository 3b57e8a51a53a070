#!/usr/bin/env bash
# The main job on a fresh machine, with no AWS account: a local S3 (s3s-fs), the real
# function behind cargo lambda watch's emulator, every happy-path fixture, renditions (thumbnails)
# of a real photo, an EXIF-rotated JPEG and a large verified upload, then a missing bucket.
set -euo pipefail
cd "$(dirname "$0")/.."

BUCKET=image-ingest-demo
S3_PORT=${S3_PORT:-9090}
CAM_PORT=${CAM_PORT:-9091}
LAMBDA_PORT=${LAMBDA_PORT:-9000}
DEMO_DIR=${DEMO_DIR:-.demo}
HAPPY=(apigw-v2-raw-png apigw-v2-raw-query-name apigw-v1-json-items apigw-v1-raw-base-path
       apigw-v2-multipart apigw-v2-path-traversal direct-bare-item direct-items
       sqs-batch-mixed sqs-redelivery eventbridge-custom)

scripts/tools.sh cargo-lambda nasm
PATH="$(scripts/tools.sh --bin-dir):$PATH"  # the pinned cargo-lambda
rm -rf "$DEMO_DIR" && mkdir -p "$DEMO_DIR"
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

wait_for_port() {
  for _ in $(seq 1 "${2:-600}"); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 1
  done
  echo "nothing listens on port $1" >&2; return 1
}

echo "==> building the workspace (the first run takes a few minutes)"
local_s3=$(scripts/debug-build.sh local-s3)

echo "==> local S3 on http://127.0.0.1:$S3_PORT, bucket $BUCKET in $DEMO_DIR/s3"
"$local_s3" --root "$DEMO_DIR/s3" --port "$S3_PORT" --bucket "$BUCKET" \
  --access-key demo --secret-key demo-secret >"$DEMO_DIR/s3.log" 2>&1 &
pids+=($!)
wait_for_port "$S3_PORT" 30

echo "==> a \"camera\" on http://127.0.0.1:$CAM_PORT/snapshot.png for the scheduled event"
mkdir -p "$DEMO_DIR/cam"
python3 -c 'import json,base64,sys; open(sys.argv[1],"wb").write(base64.b64decode(json.load(open("events/direct-bare-item.json"))["data"]))' \
  "$DEMO_DIR/cam/snapshot.png"
python3 -m http.server "$CAM_PORT" --bind 127.0.0.1 --directory "$DEMO_DIR/cam" >"$DEMO_DIR/cam.log" 2>&1 &
pids+=($!)
wait_for_port "$CAM_PORT" 30

start_function() {  # $1 = bucket name, $2 = FETCH_ALLOW_PRIVATE
  cat >"$DEMO_DIR/function.env" <<ENV
BUCKET_NAME=$1
FETCH_ALLOW_PRIVATE=$2
KEY_PREFIX=images/
RENDITIONS=320
FACTS_PREFIX=facts/
SCHEDULE_URLS=http://127.0.0.1:$CAM_PORT/snapshot.png
S3_FORCE_PATH_STYLE=true
AWS_ENDPOINT_URL_S3=http://127.0.0.1:$S3_PORT
AWS_REGION=us-east-1
AWS_ACCESS_KEY_ID=demo
AWS_SECRET_ACCESS_KEY=demo-secret
AWS_EC2_METADATA_DISABLED=true
ENV
  # cargo lambda watch's emulator, running the workspace's debug build (scripts/serve-function.sh).
  scripts/serve-function.sh "$DEMO_DIR/function.env" "$LAMBDA_PORT" >>"$DEMO_DIR/function.log" 2>&1 &
  pids+=($!)
  wait_for_port "$LAMBDA_PORT" 120
}

stop_function() {
  kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true; unset 'pids[-1]'
}

invoke() {  # $1 = fixture name
  cargo lambda invoke image-ingest --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" --data-file "events/$1.json" 2>&1
}

show() {  # $1 = fixture name
  printf '%-28s ' "$1"
  out=$(invoke "$1") || { echo "FAILED"; echo "$out"; exit 1; }
  echo "$out" | python3 -c 'import json,sys
r = json.load(sys.stdin)
if "batchItemFailures" in r:
    print("sqs: failed records:", [f["itemIdentifier"] for f in r["batchItemFailures"]] or "none"); sys.exit()
body = json.loads(r["body"]) if "statusCode" in r else r
print(r.get("statusCode", "ok"), " ".join(o["key"] + " (" + o["status"] + ")" for o in body["stored"]))'
}

renditions() {  # reads an answer on stdin: each stored object and its renditions (RENDITIONS=320)
  python3 -c 'import json,sys
r = json.load(sys.stdin)
body = json.loads(r["body"]) if "statusCode" in r else r
for o in body["stored"]:
    print("   %s %sx%s (%s)" % (o["key"], o.get("width"), o.get("height"), o["status"]))
    for t in o.get("renditions", []):
        print("     -> %s %sx%s, %s bytes" % (t["key"], t["width"], t["height"], t["size"]))
    if o.get("renditions_skipped"):
        print("     -> no rendition:", o["renditions_skipped"])
    assert o.get("renditions") or o.get("renditions_skipped") or max(o["width"], o["height"]) <= 320, o'
}

echo "==> the function behind cargo lambda watch on http://127.0.0.1:$LAMBDA_PORT (address policy on)"
start_function "$BUCKET" false
for event in "${HAPPY[@]}"; do show "$event"; done

echo "==> renditions (RENDITIONS=320): a real photo (scikit-image's coffee, CC0), and the same photo"
echo "    stored sideways with EXIF Orientation 6, whose rendition comes out upright (portrait)"
python3 - testkit/fixtures/renditions/coffee.jpg "$DEMO_DIR" <<'PY'
import base64, json, struct, sys
photo = open(sys.argv[1], "rb").read()
# An APP1 EXIF block whose IFD0 holds one entry, Orientation (0x0112) = 6: "rotate 90 clockwise".
tiff = b"MM\0*" + struct.pack(">I", 8) + struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, 6, 0) + struct.pack(">I", 0)
app1 = b"Exif\0\0" + tiff
rotated = photo[:2] + b"\xff\xe1" + struct.pack(">H", len(app1) + 2) + app1 + photo[2:]
items = [{"data": base64.b64encode(photo).decode(), "file_name": "coffee.jpg", "posted_at": "2026-11-24T20:30:15Z"},
         {"data": base64.b64encode(rotated).decode(), "file_name": "coffee-sideways.jpg", "posted_at": "2026-11-24T20:30:15Z"}]
json.dump({"items": items}, open(sys.argv[2] + "/photos.json", "w"))
PY
out=$(cargo lambda invoke image-ingest --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
  --data-file "$DEMO_DIR/photos.json" 2>&1) || { echo "$out"; exit 1; }
echo "$out" | renditions
echo "$out" | python3 -c 'import json,sys; s = json.load(sys.stdin)["stored"]
(level,), (upright,) = s[0]["renditions"], s[1]["renditions"]
assert level["width"] > level["height"] and upright["width"] < upright["height"], s
print("   the sideways photo'"'"'s rendition is upright:", upright["width"], "x", upright["height"])'

echo "==> a PNG sent with curl, as a Function URL request"
curl -sS --fail-with-body -H 'content-type: image/png' --data-binary @<(base64 -d <<<"$(python3 -c 'import json;print(json.load(open("events/apigw-v2-raw-png.json"))["body"])')") \
  "http://127.0.0.1:$LAMBDA_PORT/lambda-url/image-ingest/images/curl-upload.png"
echo

echo "==> reading back: GET /images?date=2026/11/24, then a presigned download of one key"
out=$(invoke apigw-v2-list-day)
echo "$out" | python3 -c 'import json,sys; r = json.load(sys.stdin); b = json.loads(r["body"])
print(r["statusCode"]); [print("  ", o["key"], o["size"], "bytes") for o in b["objects"]]'
out=$(invoke apigw-v2-get-object)
echo "$out" | python3 -c 'import json,sys; r = json.load(sys.stdin); print(r["statusCode"], "->", r["headers"]["location"][:100] + "...")'
curl -sS --fail -o "$DEMO_DIR/downloaded.png" "$(echo "$out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["headers"]["location"])')"
cmp "$DEMO_DIR/downloaded.png" "$DEMO_DIR/s3/$BUCKET/images/2026/11/24/203015/tabby.png" && echo "   the presigned URL serves the stored bytes"

echo "==> verified uploads: a 20 MiB PNG through POST /uploads and a presigned PUT, then the"
echo "    notification S3 would send (the local S3 sends none, so it is delivered here)"
python3 scripts/demo_png.py "$DEMO_DIR/panorama.png" 2600 2731
upload() {  # $1 = file, $2 = file name, $3 = content type: PUTs it into the staging area, prints the ticket
  local size ticket
  size=$(stat -c %s "$1")
  ticket=$(curl -sS --fail-with-body -H 'content-type: application/json' \
    -d "{\"file_name\":\"$2\",\"content_type\":\"$3\",\"size\":$size}" \
    "http://127.0.0.1:$LAMBDA_PORT/lambda-url/image-ingest/uploads")
  local put=()
  mapfile -d '' -t put < <(echo "$ticket" | python3 -c 'import json,sys; t = json.load(sys.stdin)
args = ["-X", "PUT", t["url"]] + sum((["-H", k + ": " + v] for k, v in t["headers"].items()), [])
print("\0".join(args), end="")')
  curl -sS --fail-with-body --data-binary @"$1" -o /dev/null "${put[@]}" >&2
  echo "$ticket"
}
notify() {  # $1 = staging key: the S3 Event Notification for it, as S3 would send it
  python3 - "$1" "$BUCKET" <<'PY' >"$DEMO_DIR/notification.json"
import json, sys, urllib.parse
event = json.load(open("events/s3-object-created.json"))
event["Records"][0]["s3"]["bucket"]["name"] = sys.argv[2]
event["Records"][0]["s3"]["object"]["key"] = urllib.parse.quote_plus(sys.argv[1], safe="/")
print(json.dumps(event))
PY
  cargo lambda invoke image-ingest --invoke-address 127.0.0.1 --invoke-port "$LAMBDA_PORT" \
    --data-file "$DEMO_DIR/notification.json" 2>&1
}
ticket=$(upload "$DEMO_DIR/panorama.png" panorama.png image/png)
staged=$(echo "$ticket" | python3 -c 'import json,sys; print(json.load(sys.stdin)["upload_key"])')
echo "   staged at $staged ($(stat -c %s "$DEMO_DIR/panorama.png") bytes)"
notify "$staged" | python3 -c 'import json,sys; r = json.load(sys.stdin)
[print("   promoted to", o["key"], o["size"], "bytes,", o["status"]) for o in r["stored"]]
[print("     -> %s %sx%s, %s bytes" % (t["key"], t["width"], t["height"], t["size"])) for t in r["stored"][0]["renditions"]]
assert r["stored"] and r["stored"][0]["renditions"], r'
[ ! -e "$DEMO_DIR/s3/$BUCKET/$staged" ] && echo "   the staging object is gone"
echo "==> an HTML page uploaded as image/jpeg: refused by its bytes and removed"
printf '<html><body>not a picture</body></html>' >"$DEMO_DIR/page.jpg"
staged=$(upload "$DEMO_DIR/page.jpg" page.jpg image/jpeg | python3 -c 'import json,sys; print(json.load(sys.stdin)["upload_key"])')
notify "$staged" | python3 -c 'import json,sys; r = json.load(sys.stdin)
[print("   refused:", f["error"]["code"], "-", f["error"]["message"]) for f in r["refused"]]
assert r["refused"][0]["error"]["code"] == "unsupported_media_type", r'
[ ! -e "$DEMO_DIR/s3/$BUCKET/$staged" ] && echo "   the staging object is gone, and nothing was stored"

echo "==> a scheduled run fetching SCHEDULE_URLS; the camera is on loopback, so this run"
echo "    sets FETCH_ALLOW_PRIVATE=loopback: loopback opens, private and link-local stay refused"
stop_function
start_function "$BUCKET" loopback
show eventbridge-scheduled

echo "==> the gallery (open here: the local run has no GALLERY_KMS_KEY_ID; deployed, it needs a"
echo "    signed link from POST /gallery/links)"
gallery="http://127.0.0.1:$LAMBDA_PORT/lambda-url/image-ingest/gallery"
for page in "" /2026 /2026/11/24; do
  printf '   %-70s %s\n' "$gallery$page" "$(curl -sS -o /dev/null -w '%{http_code} %{content_type}' "$gallery$page")"
done
tiles=$(curl -sS "$gallery/2026/11/24" | grep -o '<figure>' | wc -l)
echo "   the day 2026/11/24 has $tiles tiles"
[ "$tiles" -gt 5 ] || { echo "expected the demo's images on the day page" >&2; exit 1; }
scripts/tools.sh chromium
# New headless Chromium: waits for the page's load (the first screen's lazy images included).
chromium_bin=$(command -v chromium)
[ -x /usr/lib/chromium/chromium ] && chromium_bin=/usr/lib/chromium/chromium
for width in 390 1440; do
  "$chromium_bin" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
    --user-data-dir="$DEMO_DIR/chromium" --window-size="$width,900" \
    --screenshot="$DEMO_DIR/gallery-2026-11-24-$width.png" "$gallery/2026/11/24" >>"$DEMO_DIR/chromium.log" 2>&1
  echo "   screenshot of the day at $width px: $DEMO_DIR/gallery-2026-11-24-$width.png"
done
echo "   open $gallery while the demo runs (DEMO_KEEP=1 keeps it running)"

echo "==> what is stored in s3://$BUCKET, by date path"
(cd "$DEMO_DIR/s3/$BUCKET" && find . -type f | sed 's|^\./||' | sort | awk -F/ '{
  path = ""; for (i = 1; i <= NF; i++) { path = path "/" $i;
    if (!(path in seen)) { seen[path] = 1; printf "%*s%s%s\n", 2 * (i - 1), "", $i, (i < NF ? "/" : "") } } }')

echo "==> the same function pointed at a bucket that does not exist"
stop_function
start_function "no-such-bucket" false
out=$(invoke apigw-v2-raw-png) || true
echo "$out" | python3 -c 'import json,sys; r = json.load(sys.stdin); print(r["statusCode"], r["body"])'
echo "$out" | grep -q bucket_not_found || { echo "expected bucket_not_found" >&2; exit 1; }
echo "==> demo done; logs in $DEMO_DIR/"
if [ -n "${DEMO_KEEP:-}" ]; then
  stop_function
  start_function "$BUCKET" false
  echo "==> still serving: open http://127.0.0.1:$LAMBDA_PORT/lambda-url/image-ingest/gallery (Ctrl-C stops)"
  wait
fi
