"""The report (`expander.constraints.types`): its JSON form, the one the API and eval tables use."""

from __future__ import annotations

import json

from expander.constraints import check


def test_report_is_json_serialisable():
    report = check("two red apples, watercolor", "A watercolor of three green apples.")
    data = json.loads(json.dumps(report.to_dict()))
    assert data["ok"] is False
    assert 0.0 <= data["score"] <= 1.0
    assert data["n_constraints"] == len(data["satisfied"]) + len(data["violated"])
    assert {v["constraint"]["kind"] for v in data["violated"]} >= {"count", "color"}
    assert all(isinstance(v["reason"], str) and v["reason"] for v in data["violated"])
