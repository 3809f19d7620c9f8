"""The reference game provider: provably fair games, chaos switches, simulated players and
the go-live certification run. It talks to Croupier only over HTTP, as any provider does."""
