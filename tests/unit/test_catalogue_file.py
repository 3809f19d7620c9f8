"""Catalogue files: ``parse_catalogue`` on parsed documents and on examples/catalogue.toml, and
``croupier catalogue load`` (all or nothing, ``--dry-run`` writes nothing) on a temporary
SQLite database.

A file is checked whole before anything is written: each problem is reported with where it
is (``games[1].rtp``), several at once, and a file with any problem changes nothing.
"""

from __future__ import annotations

import copy
import json
import tomllib
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from croupier.api.operator import parse_catalogue
from croupier.cli import app
from croupier.domain.catalogue import GameCategory
from croupier.domain.errors import InvalidRequest

EXAMPLE = Path(__file__).parents[2] / "examples" / "catalogue.toml"
runner = CliRunner()


def example() -> dict[str, Any]:
    with EXAMPLE.open("rb") as f:
        return tomllib.load(f)


def problems_of(doc: Any) -> list[str]:
    """The problems parse_catalogue reports for ``doc`` (which it must refuse)."""
    with pytest.raises(InvalidRequest) as caught:
        parse_catalogue(doc)
    assert caught.value.code == "INVALID_REQUEST"
    problems: list[str] = caught.value.details["problems"]
    assert problems
    for problem in problems[:5]:  # the message names the first five
        assert problem in caught.value.message
    return problems


def provider(code: str = "demo", **change: Any) -> dict[str, Any]:
    return {"code": code, "name": "Demo", "launch_url": "https://demo.example/launch",
            "jurisdictions": ["*"]} | change  # fmt: skip


def game(code: str = "dice", provider: str = "demo", **change: Any) -> dict[str, Any]:
    return {"provider": provider, "code": code, "name": "Dice", "category": "table",
            "rtp": "99.00", "jurisdictions": ["*"]} | change  # fmt: skip


# -- parse_catalogue --------------------------------------------------------------------------


def test_the_example_file_parses_into_two_providers_and_four_games() -> None:
    providers, games = parse_catalogue(example())

    assert [p.code for p in providers] == ["demo", "acme-slots"]
    assert [(g.provider, g.code) for g in games] == [
        ("demo", "dice"), ("demo", "crash"), ("acme-slots", "fruit-5x3"),
        ("acme-slots", "live-roulette"),
    ]  # fmt: skip
    acme = providers[1]
    assert (acme.name, acme.launch_url, acme.enabled) == (
        "Acme Slots", "https://games.acme.example/launch", True,
    )  # fmt: skip
    assert acme.jurisdictions == ("GB", "MT", "DE", "CA-ON")
    roulette = games[3]
    assert (roulette.category, roulette.rtp_bp, roulette.enabled) == (
        GameCategory.LIVE, 9730, False,
    )  # fmt: skip
    assert [g.rtp_bp for g in games] == [9900, 9700, 9610, 9730]
    assert all(g.enabled for g in games[:3])


def test_an_empty_document_is_an_empty_catalogue() -> None:
    assert parse_catalogue({}) == ([], [])
    assert parse_catalogue({"providers": [], "games": []}) == ([], [])


def test_defaults_and_normalisation() -> None:
    providers, games = parse_catalogue({
        "providers": [provider(jurisdictions=["GB", "DE", "GB"])],
        "games": [game(rtp="96"), game("crash", rtp="96.5", enabled=False)],
    })  # fmt: skip
    assert providers[0].enabled is True
    assert providers[0].jurisdictions == ("GB", "DE")
    assert [(g.rtp_bp, g.enabled) for g in games] == [(9600, True), (9650, False)]


def test_every_problem_is_reported_with_its_place_several_at_once() -> None:
    doc = example()
    doc["providers"][1]["launch_url"] = "ftp://games.acme.example/launch"
    doc["games"][1]["rtp"] = "96.505"
    doc["games"][2]["category"] = "poker"
    doc["games"][3]["jurisdictions"] = ["GB", "gbr"]

    problems = problems_of(doc)

    assert [p.split(":")[0] for p in problems] == [
        "providers[1].launch_url", "games[1].rtp", "games[2].category", "games[3].jurisdictions",
    ]  # fmt: skip
    assert "96.505" in problems[1]
    assert "'gbr'" in problems[3]


@pytest.mark.parametrize(
    ("doc", "place"),
    [
        ({"providers": [provider(code="")]}, "providers[0].code"),
        ({"providers": [provider(code="bad code")]}, "providers[0].code"),
        ({"providers": [{k: v for k, v in provider().items() if k != "code"}]},
         "providers[0].code"),
        ({"providers": [provider(name="")]}, "providers[0].name"),
        ({"providers": [provider(launch_url="javascript:alert(1)")]}, "providers[0].launch_url"),
        ({"providers": [provider(), provider("p2", jurisdictions=["gb"])]},
         "providers[1].jurisdictions"),
        ({"games": [game(), game("g2", rtp="101")]}, "games[1].rtp"),
        ({"games": [game(), game("g2", rtp="100.01")]}, "games[1].rtp"),
        ({"games": [game(), game("g2", rtp="96.5%")]}, "games[1].rtp"),
        ({"games": [game(category="SLOTS")]}, "games[0].category"),
        ({"games": [game(name="")]}, "games[0].name"),
        ({"games": [game(provider="")]}, "games[0].provider"),
        ({"games": [{k: v for k, v in game().items() if k != "provider"}]}, "games[0].provider"),
        ({"games": [game(code="a/b")]}, "games[0].code"),
        ({"games": [game(jurisdictions=["CA-"])]}, "games[0].jurisdictions"),
    ],
)  # fmt: skip
def test_a_bad_value_is_reported_at_its_place(doc: dict[str, Any], place: str) -> None:
    problems = problems_of(doc)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"{place}: "), problems


@pytest.mark.parametrize(
    ("doc", "place"),
    [
        ({"games": [game(), game("g2", rtp=96.5)]}, "games[1].rtp"),
        ({"games": [game(), game("g2", rtp=96)]}, "games[1].rtp"),
        ({"games": [game(), game("g2", enabled="yes")]}, "games[1].enabled"),
        ({"providers": [provider(), provider("p2", jurisdictions="GB")]},
         "providers[1].jurisdictions"),
        ({"providers": [provider(), {"code": "p2", "name": "P2"}]}, "providers[1]"),
        ({"providers": [provider(name=None)]}, "providers[0].name"),
    ],
)  # fmt: skip
def test_a_wrong_type_or_missing_key_is_reported_at_its_place(
    doc: dict[str, Any], place: str
) -> None:
    problems = problems_of(doc)
    assert any(place in p for p in problems), problems


def test_duplicates_are_reported() -> None:
    doc = example()
    doc["providers"].append(copy.deepcopy(doc["providers"][0]))
    doc["games"].append(copy.deepcopy(doc["games"][2]))
    doc["games"].append(game("dice", provider="other"))  # same code, another provider: fine

    problems = problems_of(doc)

    assert problems == [
        "provider 'demo' appears twice",
        "game 'acme-slots/fruit-5x3' appears twice",
    ]


def test_duplicates_and_bad_values_are_reported_together() -> None:
    doc = {"providers": [provider(), provider()],
           "games": [game(), game(), game("g3", rtp="x")]}  # fmt: skip
    problems = problems_of(doc)
    assert len(problems) == 3, problems
    assert problems[0].startswith("games[2].rtp: ")
    assert problems[1:] == ["provider 'demo' appears twice", "game 'demo/dice' appears twice"]


@pytest.mark.parametrize(
    ("doc", "name"),
    [
        ({"providers": [], "games": [], "studios": []}, "studios"),
        ({"provider": [provider()]}, "provider"),
        ({"games": [game(studio="x")]}, "studio"),
        ({"providers": [provider(rtp="99")]}, "rtp"),
        ({"games": [game(launch_url="https://x.example")]}, "launch_url"),
    ],
)
def test_unknown_keys_are_refused(doc: dict[str, Any], name: str) -> None:
    problems = problems_of(doc)
    assert any(f"unknown field `{name}`" in p for p in problems), problems


@pytest.mark.parametrize("doc", [[], None, "catalogue", {"providers": {}}, {"games": "x"}])
def test_a_document_of_the_wrong_shape_is_refused(doc: Any) -> None:
    problems_of(doc)


def test_type_errors_in_several_entries_are_all_reported() -> None:
    doc = {"games": [game("g1", rtp=96.5), game("g2", rtp=97.5)]}
    problems = problems_of(doc)
    assert any("games[0].rtp" in p for p in problems), problems
    assert any("games[1].rtp" in p for p in problems), problems


def test_several_bad_values_in_one_entry_are_all_reported() -> None:
    problems = problems_of({"games": [game(category="poker", rtp="101")]})
    assert any(p.startswith("games[0].category") for p in problems), problems
    assert any(p.startswith("games[0].rtp") for p in problems), problems


# -- croupier catalogue load ----------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "var" / "croupier.db"
    monkeypatch.setenv("CROUPIER_DATABASE_URL", f"sqlite:///{path}")
    monkeypatch.delenv("CROUPIER_REDIS_URL", raising=False)
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output
    return path


def show() -> dict[str, Any]:
    result = runner.invoke(app, ["catalogue", "show", "--json"])
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def load(*args: str) -> Any:
    return runner.invoke(app, ["catalogue", "load", *args])


def failed(result: Any) -> dict[str, Any]:
    assert result.exit_code == 1, result.output
    error: dict[str, Any] = json.loads(result.stderr)["error"]
    return error


def write(path: Path, doc: dict[str, Any]) -> Path:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_load_the_example(db: Path) -> None:
    result = load(str(EXAMPLE))

    assert result.exit_code == 0, result.output
    assert "loaded 2 providers and 4 games" in result.stdout
    shown = show()
    assert [p["code"] for p in shown["providers"]] == ["acme-slots", "demo"]
    assert [(g["provider"], g["code"], g["rtp"], g["enabled"]) for g in shown["games"]] == [
        ("acme-slots", "fruit-5x3", "96.10", True),
        ("acme-slots", "live-roulette", "97.30", False),
        ("demo", "crash", "97.00", True),
        ("demo", "dice", "99.00", True),
    ]
    assert load(str(EXAMPLE)).exit_code == 0  # again: updated in place
    assert show() == shown


def test_dry_run_checks_and_writes_nothing(db: Path) -> None:
    result = load(str(EXAMPLE), "--dry-run")

    assert result.exit_code == 0, result.output
    assert "2 providers, 4 games; nothing written" in " ".join(result.stdout.split())
    assert show() == {"providers": [], "games": []}


def test_dry_run_of_a_broken_file_fails(db: Path, tmp_path: Path) -> None:
    doc = example()
    doc["games"][0]["rtp"] = "101"
    error = failed(load(str(write(tmp_path / "bad.json", doc)), "--dry-run"))
    assert error["code"] == "INVALID_REQUEST"
    assert error["details"]["problems"][0].startswith("games[0].rtp: ")


def test_a_broken_file_exits_1_with_its_problems_and_writes_nothing(
    db: Path, tmp_path: Path
) -> None:
    assert load(str(EXAMPLE)).exit_code == 0
    before = show()
    doc = example()
    doc["providers"][0]["name"] = "Renamed"  # a good change, in a file with problems
    doc["providers"].append(provider("new-one"))
    doc["games"][1]["rtp"] = "96.505"
    doc["games"][3]["category"] = "poker"
    doc["games"].append(copy.deepcopy(doc["games"][0]))

    error = failed(load(str(write(tmp_path / "bad.json", doc))))

    assert error["code"] == "INVALID_REQUEST"
    problems = error["details"]["problems"]
    assert [p.split(":")[0] for p in problems] == [
        "games[1].rtp", "games[3].category", "game 'demo/dice' appears twice",
    ]  # fmt: skip
    assert "3 problem(s)" in error["message"]
    assert show() == before


def test_a_broken_toml_file_writes_nothing(db: Path, tmp_path: Path) -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace('rtp = "99.00"', "rtp = 99.0")
    path = tmp_path / "bad.toml"
    path.write_text(text, encoding="utf-8")

    error = failed(load(str(path)))

    assert error["code"] == "INVALID_REQUEST"
    assert any("games[0].rtp" in p for p in error["details"]["problems"]), error
    assert show() == {"providers": [], "games": []}


def test_a_game_of_an_unknown_provider_writes_nothing(db: Path, tmp_path: Path) -> None:
    doc = {"providers": [provider("fresh")], "games": [game("g1", provider="fresh"),
                                                      game("g2", provider="ghost")]}  # fmt: skip

    error = failed(load(str(write(tmp_path / "cat.json", doc))))

    assert error["code"] == "PROVIDER_NOT_FOUND"
    assert error["details"]["providers"] == ["ghost"]
    assert show() == {"providers": [], "games": []}  # not even provider fresh


def test_games_may_name_providers_already_in_the_catalogue(db: Path, tmp_path: Path) -> None:
    assert load(str(EXAMPLE)).exit_code == 0
    doc = {"games": [game("blackjack", provider="acme-slots", category="table", rtp="99.5")]}

    result = load(str(write(tmp_path / "more.json", doc)))

    assert result.exit_code == 0, result.output
    games = {(g["provider"], g["code"]): g for g in show()["games"]}
    assert len(games) == 5
    assert games[("acme-slots", "blackjack")]["rtp"] == "99.50"


@pytest.mark.parametrize(
    ("name", "text"),
    [("bad.toml", "[[providers]\ncode = 1"), ("bad.json", "{not json"), ("empty.json", "")],
)
def test_an_unreadable_file_exits_1(db: Path, tmp_path: Path, name: str, text: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    assert failed(load(str(path)))["code"] == "INVALID_REQUEST"
    assert failed(load(str(tmp_path / "missing.toml")))["code"] == "INVALID_REQUEST"
    assert show() == {"providers": [], "games": []}
