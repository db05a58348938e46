"""Compiled contract artifacts (ABI + bytecode) committed beside the Vyper sources.

Deploying never needs the compiler; a test recompiles every source with the pinned
Vyper and compares, so the committed bytecode is exactly what the source says.
Regenerate with ``python -m govfabric.blockchain.artifacts``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from govfabric.errors import ConfigError

CONTRACTS_DIR = Path(__file__).parent / "contracts"
CONTRACT_NAMES = ("Consortium", "AnchorRegistry", "SharingRecords", "AccessGrants")
VYPER_VERSION = "0.4.3"


@dataclass(frozen=True)
class Artifact:
    name: str
    abi: list[dict[str, Any]]
    bytecode: str
    bytecode_runtime: str
    source_sha256: str
    vyper_version: str


def source_path(name: str) -> Path:
    return CONTRACTS_DIR / f"{name}.vy"


def artifact_path(name: str) -> Path:
    return CONTRACTS_DIR / f"{name}.json"


def compile_source(name: str) -> Artifact:
    """Compile one contract with the installed Vyper (must be the pinned version)."""
    import vyper
    from vyper import compiler

    if vyper.__version__ != VYPER_VERSION:
        raise ConfigError(f"contracts are pinned to Vyper {VYPER_VERSION}; found {vyper.__version__}")
    src = source_path(name).read_text(encoding="utf-8")
    out = compiler.compile_code(src, contract_path=f"{name}.vy", output_formats=["abi", "bytecode", "bytecode_runtime"])
    return Artifact(
        name=name,
        abi=out["abi"],
        bytecode=out["bytecode"],
        bytecode_runtime=out["bytecode_runtime"],
        source_sha256=hashlib.sha256(src.encode()).hexdigest(),
        vyper_version=VYPER_VERSION,
    )


@cache
def load_artifact(name: str) -> Artifact:
    path = artifact_path(name)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"contract artifact {path} is missing or invalid ({exc}); "
            "regenerate with `python -m govfabric.blockchain.artifacts`"
        ) from exc
    return Artifact(**data)


def write_artifacts() -> list[Path]:
    written = []
    for name in CONTRACT_NAMES:
        art = compile_source(name)
        path = artifact_path(name)
        path.write_text(json.dumps(art.__dict__, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for p in write_artifacts():
        print(p)
