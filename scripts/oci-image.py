#!/usr/bin/env python3
"""Writes an OCI image archive that `ctr images import` reads, without a network or
any image tool: one uncompressed tar layer holding the given files, the image config,
the manifest and the index.

    scripts/oci-image.py --name docker.io/lucet-test/hello:latest --platform wasip1/wasm \
        --file examples/hello-rust/hello-rust.wasm:/app.wasm -o hello.tar

--file SRC:DEST[:MODE] puts SRC at DEST in the image (MODE in octal, 0644 unless
given; a .so must not be executable, or the shim runs it as a Linux program).
The archive's bytes depend only on the inputs, so rebuilding gives the same digests.
"""

import argparse
import hashlib
import io
import json
import os
import sys
import tarfile


def add_bytes(tar, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.mtime = 0
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    tar.addfile(info, io.BytesIO(data))


def add_dir(tar, name):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    info.mtime = 0
    tar.addfile(info)


def layer(files):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        made = set()
        for src, dest, mode in files:
            parts = dest.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in made:
                    add_dir(tar, d)
                    made.add(d)
            with open(src, "rb") as f:
                add_bytes(tar, "/".join(parts), f.read(), mode)
    return buf.getvalue()


def sha(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def blob(tar, data):
    add_bytes(tar, "blobs/sha256/" + hashlib.sha256(data).hexdigest(), data)
    return {"digest": sha(data), "size": len(data)}


def main():
    ap = argparse.ArgumentParser(description="Write an OCI image archive for `ctr images import`.")
    ap.add_argument("--name", required=True, help="image reference, e.g. lucet-test/hello:latest")
    ap.add_argument("--platform", default="wasip1/wasm", help="OS/ARCH, e.g. wasip1/wasm or linux/amd64")
    ap.add_argument("--file", action="append", default=[], metavar="SRC:DEST[:MODE]", required=True)
    ap.add_argument("--entrypoint", help="the image's entrypoint (default: the first file's DEST)")
    ap.add_argument("--env", action="append", default=[], metavar="K=V", help="environment in the image config")
    ap.add_argument("-o", "--output", required=True)
    a = ap.parse_args()

    files = []
    for spec in a.file:
        parts = spec.split(":")
        if len(parts) not in (2, 3):
            sys.exit(f"--file {spec}: write SRC:DEST or SRC:DEST:MODE")
        mode = int(parts[2], 8) if len(parts) == 3 else 0o644
        if not os.path.isfile(parts[0]):
            sys.exit(f"--file {spec}: {parts[0]} is not a file")
        files.append((parts[0], parts[1], mode))
    os_name, arch = a.platform.split("/", 1)

    layer_bytes = layer(files)
    config = {
        "architecture": arch,
        "os": os_name,
        "config": {
            "Entrypoint": [a.entrypoint or files[0][1]],
            "Env": a.env or ["PATH=/"],
            "WorkingDir": "/",
        },
        "rootfs": {"type": "layers", "diff_ids": [sha(layer_bytes)]},
    }
    ref = a.name if ":" in a.name.rsplit("/", 1)[-1] else a.name + ":latest"
    with tarfile.open(a.output, mode="w", format=tarfile.PAX_FORMAT) as tar:
        layer_desc = blob(tar, layer_bytes)
        config_desc = blob(tar, json.dumps(config, sort_keys=True).encode())
        manifest = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer_desc}],
        }
        manifest_desc = blob(tar, json.dumps(manifest, sort_keys=True).encode())
        index = {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    **manifest_desc,
                    "platform": {"os": os_name, "architecture": arch},
                    "annotations": {
                        "io.containerd.image.name": ref,
                        "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
                    },
                }
            ],
        }
        add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        add_bytes(tar, "index.json", json.dumps(index, sort_keys=True).encode())


if __name__ == "__main__":
    main()
