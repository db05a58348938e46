"""govfabric — a data fabric and sharing hub for government data (GB/T 40756-2021 §8).

>>> import govfabric
>>> fabric = govfabric.connect(home="~/.govfabric", user="analyst1")
>>> fabric.catalog.search("营业执照")
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"
__all__ = ["Fabric", "connect", "init_workspace", "__version__"]

if TYPE_CHECKING:
    from govfabric.fabric import Fabric, connect, init_workspace


def __getattr__(name: str) -> Any:  # lazy: importing govfabric stays cheap
    if name in ("Fabric", "connect", "init_workspace"):
        from govfabric import fabric

        return getattr(fabric, name)
    raise AttributeError(name)
