"""`make demo`: the full pipeline, and a second run that resumes from the stored offsets."""

import io
import json

import pytest

from connect_core.local import demo

pytestmark = pytest.mark.integration


def test_the_demo_writes_every_record_and_a_second_run_resumes_without_duplicates(embedded_aws, tmp_path):
    first_out = io.StringIO()
    first = demo.run(20, tmp_path, out=first_out, endpoint=embedded_aws)

    assert first["records_in"] == first["records_out"] == 80 == first["records_in_file"]
    assert first["duplicates_in_file"] == 0 and first["dead_letters"] == 0
    assert first["offsets"] == {"0": 19, "1": 19, "2": 19, "3": 19}
    assert "records out (written this run) 80" in first_out.getvalue()

    second = demo.run(20, tmp_path, out=io.StringIO(), endpoint=embedded_aws)

    assert second["records_in"] == second["records_out"] == 0
    assert second["records_in_file"] == 80 and second["duplicates_in_file"] == 0

    more = demo.run(30, tmp_path, out=io.StringIO(), endpoint=embedded_aws)

    assert more["records_in"] == more["records_out"] == 40
    lines = (tmp_path / "records.jsonl").read_text().splitlines()
    positions = {(json.loads(line)["partition"]["partition"], json.loads(line)["offset"]["seq"]) for line in lines}
    assert len(lines) == len(positions) == 120
