"""Beam's Flink job server, run from its Maven Central jars, so pipelines can run on Apache Flink.

Beam publishes no job-server jar for the Python SDK's version on the Maven Central reachable here
(`beam-runners-flink-*-job-server` is absent at every version), but `beam-runners-flink-<flink>` resolves
with all its dependencies at 2.62.0: the jars are resolved once into the cache and a small launcher jar
names the driver class and the jars on its Class-Path. The caller starts the job server (FlinkJobServer,
per bounded run and per follow job) and submits to it with Beam's PortableRunner; the job server runs the
job on `flink.master`: `[local]`, an embedded Flink mini cluster, or a JobManager's REST address. The job
API between the Python SDK and the Java job server is Beam's versioned portability protocol, which is why
a 2.77 SDK can submit to a 2.62 job server (tested: tests/pipelines/test_pipeline_kafka.py).

Every port the job server's JVM opens is on 127.0.0.1:
  - Beam's gRPC servers (job, artifact staging, and each job's control/data/state/logging/provision
    servers) are made by `ServerFactory.InetSocketAddressServerFactory`, whose `createServer` builds
    `NettyServerBuilder.forPort(port)`: the wildcard address, whatever `--job-host` says, and no option
    changes it. The launcher puts a copy of that one class first on its Class-Path, patched to call
    `NettyServerBuilder.forAddress(socket)` instead (the address it was given: `--job-host`, or loopback
    for dynamically allocated ports).
  - The expansion service is not started (`--expansion-port=-1`): our pipelines have no Java transforms.
  - The mini cluster's blob server binds `jobmanager.bind-host` (default 0.0.0.0); a Flink configuration
    directory (`--flink-conf-dir`) sets it and the other bind hosts to 127.0.0.1.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from loopline.config import FlinkConfig
from loopline.stack.kafka import StackError, free_port
from loopline.stack.maven import resolve_jars
from loopline.stack.prism import OwnedJobServer

POM = Path(__file__).with_name("flink-pom.xml")
DRIVER = "org.apache.beam.runners.flink.FlinkJobServerDriver"
SERVER_FACTORY = "org/apache/beam/sdk/fn/server/ServerFactory$InetSocketAddressServerFactory.class"
LOOPBACK_CONF_DIR = "loopback-conf"  # the mini cluster's Flink configuration, next to the launcher
LOOPBACK_CONF = {
    # the blob server is the one of the mini cluster's services seen listening (backlog 1000, on 0.0.0.0
    # without this); the others bind where these say if a Flink version opens them
    "jobmanager.bind-host": "127.0.0.1",
    "jobmanager.rpc.address": "127.0.0.1",
    "taskmanager.bind-host": "127.0.0.1",
    "taskmanager.host": "127.0.0.1",
    "rest.bind-address": "127.0.0.1",
    "rest.address": "127.0.0.1",
}


def ensure_job_server(cfg: FlinkConfig, cache_dir: Path) -> Path:
    """The launcher jar of Beam's Flink job server (resolving its jars with Maven on first use)."""
    home = cache_dir / "flink" / f"beam-{cfg.beam_version}-flink-{cfg.flink_version}"
    libs = resolve_jars(
        POM,
        {"beam.version": cfg.beam_version, "flink.version": cfg.flink_version},
        home / "libs",
        f"Beam {cfg.beam_version}'s Flink {cfg.flink_version} runner",
    )
    launcher, patch = home / "job-server-loopback.jar", home / "loopback-servers.jar"
    if not launcher.exists():  # written last: a launcher exists only with its patch
        with zipfile.ZipFile(next(libs.glob("beam-sdks-java-core-*.jar"))) as z:
            _write_jar(patch, {SERVER_FACTORY: _bind_the_given_address(z.read(SERVER_FACTORY))})
        conf = home / LOOPBACK_CONF_DIR
        conf.mkdir(exist_ok=True)
        (conf / "flink-conf.yaml").write_text("".join(f"{k}: {v}\n" for k, v in LOOPBACK_CONF.items()))
        jars = [patch.name, *(f"libs/{j}" for j in sorted(p.name for p in libs.glob("*.jar")))]
        _write_jar(launcher, {"META-INF/MANIFEST.MF": _manifest(DRIVER, jars)})
    return launcher


def pipeline_args(cfg: FlinkConfig, job_endpoint: str) -> list[str]:
    """Options for Beam's PortableRunner on a running FlinkJobServer, workers in this process (loopback)."""
    return [
        "--runner=PortableRunner",
        f"--job_endpoint={job_endpoint}",
        "--environment_type=LOOPBACK",
        *([f"--parallelism={cfg.parallelism}"] if cfg.parallelism else []),
    ]


class FlinkJobServer(OwnedJobServer):
    """Beam's Flink job server as the caller's own process, every port on 127.0.0.1 (see the module doc)."""

    name = "Flink job server"
    start_timeout_s = 120.0  # a JVM loading 160 jars, on a busy machine

    def __init__(self, cfg: FlinkConfig, cache_dir: Path, log_path: Path):
        super().__init__(log_path)
        self.cfg, self.launcher = cfg, ensure_job_server(cfg, cache_dir)

    def command(self, job_port: int) -> list[str]:
        # the mini cluster only: a remote cluster binds as its own configuration says
        conf = [f"--flink-conf-dir={self.launcher.parent / LOOPBACK_CONF_DIR}"] if self.cfg.master == "[local]" else []
        return [
            "java",
            "-jar",
            str(self.launcher),
            f"--flink-master={self.cfg.master}",
            "--job-host=127.0.0.1",
            f"--job-port={job_port}",
            f"--artifact-port={free_port()}",
            "--expansion-port=-1",
            *conf,
        ]


def _bind_the_given_address(class_file: bytes) -> bytes:
    """Beam's InetSocketAddressServerFactory with `NettyServerBuilder.forPort(socket.getPort())` in
    `createServer` replaced by `NettyServerBuilder.forAddress(socket)`, byte for byte the same length: the
    `getPort` call becomes three NOPs and the static call names a `forAddress` method reference appended
    to the constant pool, so no offset, branch or stack map frame moves."""
    count = int.from_bytes(class_file[8:10], "big")
    pool, at, index = {}, 10, 1
    sizes = {3: 5, 4: 5, 5: 9, 6: 9, 7: 3, 8: 3, 9: 5, 10: 5, 11: 5, 12: 5, 15: 4, 16: 3, 17: 5, 18: 5, 19: 3, 20: 3}
    while index < count:
        tag = class_file[at]
        size = 3 + int.from_bytes(class_file[at + 1 : at + 3], "big") if tag == 1 else sizes[tag]
        pool[index] = class_file[at : at + size]
        index, at = index + (2 if tag in (5, 6) else 1), at + size

    def ref(entry: bytes, offset: int) -> bytes:
        return pool[int.from_bytes(entry[offset : offset + 2], "big")]

    def method(entry: bytes) -> tuple[str, str, str]:
        name_and_type = ref(entry, 3)
        return tuple(e[3:].decode() for e in (ref(ref(entry, 1), 1), ref(name_and_type, 1), ref(name_and_type, 3)))

    methods = {method(e): i for i, e in pool.items() if e[0] == 10}
    builder = next((c for c, n, _ in methods if n == "forPort" and c.endswith("/netty/NettyServerBuilder")), None)
    get_port = methods.get(("java/net/InetSocketAddress", "getPort", "()I"))
    for_port = methods.get((builder, "forPort", f"(I)L{builder};"))
    old = b"\x2b\xb6" + (get_port or 0).to_bytes(2, "big") + b"\xb8" + (for_port or 0).to_bytes(2, "big")
    body = class_file[at:]
    if not (get_port and for_port) or body.count(old) != 1:  # aload_1; invokevirtual getPort; invokestatic forPort
        raise StackError("Beam's InetSocketAddressServerFactory is not the one whose servers can be bound to loopback")
    name, descriptor = b"forAddress", f"(Ljava/net/SocketAddress;)L{builder};".encode()
    added = [
        b"\x01" + len(name).to_bytes(2, "big") + name,
        b"\x01" + len(descriptor).to_bytes(2, "big") + descriptor,
        b"\x0c" + count.to_bytes(2, "big") + (count + 1).to_bytes(2, "big"),
        b"\x0a" + pool[for_port][1:3] + (count + 2).to_bytes(2, "big"),
    ]
    new = b"\x2b\x00\x00\x00\xb8" + (count + 3).to_bytes(2, "big")
    return class_file[:8] + (count + 4).to_bytes(2, "big") + class_file[10:at] + b"".join(added) + body.replace(old, new)


def _write_jar(path: Path, entries: dict[str, str | bytes]) -> None:
    """Written whole or not at all: a half-written jar is never picked up."""
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w") as z:
        for name, data in entries.items():
            z.writestr(name, data)
    tmp.rename(path)


def _manifest(main_class: str, class_path: list[str]) -> str:
    """A jar manifest; its lines are at most 72 bytes, longer values continue on lines starting with a space."""
    lines = []
    for header in ("Manifest-Version: 1.0", f"Main-Class: {main_class}", "Class-Path: " + " ".join(class_path)):
        first, rest = header[:72], header[72:]
        lines.append(first)
        lines += [" " + rest[i : i + 71] for i in range(0, len(rest), 71)]
    return "\r\n".join(lines) + "\r\n"
