"""The policy pack as a REAL plugin process, driven over Pulumi's analyzer gRPC protocol as the CLI drives it.

How the CLI starts a Python pack (CLI v3.274.1 + python language host, ``RunPlugin`` for kind=analyzer):
the interpreter of the pack's ``runtime.options.virtualenv`` runs ``python -u -m pulumi.policy
<engine address> <pack directory>`` with the pack directory as working directory and
``PULUMI_PROJECT/STACK/DRY_RUN/CONFIG`` in the environment; ``pulumi.policy`` runs the directory's
``__main__.py``, whose ``PolicyPack(...)`` starts a gRPC server on 127.0.0.1 and writes its port as
the first line of stdout.

Then, as the engine does (pkg/resource/plugin/analyzer_plugin.go, pkg/resource/analyzer/config.go,
pkg/resource/deploy/step_generator.go and analyze_snapshot.go): ``Handshake`` (the Python SDK answers
UNIMPLEMENTED, which the engine accepts), ``ConfigureStack``, ``GetAnalyzerInfo``, ``Configure`` with EVERY
policy's reconciled config (schema defaults + the policy's level, then ``"all"``, then per-policy
settings; validated against each policy's schema), then per resource ``Remediate`` before ``Analyze``
(inputs), and ``AnalyzeStack`` (outputs) at the end.
"""

from __future__ import annotations

import os
import queue
import subprocess
import threading
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
import jsonschema
import yaml
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import (
    analyzer_pb2,
    analyzer_pb2_grpc,
    engine_pb2,
    engine_pb2_grpc,
)

from tests.policies.support import POLICIES_DIR, Diagnostic

LEVEL_NAMES = {
    analyzer_pb2.ADVISORY: "advisory",
    analyzer_pb2.MANDATORY: "mandatory",
    analyzer_pb2.DISABLED: "disabled",
    analyzer_pb2.REMEDIATE: "remediate",
}
LEVEL_VALUES = {v: k for k, v in LEVEL_NAMES.items()}


class PackError(RuntimeError):
    """The CLI would stop here (invalid config, a failing RPC)."""


class _Engine(engine_pb2_grpc.EngineServicer):
    """The engine's side of the plugin's engine address: records what the pack logs."""

    def __init__(self) -> None:
        self.logs: list[tuple[int, str]] = []

    def Log(self, request, context):  # noqa: N802 - gRPC method name
        self.logs.append((request.severity, request.message))
        return empty_pb2.Empty()

    def GetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.GetRootResourceResponse(urn="")

    def SetRootResource(self, request, context):  # noqa: N802
        return engine_pb2.SetRootResourceResponse()


def pack_interpreter(pack_dir: Path = POLICIES_DIR) -> Path:
    """The interpreter the language host uses: ``runtime.options.virtualenv`` of PulumiPolicy.yaml."""
    project = yaml.safe_load((pack_dir / "PulumiPolicy.yaml").read_text())
    venv = (pack_dir / project["runtime"]["options"]["virtualenv"]).resolve()
    return venv / "bin" / "python"


def _struct(d: dict | None) -> struct_pb2.Struct:
    s = struct_pb2.Struct()
    s.update(d or {})
    return s


@dataclass
class PolicyInfo:
    name: str
    level: str
    kind: str  # resource | stack
    schema: dict


class PackProcess:
    def __init__(
        self, pack_dir: Path = POLICIES_DIR, project: str = "shop", stack: str = "dev", dry_run: bool = True
    ) -> None:
        self.pack_dir = pack_dir
        self.engine = _Engine()
        self._engine_server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        engine_pb2_grpc.add_EngineServicer_to_server(self.engine, self._engine_server)
        self.engine_address = f"127.0.0.1:{self._engine_server.add_insecure_port('127.0.0.1:0')}"
        self._engine_server.start()
        env = dict(
            os.environ,
            PULUMI_PROJECT=project,
            PULUMI_STACK=stack,
            PULUMI_DRY_RUN="true" if dry_run else "false",
            PULUMI_CONFIG="{}",
        )
        env.pop("PYTHONPATH", None)
        self.proc = subprocess.Popen(
            [str(pack_interpreter(pack_dir)), "-u", "-m", "pulumi.policy", self.engine_address, str(pack_dir)],
            cwd=pack_dir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        self.stderr: list[str] = []
        threading.Thread(target=self._drain, args=(self.proc.stderr, self.stderr), daemon=True).start()
        self.port = self._read_port(timeout=60)
        self.stdout: list[str] = []
        threading.Thread(target=self._drain, args=(self.proc.stdout, self.stdout), daemon=True).start()
        self.channel = grpc.insecure_channel(
            f"127.0.0.1:{self.port}", options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)]
        )
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = analyzer_pb2_grpc.AnalyzerStub(self.channel)
        self.project, self.stack, self.dry_run = project, stack, dry_run

    @staticmethod
    def _drain(stream, sink: list[str]) -> None:
        for line in iter(stream.readline, b""):
            sink.append(line.decode(errors="replace"))

    def _read_port(self, timeout: float) -> int:
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: lines.put(self.proc.stdout.readline()), daemon=True).start()
        try:
            first = lines.get(timeout=timeout)
        except queue.Empty:
            raise PackError(f"the pack announced no port in {timeout}s; stderr: {''.join(self.stderr)}") from None
        if not first.strip().isdigit():
            self.proc.wait(timeout=10)
            raise PackError(f"the pack did not start (exit {self.proc.returncode}): {first!r} {''.join(self.stderr)}")
        return int(first)

    def close(self) -> None:
        try:
            self.channel.close()
        except Exception:  # noqa: BLE001
            pass
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._engine_server.stop(0)

    # ---- the engine's calls ------------------------------------------------------------------

    def handshake(self) -> grpc.StatusCode | None:
        req = analyzer_pb2.AnalyzerHandshakeRequest(
            engine_address=self.engine_address, root_directory=str(self.pack_dir), program_directory=str(self.pack_dir)
        )
        try:
            self.stub.Handshake(req, timeout=30)
        except grpc.RpcError as exc:
            return exc.code()
        return None

    def configure_stack(self) -> None:
        self.stub.ConfigureStack(
            analyzer_pb2.AnalyzerStackConfigureRequest(
                stack=self.stack, project=self.project, organization="organization", dry_run=self.dry_run
            ),
            timeout=30,
        )

    def info(self) -> tuple[analyzer_pb2.AnalyzerInfo, dict[str, PolicyInfo]]:
        info = self.stub.GetAnalyzerInfo(empty_pb2.Empty(), timeout=30)
        policies = {}
        for p in info.policies:
            kind = {analyzer_pb2.POLICY_TYPE_RESOURCE: "resource", analyzer_pb2.POLICY_TYPE_STACK: "stack"}.get(
                p.policy_type, "?"
            )
            schema = json_format.MessageToDict(p.configSchema.properties) if p.HasField("configSchema") else {}
            policies[p.name] = PolicyInfo(p.name, LEVEL_NAMES[p.enforcementLevel], kind, schema)
        return info, policies

    def configure(self, user_config: dict | None = None) -> dict[str, tuple[str, dict]]:
        """Reconcile and validate the config as the CLI does, then send it (every policy, always)."""
        _, policies = self.info()
        result: dict[str, tuple[str, dict | None]] = {}
        for p in policies.values():
            defaults = {k: v["default"] for k, v in p.schema.items() if "default" in v}
            result[p.name] = (p.level, defaults or None)
        config = dict(user_config or {})
        for name, given in config.items():
            if isinstance(given, str):
                given = {"enforcementLevel": given}
            given = dict(given)
            level = given.pop("enforcementLevel", None)
            if name == "all" and level:
                result = {k: (level, v[1]) for k, v in result.items()}
            old_level, props = result.get(name, ("", None))
            if given:
                props = {**(props or {}), **given}
            result[name] = (level or old_level, props)
        errors = []
        for p in policies.values():
            schema = {
                "type": "object",
                "properties": {
                    **p.schema,
                    "enforcementLevel": {"type": "string", "enum": ["advisory", "mandatory", "remediate", "disabled"]},
                },
            }
            for err in jsonschema.Draft7Validator(schema).iter_errors(result[p.name][1] or {}):
                where = ".".join(str(x) for x in err.absolute_path) or "(root)"
                errors.append(f"{p.name}: {where}: {err.message}")
        if errors:
            raise PackError("validating policy config: " + "; ".join(errors))
        request = analyzer_pb2.ConfigureAnalyzerRequest(
            policyConfig={
                name: analyzer_pb2.PolicyConfig(enforcementLevel=LEVEL_VALUES[level], properties=_struct(props))
                for name, (level, props) in result.items()
            }
        )
        self.stub.Configure(request, timeout=30)
        return {k: (lvl, props or {}) for k, (lvl, props) in result.items()}

    @staticmethod
    def _provider(r: dict) -> analyzer_pb2.AnalyzerProviderResource | None:
        p = r.get("provider")
        if not p:
            return None
        return analyzer_pb2.AnalyzerProviderResource(
            type=p["type"], urn=p["urn"], name=p["name"], properties=_struct(p["props"])
        )

    def _diags(self, response) -> list[Diagnostic]:
        return [
            Diagnostic(d.policyName, LEVEL_NAMES[d.enforcementLevel], d.urn, d.message) for d in response.diagnostics
        ]

    def analyze(self, r: dict) -> list[Diagnostic]:
        kwargs = dict(
            urn=r["urn"],
            type=r["type"],
            name=r["name"],
            properties=_struct(r["inputs"]),
            options=analyzer_pb2.AnalyzerResourceOptions(parent=r.get("parent", "")),
        )
        prov = self._provider(r)
        if prov is not None:
            kwargs["provider"] = prov
        remediation = self.stub.Remediate(analyzer_pb2.AnalyzeRequest(**kwargs), timeout=60)
        if remediation.remediations:
            raise AssertionError(f"the pack rewrote {r['urn']}: {remediation.remediations}")
        return [
            Diagnostic(
                d.policyName,
                "mandatory" if LEVEL_NAMES[d.enforcementLevel] == "remediate" else LEVEL_NAMES[d.enforcementLevel],
                d.urn or r["urn"],
                d.message,
            )
            for d in self.stub.Analyze(analyzer_pb2.AnalyzeRequest(**kwargs), timeout=60).diagnostics
        ]

    def analyze_stack(self, resources: list[dict]) -> list[Diagnostic]:
        items = []
        for r in resources:
            kwargs = dict(
                urn=r["urn"],
                type=r["type"],
                name=r["name"],
                properties=_struct(r["outputs"]),
                options=analyzer_pb2.AnalyzerResourceOptions(parent=r.get("parent", "")),
                parent=r.get("parent", ""),
                dependencies=r.get("dependencies", []),
                propertyDependencies={
                    k: analyzer_pb2.AnalyzerPropertyDependencies(urns=v)
                    for k, v in r.get("propertyDependencies", {}).items()
                    if v
                },
            )
            prov = self._provider(r)
            if prov is not None:
                kwargs["provider"] = prov
            items.append(analyzer_pb2.AnalyzerResource(**kwargs))
        response = self.stub.AnalyzeStack(analyzer_pb2.AnalyzeStackRequest(resources=items), timeout=120)
        return self._diags(response)

    def run(self, resources: list[dict], user_config: dict | None = None) -> list[Diagnostic]:
        """One analysis run: configure, every resource (remediate + analyze), then the stack."""
        self.configure(user_config)
        diags: list[Diagnostic] = []
        for r in resources:
            diags.extend(self.analyze(r))
        stack_urn = next((r["urn"] for r in resources if r["type"] == "pulumi:pulumi:Stack"), "")
        for d in self.analyze_stack(resources):
            diags.append(Diagnostic(d.policy, d.level, d.urn or stack_urn, d.message))
        return diags
