"""Contract test: the real Open Inference Protocol clients from PyPI against `vigil serve`.

Run by inference/tests/oip.rs (real_oip_clients_call_the_server) with the server's
address and model version: python oip_clients.py 127.0.0.1:PORT VERSION

Pinned in .ci/run: tritonclient[http]==2.73.0, kserve==0.21.0, open-inference-openapi==2.0.0.1,
numpy==2.4.6. Every answer is checked against the same rows sent to /predict/batch;
open-inference-openapi (the protocol's own generated client) also parses every answer into
the protocol's response types, so a missing or mistyped field fails here.
"""

import asyncio
import json
import sys
import urllib.request

import numpy as np
import tritonclient.http as triton
from tritonclient.utils import InferenceServerException
from kserve import InferenceRESTClient, InferInput, InferRequest, RESTConfig
from open_inference.openapi.client import OpenInferenceClient
from open_inference.openapi.core.api_error import ApiError
from open_inference.openapi.errors import BadRequestError
from open_inference.openapi.types import InferenceRequest, RequestInput

ADDR, VERSION = sys.argv[1], sys.argv[2]
MODEL = "tiny"
X = np.array([42.0, 80.5, 3.0], dtype=np.float64)
COLOR = np.array(["red", "green", "blue"], dtype=np.object_)
SIZE = np.array(["M", "S", "L"], dtype=np.object_)


def check(condition, what):
    if not condition:
        raise AssertionError(what)
    print(f"ok: {what}")


def expected():
    """The same rows over /predict/batch: classes and probabilities."""
    requests = [
        {"features": {"x": float(x), "color": c, "size": s}}
        for x, c, s in zip(X, COLOR, SIZE)
    ]
    body = json.dumps({"requests": requests}).encode()
    req = urllib.request.Request(
        f"http://{ADDR}/predict/batch",
        data=body,
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(req) as r:
        answers = json.load(r)["responses"]
    classes = [a["predicted_class"] for a in answers]
    probabilities = np.array(
        [[a["probabilities"]["no"], a["probabilities"]["yes"]] for a in answers]
    )
    return classes, probabilities


def tritonclient_checks(classes, probabilities):
    client = triton.InferenceServerClient(url=ADDR)
    check(client.is_server_live(), "tritonclient is_server_live")
    check(client.is_server_ready(), "tritonclient is_server_ready")
    check(client.is_model_ready(MODEL), "tritonclient is_model_ready")
    check(
        client.is_model_ready(MODEL, model_version=VERSION),
        "tritonclient is_model_ready with the version",
    )
    check(not client.is_model_ready("other"), "tritonclient: an unknown model is not ready")
    server = client.get_server_metadata()
    check(server["name"] == "vigil", f"tritonclient get_server_metadata: {server}")
    meta = client.get_model_metadata(MODEL)
    check(
        meta["name"] == MODEL and meta["versions"] == [VERSION],
        f"tritonclient get_model_metadata: {meta}",
    )
    check(
        [(i["name"], i["datatype"]) for i in meta["inputs"]]
        == [("x", "FP64"), ("color", "BYTES"), ("size", "BYTES")],
        "tritonclient get_model_metadata inputs",
    )
    versioned = client.get_model_metadata(MODEL, model_version=VERSION)
    check(versioned == meta, "tritonclient get_model_metadata with the version")
    try:
        client.get_model_metadata("other")
        check(False, "tritonclient: unknown model raises")
    except InferenceServerException as e:
        check("unknown model" in str(e), f"tritonclient: unknown model raises: {e}")

    inputs = [
        triton.InferInput("x", [3], "FP64"),
        triton.InferInput("color", [3, 1], "BYTES"),
        triton.InferInput("size", [3], "BYTES"),
    ]
    inputs[0].set_data_from_numpy(X, binary_data=False)
    inputs[1].set_data_from_numpy(COLOR.reshape(3, 1), binary_data=False)
    inputs[2].set_data_from_numpy(SIZE, binary_data=False)
    outputs = [
        triton.InferRequestedOutput("predicted_class", binary_data=False),
        triton.InferRequestedOutput("probabilities", binary_data=False),
    ]
    result = client.infer(MODEL, inputs, request_id="triton-1", outputs=outputs)
    response = result.get_response()
    check(response["id"] == "triton-1", "tritonclient infer: id echoed")
    check(response["model_version"] == VERSION, "tritonclient infer: model_version")
    got = [c.decode() if isinstance(c, bytes) else c for c in result.as_numpy("predicted_class")]
    check(got == classes, f"tritonclient infer: classes {got} == /predict's {classes}")
    p = result.as_numpy("probabilities")
    check(p.shape == (3, 2), f"tritonclient infer: probabilities shape {p.shape}")
    check(np.array_equal(p, probabilities), "tritonclient infer: probabilities == /predict's")

    # Without outputs named, both come back (as JSON).
    result = client.infer(MODEL, inputs, request_id="triton-2")
    check(result.as_numpy("probabilities").shape == (3, 2), "tritonclient infer: default outputs")

    bad = [triton.InferInput("x", [3], "FP64"), inputs[1], inputs[2]]
    bad[0].set_data_from_numpy(np.array([42.0, 500.0, 3.0]), binary_data=False)
    try:
        client.infer(MODEL, bad)
        check(False, "tritonclient: an out-of-range value raises")
    except InferenceServerException as e:
        check("inputs.x[1]" in str(e), f"tritonclient: the error names the input: {e}")

    # tritonclient's default: binary tensors after the JSON, binary outputs asked for.
    binary = [
        triton.InferInput("x", [3], "FP64"),
        triton.InferInput("color", [3], "BYTES"),
        triton.InferInput("size", [3], "BYTES"),
    ]
    for tensor, data in zip(binary, [X, COLOR, SIZE]):
        tensor.set_data_from_numpy(data)
    result = client.infer(
        MODEL,
        binary,
        request_id="triton-3",
        outputs=[triton.InferRequestedOutput("probabilities")],
    )
    check(
        np.array_equal(result.as_numpy("probabilities"), probabilities),
        "tritonclient infer with binary inputs: probabilities == /predict's",
    )
    check(
        result.get_output("probabilities")["parameters"]["binary_data_size"] == 3 * 2 * 8,
        "tritonclient infer: the probabilities came back as binary data",
    )
    result = client.infer(
        MODEL,
        binary,
        request_id="triton-5",
        outputs=[
            triton.InferRequestedOutput("predicted_class"),
            triton.InferRequestedOutput("probabilities"),
        ],
    )
    got = [c.decode() if isinstance(c, bytes) else c for c in result.as_numpy("predicted_class")]
    check(got == classes, "tritonclient infer: binary BYTES classes == /predict's")
    check(
        np.array_equal(result.as_numpy("probabilities"), probabilities),
        "tritonclient infer: binary probabilities after binary classes == /predict's",
    )
    x32 = triton.InferInput("x", [3], "FP32")
    x32.set_data_from_numpy(X.astype(np.float32))
    result = client.infer(MODEL, [x32, binary[1], binary[2]], request_id="triton-4")
    got = [c.decode() if isinstance(c, bytes) else c for c in result.as_numpy("predicted_class")]
    check(got == classes, "tritonclient infer with a binary FP32 input: classes == /predict's")


async def kserve_checks(classes, probabilities):
    base = f"http://{ADDR}"
    client = InferenceRESTClient(RESTConfig(protocol="v2", retries=0))
    try:
        check(await client.is_server_live(base), "kserve is_server_live")
        check(await client.is_server_ready(base), "kserve is_server_ready")
        check(await client.is_model_ready(base, MODEL), "kserve is_model_ready")
        check(not await client.is_model_ready(base, "other"), "kserve: unknown model not ready")
        inputs = [
            InferInput(name="x", shape=[3], datatype="FP64"),
            InferInput(name="color", shape=[3], datatype="BYTES"),
            InferInput(name="size", shape=[3], datatype="BYTES"),
        ]
        inputs[0].set_data_from_numpy(X, binary_data=False)
        inputs[1].set_data_from_numpy(COLOR, binary_data=False)
        inputs[2].set_data_from_numpy(SIZE, binary_data=False)
        request = InferRequest(
            model_name=MODEL,
            infer_inputs=inputs,
            request_id="kserve-1",
            parameters={"content_type": "pd"},
        )
        response = await client.infer(base, request, model_name=MODEL)
        check(response.id == "kserve-1", "kserve infer: id echoed")
        by_name = {o.name: o for o in response.outputs}
        got = [c.decode() if isinstance(c, bytes) else c for c in by_name["predicted_class"].as_numpy()]
        check(got == classes, f"kserve infer: classes {got} == /predict's")
        p = np.asarray(by_name["probabilities"].as_numpy())
        check(p.shape == (3, 2), f"kserve infer: probabilities shape {p.shape}")
        check(np.array_equal(p, probabilities), "kserve infer: probabilities == /predict's")
        # kserve's default: binary tensors (application/octet-stream).
        for tensor, data in zip(inputs, [X, COLOR, SIZE]):
            tensor.set_data_from_numpy(data)
        request = InferRequest(model_name=MODEL, infer_inputs=inputs, request_id="kserve-2")
        response = await client.infer(base, request, model_name=MODEL)
        by_name = {o.name: o for o in response.outputs}
        p = np.asarray(by_name["probabilities"].as_numpy())
        check(np.array_equal(p, probabilities), "kserve infer with binary inputs: probabilities == /predict's")
    finally:
        await client.close()


def open_inference_checks(classes, probabilities):
    client = OpenInferenceClient(base_url=f"http://{ADDR}")
    client.check_server_liveness()
    client.check_server_readiness()
    client.check_model_readiness(MODEL)
    client.check_model_version_readiness(MODEL, VERSION)
    check(True, "open-inference-openapi: liveness and readiness of server, model, version")
    server = client.read_server_metadata()
    check(server.name == "vigil", f"open-inference-openapi read_server_metadata: {server}")
    meta = client.read_model_metadata(MODEL)
    check(
        meta.name == MODEL and meta.versions == [VERSION] and meta.platform,
        f"open-inference-openapi read_model_metadata: {meta}",
    )
    check(
        [(i.name, i.datatype, i.shape) for i in meta.inputs]
        == [("x", "FP64", [-1]), ("color", "BYTES", [-1]), ("size", "BYTES", [-1])],
        "open-inference-openapi read_model_metadata: inputs",
    )
    versioned = client.read_model_version_metadata(MODEL, VERSION)
    check(versioned == meta, "open-inference-openapi read_model_version_metadata")
    request = InferenceRequest(
        id="oio-1",
        parameters={"content_type": "pd"},
        inputs=[
            RequestInput(name="x", shape=[3], datatype="FP64", data=X.tolist()),
            RequestInput(name="color", shape=[3], datatype="BYTES", data=COLOR.tolist()),
            RequestInput(name="size", shape=[3], datatype="BYTES", data=SIZE.tolist()),
        ],
    )
    for response in [
        client.model_infer(MODEL, request=request),
        client.model_version_infer(MODEL, VERSION, request=request),
    ]:
        check(
            response.id == "oio-1" and response.model_name == MODEL
            and response.model_version == VERSION,
            "open-inference-openapi infer: id, model and version",
        )
        by_name = {o.name: o for o in response.outputs}
        got = by_name["predicted_class"].data.__root__
        check(got == classes, f"open-inference-openapi infer: classes {got} == /predict's")
        p = by_name["probabilities"]
        check(p.shape == [3, 2] and p.datatype == "FP64", "open-inference-openapi infer: probabilities shape")
        check(
            np.array_equal(np.array(p.data.__root__, dtype=np.float64).reshape(3, 2), probabilities),
            "open-inference-openapi infer: probabilities == /predict's",
        )
    # The generated client maps metadata and infer errors to BadRequestError only for 400
    # (the protocol's "usually 400"); Vigil answers an unknown model 404, as its readiness
    # routes do, which the client raises as its ApiError with the protocol's body.
    for what, call in [
        ("metadata", lambda: client.read_model_metadata("other")),
        ("infer", lambda: client.model_infer("other", request=request)),
    ]:
        try:
            call()
            check(False, f"open-inference-openapi: {what} of an unknown model is a 404")
        except ApiError as e:
            check(
                e.status_code == 404 and "unknown model" in e.body["error"],
                f"open-inference-openapi: {what} of an unknown model is a 404: {e.body}",
            )
    bad = InferenceRequest(
        inputs=[RequestInput(name="x", shape=[3], datatype="FP64", data=[1.0, 2.0, 3.0])],
    )
    try:
        client.model_infer(MODEL, request=bad)
        check(False, "open-inference-openapi: missing inputs are a 400")
    except BadRequestError as e:
        check("error" in e.body, f"open-inference-openapi: missing inputs are a 400: {e.body}")


def main():
    classes, probabilities = expected()
    tritonclient_checks(classes, probabilities)
    asyncio.run(kserve_checks(classes, probabilities))
    open_inference_checks(classes, probabilities)
    print("all OIP client checks passed")


if __name__ == "__main__":
    main()
