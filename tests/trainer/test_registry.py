"""The adapter registry on disk: versions, the cross-process lock, promote/reject/rollback, forgotten subjects,
cursors, unfinished versions and crash repair."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainer.registry import AdapterCard, AdapterRegistry, RegistryBusy

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def registry(tmp_path) -> AdapterRegistry:
    return AdapterRegistry(tmp_path / "adapters")


def card(version: str, subjects: list[str] = (), **overrides) -> AdapterCard:
    fields = {
        "version": version,
        "status": "candidate",
        "created_ms": 1_793_000_000_000,
        "parent": None,
        "base_model": "tiny",
        "method": "lora",
        "config": {"lora_r": 4},
        "metrics": {"candidate": {"domain_ppl": 9.5}},
        "reason": "golden perplexity 9.5 <= base 10.0",
        "lineage": {"dataset": "live", "data_hash": "ab" * 32},
        "subject_hashes": list(subjects),
    }
    return AdapterCard(**{**fields, **overrides})


def trained(registry: AdapterRegistry, subjects: list[str] = (), weights: bool = True) -> str:
    """A finished cycle: a new version with (optionally) weights and its card."""
    version = registry.new_version()
    if weights:
        registry.adapter_dir(version).mkdir(parents=True)
        (registry.adapter_dir(version) / "adapter_model.safetensors").write_bytes(b"weights")
    registry.save(card(version, subjects))
    return version


def statuses(registry: AdapterRegistry) -> dict[str, str]:
    return {c.version: c.status for c in registry.list()}


def served(registry: AdapterRegistry) -> str | None:
    return json.loads((registry.root / "current.json").read_text())["version"]


def test_versions_are_allocated_in_order_and_never_reused(registry):
    assert [registry.new_version(), registry.new_version()] == ["v0001", "v0002"]
    assert registry.list() == []  # reserved, never finished: no card
    assert registry.new_version() == "v0003"
    assert AdapterRegistry(registry.root).new_version() == "v0004"
    with pytest.raises(ValueError, match="not of the form v0001"):
        registry.get("../v0001")


def test_a_second_process_gets_registry_busy_at_once_naming_the_holder(registry):
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from trainer.registry import AdapterRegistry\n"
            f"with AdapterRegistry({str(registry.root)!r}).lock():\n print('held', flush=True); sys.stdin.readline()",
        ],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        started = time.monotonic()
        with pytest.raises(RegistryBusy, match=rf"in use by another trainer \(pid {holder.pid}\)"):
            with registry.lock():
                pass
        assert time.monotonic() - started < 1.0
    finally:
        holder.communicate("\n", timeout=10)
    with registry.lock():  # released with its holder
        with pytest.raises(RegistryBusy):
            with AdapterRegistry(registry.root).lock():  # another instance in this process is refused too
                pass


def test_promote_serves_the_version_and_retires_the_one_before(registry):
    v1, v2 = trained(registry), trained(registry)
    assert registry.current() is None
    registry.promote(v1, "gate passed")
    assert registry.current().version == v1 and statuses(registry) == {v1: "promoted", v2: "candidate"}
    registry.promote(v2, "gate passed again")
    assert registry.current().version == v2 and statuses(registry) == {v1: "retired", v2: "promoted"}
    assert [h["event"] for h in registry.get(v1).history] == ["candidate", "promoted", "retired"]
    assert "now serving v0002" in registry.get(v1).history[-1]["reason"]


def test_promote_refuses_a_version_without_weights_a_tainted_one_or_an_unknown_one(registry):
    bare, tainted = trained(registry, weights=False), trained(registry, ["s1"])
    registry.mark_forgotten({"s1"})
    with pytest.raises(ValueError, match="has no adapter weights"):
        registry.promote(bare, "by hand")
    with pytest.raises(ValueError, match="forgotten since"):
        registry.promote(tainted, "by hand")
    with pytest.raises(ValueError, match=r"no adapter v0009 .*versions: v0001, v0002"):
        registry.promote("v0009", "by hand")
    assert registry.current() is None and not (registry.root / "current.json").exists()


def test_reject_marks_a_candidate_but_never_the_served_adapter(registry):
    v1, v2 = trained(registry), trained(registry)
    registry.promote(v1, "gate passed")
    registry.reject(v2, "golden perplexity 11.0 > current 10.0")
    assert registry.get(v2).status == "rejected" and registry.get(v2).history[-1]["reason"].startswith("golden")
    with pytest.raises(ValueError, match="roll back instead"):
        registry.reject(v1, "bad")
    assert registry.current().version == v1


def test_rollback_serves_the_newest_earlier_clean_version_with_weights_else_the_base(registry):
    v1, v2, v3, v4 = trained(registry), trained(registry, ["s2"]), trained(registry), trained(registry)
    for v in (v1, v2, v3, v4):
        registry.promote(v, "gate passed")
    registry.mark_forgotten({"s2"})
    for f in registry.adapter_dir(v3).iterdir():
        f.unlink()  # v3's weights were deleted
    assert registry.rollback("bad answers").version == v1  # v3: no weights, v2: holds forgotten data
    assert statuses(registry) == {v1: "promoted", v2: "retired", v3: "retired", v4: "rejected"}
    last = registry.get(v4).history[-1]
    assert (last["event"], last["reason"]) == ("rolled back", "bad answers")
    assert registry.rollback("still bad") is None
    assert served(registry) is None and registry.current() is None  # the base model, said so in current.json
    assert statuses(registry)[v1] == "rejected"
    assert registry.rollback("nothing is served") is None and served(registry) is None


def test_a_rolled_back_adapter_is_never_served_again_by_a_later_rollback(registry):
    v1, v2 = trained(registry), trained(registry)
    registry.promote(v1, "gate passed")
    registry.promote(v2, "gate passed")
    assert registry.rollback("v2 answers badly").version == v1
    v3 = trained(registry)
    registry.promote(v3, "gate passed")
    assert registry.rollback("v3 answers badly").version == v1
    assert statuses(registry) == {v1: "promoted", v2: "rejected", v3: "rejected"}


def test_candidates_and_rejected_versions_are_never_rollback_targets(registry):
    v1, v2 = trained(registry), trained(registry)
    registry.reject(v1, "worse")
    registry.promote(v2, "gate passed")
    assert registry.rollback("bad") is None and served(registry) is None


def test_mark_forgotten_marks_exactly_the_versions_that_trained_on_the_subjects(registry):
    v1, v2, v3 = trained(registry, ["a", "b"]), trained(registry, ["c"]), trained(registry, ["b", "d"])
    assert registry.mark_forgotten({"b", "zzz"}) == [v1, v3]
    assert [c.holds_forgotten for c in registry.list()] == [True, False, True]
    assert registry.mark_forgotten({"zzz"}) == [v1, v3]  # marked before: still reported
    assert registry.mark_forgotten({"c"}) == [v1, v2, v3]
    assert registry.get(v2).history[-1]["event"] == "forgotten"
    card_json = (registry.root / "versions" / v3 / "card.json").read_text()
    assert "subject_hashes" not in json.loads(card_json) and '"d"' not in card_json
    assert (registry.root / "versions" / v3 / "subjects.txt").read_text().split() == ["b", "d"]


def test_cursors_are_per_dataset_and_persist_across_instances(registry):
    assert registry.cursor("live") == 0
    registry.set_cursor("live", 5)
    registry.set_cursor("replayed", 2)
    registry.set_cursor("live", 7)
    reopened = AdapterRegistry(registry.root)
    assert (reopened.cursor("live"), reopened.cursor("replayed"), reopened.cursor("other")) == (7, 2, 0)
    with pytest.raises(ValueError, match="not -1"):
        reopened.set_cursor("live", -1)
    assert reopened.cursor("live") == 7


def test_a_half_written_version_is_ignored(registry):
    v1 = trained(registry)
    crashed = registry.new_version()
    registry.adapter_dir(crashed).mkdir(parents=True)
    (registry.adapter_dir(crashed) / "adapter_model.safetensors").write_bytes(b"partial")
    (registry.root / "versions" / crashed / "subjects.txt").write_text("s1\n")
    assert [c.version for c in registry.list()] == [v1]
    assert registry.get(crashed) is None
    assert registry.mark_forgotten({"s1"}) == []
    with pytest.raises(ValueError, match="no adapter v0002"):
        registry.promote(crashed, "by hand")


def test_a_card_round_trips_with_its_subjects_kept_beside_it(registry):
    original = card(
        registry.new_version(),
        ["s2", "s1"],
        parent="v0000",
        holds_forgotten=False,
        metrics={"base": {"domain_ppl": 10.0, "general_ppl": 20.0}, "candidate": {"domain_ppl": 9.0}},
        lineage={"dataset": "live", "reads": [{"kind": "CuratedPair", "since": 0, "seq": 3}]},
    )
    registry.save(original)
    loaded = AdapterRegistry(registry.root).get(original.version)
    assert loaded == AdapterCard(**{**original.__dict__, "subject_hashes": ["s1", "s2"]})
    assert loaded.history[0]["event"] == "candidate"


def test_entering_the_lock_settles_statuses_after_a_crash_mid_promote(registry):
    v1, v2 = trained(registry), trained(registry)
    registry.promote(v1, "gate passed")
    (registry.root / "current.json").write_text(json.dumps({"version": v2}))  # promote died before settling
    with registry.lock():
        assert statuses(registry) == {v1: "retired", v2: "promoted"}
