"""`make bench`: bets per second and latency of the wallet service beside pgbench on the same SQL.

One bet is ``WalletService.place_bet`` end to end: validate, lock the player's wallet, look up
the transaction id and the round, write the round, the journal entry, its postings, the cached
balance and the idempotency record, commit. Each bet opens a new round (a slot spin). The same
statements, taken from ``croupier.adapters.db.postgres``, are run by pgbench with no Python at
all: that is the ceiling the service is compared against. See docs/benchmarks.md.
"""
