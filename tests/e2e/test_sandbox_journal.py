"""The sandbox's journal: a restart keeps the seeds (and the nonces used), the revealed seeds,
the rounds and the feed, so old rounds stay verifiable and the day's feed stays whole."""

from __future__ import annotations

import stat
from pathlib import Path

from croupier.domain import fairness as fair
from croupier.sandbox.chaos import Switch
from croupier.sandbox.journal import Journal
from tests.e2e.conftest import Api
from tests.e2e.sandbox_fixtures import sandbox, seed_where

DICE = {"target": "50.00", "direction": "under"}


async def test_a_restart_keeps_seeds_rounds_and_the_feed(api: Api, tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with sandbox(api, seed=1, journal=Journal(state)) as box:
        session = await box.open("pl-journal")
        played = [await box.provider.spin(session, stake="1.00", params=DICE) for _ in range(3)]
        commitment = box.provider.seeds["pl-journal"].server_seed_hash
        feed_before = box.provider.feed_csv()
    assert [r.fairness["nonce"] for r in played] == [0, 1, 2]

    async with sandbox(api, seed=2, journal=Journal(state)) as box:
        provider = box.provider
        assert provider.feed_csv() == feed_before
        assert set(provider.rounds) == {r.id for r in played}
        assert provider.seeds["pl-journal"].nonce == 3
        assert provider.seeds["pl-journal"].server_seed_hash == commitment
        # An old round, not verifiable until its seed is revealed; then it is, after restart.
        old = provider.round_out(provider.rounds[played[0].id])
        assert "server_seed" not in old["fairness"]
        assert not fair.verify(old["fairness"]).fair
        await provider.rotate("pl-journal")

    async with sandbox(api, seed=3, journal=Journal(state)) as box:
        old = box.provider.round_out(box.provider.rounds[played[0].id])
        verdict = fair.verify(old["fairness"])
        assert verdict.fair, verdict.checks
        assert box.provider.seeds["pl-journal"].nonce == 0  # a new seed after the rotation
        assert box.provider.seeds["pl-journal"].server_seed_hash != commitment
        session = await box.open("pl-journal-2")
        await box.provider.spin(session, stake="1.00", params=DICE)
        assert len(box.provider.rounds) == 4


async def test_a_resent_rollback_is_journalled_as_what_the_bet_became(
    api: Api, tmp_path: Path
) -> None:
    state = tmp_path / "state"
    async with sandbox(api, seed=4, journal=Journal(state)) as box:
        session = await box.open("pl-lost")
        box.chaos.set("bet", Switch(lost_answer=1.0))
        box.chaos.set("rollback", Switch(lost_answer=1.0))
        r = await box.provider.spin(session, stake="5.00", params=DICE)
        assert r.status == "void"
        box.chaos.clear()
        assert await box.provider.resend() == 1
        feed = box.provider.feed_csv()
    assert f"{r.bet_tx},{r.id},pl-lost,dice,BET,5.00,EUR,CANCELLED" in feed
    async with sandbox(api, seed=5, journal=Journal(state)) as box:
        assert box.provider.feed_csv() == feed


def test_a_line_cut_short_is_skipped_and_the_files_are_private(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "state")
    journal.write("seeds", {"player_id": "p", "server_seed": "a" * 64, "client_seed": "c",
                            "nonce": 4})  # fmt: skip
    journal.write("seeds", {"player_id": "p", "server_seed": "a" * 64, "client_seed": "c",
                            "nonce": 5})  # fmt: skip
    journal.close()
    path = tmp_path / "state" / "seeds.jsonl"
    with path.open("a") as f:
        f.write('{"player_id": "p", "server_se')  # the crash came mid-line
    restored = Journal(tmp_path / "state").read()
    assert restored.seeds["p"]["nonce"] == 5
    assert restored.skipped == 1
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "state").stat().st_mode) == 0o700


async def test_a_win_still_owed_at_a_restart_is_resent_after_it(api: Api, tmp_path: Path) -> None:
    state = tmp_path / "state"
    async with sandbox(api, seed=6, journal=Journal(state)) as box:
        session = await box.open("pl-owed")
        box.fix_seed("pl-owed", seed_where(pays=True))
        box.chaos.set("win", Switch(error_rate=1.0, error_status=503))
        r = await box.provider.spin(session, stake="1.00", params=DICE)
        assert r.status == "pending"
        assert r.payout > 0
        before = await box.cash("pl-owed")  # the stake taken, the win not paid
    async with sandbox(api, seed=7, journal=Journal(state)) as box:
        assert [p.kind for p in box.provider.pending] == ["win"]
        assert await box.provider.resend() == 1
        assert box.provider.pending == []
        assert await box.cash("pl-owed") == before + r.payout
        assert box.provider.rounds[r.id].status == "settled"
    async with sandbox(api, seed=8, journal=Journal(state)) as box:
        assert box.provider.pending == []  # paid: not owed again after the next restart
        assert await box.provider.resend() == 0
