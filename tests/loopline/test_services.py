"""The loop's supervisor with real `loopline` child processes: a service that keeps dying stops the loop with
one line naming it; a healthy one is stopped with SIGTERM and exits cleanly."""

from __future__ import annotations

import threading
import time

import pytest

from loopline.services import Service, ServiceFailed, Supervisor


def test_a_service_that_keeps_dying_stops_the_loop_naming_it(tmp_path):
    lines = []
    dying = Service("dying", ["datasets", "gc", "--dataset", "no-such-dataset"])
    supervisor = Supervisor([dying], tmp_path / "logs", echo=lines.append, max_restarts=2, window_s=120)
    supervisor.start()
    with pytest.raises(ServiceFailed, match=r"dying exited 3 times .*no-such-dataset"):
        supervisor.run(threading.Event(), poll_s=0.1)
    assert supervisor.restarts == 2
    assert sum("restarting in" in line for line in lines) == 2
    assert (tmp_path / "logs" / "dying.log").read_text().count("does not exist") == 3


def test_stop_sends_sigterm_and_the_service_exits_cleanly(tmp_path):
    lines = []
    trainer = Service("trainer", ["train", "--follow"], grace_s=30)
    config = tmp_path / "loopline.yaml"
    config.write_text(f"home: {tmp_path}\ntrainer: {{triggers: {{poll_s: 0.2}}}}\n")
    supervisor = Supervisor([trainer], tmp_path / "logs", config_path=config, echo=lines.append)
    supervisor.start()
    stop = threading.Event()

    def stop_once_running():
        deadline = time.monotonic() + 120
        while not any("follow mode" in line for line in lines) and time.monotonic() < deadline:
            time.sleep(0.1)
        stop.set()

    threading.Thread(target=stop_once_running, daemon=True).start()
    supervisor.run(stop, poll_s=0.1)
    assert any("follow mode" in line for line in lines), lines
    assert supervisor.running["trainer"].proc.returncode == 0, lines
    assert any("stopping trainer" in line for line in lines)
