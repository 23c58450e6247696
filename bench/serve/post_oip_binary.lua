-- wrk script: the kit's post.lua (KIT_POST) sending an OIP body in Triton's binary tensor
-- extension: BODY is the JSON header followed by the raw tensors, OIP_HEADER_LENGTH the
-- header's length in bytes (bench.py writes both).
dofile(assert(os.getenv("KIT_POST"), "KIT_POST names the kit's post.lua"))
wrk.headers["Content-Type"] = "application/octet-stream"
wrk.headers["Inference-Header-Content-Length"] =
  assert(os.getenv("OIP_HEADER_LENGTH"), "OIP_HEADER_LENGTH is the JSON header's length")
