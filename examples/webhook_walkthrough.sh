#!/usr/bin/env bash
# The webhook inbox as a provider and an operator see it (docs/webhooks.md): events signed
# the Standard Webhooks way, one sent twice, one out of order, applied by the worker of a
# running server, then read back. Run it from the repository root next to a running server
# (`make run` in another shell):
#   examples/webhook_walkthrough.sh
# CROUPIER (default: .venv/bin/croupier, else croupier) and CROUPIER_URL (default
# http://127.0.0.1:8000) say where; the server and this script must use the same database.
set -euo pipefail
CROUPIER=${CROUPIER:-$( [ -x .venv/bin/croupier ] && echo .venv/bin/croupier || echo croupier )}
URL=${CROUPIER_URL:-http://127.0.0.1:8000}
PROVIDER=hooks-demo
RUN=$(date +%s)
PLAYER="hooks-$RUN"
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

# 1. The operator: a player with EUR 100, and a webhook secret for the provider (shown once).
"$CROUPIER" wallet open "$PLAYER" EUR > /dev/null
"$CROUPIER" wallet deposit "$PLAYER" 100.00 --ref "dep-$RUN" > /dev/null
SECRET=$("$CROUPIER" webhooks secret-add "$PROVIDER" | json '["secret"]')

# 2. The provider: an event is JSON with a checksum, signed and posted.
send() {  # send DELIVERY_ID EVENT_JSON
  local body
  body=$(python3 examples/event_checksum.py <<< "$2")
  curl -sf "$URL/webhooks/$PROVIDER" -H content-type:application/json \
    $(python3 examples/sign_webhook.py "$SECRET" "$1" "$body") -d "$body"
  echo
}
EVENT='"player_id": "'"$PLAYER"'", "timestamp": "2026-11-21T10:00:00Z", "currency": "EUR",
       "finalized": true'
# A round: bet 1.00, win 2.50. Sent twice (a retry with the same delivery id): stored once.
ROUND='{"event_id": "r1-'"$RUN"'", "type": "round", '"$EVENT"', "round_id": "r1-'"$RUN"'",
        "round_type": "normal", "game_code": "dice", "bet": {"tx_id": "b1-'"$RUN"'",
        "amount": "1.00"}, "win": {"tx_id": "w1-'"$RUN"'", "amount": "2.50"},
        "balance_before": "100.00", "balance_after": "101.50"}'
send "m1-$RUN" "$ROUND"
send "m1-$RUN" "$ROUND"
# A rollback that arrives before its round: the round's bet will never take money.
send "m2-$RUN" '{"event_id": "rb-'"$RUN"'", "type": "rollback", '"$EVENT"',
                 "tx_id": "rb-'"$RUN"'", "bet_tx_id": "b2-'"$RUN"'"}'
send "m3-$RUN" '{"event_id": "r2-'"$RUN"'", "type": "round", '"$EVENT"', "round_id": "r2-'"$RUN"'",
                 "round_type": "normal", "game_code": "dice", "bet": {"tx_id": "b2-'"$RUN"'",
                 "amount": "5.00"}, "balance_before": "101.50", "balance_after": "96.50"}'
# A jackpot of 10.00 and a promotion of 3.00 to the bonus balance.
send "m4-$RUN" '{"event_id": "jp-'"$RUN"'", "type": "jackpot", '"$EVENT"', "tx_id": "jp-'"$RUN"'",
                 "amount": "10.00", "jackpot_id": "mega"}'
send "m5-$RUN" '{"event_id": "pr-'"$RUN"'", "type": "promotion", '"$EVENT"',
                 "tx_id": "pr-'"$RUN"'", "amount": "3.00", "campaign_id": "weekend",
                 "balance": "bonus"}'

# 3. The server's worker applies them within a second or two (CROUPIER_INBOX_POLL_SECONDS).
for _ in $(seq 50); do
  pending=$("$CROUPIER" inbox list --provider "$PROVIDER" --json \
    | python3 -c "import json,sys; print(sum(r['status'] in ('pending','processing') for r in json.load(sys.stdin)))")
  [ "$pending" = 0 ] && break
  sleep 0.2
done
"$CROUPIER" inbox list --provider "$PROVIDER"
# 100.00 - 1.00 + 2.50 + 10.00 = 111.50 cash, 3.00 bonus; the rolled-back bet took nothing.
"$CROUPIER" wallet balance "$PLAYER"
