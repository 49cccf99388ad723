"""Runs the shell blocks of a Markdown doc against real local clusters.

A doc is read top to bottom:

- a fenced block whose info string is ``sh`` is run with bash (``set -euo pipefail``),
  each block in its own bash process, all of a run in one working directory; variables a
  block exports are passed on to the next blocks (``$CT`` made in one block is there in
  the next one only if the block exported it);
- a fenced block ``sh skip-ci`` is not run; it must hold a ``#`` comment saying why
  (a long-running foreground process, a command for another host);
- a line ``! cmd`` fails the block if ``cmd`` succeeds (bash alone would not);
- ``<!-- ci: ... -->`` lines (invisible in rendered Markdown) tell the harness what the
  operator does outside the shell at that point: bring up a cluster, kill a node, start
  a new node's service, start the gateway. The vocabulary is `Harness.directives`;
- whatever a block prints as ``Unseal Share N: ...`` (the output of `keymgr operator
  init`) becomes ``$SHAREn`` for the blocks after it: the harness plays the custodians.

A failing command fails with the doc file and line of the command and the output.
Every process is stopped by its PID: the nodes, and a process a block starts in the
background (a gateway, a plugin), which the doc records as it tells the user to, in
`<name>.pid` in the working directory (`... & echo $! > gateway.pid`).
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from keymgr.ops.devcluster import LocalCluster, NodeSpec, default_spec
from keymgr.ops.ports import NotListening, free_port, wait_listening
from keymgr_bench.openbao_peer import OpenBaoCluster, bao_binary

REPO = Path(__file__).resolve().parents[2]
BLOCK_TIMEOUT_S = 120.0
_FENCE = re.compile(r"^(\s*)```(\S*)\s*(.*)$")
_DIRECTIVE = re.compile(r"^<!--\s*ci:\s*(.*?)\s*-->\s*$")
_SHARE = re.compile(r"^Unseal Share (\d+): (\S+)$", re.MULTILINE)
# `keymgr` in command position: line start, after | ; & ( then do if !, or VAR=value
_INVOCATION = re.compile(
    r"(?:^|[|;&(]|\bthen|\bdo|\bif|!|\w=\S*\s)\s*keymgr(?=\s|$)((?:\s+[^\s|;&)<>]+)*)"
)
_DROP_ENV = {"_", "SHLVL", "PWD", "OLDPWD"}


@dataclass
class Block:
    doc: Path
    line: int  # 1-based line of the block's first body line
    body: str
    skip: bool = False

    def where(self, offset: int = 0) -> str:
        return f"{_rel(self.doc)}:{self.line + offset}"


@dataclass
class Directive:
    doc: Path
    line: int
    words: list[str]

    def where(self) -> str:
        return f"{_rel(self.doc)}:{self.line}"


Step = Block | Directive


class DocError(AssertionError):
    """A doc that the harness cannot run, or a command in it that failed."""


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def parse(doc: Path) -> list[Step]:
    """The runnable steps of a doc, in order."""
    steps: list[Step] = []
    lines = doc.read_text().splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        fence = _FENCE.match(line)
        if fence:
            indent, lang, rest = fence.group(1), fence.group(2), fence.group(3).split()
            start = i + 1
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                i += 1
            if i == len(lines):
                raise DocError(f"{_rel(doc)}:{start}: unclosed code fence")
            if lang == "sh":
                unknown = [w for w in rest if w != "skip-ci"]
                if unknown:
                    raise DocError(f"{_rel(doc)}:{start}: unknown block option(s) {unknown}")
                body = "\n".join(ln.removeprefix(indent) for ln in lines[start:i])
                block = Block(doc, start + 1, body, skip="skip-ci" in rest)
                if block.skip and not any(
                    ln.strip().startswith("#") for ln in block.body.splitlines()
                ):
                    raise DocError(
                        f"{block.where()}: a `sh skip-ci` block must say why in a # comment"
                    )
                steps.append(block)
        else:
            directive = _DIRECTIVE.match(line)
            if directive:
                steps.append(Directive(doc, i + 1, shlex.split(directive.group(1))))
        i += 1
    return steps


@dataclass
class Harness:
    """One working directory, the clusters brought up in it, the exported variables."""

    work: Path
    env: dict[str, str] = field(default_factory=dict)
    clusters: dict[str, LocalCluster] = field(default_factory=dict)
    peers: list[OpenBaoCluster] = field(default_factory=list)
    ran: list[Block] = field(default_factory=list)
    log: list[str] = field(default_factory=list)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.work.mkdir(parents=True, exist_ok=True)
        # a new user's shell: no keymgr on PATH until the doc says how to get it there
        # (`. dev-cluster/env`), no KEYMGR_* variables
        base = {k: v for k, v in os.environ.items() if not k.startswith("KEYMGR_")}
        venv_bin = str(Path(sys.executable).parent)
        base["PATH"] = ":".join(
            p for p in base.get("PATH", "/usr/bin:/bin").split(":") if p and p != venv_bin
        )
        base["PYTHONPATH"] = str(REPO)
        base["NO_COLOR"] = "1"
        self.env = {**base, **self.env}

    # --- directives ---------------------------------------------------------------

    def directives(self) -> dict[str, Callable[..., None]]:
        return {
            "cluster": self._cluster,
            "kill": self._kill,
            "new-node": self._new_node,
            "config": self._config,
            "start": self._start,
            "gateway": self._gateway,
            "openbao": self._openbao,
        }

    def directive(self, step: Directive) -> None:
        name, *args = step.words or ["?"]
        handler = self.directives().get(name)
        if handler is None:
            raise DocError(f"{step.where()}: unknown ci directive {step.words}")
        try:
            handler(*args)
        except DocError:
            raise
        except Exception as exc:
            raise DocError(f"{step.where()}: ci directive {step.words} failed: {exc}") from exc
        self.log.append(f"{step.where()}: ci {' '.join(step.words)}")

    def _cluster(self, kind: str) -> None:
        """`cluster dev`: what `keymgr dev up --dir dev-cluster` makes (file seal,
        initialised, unsealed, shares in dev-cluster/unseal-shares.txt,
        dev-cluster/env); the doc sources dev-cluster/env as dev up tells the user to.
        `cluster fresh`: 3 Shamir-sealed nodes, started and NOT initialised, with the
        work dir as cluster dir (certs/, data/<node>/, ...); KEYMGR_* and NODE1..3.
        `cluster dr`: another fresh one in dr/ with its own CA; DR_ADDR, DR_NODE1..3."""
        if kind == "dev":
            cluster = LocalCluster(self.work / "dev-cluster", default_spec(3))
            self.clusters[kind] = cluster
            shares = cluster.bring_up(shares=3, threshold=2)
            cluster.enable_secrets_mount()  # as `keymgr dev up` does
            fd = os.open(cluster.root / "unseal-shares.txt", os.O_WRONLY | os.O_CREAT, 0o600)
            with os.fdopen(fd, "w") as out:
                out.write("\n".join(shares) + "\n")
            cluster.write_env_file()
        elif kind in ("fresh", "dr"):
            root = self.work if kind == "fresh" else self.work / "dr"
            cluster = LocalCluster(root, default_spec(3, seal="shamir"))
            self.clusters[kind] = cluster
            cluster.prepare()
            cluster.start_all()
            for node in cluster.spec.nodes:
                cluster.wait_answering(node.id)
            if kind == "fresh":
                self._point_at(cluster, "certs")
                for i, node in enumerate(cluster.spec.nodes, 1):
                    self.env[f"NODE{i}"] = node.api
            else:
                self.env["DR_ADDR"] = ",".join(n.api for n in cluster.spec.nodes)
                for i, node in enumerate(cluster.spec.nodes, 1):
                    self.env[f"DR_NODE{i}"] = node.api
        else:
            raise DocError(f"unknown cluster kind {kind!r} (dev, fresh, dr)")

    def _point_at(self, cluster: LocalCluster, certs: str) -> None:
        self.env["KEYMGR_ADDR"] = ",".join(n.api for n in cluster.spec.nodes)
        self.env["KEYMGR_CACERT"] = f"{certs}/ca.pem"
        self.env["KEYMGR_CLIENT_CERT"] = f"{certs}/admin.pem"
        self.env["KEYMGR_CLIENT_KEY"] = f"{certs}/admin-key.pem"

    def _fresh(self) -> LocalCluster:
        if "fresh" not in self.clusters:
            raise DocError("needs `<!-- ci: cluster fresh -->` first")
        return self.clusters["fresh"]

    def _kill(self, node_id: str) -> None:
        """SIGKILL one node of the fresh cluster (a failed host)."""
        cluster = self._fresh()
        cluster.stop(node_id, kill=True)
        cluster.spec.nodes = [n for n in cluster.spec.nodes if n.id != node_id]
        # what the operator checks first: the others still have a leader and serve
        cluster.wait_serving([n.id for n in cluster.spec.nodes if cluster.alive(n.id)])

    def _new_node(self, node_id: str, zone: str) -> None:
        """A new host with its addresses: exports <ID>_HOST, <ID>_API and <ID>_RAFT
        (e.g. NODE4_API)."""
        cluster = self._fresh()
        spec = NodeSpec(
            id=node_id,
            zone=zone,
            seal="shamir",
            api=f"127.0.0.1:{free_port()}",
            raft=f"127.0.0.1:{free_port()}",
        )
        cluster.spec.nodes.append(spec)
        self.env[f"{node_id.upper()}_HOST"] = "127.0.0.1"
        self.env[f"{node_id.upper()}_API"] = spec.api
        self.env[f"{node_id.upper()}_RAFT"] = spec.raft

    def _config(self, node_id: str) -> None:
        """Writes <id>.yaml listing every current voter as peers (keeps the node
        certificate a block issued)."""
        cluster = self._fresh()
        cluster.node(node_id)
        if not (cluster.certs / f"{node_id}.pem").exists():
            raise DocError(f"no certificate for {node_id}: the doc must issue it first")
        cluster.prepare()

    def _start(self, node_id: str) -> None:
        """`systemctl start keymgr` on that host: start its process."""
        cluster = self._fresh()
        cluster.start(node_id)
        cluster.wait_answering(node_id)

    def _gateway(self, config: str) -> None:
        """`keymgr gateway --config <config>` in the foreground of another shell: start
        it from a copy of the doc's config listening on a free port; export BAO_ADDR."""
        source = self.work / config
        body = yaml.safe_load(source.read_text())
        port = free_port()
        body["listen"] = f"127.0.0.1:{port}"
        copy = source.with_name(f"ci-{source.name}")
        copy.write_text(yaml.safe_dump(body))
        with open(self.work / "ci-gateway.log", "ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "keymgr", "gateway", "--config", copy.name],
                cwd=source.parent,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.processes.append(process)
        try:
            wait_listening(port, process, log=self.work / "ci-gateway.log")
        except NotListening as exc:
            raise DocError(f"the gateway: {exc}") from None
        self.env["BAO_ADDR"] = f"https://127.0.0.1:{port}"

    def _openbao(self) -> None:
        """`bao server -dev` with transit enabled, as the doc's skip-ci block starts it,
        on a free loopback port: exports BAO_ADDR and BAO_TOKEN and puts `bao` on PATH."""
        peer = OpenBaoCluster(dev=True, bootstrap_timeout_s=60.0)
        self.peers.append(peer)
        peer.start()
        self.env["BAO_ADDR"] = peer.addresses[0]
        self.env["BAO_TOKEN"] = peer.root_token
        self.env["PATH"] = f"{Path(bao_binary()).parent}:{self.env['PATH']}"

    # --- blocks ---------------------------------------------------------------------

    def run(self, block: Block) -> str:
        """Runs one block; returns its stdout; raises DocError naming the failing line."""
        err_line = self.work / ".err-line"
        env_out = self.work / ".env-out"
        for path in (err_line, env_out):
            path.unlink(missing_ok=True)
        prelude = [
            "set -Eeuo pipefail",
            f"trap 'echo $LINENO > {shlex.quote(str(err_line))}' ERR",
            f"trap 'env -0 > {shlex.quote(str(env_out))}' EXIT",
        ]
        script = "\n".join([*prelude, strict_negation(block.body), ""])
        started = time.monotonic()
        try:
            result = subprocess.run(
                ["bash", "-c", script, "docs-block"],
                cwd=self.work,
                env=self.env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=BLOCK_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise DocError(
                f"{block.where()}: block did not finish within {BLOCK_TIMEOUT_S:.0f} s\n"
                f"{block.body}\n--- stdout\n{exc.stdout!r}\n--- stderr\n{exc.stderr!r}"
            ) from exc
        elapsed = time.monotonic() - started
        self.log.append(f"{block.where()}: {elapsed:.1f} s")
        if result.returncode != 0:
            offset = 0
            if err_line.exists():
                offset = int(err_line.read_text().strip() or 0) - len(prelude) - 1
            failing = (
                block.body.splitlines()[offset]
                if 0 <= offset < len(block.body.splitlines())
                else block.body
            )
            raise DocError(
                f"{block.where(max(offset, 0))}: command failed (exit {result.returncode}):\n"
                f"  {failing.strip()}\n--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
            )
        if env_out.exists():
            exported = env_out.read_bytes().split(b"\0")
            self.env = {}
            for item in exported:
                name, sep, value = item.decode().partition("=")
                if sep and name not in _DROP_ENV:
                    self.env[name] = value
        for number, share in _SHARE.findall(result.stdout):
            self.env[f"SHARE{number}"] = share
        self.ran.append(block)
        return result.stdout

    def run_doc(self, doc: Path) -> None:
        for step in parse(doc):
            if isinstance(step, Directive):
                self.directive(step)
            elif not step.skip:
                self.run(step)

    # --- cleanup --------------------------------------------------------------------

    def close(self) -> None:
        """Stops every node by PID: those started here, and those a block started
        (e.g. a drill restarting a node), found by run/<id>.pid checked against /proc;
        every OpenBao server and gateway started here; then the background processes of
        blocks (`<name>.pid` in the work dir)."""
        try:
            for process in self.processes:
                _stop_process(process)
            for peer in self.peers:
                peer.close()
            self._close_clusters()
        finally:
            for pid_file in sorted(self.work.glob("*.pid")):
                _stop_pid_file(pid_file)

    def _close_clusters(self) -> None:
        for cluster in self.clusters.values():
            cluster.close()
            try:
                attached = LocalCluster.attach(cluster.root)
            except FileNotFoundError:
                continue
            for node_id in list(attached.foreign):
                attached.stop(node_id)


_NEGATED = re.compile(r"^(\s*!\s.*?)(\s+#.*)?$")


def strict_negation(body: str) -> str:
    """`! cmd` lines made to fail the block when cmd succeeds: bash's `set -e` ignores
    a negated command, so `! grep secret file` would pass whether or not the file holds
    it. Each such line gets `|| false` before its comment (same line numbers)."""
    lines = []
    for line in body.splitlines():
        match = _NEGATED.match(line)
        if match and not line.rstrip().endswith("\\"):
            line = f"{match.group(1)} || false{match.group(2) or ''}"
        lines.append(line)
    return "\n".join(lines)


def _stop_pid_file(pid_file: Path, timeout: float = 10.0) -> None:
    """SIGTERM (then SIGKILL) the process a doc block started, if it still runs and is
    the one recorded (a keymgr or mariadbd command line, not a reused PID)."""
    try:
        pid = int(pid_file.read_text().split()[0])
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except (OSError, ValueError, IndexError):
        return
    if b"keymgr" not in cmdline and b"mariadbd" not in cmdline:
        return
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1][0]
            except (OSError, IndexError):
                return
            if state == "Z":
                return
            time.sleep(0.05)


def _stop_process(process: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout)


def iter_keymgr_commands(steps: list[Step]) -> Iterator[tuple[Block, list[str]]]:
    """Every `keymgr ...` invocation in the given blocks, as its argv without `keymgr`
    (up to a pipe, `;`, `&&` or a comment)."""
    for block in steps:
        if not isinstance(block, Block):
            continue
        text = re.sub(r"\\\n", " ", block.body)
        for line in text.splitlines():
            code = line.split(" #", 1)[0]
            for match in _INVOCATION.finditer(code):
                yield block, match.group(1).split()
