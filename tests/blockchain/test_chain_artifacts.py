"""The committed ABI and bytecode are exactly what the Vyper sources compile to."""

from __future__ import annotations

import hashlib

import pytest

from govfabric.blockchain.artifacts import CONTRACT_NAMES, compile_source, load_artifact, source_path


@pytest.mark.parametrize("name", CONTRACT_NAMES)
def test_committed_artifact_matches_a_fresh_compile(name: str) -> None:
    committed = load_artifact(name)
    fresh = compile_source(name)
    assert committed.source_sha256 == hashlib.sha256(source_path(name).read_bytes()).hexdigest(), (
        f"{name}.vy changed since its artifact was written: run `python -m govfabric.blockchain.artifacts`"
    )
    assert committed.abi == fresh.abi
    assert committed.bytecode == fresh.bytecode
    assert committed.bytecode_runtime == fresh.bytecode_runtime
    assert committed.vyper_version == "0.4.3"
