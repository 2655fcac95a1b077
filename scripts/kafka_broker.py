#!/usr/bin/env python3
"""A real single-node Apache Kafka 4.x broker (KRaft) for the tests, fetched and run by the project itself.

Stdlib only, so `make kafka-jars` can run it before the venv exists; the pytest plugin in
tests/kafka_broker.py imports it to start one broker per test session.

    python scripts/kafka_broker.py fetch   # resolve the broker jars from Maven Central into .cache/kafka/
    python scripts/kafka_broker.py start   # start in the background, print the bootstrap address
    python scripts/kafka_broker.py start --shipped-jvm   # the same with the JVM options Kafka ships (benchmarks)
    python scripts/kafka_broker.py stop    # stop the broker that `start` recorded
    python scripts/kafka_broker.py run     # start in the foreground until Ctrl-C
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

KAFKA_VERSION = "4.4.0"
# The broker's POM brings slf4j-api 1.7 but no logging backend. Kafka 4.x logs through log4j2, and the
# log4j2 binding for slf4j 1.x is log4j-slf4j-impl (log4j-slf4j2-impl would need slf4j 2).
LOG4J_VERSION = "2.25.3"
DEPENDENCY_PLUGIN = "org.apache.maven.plugins:maven-dependency-plugin:3.8.1"

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / ".cache" / "kafka"
STATE_FILE = CACHE / "broker.json"

# Room for the ~20 MB messages some tests send, plus record-batch overhead.
MAX_MESSAGE_BYTES = 32 * 1024 * 1024
# Small heap and C1-only JIT: the broker shares a 2-core machine with the tests, and starts faster so.
JVM_OPTS = (
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
)
# What Kafka's own start scripts give a broker (kafka-server-start.sh, kafka-run-class.sh), for benchmarks: the
# small heap above fills as a long benchmark session creates topics, and its serial collector then stops the
# broker for ~0.5 s at a time, which the latency measured would count as opswarden's.
SHIPPED_JVM_OPTS = (
    "-Xms1G",
    "-Xmx1G",
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:MaxInlineLevel=15",
    "-Djava.awt.headless=true",
    "-Djava.net.preferIPv4Stack=true",
)

LOG4J2_PROPERTIES = """\
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
# The full config dump and per-request logs drown the lines that explain a failed start.
logger.config.name = org.apache.kafka.common.config.AbstractConfig
logger.config.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.state.name = state.change.logger
logger.state.level = WARN
"""

BROKER_CONFIG = """\
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:{controller_port}
listeners=PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}
advertised.listeners=PLAINTEXT://127.0.0.1:{broker_port}
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs={data_dir}
num.partitions=1
num.network.threads=2
num.io.threads=4
auto.create.topics.enable=true
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
message.max.bytes={max_message_bytes}
replica.fetch.max.bytes={max_message_bytes}
"""


class BrokerError(RuntimeError):
    """The broker could not be fetched or started; the message says why (with the log tail if any)."""


def _pom() -> str:
    """A throwaway POM whose runtime dependencies are exactly the jars the broker needs."""
    deps = [
        ("org.apache.kafka", "kafka_2.13", KAFKA_VERSION),
        ("org.apache.logging.log4j", "log4j-core", LOG4J_VERSION),
        ("org.apache.logging.log4j", "log4j-slf4j-impl", LOG4J_VERSION),
    ]
    xml = "".join(
        f"""
    <dependency>
      <groupId>{g}</groupId>
      <artifactId>{a}</artifactId>
      <version>{v}</version>
    </dependency>"""
        for g, a, v in deps
    )
    return f"""\
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>opswarden.test</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>{KAFKA_VERSION}</version>
  <packaging>pom</packaging>
  <dependencies>{xml}
  </dependencies>
</project>
"""


def _cache_complete(dest: Path) -> bool:
    """The cache is complete when it was made from today's POM and every jar it listed is still there."""
    try:
        pom, names = (dest / "pom.xml").read_text(), (dest / "jars.txt").read_text().split()
    except OSError:
        return False
    return pom == _pom() and bool(names) and all((dest / "libs" / name).is_file() for name in names)


def fetch() -> Path:
    """Resolve the broker jars with Maven into the project cache; a no-op when the cache is complete."""
    dest = CACHE / KAFKA_VERSION
    if _cache_complete(dest):
        return dest / "libs"
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError("mvn not found: Maven is needed once, to fetch the Kafka jars")
    CACHE.mkdir(parents=True, exist_ok=True)
    # Build in a private folder and move it into place, so concurrent fetches never see half a classpath.
    work = Path(tempfile.mkdtemp(prefix=f"{KAFKA_VERSION}.", dir=CACHE))
    try:
        (work / "pom.xml").write_text(_pom())
        cmd = [mvn, "-B", "-q", "--strict-checksums", "-f", str(work / "pom.xml")]
        cmd += [f"{DEPENDENCY_PLUGIN}:copy-dependencies", "-DincludeScope=runtime", "-DoutputDirectory=libs"]
        _log(f"fetching Apache Kafka {KAFKA_VERSION} jars from Maven Central")
        done = subprocess.run(cmd, cwd=work, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise BrokerError(f"mvn failed ({done.returncode}):\n{done.stdout}{done.stderr}")
        jars = sorted(p.name for p in (work / "libs").glob("*.jar"))
        (work / "jars.txt").write_text("\n".join(jars) + "\n")
        if not _cache_complete(dest):
            shutil.rmtree(dest, ignore_errors=True)
            try:
                work.rename(dest)
            except OSError:
                if not _cache_complete(dest):  # Another fetch won the race only if it left a full cache.
                    raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest / "libs"


@dataclass
class Broker:
    """A started broker: enough to reach it, and to stop it from this or another process."""

    pid: int
    bootstrap: str
    run_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def log_path(self) -> Path:
        return self.run_dir / "broker.log"

    def to_json(self) -> str:
        return json.dumps({"pid": self.pid, "bootstrap": self.bootstrap, "run_dir": str(self.run_dir)})

    @classmethod
    def from_json(cls, text: str) -> Broker:
        data = json.loads(text)
        return cls(pid=int(data["pid"]), bootstrap=str(data["bootstrap"]), run_dir=Path(data["run_dir"]))


def _log(message: str) -> None:
    """Progress goes to stderr so that stdout carries only the bootstrap address."""
    print(f"kafka_broker: {message}", file=sys.stderr, flush=True)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not java or not Path(java).is_file():
        raise BrokerError("java not found: the Kafka 4.x broker needs Java 17 or newer")
    return java


def _cluster_id() -> str:
    """A Kafka-style Uuid (22 chars of url-safe base64), never starting with '-' (a flag to the CLI)."""
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no broker log)"


def _recv_exact(sock: socket.socket, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise ConnectionError("broker closed the connection")
        data += chunk
    return bytes(data)


def probe(bootstrap: str, timeout: float = 2.0) -> bool:
    """True when the broker answers a Metadata request listing a live broker, i.e. it is unfenced and serving.

    Speaks the wire protocol directly, so that readiness is checked without any Kafka client library.
    Metadata v4 uses the plain (pre-flexible) encoding and lets the request ask for no topics at all.
    """
    host, port = bootstrap.rsplit(":", 1)
    client_id = b"opswarden-probe"
    request = struct.pack(">hhih", 3, 4, 7, len(client_id)) + client_id + struct.pack(">i?", 0, False)
    try:
        with socket.create_connection((host, int(port)), timeout=timeout) as sock:
            sock.sendall(struct.pack(">i", len(request)) + request)
            (size,) = struct.unpack(">i", _recv_exact(sock, 4))
            payload = _recv_exact(sock, size)
    except OSError:
        return False
    correlation_id, _throttle_ms, brokers = struct.unpack_from(">iii", payload)
    return bool(correlation_id == 7 and brokers >= 1)


def _die_with_parent() -> None:
    """Runs in the forked child: have Linux SIGTERM the broker if the process that started it dies."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG


def _launch(java: str, classpath: str, run_dir: Path, die_with_parent: bool, jvm_opts: tuple[str, ...]) -> Broker:
    """Write a config on fresh ports, format the storage and start the broker process."""
    broker_port, controller_port = _free_port(), _free_port()
    while controller_port == broker_port:
        controller_port = _free_port()
    data_dir = run_dir / "data"
    shutil.rmtree(data_dir, ignore_errors=True)
    config = run_dir / "server.properties"
    config.write_text(
        BROKER_CONFIG.format(
            broker_port=broker_port,
            controller_port=controller_port,
            data_dir=data_dir,
            max_message_bytes=MAX_MESSAGE_BYTES,
        )
    )
    log4j = f"-Dlog4j2.configurationFile={run_dir / 'log4j2.properties'}"
    log_path = run_dir / "broker.log"
    with log_path.open("wb") as log:
        fmt = [java, *jvm_opts, log4j, "-cp", classpath, "kafka.tools.StorageTool"]
        fmt += ["format", "-t", _cluster_id(), "-c", str(config)]
        done = subprocess.run(fmt, stdout=log, stderr=log, stdin=subprocess.DEVNULL, check=False)
        if done.returncode != 0:
            raise BrokerError(f"formatting the broker storage failed ({done.returncode}):\n{_tail(log_path)}")
        process = subprocess.Popen(
            [java, *jvm_opts, log4j, "-cp", classpath, "kafka.Kafka", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # Ctrl-C in a terminal reaches only us, and we stop the broker cleanly.
            preexec_fn=_die_with_parent if die_with_parent and sys.platform == "linux" else None,
        )
    return Broker(process.pid, f"127.0.0.1:{broker_port}", run_dir, process)


def _wait_ready(broker: Broker, process: subprocess.Popen[bytes], timeout: float) -> bool:
    """True once the broker serves requests, False if it exited; BrokerError if it hangs past `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe(broker.bootstrap):
            return True
        if process.poll() is not None:
            return False
        time.sleep(0.2)
    raise BrokerError(f"broker not ready after {timeout:.0f}s:\n{_tail(broker.log_path)}")


def start(timeout: float = 60.0, *, die_with_parent: bool = False, jvm_opts: tuple[str, ...] = JVM_OPTS) -> Broker:
    """Start a broker on free loopback ports and return once it serves requests (with `JVM_OPTS` by default, for
    tests; `SHIPPED_JVM_OPTS` for benchmarks).

    `die_with_parent` ties the broker's life to the calling process (the pytest session), so a killed test
    run cannot leave a JVM behind. A port taken by someone else between picking and binding it is retried
    on new ports.
    """
    classpath = str(fetch() / "*")
    java = _java()
    run_dir = Path(tempfile.mkdtemp(prefix="opswarden-kafka-"))
    (run_dir / "log4j2.properties").write_text(LOG4J2_PROPERTIES)
    started = time.monotonic()
    broker: Broker | None = None
    try:
        for _attempt in range(3):
            broker = _launch(java, classpath, run_dir, die_with_parent, jvm_opts)
            assert broker.process is not None
            if _wait_ready(broker, broker.process, timeout):
                elapsed = time.monotonic() - started
                _log(f"broker {broker.bootstrap} ready in {elapsed:.1f}s (pid {broker.pid})")
                return broker
            log = _tail(broker.log_path, 400)
            if "Address already in use" not in log:
                code = broker.process.returncode
                raise BrokerError(f"broker exited with code {code}:\n{_tail(broker.log_path)}")
            _log("a port was taken before the broker bound it; retrying on new ports")
        raise BrokerError(f"broker could not bind free ports:\n{_tail(run_dir / 'broker.log')}")
    except BaseException:
        if broker is not None:
            stop(broker)
        shutil.rmtree(run_dir, ignore_errors=True)
        raise


def _is_our_broker(broker: Broker) -> bool:
    """Guards against pid reuse: the pid must still be a kafka.Kafka JVM running from this broker's folder."""
    try:
        with open(f"/proc/{broker.pid}/stat") as stat:
            if stat.read().rsplit(")", 1)[1].split()[0] == "Z":
                return False
        cmdline = Path(f"/proc/{broker.pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, IndexError):
        return False
    return b"kafka.Kafka" in cmdline and str(broker.run_dir / "server.properties").encode() in cmdline


def stop(broker: Broker, timeout: float = 20.0) -> None:
    """SIGTERM the broker (a clean shutdown), SIGKILL it after `timeout`, then delete its folder."""
    if broker.process is not None:
        if broker.process.poll() is None:
            broker.process.terminate()
            try:
                broker.process.wait(timeout)
            except subprocess.TimeoutExpired:
                broker.process.kill()
                broker.process.wait()
    elif _is_our_broker(broker):
        os.kill(broker.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _is_our_broker(broker) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _is_our_broker(broker):
            os.kill(broker.pid, signal.SIGKILL)
    shutil.rmtree(broker.run_dir, ignore_errors=True)


def _recorded() -> Broker | None:
    """The broker recorded by `start`/`run`, or None (a stale record is cleaned up)."""
    try:
        broker = Broker.from_json(STATE_FILE.read_text())
    except (OSError, ValueError, KeyError):
        return None
    if _is_our_broker(broker):
        return broker
    shutil.rmtree(broker.run_dir, ignore_errors=True)
    STATE_FILE.unlink(missing_ok=True)
    return None


def _record(broker: Broker) -> None:
    STATE_FILE.parent.mkdir(parents=True, exist_ok=True)
    STATE_FILE.write_text(broker.to_json() + "\n")


def _raise_interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _run(jvm_opts: tuple[str, ...]) -> int:
    """Foreground broker: stops on Ctrl-C or SIGTERM; exits 1 if the broker dies on its own."""
    signal.signal(signal.SIGTERM, _raise_interrupt)
    broker = start(die_with_parent=True, jvm_opts=jvm_opts)
    assert broker.process is not None
    try:
        _record(broker)
        print(broker.bootstrap, flush=True)
        code = broker.process.wait()
        _log(f"broker exited with code {code}:\n{_tail(broker.log_path)}")
        return 1
    except KeyboardInterrupt:
        _log("stopping")
        return 0
    finally:
        stop(broker)
        STATE_FILE.unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("command", choices=["fetch", "start", "stop", "run"])
    parser.add_argument(
        "--shipped-jvm", action="store_true", help="the JVM options Kafka's own start scripts use (benchmarks)"
    )
    args = parser.parse_args(argv)
    command = args.command
    jvm_opts = SHIPPED_JVM_OPTS if args.shipped_jvm else JVM_OPTS
    try:
        if command == "fetch":
            print(fetch())
        elif command == "start":
            broker = _recorded() or start(jvm_opts=jvm_opts)
            _record(broker)
            print(broker.bootstrap)
        elif command == "stop":
            recorded = _recorded()
            if recorded is None:
                _log("no broker recorded as running")
            else:
                stop(recorded)
                STATE_FILE.unlink(missing_ok=True)
                _log(f"stopped broker pid {recorded.pid}")
        else:
            return _run(jvm_opts)
    except BrokerError as exc:
        _log(str(exc))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
