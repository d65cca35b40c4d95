"""``make invoke``: one handler in-process with an event file and a Lambda-like context."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.devstack_helpers import write_function
from vanta_vuln_stats.devstack import invoke

TEMPLATE = """\
Transform: AWS::Serverless-2016-10-31
Globals:
  Function:
    Handler: app.handler
    Timeout: 120
    MemorySize: 512
Resources:
  EchoFunction:
    Type: AWS::Serverless::Function
    Properties:
      CodeUri: functions/echo/
      Timeout: 60
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    write_function(tmp_path, "echo")
    (tmp_path / "template.yaml").write_text(TEMPLATE)
    (tmp_path / "event.json").write_text(json.dumps({"note": "hi", "env": ["HOME_FOR_TEST"]}))
    return tmp_path


def test_invoke_prints_the_result_with_the_template_limits(
    project: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME_FOR_TEST", "here")
    code = invoke.main(["echo", str(project / "event.json"), "--root", str(project)])
    captured = capsys.readouterr()
    assert code == 0
    result = json.loads(captured.out)
    assert result["event"]["note"] == "hi"
    assert result["env"] == {"HOME_FOR_TEST": "here"}
    assert result["context"]["memory_limit_in_mb"] == 512
    assert 55_000 < result["context"]["remaining"] <= 60_000
    assert "print from the handler" in captured.err


def test_a_handler_error_is_the_lambda_payload(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (project / "fail.json").write_text('{"fail": true}')
    assert invoke.main(["echo", str(project / "fail.json"), "--root", str(project)]) == 1
    assert json.loads(capsys.readouterr().out)["errorType"] == "ValueError"


def test_missing_function_or_event_is_one_line(
    project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert invoke.main(["nope", str(project / "event.json"), "--root", str(project)]) == 2
    assert "No function 'nope'" in capsys.readouterr().err
    assert invoke.main(["echo", str(project / "missing.json"), "--root", str(project)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("Error: No event file") and "Traceback" not in err
