"""Every error a user can cause ends in one `error:` line on stderr and exit code 1, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from loopline import config as cfg
from loopline.cli import app
from loopline.stack.kafka import BrokerUnreachable, BrokerWatch

CLOSED_PORT = "kafka: {port: 1}\n"  # nothing listens on 127.0.0.1:1


@pytest.fixture
def home(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("LOOPLINE_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("LOOPLINE_CONFIG", raising=False)
    return tmp_path


def _config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "loopline.yaml"
    path.write_text(text)
    return path


def _one_error_line(args: list[str], env: dict | None = None) -> str:
    result = CliRunner().invoke(app, args, env=env)
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.mark.parametrize(
    "text, expected",
    [
        ("kafka: {prot: 9092}\n", "unknown key kafka.prot (did you mean kafka.port?)"),
        ("pipeline: {dedup: {treshold: 0.4}}\n", "unknown key pipeline.dedup.treshold (did you mean pipeline.dedup.threshold?)"),
        ("kafka: {port: abc}\n", "kafka.port: input should be a valid integer"),
        ("kafka: {port: -5}\n", "kafka.port: input should be greater than or equal to 1 (got -5)"),
        ("kafka: {port: 99999}\n", "kafka.port: input should be less than or equal to 65535 (got 99999)"),
        ("kafka: {host: ''}\n", "kafka.host: string should have at least 1 character"),
        ("pipeline: {dedup: {threshold: 1.5}}\n", "pipeline.dedup.threshold: input should be less than or equal to 1"),
        ("kafka:\n  port: [1\n", "is not valid YAML: line 3, column 1"),
        ("- kafka\n", "must hold a mapping of sections"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_key(home, text, expected):
    path = _config(home, text)
    line = _one_error_line(["stack", "status", "--config", str(path)])
    assert expected in line and str(path) in line


def test_bad_ports_are_refused_when_the_config_loads(home):
    for port in (0, -5, 65536, 99999):
        with pytest.raises(cfg.ConfigError, match="kafka.port"):
            cfg.load(_config(home, f"kafka: {{port: {port}}}\n"))
    with pytest.raises(cfg.ConfigError, match="pipeline.follow.metrics_port"):
        cfg.load(_config(home, "pipeline: {follow: {metrics_port: 70000}}\n"))
    assert cfg.load(_config(home, "kafka: {port: 65535}\n")).kafka.port == 65535


def test_a_missing_config_file_says_where_it_was_named(home):
    assert "nope.yaml (from --config) does not exist" in _one_error_line(["stack", "status", "-c", str(home / "nope.yaml")])
    line = _one_error_line(["stack", "status"], env={"LOOPLINE_CONFIG": str(home / "gone.yaml")})
    assert "gone.yaml (from $LOOPLINE_CONFIG) does not exist" in line


def test_a_directory_or_unreadable_file_as_config(home):
    assert "is a directory" in _one_error_line(["stack", "status", "-c", str(home)])
    if os.geteuid() == 0:
        return  # root reads any file
    path = _config(home, "kafka: {}\n")
    path.chmod(0)
    assert "cannot be read: Permission denied" in _one_error_line(["stack", "status", "-c", str(path)])


def test_an_unreachable_or_unresolvable_broker(home):
    line = _one_error_line(["simulate", "-c", str(_config(home, CLOSED_PORT))])
    assert "not reachable at 127.0.0.1:1" in line
    line = _one_error_line(["run", "--until-now", "-c", str(_config(home, "kafka: {host: no-such-host.invalid}\n"))])
    assert "'no-such-host.invalid' does not resolve" in line and "kafka.host" in line


def test_stack_status_against_a_closed_port_is_one_line(home):
    start = time.monotonic()
    result = CliRunner().invoke(app, ["stack", "status", "-c", str(_config(home, CLOSED_PORT))])
    assert result.exit_code == 0, result.output
    assert time.monotonic() - start < cfg.SourceConfig().unreachable_timeout_s
    assert len(result.output.splitlines()) == 1 and "not running" in result.output


def test_a_bad_dataset_name_and_conflicting_options(home):
    config = str(_config(home, CLOSED_PORT))
    assert "dataset name '../x' must match" in _one_error_line(
        ["replay", "-c", config, "--dataset-version", "../x", "--from-beginning"]
    )
    assert "choose one of --until-now or --follow" in _one_error_line(["run", "-c", config])
    assert "v9" in _one_error_line(["adapters", "promote", "v9", "-c", config])


def test_debug_shows_the_traceback(home):
    path = _config(home, "kafka: {prot: 1}\n")
    cmd = [sys.executable, "-m", "loopline.cli"]
    plain = subprocess.run([*cmd, "stack", "status", "-c", str(path)], capture_output=True, text=True, timeout=60)
    debug = subprocess.run([*cmd, "--debug", "stack", "status", "-c", str(path)], capture_output=True, text=True, timeout=60)
    expected = f"error: config file {path}: unknown key kafka.prot (did you mean kafka.port?)"
    assert plain.returncode == 1 and plain.stderr.splitlines() == [expected]
    assert debug.returncode == 1 and "Traceback" in debug.stderr and "ConfigError" in debug.stderr


@pytest.mark.parametrize("bootstrap", ["127.0.0.1:1", "no-such-host.invalid:9092"])
def test_a_reader_gives_up_on_an_unreachable_broker_within_the_bound_and_logs_once(bootstrap, caplog, capfd):
    from confluent_kafka import Consumer, TopicPartition

    watch = BrokerWatch(bootstrap, timeout_s=1.0)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "loopline-test", **watch.settings()})
    consumer.assign([TopicPartition("chat", 0, 0)])
    start = time.monotonic()
    try:
        with pytest.raises(BrokerUnreachable, match=f"Kafka at {bootstrap} unreachable for 1 s"):
            while time.monotonic() - start < 10:
                assert consumer.consume(10, timeout=0.2) == []
                watch.check()
    finally:
        consumer.close()
    assert time.monotonic() - start < 3
    assert len([r for r in caplog.records if r.name == "loopline.stack.kafka"]) == 1
    assert "rdkafka#consumer" not in capfd.readouterr().err  # librdkafka's own per-attempt lines are muted


def test_a_bounded_read_stops_within_the_bound_when_the_broker_is_gone():
    import apache_beam as beam

    from pipelines.source import PartitionSlice, ReadKafka

    source = cfg.SourceConfig(unreachable_timeout_s=1.0)
    start = time.monotonic()
    with pytest.raises(BrokerUnreachable, match="Kafka at 127.0.0.1:1 unreachable"):
        with beam.Pipeline(runner="FnApiRunner") as p:
            p | ReadKafka("127.0.0.1:1", [PartitionSlice("chat", 0, 0, 10)], source, cfg.WindowConfig(), "live")
    assert time.monotonic() - start < 30
