#!/bin/sh
# The demo tour: run it (sh examples/demo/try.sh) or paste its lines one by one
# while `make run` serves the demo. PORT moves it, as it moves make run; LOGS
# is the demo's log folder (run/logs).
set -eu
P=${PORT:-8080}
ADMIN='Authorization: Bearer change-me-admin-key'
JSON='Content-Type: application/json'

echo '== Verify: a GitHub webhook, signed over a fresh body: 200'
body='{"zen":"Design for failure.","sent":"'$(date +%s%N)'"}'
sig=$(printf %s "$body" | openssl dgst -sha256 -hmac "It's a Secret to Everybody" -r | cut -d' ' -f1)
curl -s -i http://127.0.0.1:$P/hooks/github -H "X-Hub-Signature-256: sha256=$sig" -H "$JSON" -d "$body"
echo
echo '== The same delivery again: 401 replayed'
curl -s -i http://127.0.0.1:$P/hooks/github -H "X-Hub-Signature-256: sha256=$sig" -H "$JSON" -d "$body"
echo
echo '== The same signature over another body: 401 bad_signature'
curl -s -i http://127.0.0.1:$P/hooks/github -H "X-Hub-Signature-256: sha256=$sig" -H "$JSON" -d "$body."
echo

echo '== Keys: a key that may read room 42 (the key is in this answer only)'
created=$(curl -s http://127.0.0.1:$P/v1/keys -H "$ADMIN" -H "$JSON" \
          -d '{"resource":"room:42","scopes":["read"],"label":"lobby screen"}')
echo "$created"
key=$(printf %s "$created" | sed -n 's/.*"key":"\([^"]*\)".*/\1/p')
echo '== ... reads room 42: 200, the app sees the key id, never the key'
curl -s -i http://127.0.0.1:$P/rooms/42/timers -H "Authorization: Bearer $key"
echo
echo '== ... but not room 43: 403 forbidden_resource'
curl -s -i http://127.0.0.1:$P/rooms/43/timers -H "Authorization: Bearer $key"
echo

echo '== Deliver: subscribe the demo receiver (it verifies our signatures), once'
receiver="http://127.0.0.1:$((P + 2))/hooks/stagetick"
case $(curl -s "http://127.0.0.1:$P/v1/webhooks?tenant=acme" -H "$ADMIN") in
  *"\"url\":\"$receiver\""*) echo "already subscribed: $receiver" ;;
  *) curl -s http://127.0.0.1:$P/v1/webhooks -H "$ADMIN" -H "$JSON" \
          -d '{"url":"'$receiver'","events":["room.*"],"tenant":"acme","secret":"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}'
     echo ;;
esac
echo '== ... publish an event: 202, on disk before the answer'
log="${LOGS:-run/logs}/receiver.log"
before=$(cat "$log" 2>/dev/null | wc -l)
curl -s -w '(HTTP %{http_code})\n' http://127.0.0.1:$P/v1/events -H "$ADMIN" -H "$JSON" \
     -d '{"type":"room.on_air","tenant":"acme","data":{"room":42}}'
for _ in 1 2 3 4 5 6 7 8 9 10; do     # wait (up to 10 s) for the delivery to arrive
  [ "$(cat "$log" 2>/dev/null | wc -l)" -gt "$before" ] && break
  sleep 1
done
echo '== ... the receiver got it and verified our signature ("... 200 ok"):'
echo "$(wc -l < "$log") deliveries received so far, the last:"
tail -n 1 "$log"
echo
echo "== The console: http://127.0.0.1:$P/console/ (sign in with change-me-admin-key)"
echo "== Metrics:     curl -s http://127.0.0.1:$P/metrics"
