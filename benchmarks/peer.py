"""Issue 18's peer, scim2-server, measured beside wiggledesk-scim: ``benchmarks/run.py --peer``.

    .venv/bin/python benchmarks/run.py --peer                      # every scenario, ours and the peer's
    .venv/bin/python benchmarks/run.py --scaling --peer --plot     # filter cost against N, and the PNG

The peer (``PEER``, pinned) lives in a venv of its own, ``benchmarks/.peer-venv`` (git-ignored), which the
benchmark makes on first use (``python -m venv``, then ``pip install`` of the pinned requirements: the peer
and the waitress our venv has); ``--plot`` adds matplotlib (``PLOT``) to the same venv, never to the
project's. The peer is served by ``benchmarks/peer_app.py`` in that venv with the ini's ``[server:main]``
(the same waitress, threads = 4), in its own process, so the benchmark reads its CPU and memory exactly as
it reads ours. It is seeded with the same members: each member's User JSON is made from run.py's
``member_fields`` by our own representation (less ``id`` and ``meta``), written one per line, and
created by peer_app.py through the peer's own service and storage, in memory (scim2-server 0.8 has no
other storage), while run.py seeds ours. Its tenants (``/<tenant>/v2``, the peer's ``TenantDispatcher``)
are our organisations: Contoso with N members, the others with theirs, the same userNames. It accepts
one static bearer token (its ``BearerTokenApplication``, as ``scim2-server --bearer-token`` does).
"""
from __future__ import annotations

import dataclasses
import json
import secrets
import subprocess
import sys
from contextlib import contextmanager
from datetime import datetime, timezone
from importlib.metadata import version
from pathlib import Path
from typing import Iterator

import load
import run as bench

#: The peer, pinned (the mirror had 0.1.0 to 0.8.3 when this was written).
PEER = "scim2-server==0.8.3"
PRODUCT = PEER.replace("==", " ")
#: For ``--plot`` (benchmarks/plot.py), installed into the peer's venv on first use.
PLOT = "matplotlib==3.10.8"
VENV = bench.HERE / ".peer-venv"
APP = bench.HERE / "peer_app.py"
PLOTTER = bench.HERE / "plot.py"

#: The scenarios the peer serves as ours do (it has no OAuth client and no token endpoint).
KINDS = ("filter_external_id", "filter_user_name", "get", "patch_active", "post")
#: Its statuses: a PATCH that asks for no attributes answers 204 (RFC 7644 §3.5.2 allows 200 or 204).
EXPECT = {**bench.EXPECT, "patch_active": 204}
PREFIX = "peer_"
bench.LABELS.update({PREFIX + kind: f"{PRODUCT}: {bench.LABELS[kind]}" for kind in KINDS})
#: Issue 18: at N = 10,000, our filter <= 0.25x the peer's server CPU per request, our GET <= 0.5x.
TARGETS = [
    bench.Target("filter by externalId, against the peer", "filter_external_id", 1, "<=", 0.25,
                 versus=PREFIX + "filter_external_id"),
    bench.Target("filter by userName, against the peer", "filter_user_name", 1, "<=", 0.25,
                 versus=PREFIX + "filter_user_name"),
    bench.Target("GET /Users/{id}, against the peer", "get", 1, "<=", 0.5, versus=PREFIX + "get"),
]
#: What the peer may take per member to seed before it listens (about 2 ms each on the 2 shared cores
#: here), beyond run.py's start-up allowance.
SEED_SECONDS_PER_MEMBER = 0.01


def tools_python(*requirements: str) -> str:
    """The python of ``benchmarks/.peer-venv``, made on first use; ``requirements`` (``name==version``)
    installed where missing or of another version."""
    python = VENV / "bin" / "python"
    if not python.exists():
        print(f"# making {VENV.relative_to(bench.REPO)} (python -m venv)", flush=True)
        _run([sys.executable, "-m", "venv", str(VENV)])
    missing = [r for r in requirements if not _installed(python, r)]
    if missing:
        print(f"# {VENV.relative_to(bench.REPO)}: pip install {' '.join(missing)}", flush=True)
        _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *missing])
    return str(python)


def _installed(python: Path, requirement: str) -> bool:
    name, _, wanted = requirement.partition("==")
    done = subprocess.run([str(python), "-c", "import importlib.metadata, sys; "
                           "print(importlib.metadata.version(sys.argv[1]))", name], capture_output=True, text=True)
    return done.returncode == 0 and done.stdout.strip() == wanted


def _run(command: list[str]) -> None:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise bench.Unusable(f"{' '.join(command[:4])} ... failed ({done.returncode}): "
                             f"{(done.stderr or done.stdout).strip()[-1500:]}")


def write_bodies(path: Path, label: str, count: int) -> None:
    """``count`` creation bodies of ``label``'s members, one JSON object a line: run.py's members (the
    same ``member_fields``), as our representation renders them, less the server's ``id`` and ``meta``."""
    from wiggledesk_scim.domain.model import Member
    from wiggledesk_scim.domain.scim.representation import user_resource

    now = datetime.now(timezone.utc)
    with open(path, "w", encoding="utf-8") as out:
        for index in range(count):
            member = Member(id="-", organisation_id="-", fields=bench.member_fields(label, index), created=now,
                            last_modified=now)
            body = user_resource(member, "")
            del body["id"], body["meta"]
            out.write(json.dumps(body) + "\n")


@dataclasses.dataclass
class Peer:
    """The peer serving one data set; ``main``: its Contoso, as run.py's ``Organisation``."""

    server: bench.Server
    main: bench.Organisation
    ids_file: Path
    product = PRODUCT
    kinds = KINDS
    expect = EXPECT
    targets = TARGETS

    @property
    def root(self) -> str:
        return f"/{self.main.id}/v2"

    @staticmethod
    def name(kind: str) -> str:
        """The name of the peer's phases of ``kind``."""
        return PREFIX + kind

    def scenario(self, kind: str, tag: str) -> load.Scenario:
        """Our scenario ``kind``, sent to the peer."""
        return dataclasses.replace(bench.scenario(kind, self.main, tag), name=self.name(kind), root=self.root,
                                   expect=self.expect[kind])

    def ready(self) -> None:
        """Wait until it listens (it has seeded by then), and learn the ids it gave the members."""
        if self.main.ids:
            return
        self.server.wait()
        self.main.ids = json.loads(self.ids_file.read_text())[self.main.id]
        self.main.size = len(self.main.ids)
        seeded = [line for line in self.server.log().splitlines() if line.startswith("seeded ")]
        print(f"#   {self.server.name}: {seeded[-1] if seeded else 'listening'}", flush=True)


@contextmanager
def served(instance: bench.Instance, size: int, others: int, other_members: int) -> Iterator[Peer]:
    """The peer, launched (seeding; ``Peer.ready`` waits for it) with Contoso's ``size`` members and
    ``others`` organisations of ``other_members``, beside ``instance``; stopped on leaving."""
    python = tools_python(PEER, f"waitress=={version('waitress')}")
    tenants = [("Contoso", size)] + [(bench.other_label(n), other_members) for n in range(others)]
    command = [python, str(APP), "--ini", str(instance.ini)]
    for label, count in tenants:
        bodies = instance.directory / f"peer-{label.lower()}.jsonl"
        write_bodies(bodies, label, count)
        command += ["--tenant", f"{label.lower()}={bodies}"]
    port, token = bench.free_port(), secrets.token_urlsafe(32)
    ids_file = instance.directory / "peer-ids.json"
    # "--token=…": a token_urlsafe may start with "-", which argparse would take for an option.
    command += ["--port", str(port), f"--token={token}", "--ids", str(ids_file)]
    main = bench.Organisation(label="Contoso", id="contoso", token=token,
                              external_ids=[bench.external_id("Contoso", i) for i in range(size)],
                              user_names=[bench.user_name(i) for i in range(size)])
    server = bench.Server(instance.ini, port, bench.environment(), command=command, name=f"scim2-server-{size}",
                          startup_seconds=bench.STARTUP_SECONDS
                          + SEED_SECONDS_PER_MEMBER * sum(count for _, count in tenants))
    try:
        yield Peer(server.launch(), main, ids_file)
    finally:
        server.stop()


def plot(results: Path, out: Path) -> None:
    """benchmarks/plot.py, in the peer's venv (with matplotlib), over ``results``: the PNG at ``out``."""
    python = tools_python(PLOT)
    _run([python, str(PLOTTER), "--results", str(results), "--out", str(out), "--peer", PRODUCT])
    print(f"# plot written to {out}", flush=True)
