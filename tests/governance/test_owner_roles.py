"""Steward actions behind analyst commands (issue 10, must-include 11): computing a content
signature and sampling for standards read every row or raw values, so analysts are refused,
and a conformance report quoting values is the owning department's steward's (or an auditor's)."""

from __future__ import annotations

import pytest

from govfabric.errors import AccessDenied

ASSET = "mr_db.main.t_qy_jbxx"


def test_catalog_sign_is_not_for_analysts(demo) -> None:
    analyst = demo.as_user("analyst1")
    assert analyst.catalog.content_signature(ASSET)  # the recorded signature is catalog metadata
    with pytest.raises(AccessDenied, match="may not read .* through catalog.signature"):
        analyst.catalog.content_signature(ASSET, refresh=True)
    assert demo.catalog.content_signature(ASSET, refresh=True)


def test_standards_sampling_needs_a_steward_of_the_owner(demo) -> None:
    with pytest.raises(AccessDenied, match="sample assets"):
        demo.as_user("analyst1").standards.suggest(ASSET, save=False)
    with pytest.raises(AccessDenied, match="only a steward of 北京市市场监督管理局"):
        demo.as_user("steward_ps").standards.check(ASSET, sample=10)
    with pytest.raises(AccessDenied, match="needs role steward"):  # the report quotes sampled values
        demo.as_user("auditor1").standards.check(ASSET, sample=10)
    assert demo.standards.check(ASSET, sample=10).asset == ASSET  # steward_mr owns it
