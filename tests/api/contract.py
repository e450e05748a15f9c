#!/usr/bin/env python3
"""Contract test: the control API's bodies against Firecracker's swagger.

Drives `hearth run --api-sock` over its UNIX socket through a whole life
cycle (configuration, start, pause, resume, Ctrl-Alt-Del) and checks every
request body it sends and every response body it gets against the schemas
of the swagger 2.0 description (the body parameter's schema for requests;
for responses the schema of the status, or of `default`), and that each
status is one the description lists for the operation (or its default).
The expected statuses are asserted too.

Usage: contract.py HEARTH SPEC KBD_GUEST
Exit 0 on success, 1 on failure, 77 (skip) without the spec, PyYAML,
jsonschema or a usable /dev/kvm.
"""
import json
import os
import subprocess
import sys
import tempfile

from api_client import UnixConnection, wait_socket


class Contract:
    def __init__(self, spec, sock):
        self.spec = spec
        self.sock = sock
        self.failures = []
        self.checked = 0

    def schema(self, s):
        # Resolve "#/definitions/..." against the whole description.
        return {"definitions": self.spec["definitions"], "allOf": [s]}

    def validate(self, what, instance, s):
        import jsonschema
        try:
            jsonschema.Draft4Validator(self.schema(s)).validate(instance)
            self.checked += 1
        except jsonschema.ValidationError as e:
            self.failures.append("%s: %s (at %s)" % (what, e.message, list(e.path)))

    def operation(self, method, path):
        """The swagger operation for a concrete path, e.g. /drives/d1."""
        for template, ops in self.spec["paths"].items():
            t = template.split("/")
            p = path.split("/")
            if len(t) == len(p) and all(a == b or a.startswith("{") for a, b in zip(t, p)):
                return ops.get(method.lower())
        return None

    def call(self, method, path, body=None, want=None):
        what = "%s %s" % (method, path)
        op = self.operation(method, path)
        if op is None:
            self.failures.append("%s: not in the description" % what)
            return None, None
        if body is not None and (want is None or want < 400):  # refused ones may be invalid
            params = [p for p in op.get("parameters", []) if p.get("in") == "body"]
            if params:
                self.validate(what + " request", body, params[0]["schema"])
        conn = UnixConnection(self.sock)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        conn.request(method, path, body=json.dumps(body) if body is not None else None,
                     headers=headers)
        resp = conn.getresponse()
        raw = resp.read()
        conn.close()
        status = resp.status
        print("%s -> %d %s" % (what, status, raw[:160].decode(errors="replace")))
        if want is not None and status != want:
            self.failures.append("%s: status %d, expected %d (%r)" % (what, status, want, raw))
        responses = op.get("responses", {})
        r = responses.get(status, responses.get(str(status), responses.get("default")))
        if r is None:
            self.failures.append("%s: status %d is not in the description" % (what, status))
            return status, None
        data = json.loads(raw) if raw else None
        if "schema" in r:
            if data is None:
                self.failures.append("%s: status %d needs a body" % (what, status))
            else:
                self.validate("%s response %d" % (what, status), data, r["schema"])
        elif raw:
            self.failures.append("%s: status %d has a body the description has not" %
                                 (what, status))
        return status, data


def main():
    hearth, spec_path, kbd = sys.argv[1:4]
    try:
        import jsonschema  # noqa: F401
        import yaml
    except ImportError as e:
        print("SKIP: %s" % e)
        return 77
    if not os.path.exists(spec_path):
        print("SKIP: no API description at %s" % spec_path)
        return 77
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is missing or not accessible")
        return 77
    with open(spec_path) as f:
        spec = yaml.safe_load(f)

    tmp = tempfile.mkdtemp(prefix="hearth-api-contract.")
    sock = os.path.join(tmp, "api.sock")
    img = os.path.join(tmp, "disk.img")
    img2 = os.path.join(tmp, "disk2.img")
    for path in (img, img2):
        with open(path, "wb") as f:
            f.truncate(1 << 20)
    out = open(os.path.join(tmp, "out"), "w+")
    err = open(os.path.join(tmp, "err"), "w+")
    proc = subprocess.Popen([hearth, "run", "--api-sock", sock], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=err)
    c = Contract(spec, sock)
    try:
        if not wait_socket(sock, proc):
            print("FAIL: hearth did not answer on its socket")
            return 1
        c.call("GET", "/", want=200)
        c.call("GET", "/version", want=200)
        c.call("GET", "/machine-config", want=200)
        c.call("PUT", "/machine-config", {"vcpu_count": 2, "mem_size_mib": 64, "smt": False,
                                          "track_dirty_pages": True, "huge_pages": "None",
                                          "cpu_template": "None"}, want=204)
        c.call("PATCH", "/machine-config", {"vcpu_count": 1, "mem_size_mib": 32}, want=204)
        c.call("PUT", "/machine-config", {"vcpu_count": 64, "mem_size_mib": 32}, want=400)
        c.call("PUT", "/boot-source", {"kernel_image_path": kbd, "boot_args": "console=ttyS0"},
               want=204)
        c.call("PUT", "/drives/rootfs", {
            "drive_id": "rootfs", "path_on_host": img, "is_root_device": True,
            "is_read_only": False, "cache_type": "Writeback", "io_engine": "Sync",
            "rate_limiter": {"bandwidth": {"size": 1 << 20, "refill_time": 100,
                                           "one_time_burst": 4096},
                             "ops": {"size": 100, "refill_time": 1000}}}, want=204)
        c.call("PUT", "/drives/scratch", {"drive_id": "scratch", "path_on_host": img2,
                                          "is_root_device": False, "is_read_only": True},
               want=204)
        c.call("PUT", "/drives/bad", {"drive_id": "bad", "path_on_host": "/nonexistent",
                                      "is_root_device": False}, want=400)
        c.call("PUT", "/entropy", {}, want=204)
        c.call("PUT", "/serial", {"serial_out_path": os.path.join(tmp, "serial.out")}, want=204)
        c.call("PUT", "/logger", {"log_path": os.path.join(tmp, "log"), "level": "Info",
                                  "show_level": True, "show_log_origin": False}, want=204)
        c.call("PUT", "/metrics", {"metrics_path": os.path.join(tmp, "metrics"),
                                   "emit_id": True, "properties": {"k": "v"}}, want=204)
        c.call("PUT", "/actions", {"action_type": "FlushMetrics"}, want=204)
        c.call("PUT", "/actions", {"action_type": "SendCtrlAltDel"}, want=400)
        c.call("PATCH", "/vm", {"state": "Paused"}, want=400)
        c.call("PUT", "/snapshot/create", {"snapshot_path": "s", "mem_file_path": "m"},
               want=400)
        c.call("PUT", "/vsock", {"guest_cid": 3, "uds_path": "v"}, want=400)
        _, conf = c.call("GET", "/vm/config", want=200)
        if conf is not None:
            drives = conf.get("drives", [])
            if [d.get("drive_id") for d in drives] != ["rootfs", "scratch"]:
                c.failures.append("vm/config drives: %r" % drives)
        c.call("PUT", "/actions", {"action_type": "InstanceStart"}, want=204)
        _, info = c.call("GET", "/", want=200)
        if info is not None and info.get("state") != "Running":
            c.failures.append("state after InstanceStart: %r" % info)
        c.call("PATCH", "/vm", {"state": "Paused"}, want=204)
        _, info = c.call("GET", "/", want=200)
        if info is not None and info.get("state") != "Paused":
            c.failures.append("state after pause: %r" % info)
        c.call("PATCH", "/vm", {"state": "Resumed"}, want=204)
        c.call("PATCH", "/drives/scratch", {"drive_id": "scratch",
                                            "rate_limiter": {"ops": {"size": 10,
                                                                     "refill_time": 100}}},
               want=204)
        c.call("PUT", "/network-interfaces/eth0", {"iface_id": "eth0",
                                                   "host_dev_name": "tap0"}, want=400)
        c.call("PUT", "/actions", {"action_type": "FlushMetrics"}, want=204)
        c.call("PUT", "/actions", {"action_type": "SendCtrlAltDel"}, want=204)
        try:
            status = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            c.failures.append("hearth did not exit after Ctrl-Alt-Del")
            proc.kill()
            status = proc.wait()
        if status != 0:
            c.failures.append("hearth exited %d, expected 0" % status)
        with open(os.path.join(tmp, "metrics")) as f:
            lines = f.read().splitlines()
        for i, line in enumerate(lines):
            m = json.loads(line)
            if "utc_timestamp_ms" not in m or m.get("id") is None:
                c.failures.append("metrics line %d: %s" % (i, line))
        # Two FlushMetrics, then the line written when the VM stops.
        if len(lines) != 3:
            c.failures.append("%d metrics lines, expected 3" % len(lines))
        with open(os.path.join(tmp, "log")) as f:
            log_lines = f.read()
        if "stopping: the guest rebooted" not in log_lines:  # an info message
            c.failures.append("the log file lacks the info message on reboot: %r" % log_lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        err.seek(0)
        log = err.read()
        out.close()
        err.close()
        subprocess.run(["rm", "-rf", tmp])
    print("%d bodies checked against the description" % c.checked)
    if c.failures:
        for f in c.failures:
            print("FAIL:", f)
        print("--- hearth stderr:\n" + log[-4000:])
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
