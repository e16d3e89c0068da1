"""A fake AzureML workspace on a loopback HTTPS server: the few REST calls the azure runner makes.

Real HTTP, real TLS (a throw-away self-signed certificate), real azure-ai-ml and azure-storage-blob
clients on the other end. It answers the management plane (ARM: data, datastores, computes,
environments, components, jobs, cancel), the workspace data plane the SDK discovers (run history:
child runs, run errors, run outputs) and a path-style blob store, the way Azurite would. Responses
follow the shapes the services return; every request is recorded for the tests to assert on.

What it is not: AzureML. It does not schedule anything; a test scripts the statuses the pipeline
goes through (:class:`Scenario`) and each read of the pipeline job moves one step along the script.
"""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import ssl
import threading
import uuid
from dataclasses import dataclass, field
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit
from xml.sax.saxutils import escape

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

WORKSPACE = (
    r"/subscriptions/(?P<sub>[^/]+)/resource[Gg]roups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.MachineLearningServices/workspaces/(?P<ws>[^/]+)"
)
HISTORY = r"/history/v1\.0" + WORKSPACE
JOB_IDENTITY_ID = (
    "/subscriptions/00000000-0000-0000-0000-0000000000a1/resourceGroups/rg-gridcast-dev/providers/"
    "Microsoft.ManagedIdentity/userAssignedIdentities/id-gridcast-dev-jobs"
)
JOB_IDENTITY_CLIENT_ID = "5f0c2b7e-8d4a-4a51-b3c2-93e1d0c7a6f4"  # azure_testkit.JOB_IDENTITY: the stack's job identity
AZUREML_PATH = re.compile(r"azureml://datastores/(?P<datastore>[^/]+)/paths/(?P<path>.*)")
BLOB = r"/blob/(?P<account>[^/]+)/(?P<container>[^/?]+)"
ACR = r"/acr/(?P<registry>[^/]+)"
IMAGE_DIGEST = "sha256:" + "3f" * 32  # azure_testkit.IMAGE: what the image build pushed


def write_self_signed_certificate(directory: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1; clients trust it through REQUESTS_CA_BUNDLE."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gridcast loopback AzureML")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "loopback-cert.pem", directory / "loopback-key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return cert_path, key_path


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Scenario:
    """What the fake workspace has and how a submitted pipeline job goes.

    ``timeline`` holds one entry per listing of the pipeline's child jobs (the last one repeats): the
    pipeline's status under ``"pipeline"`` and each started step's status under its node name. Until
    the first listing the pipeline is ``NotStarted``.
    """

    timeline: list[dict[str, str]] = field(
        default_factory=lambda: [
            {"pipeline": "Running", "train": "Running"},
            {"pipeline": "Running", "train": "Completed", "promote": "Running"},
            {"pipeline": "Running", "train": "Completed", "promote": "Completed", "predict": "Running"},
            {"pipeline": "Completed", "train": "Completed", "promote": "Completed", "predict": "Completed"},
        ]
    )
    errors: dict[str, str] = field(default_factory=dict)
    """Step (or ``"pipeline"``) -> the error message run history reports for it."""
    logs: dict[str, str] = field(default_factory=dict)
    """Step -> its user_logs/std_log.txt."""
    result_files: dict[str, bytes] = field(default_factory=dict)
    """Files the predict step writes into the pipeline's result output."""
    registered_data: set[str] = field(default_factory=set)
    """Versions of the data asset that already exist."""
    computes: set[str] = field(default_factory=lambda: {"cpu-cluster"})
    logs_forbidden: bool = False
    """The caller may not read the artifact store (no Storage Blob Data Reader on it): listing is a 403."""
    datastore: str = "gridcast"
    storage_account: str = "stgridcastdev"
    container: str = "gridcast"
    location: str = "westeurope"
    workspace: str = "mlw-gridcast-dev"
    """The one workspace this server holds; ARM answers 404 for any other name."""
    public_network_access: str = "Enabled"
    """The workspace's publicNetworkAccess: the default stack's "Enabled" (Entra ID only), or "Disabled"."""
    caller_on_private_network: bool = False
    """With public access disabled, only callers on the workspace's private endpoint reach its data plane."""
    compute_identities: dict[str, str] = field(default_factory=lambda: {JOB_IDENTITY_ID: JOB_IDENTITY_CLIENT_ID})
    """User-assigned identities on the compute cluster, resource id -> client id (the stack's job identity)."""
    images: set[tuple[str, str]] = field(default_factory=lambda: {("gridcast", IMAGE_DIGEST)})
    """(repository, digest) of the manifests the stack's registry holds."""


class FakeAzureML:
    """The server's state and request log; use as a context manager."""

    def __init__(self, scenario: Scenario, certificate: tuple[Path, Path]) -> None:
        self.scenario = scenario
        self.requests: list[Recorded] = []
        self.unhandled: list[str] = []
        self.data_versions: dict[str, dict] = {}
        self.jobs: dict[str, dict] = {}
        self.blobs: dict[tuple[str, str], tuple[bytes, dict[str, str]]] = {}
        self.ticks = 0
        self.cancelled: list[str] = []
        self.child_names: dict[str, str] = {}
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(*certificate)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeAzureML:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    # -- what tests ask -------------------------------------------------------------------------

    def calls(self, method: str, pattern: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and re.search(pattern, r.path)]

    def blob_account_url(self, account: str) -> str:
        """Path-style account URL (as for Azurite): the SDK's https://<account>.blob.<suffix> needs DNS."""
        return f"{self.url}/blob/{account}"

    # -- state ----------------------------------------------------------------------------------

    def pipeline_name(self) -> str:
        return next(name for name, job in self.jobs.items() if job["properties"]["jobType"] == "Pipeline")

    def snapshot(self) -> dict[str, str]:
        if self.ticks == 0:
            return {"pipeline": "NotStarted"}
        return self.scenario.timeline[min(self.ticks, len(self.scenario.timeline)) - 1]

    def child_run_name(self, step: str) -> str:
        return self.child_names.setdefault(step, f"{step}-{uuid.uuid4().hex[:8]}")

    def step_of_child(self, run_id: str) -> str | None:
        return next((step for step, name in self.child_names.items() if name == run_id), None)


def _arm_id(match: re.Match, tail: str) -> str:
    return (
        f"/subscriptions/{match['sub']}/resourceGroups/{match['rg']}/providers/"
        f"Microsoft.MachineLearningServices/workspaces/{match['ws']}/{tail}"
    )


def _system_data() -> dict:
    now = datetime.datetime.now(datetime.UTC).isoformat()
    return {"createdAt": now, "createdBy": "gridcast-ci", "createdByType": "Application", "lastModifiedAt": now}


def _data_plane_open(fake: FakeAzureML) -> bool:
    return fake.scenario.public_network_access == "Enabled" or fake.scenario.caller_on_private_network


def _private_only() -> dict:
    """What the workspace's data plane answers a caller outside its private network when public access is off."""
    return {
        "error": {
            "code": "UserError",
            "message": "Public network access is disabled for this workspace; use a private endpoint.",
            "innerError": {"code": "Forbidden"},
        }
    }


def _not_found(what: str) -> tuple[int, dict]:
    return 404, {
        "error": {
            "code": "UserError",
            "message": f"{what} not found.",
            "innerError": {"code": "NotFoundError"},
        }
    }


def _handler(fake: FakeAzureML) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep pytest output clean
            pass

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            split = urlsplit(self.path)
            record = Recorded(
                self.command, unquote(split.path), parse_qs(split.query), dict(self.headers.items()), body
            )
            with fake._lock:
                fake.requests.append(record)
                status, payload, headers = _route(fake, record, self)
            if isinstance(payload, bytes | str):
                data = payload.encode() if isinstance(payload, str) else payload
            else:
                data = json.dumps(payload).encode() if payload is not None else b""
                headers.setdefault("Content-Type", "application/json; charset=utf-8")
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("x-ms-request-id", str(uuid.uuid4()))
            self.send_header("Date", formatdate(usegmt=True))
            self.send_header("Content-Length", str(len(data)))  # for HEAD: the size of what GET would send
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = do_HEAD = _serve

    return Handler


def _route(fake: FakeAzureML, req: Recorded, handler: BaseHTTPRequestHandler) -> tuple[int, Any, dict[str, str]]:
    path, method = req.path, req.method
    if path.startswith("/history/") and not _data_plane_open(fake):
        return 403, _private_only(), {}
    for pattern, verbs, action in ROUTES:
        match = re.fullmatch(pattern, path)
        if match and method in verbs:
            result = action(fake, req, match)
            return result if len(result) == 3 else (*result, {})
    fake.unhandled.append(f"{method} {path}")
    return (*_not_found(f"{method} {path} is not served by the fake"), {})


# -- management plane (ARM) -----------------------------------------------------------------------


def _workspace(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    if m["ws"] != fake.scenario.workspace:
        return 404, {
            "error": {
                "code": "ResourceNotFound",
                "message": f"The Resource 'Microsoft.MachineLearningServices/workspaces/{m['ws']}' "
                "under resource group was not found.",
            }
        }
    return 200, {
        "id": _arm_id(m, "").rstrip("/"),
        "name": m["ws"],
        "type": "Microsoft.MachineLearningServices/workspaces",
        "location": fake.scenario.location,
        "kind": "Default",
        "identity": {"type": "SystemAssigned"},
        "properties": {
            "friendlyName": m["ws"],
            "discoveryUrl": f"{fake.url}/discovery",
            "mlFlowTrackingUri": f"azureml://{fake.scenario.location}.api.azureml.ms/mlflow/v1.0{_arm_id(m, '')[:-1]}",
            "workspaceId": "7b1a8a52-1f3c-4c39-9f7e-0d2b6bd1c0de",
            "provisioningState": "Succeeded",
            "publicNetworkAccess": fake.scenario.public_network_access,
        },
        "systemData": _system_data(),
    }


def _discovery(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    return 200, {"api": fake.url, "catalog": fake.url, "experimentation": fake.url, "history": fake.url}


def _datastore(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    name = m["name"]
    return 200, {
        "id": _arm_id(m, f"datastores/{name}"),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/datastores",
        "properties": {
            "datastoreType": "AzureBlob",
            "accountName": fake.scenario.storage_account,
            "containerName": {
                fake.scenario.datastore: fake.scenario.container,
                "workspaceartifactstore": "azureml",  # where AzureML keeps every job's logs
            }.get(name, "azureml-blobstore-7b1a8a52"),
            "endpoint": "core.windows.net",
            "protocol": "https",
            "credentials": {"credentialsType": "None"},
            "isDefault": name == "workspaceblobstore",
            "serviceDataAccessAuthIdentity": "WorkspaceSystemAssignedIdentity",
            "tags": {},
        },
        "systemData": _system_data(),
    }


def _datastores(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    names = ["workspaceblobstore", "workspaceartifactstore", fake.scenario.datastore]
    found = [_datastore(fake, req, {**m.groupdict(), "name": name})[1] for name in names]  # type: ignore[arg-type]
    if req.query.get("isDefault") == ["true"]:
        found = [d for d in found if d["properties"]["isDefault"]]
    return 200, {"value": found}


def _compute(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    name = m["name"]
    if name not in fake.scenario.computes:
        return _not_found(f"Compute {name}")
    return 200, {
        "id": _arm_id(m, f"computes/{name}"),
        "name": name,
        "type": "Microsoft.MachineLearningServices/workspaces/computes",
        "location": fake.scenario.location,
        "identity": {
            "type": "UserAssigned",
            "userAssignedIdentities": {
                resource: {"principalId": str(uuid.uuid5(uuid.NAMESPACE_URL, resource)), "clientId": client}
                for resource, client in fake.scenario.compute_identities.items()
            },
        },
        "properties": {
            "computeType": "AmlCompute",
            "computeLocation": fake.scenario.location,
            "provisioningState": "Succeeded",
            "properties": {
                "vmSize": "STANDARD_DS3_V2",
                "vmPriority": "Dedicated",
                "scaleSettings": {"maxNodeCount": 2, "minNodeCount": 0, "nodeIdleTimeBeforeScaleDown": "PT15M"},
                "remoteLoginPortPublicAccess": "Disabled",
            },
        },
        "systemData": _system_data(),
    }


def _data_version(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    name, version = m["name"], m["version"]
    if req.method == "PUT":
        body = req.json()
        resource = {
            "id": _arm_id(m, f"data/{name}/versions/{version}"),
            "name": version,
            "type": "Microsoft.MachineLearningServices/workspaces/data/versions",
            "properties": body["properties"],
            "systemData": _system_data(),
        }
        fake.data_versions[version] = resource
        fake.scenario.registered_data.add(version)
        return 201, resource
    if version in fake.data_versions:
        return 200, fake.data_versions[version]
    if version in fake.scenario.registered_data:
        return 200, {
            "id": _arm_id(m, f"data/{name}/versions/{version}"),
            "name": version,
            "type": "Microsoft.MachineLearningServices/workspaces/data/versions",
            "properties": {
                "dataType": "uri_file",
                "dataUri": f"azureml://datastores/{fake.scenario.datastore}/paths/LocalUpload/x/data.csv",
                "isAnonymous": False,
                "isArchived": False,
            },
            "systemData": _system_data(),
        }
    return _not_found(f"Data {name}:{version}")


def _data_container(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    return 200, {"id": _arm_id(m, f"data/{m['name']}"), "name": m["name"], "properties": {"dataType": "uri_file"}}


def _versioned_echo(kind: str):  # type: ignore[no-untyped-def]
    """Anonymous environments and components: AzureML registers what it is sent and returns it."""

    def action(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
        body = req.json()
        return 201, {
            "id": _arm_id(m, f"{kind}/{m['name']}/versions/{m['version']}"),
            "name": m["version"],
            "type": f"Microsoft.MachineLearningServices/workspaces/{kind}/versions",
            "properties": body["properties"],
            "systemData": _system_data(),
        }

    return action


def _job(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    name = m["name"]
    if req.method == "PUT":
        body = req.json()
        properties = body["properties"]
        resource = {
            "id": _arm_id(m, f"jobs/{name}"),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "properties": {
                **properties,
                "status": "NotStarted",
                "services": {
                    "Studio": {
                        "jobServiceType": "Studio",
                        "endpoint": f"https://ml.azure.com/runs/{name}?wsid={_arm_id(m, '')[:-1]}",
                    },
                    "Tracking": {"jobServiceType": "Tracking", "endpoint": "azureml://tracking"},
                },
            },
            "systemData": _system_data(),
        }
        fake.jobs[name] = resource
        if properties["jobType"] == "Pipeline":
            _stage_results(fake, name, properties)
        return 201, resource
    if name in fake.jobs:
        job = json.loads(json.dumps(fake.jobs[name]))
        if job["properties"]["jobType"] == "Pipeline":
            job["properties"]["status"] = fake.snapshot()["pipeline"]
        return 200, job
    step = fake.step_of_child(name)
    if step is not None:
        return 200, {
            "id": _arm_id(m, f"jobs/{name}"),
            "name": name,
            "type": "Microsoft.MachineLearningServices/workspaces/jobs",
            "properties": {
                "jobType": "Command",
                "status": fake.snapshot().get(step, "NotStarted"),
                "command": "python -m ml.steps",
                "environmentId": "azureml:CliV2AnonymousEnvironment:1",
                "computeId": "cpu-cluster",
                "experimentName": "transformer-load",
                "properties": {"azureml.pipelinerunid": fake.pipeline_name()},
                "services": {},
                "outputs": {},
            },
            "systemData": _system_data(),
        }
    return _not_found(f"Job {name}")


def _stage_results(fake: FakeAzureML, name: str, properties: dict) -> None:
    """What the steps would leave behind: result files in the pipeline output, a log per step."""
    containers = {fake.scenario.datastore: fake.scenario.container}
    for output in properties.get("outputs", {}).values():
        path = AZUREML_PATH.fullmatch(output["uri"].replace("${{name}}", name))
        if path:
            for file, content in fake.scenario.result_files.items():
                fake.blobs[(containers[path["datastore"]], f"{path['path'].rstrip('/')}/{file}")] = (content, {})
    for step in properties["jobs"]:
        log = fake.scenario.logs.get(step, f"{step}: done\n")
        key = ("azureml", f"ExperimentRun/dcid.{fake.child_run_name(step)}/user_logs/std_log.txt")
        fake.blobs[key] = (log.encode(), {})


def _cancel(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any, dict[str, str]]:
    name = m["name"]
    if name not in fake.jobs:
        return (*_not_found(f"Job {name}"), {})
    fake.cancelled.append(name)
    # AzureML acknowledges at once, then the running steps and the pipeline end as Canceled.
    now = fake.snapshot()
    ended = {step: "Canceled" if status not in ("Completed", "Failed") else status for step, status in now.items()}
    fake.scenario.timeline = [
        *fake.scenario.timeline[: fake.ticks],
        {**now, "pipeline": "CancelRequested"},
        ended,
    ]
    operation = f"{fake.url}/operations/cancel-{name}"
    return 202, None, {"Location": operation, "Azure-AsyncOperation": operation, "Retry-After": "0"}


def _operation(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    return 200, {"status": "Succeeded"}


# -- workspace data plane (run history) -----------------------------------------------------------


def _run(fake: FakeAzureML, step: str, run_id: str) -> dict:
    status = fake.snapshot().get(step, "NotStarted")
    run: dict[str, Any] = {
        "runId": run_id,
        "runUuid": str(uuid.uuid5(uuid.NAMESPACE_URL, run_id)),
        "parentRunId": fake.pipeline_name(),
        "rootRunId": fake.pipeline_name(),
        "displayName": _display_name(fake, step),
        "experimentId": "2f9e0d7c-5b5e-4d51-9a35-8b3d2c1e0f11",
        "status": status,
        "runType": "azureml.StepRun",
        "properties": {
            "azureml.nodeid": uuid.uuid5(uuid.NAMESPACE_DNS, step).hex[:8],
            "azureml.pipeline": fake.pipeline_name(),
        },
        "tags": {},
        "computeRequest": {"nodeCount": 1},
        "compute": {"target": "cpu-cluster", "targetType": "AmlCompute"},
        "createdUtc": datetime.datetime.now(datetime.UTC).isoformat(),
    }
    if status == "Failed" and step in fake.scenario.errors:
        run["error"] = {"error": {"code": "UserError", "message": fake.scenario.errors[step]}}
    return run


def _display_name(fake: FakeAzureML, step: str) -> str:
    jobs = fake.jobs[fake.pipeline_name()]["properties"]["jobs"]
    return jobs[step].get("display_name") or step


def _children(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    parent = m["run"]
    if parent not in fake.jobs:
        return _not_found(f"Run {parent}")
    fake.ticks += 1
    steps = [s for s in fake.jobs[parent]["properties"]["jobs"] if s in fake.snapshot()]
    return 200, {"value": [_run(fake, s, fake.child_run_name(s)) for s in steps]}  # as recorded: no token on one page


def _run_details(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    run_id = m["run"]
    if run_id in fake.jobs:
        run = {"runId": run_id, "displayName": "transformer-load", "status": fake.snapshot()["pipeline"]}
        if "pipeline" in fake.scenario.errors:
            run["error"] = {"error": {"code": "SystemError", "message": fake.scenario.errors["pipeline"]}}
        return 200, run
    step = fake.step_of_child(run_id)
    if step is None:
        return _not_found(f"Run {run_id}")
    return 200, _run(fake, step, run_id)


def _output_asset_id(fake: FakeAzureML, run_id: str, output: str) -> str:
    return f"azureml://locations/{fake.scenario.location}/workspaces/7b1a8a52/data/azureml_{run_id}_output_data_{output}/versions/1"


def _run_data(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    """Run metadata: each named output of a job as the data asset AzureML registered for it."""
    run_id = req.json()["runId"]
    outputs: dict[str, Any] = {}
    if run_id in fake.jobs:
        for name, output in fake.jobs[run_id]["properties"].get("outputs", {}).items():
            outputs[name] = {"assetId": _output_asset_id(fake, run_id, name), "type": output["jobOutputType"]}
    return 200, {
        "runMetadata": {"runId": run_id, "status": "Completed", "outputs": outputs},
        "runDefinition": {},
        "jobSpecification": {},
    }


def _resolve_uris(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    """Data plane: output asset ids -> the datastore paths the job wrote to."""
    values = {}
    for run_id, job in fake.jobs.items():
        for name, output in job["properties"].get("outputs", {}).items():
            asset_id = _output_asset_id(fake, run_id, name)
            if asset_id in req.json()["values"]:
                path = AZUREML_PATH.fullmatch(output["uri"].replace("${{name}}", run_id))
                uri = (
                    f"azureml://subscriptions/{m['sub']}/resourcegroups/{m['rg']}/workspaces/{m['ws']}"
                    f"/datastores/{path['datastore']}/paths/{path['path']}"  # type: ignore[index]
                )
                values[asset_id] = {"uri": uri, "type": output["jobOutputType"]}
    return 200, {"values": values}


# -- blob storage (path-style, as Azurite) --------------------------------------------------------


def _blob(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any, dict[str, str]]:
    key = (m["container"], m["blob"])
    comp = req.query.get("comp", [""])[0]
    if req.method == "PUT" and comp == "metadata":
        if key not in fake.blobs:
            return (
                404,
                _blob_error("BlobNotFound"),
                {"Content-Type": "application/xml", "x-ms-error-code": "BlobNotFound"},
            )
        content, _ = fake.blobs[key]
        fake.blobs[key] = (content, _metadata(req.headers))
        return 200, b"", _blob_headers(content, {})
    if req.method == "PUT":
        fake.blobs[key] = (req.body, _metadata(req.headers))
        return 201, b"", {"ETag": '"0x1"', "Last-Modified": formatdate(usegmt=True), "Content-MD5": ""}
    if key not in fake.blobs:
        return 404, _blob_error("BlobNotFound"), {"Content-Type": "application/xml", "x-ms-error-code": "BlobNotFound"}
    content, metadata = fake.blobs[key]
    headers = _blob_headers(content, metadata)
    if req.method == "HEAD":
        return 200, content, headers
    requested = req.headers.get("x-ms-range") or req.headers.get("Range")
    if requested:
        start, end = (int(x) for x in requested.removeprefix("bytes=").split("-"))
        part = content[start : end + 1]
        headers["Content-Range"] = f"bytes {start}-{start + len(part) - 1}/{len(content)}"
        return 206, part, headers
    return 200, content, headers


def _container(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any, dict[str, str]]:
    if fake.scenario.logs_forbidden and m["container"] == "azureml":
        code = "AuthorizationPermissionMismatch"
        return 403, _blob_error(code), {"Content-Type": "application/xml", "x-ms-error-code": code}
    prefix = req.query.get("prefix", [""])[0]
    items = "".join(
        "<Blob><Name>{}</Name><Properties><Content-Length>{}</Content-Length><BlobType>BlockBlob</BlobType>"
        "<Last-Modified>{}</Last-Modified><Etag>0x1</Etag></Properties><Metadata>{}</Metadata></Blob>".format(
            escape(blob),
            len(content),
            formatdate(usegmt=True),
            "".join(f"<{k}>{escape(v)}</{k}>" for k, v in metadata.items()),
        )
        for (container, blob), (content, metadata) in sorted(fake.blobs.items())
        if container == m["container"] and blob.startswith(prefix)
    )
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<EnumerationResults ServiceEndpoint="{fake.url}/blob/{m["account"]}/" ContainerName="{m["container"]}">'
        f"<Prefix>{escape(prefix)}</Prefix><Blobs>{items}</Blobs><NextMarker /></EnumerationResults>"
    )
    return 200, xml, {"Content-Type": "application/xml"}


def _metadata(headers: dict[str, str]) -> dict[str, str]:
    return {k.lower().removeprefix("x-ms-meta-"): v for k, v in headers.items() if k.lower().startswith("x-ms-meta-")}


def _blob_headers(content: bytes, metadata: dict[str, str]) -> dict[str, str]:
    return {
        "Content-Type": "application/octet-stream",
        "ETag": '"0x1"',
        "Last-Modified": formatdate(usegmt=True),
        "x-ms-blob-type": "BlockBlob",
        "Accept-Ranges": "bytes",
        **{f"x-ms-meta-{k}": v for k, v in metadata.items()},
    }


def _blob_error(code: str) -> str:
    return f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{code}</Code><Message>{code}</Message></Error>'


# -- the container registry's data plane (ACR: token exchange, then the Docker registry API) ----------


def _acr_exchange(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    """An Entra ID access token becomes an ACR refresh token (``grant_type=access_token``)."""
    form = parse_qs(req.body.decode())
    if (
        form.get("grant_type") != ["access_token"]
        or not form.get("access_token")
        or form.get("service") != [m["registry"]]
    ):
        return 400, {"errors": [{"code": "UNSUPPORTED", "message": "invalid exchange request"}]}
    return 200, {"refresh_token": f"acr-refresh.{m['registry']}"}


def _acr_token(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any]:
    """A refresh token becomes an access token for exactly the requested scope."""
    form = parse_qs(req.body.decode())
    if form.get("refresh_token") != [f"acr-refresh.{m['registry']}"]:
        return 401, {"errors": [{"code": "UNAUTHORIZED", "message": "invalid refresh token"}]}
    return 200, {"access_token": f"acr-access.{form.get('scope', [''])[0]}"}


def _acr_manifest(fake: FakeAzureML, req: Recorded, m: re.Match) -> tuple[int, Any, dict[str, str]]:
    if req.headers.get("Authorization") != f"Bearer acr-access.repository:{m['repository']}:pull":
        challenge = f'Bearer realm="https://{m["registry"]}/oauth2/token",service="{m["registry"]}"'
        return (
            401,
            {"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]},
            {"WWW-Authenticate": challenge},
        )
    if (m["repository"], m["reference"]) not in fake.scenario.images:
        return 404, {"errors": [{"code": "MANIFEST_UNKNOWN", "message": "manifest unknown"}]}, {}
    media = "application/vnd.docker.distribution.manifest.v2+json"
    return 200, b"{}", {"Docker-Content-Digest": m["reference"], "Content-Type": media}


ROUTES: list[tuple[str, set[str], Any]] = [
    (WORKSPACE, {"GET"}, _workspace),
    (WORKSPACE + r"/datastores", {"GET"}, _datastores),
    (WORKSPACE + r"/datastores/(?P<name>[^/]+)", {"GET"}, _datastore),
    (WORKSPACE + r"/computes/(?P<name>[^/]+)", {"GET"}, _compute),
    (WORKSPACE + r"/data/(?P<name>[^/]+)/versions/(?P<version>[^/]+)", {"GET", "PUT"}, _data_version),
    (WORKSPACE + r"/data/(?P<name>[^/]+)", {"GET"}, _data_container),
    (
        WORKSPACE + r"/environments/(?P<name>[^/]+)/versions/(?P<version>[^/]+)",
        {"PUT"},
        _versioned_echo("environments"),
    ),
    (WORKSPACE + r"/components/(?P<name>[^/]+)/versions/(?P<version>[^/]+)", {"PUT"}, _versioned_echo("components")),
    (WORKSPACE + r"/jobs/(?P<name>[^/]+)", {"GET", "PUT"}, _job),
    (WORKSPACE + r"/jobs/(?P<name>[^/]+)/cancel", {"POST"}, _cancel),
    (r"/operations/(?P<op>[^/]+)", {"GET"}, _operation),
    (r"/discovery", {"GET"}, _discovery),
    (HISTORY + r"/runs/(?P<run>[^/]+)/children", {"GET", "POST"}, _children),
    (HISTORY + r"/runs/(?P<run>[^/]+)", {"GET"}, _run_details),
    (HISTORY + r"/rundata", {"POST"}, _run_data),
    (r"/data/v1\.0" + WORKSPACE + r"/dataversion/batchGetResolvedUris", {"POST"}, _resolve_uris),
    (ACR + r"/oauth2/exchange", {"POST"}, _acr_exchange),
    (ACR + r"/oauth2/token", {"POST"}, _acr_token),
    (ACR + r"/v2/(?P<repository>.+)/manifests/(?P<reference>[^/]+)", {"GET", "HEAD"}, _acr_manifest),
    (BLOB, {"GET"}, _container),
    (BLOB + r"/(?P<blob>.+)", {"GET", "HEAD", "PUT"}, _blob),
]
