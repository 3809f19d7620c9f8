#!/usr/bin/env bash
# From a new player to a launched game, through the operator API (docs/operator-api.md).
# Run it from the repository root next to a running server (`make run` in another shell):
#   examples/operator_walkthrough.sh
# CROUPIER (default: .venv/bin/croupier, else croupier) and CROUPIER_URL (default
# http://127.0.0.1:8000) say where; the server and this script must use the same database.
set -euo pipefail
CROUPIER=${CROUPIER:-$( [ -x .venv/bin/croupier ] && echo .venv/bin/croupier || echo croupier )}
URL=${CROUPIER_URL:-http://127.0.0.1:8000}/operator/v1
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# 1. The catalogue, and a signing key for its provider (launch URLs are signed with it).
"$CROUPIER" catalogue load examples/catalogue.toml
"$CROUPIER" keys list acme-slots --json | grep -q primary \
  || "$CROUPIER" keys add acme-slots > /dev/null

# 2. An operator API key with the scopes this walkthrough needs (shown once).
KEY=$("$CROUPIER" operator-keys add --label walkthrough --scope players:write \
  --scope players:read --scope cashier --scope launch --scope history:read | json '["key"]')
KEY_ID=${KEY#cok_}; KEY_ID=${KEY_ID%%.*}
trap '"$CROUPIER" operator-keys revoke "$KEY_ID" > /dev/null' EXIT  # a walkthrough leaves no key
AUTH="Authorization: Bearer $KEY"
JSON="Content-Type: application/json"

# 3. A player: the operator's own reference in, an opaque id out (all a provider ever sees).
REF="walkthrough-$(date +%s)"
PLAYER=$(curl -sf -X POST "$URL/players" -H "$AUTH" -H "$JSON" -d '{
  "brand": "main", "external_ref": "'"$REF"'", "currency": "GBP", "country": "GB",
  "birth_date": "1990-04-01", "kyc_status": "verified"}' | json '["id"]')
echo "player $PLAYER"

# 4. Money in (idempotent by the operator's reference: sending it twice credits once).
curl -sf -X POST "$URL/players/$PLAYER/deposits" -H "$AUTH" -H "$JSON" \
  -d '{"reference": "'"$REF"'-dep-1", "amount": "50.00", "currency": "GBP"}'
echo

# 5. Launch a slot: the checks pass, a session opens with Great Britain's stake cap.
curl -sf -X POST "$URL/launch" -H "$AUTH" -H "$JSON" \
  -d '{"player_id": "'"$PLAYER"'", "provider": "acme-slots", "game": "fruit-5x3"}'
echo

# 6. What support sees.
curl -sf "$URL/players/$PLAYER/transactions?limit=10" -H "$AUTH"
echo
