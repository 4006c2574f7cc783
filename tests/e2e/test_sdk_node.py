"""The Node.js SDK (sdk/node), through node itself.

Runs the ``node --test`` files in sdk/node/test/ (request shapes against a
loopback server inside node; the ESM entry; and, with MAGS_E2E_URL and the
tokens set from the ``srv`` fixture, the real server), and runs the Node
examples of the original documentation as written, with only MAGS_API_URL
and MAGS_API_TOKEN set and the SDK installed under the original package
name ``@magpiecloud/mags``.
"""
import json
import os
import re
import shutil
import subprocess
import textwrap
import time

import pytest

from conftest import ROOT, clean_env, free_port, make_server, need

SDK = ROOT / "sdk" / "node"
TESTS = SDK / "test"


@pytest.fixture(scope="module")
def node():
    path = shutil.which("node")
    need(path, "node is not installed")
    r = subprocess.run([path, "--version"], capture_output=True, text=True)
    major = int(re.match(r"v(\d+)", r.stdout).group(1))
    need(major >= 18, "node %s is older than 18" % r.stdout.strip())
    return path


def node_test(node, files, env=None, timeout=300):
    """Run node --test on files; fail on any failure, skip or todo."""
    r = subprocess.run([node, "--test", *[str(f) for f in files]], cwd=str(SDK),
                       env=clean_env(env), capture_output=True, text=True, timeout=timeout)
    out = r.stdout + r.stderr
    counts = {k: int(v) for k, v in re.findall(r"^# (tests|pass|fail|skipped|todo|cancelled) (\d+)$",
                                                  out, re.M)}
    assert r.returncode == 0 and counts.get("fail") == 0, out[-6000:]
    assert counts.get("pass", 0) > 0 and counts.get("pass") == counts.get("tests"), out[-6000:]
    assert counts.get("skipped") == 0 and counts.get("todo") == 0 and counts.get("cancelled") == 0, \
        out[-6000:]
    assert "# SKIP" not in out and "# TODO" not in out, out[-6000:]
    return counts


def test_package_json():
    pkg = json.loads((SDK / "package.json").read_text())
    assert not pkg.get("dependencies")
    assert pkg["main"] == "index.js"
    assert pkg["engines"]["node"] == ">=18"
    exp = pkg["exports"]["."]
    assert exp["require"]["default"] == "./index.js"
    assert exp["import"]["default"] == "./index.mjs"
    for f in pkg["files"]:
        assert (SDK / f).exists(), f
    src = (SDK / "index.js").read_text()
    code = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith(("*", "/*", "//")))
    assert sorted(set(re.findall(r"require\('([^']+)'\)", code))) == ["fs", "os", "path"]
    assert "module.exports = Mags;" in src
    assert "module.exports.Mags = Mags;" in src
    assert "module.exports.MagsError = MagsError;" in src


def test_request_shapes(node):
    counts = node_test(node, [TESTS / "request_shape.test.js"])
    assert counts["pass"] >= 13


def test_esm_entry(node):
    node_test(node, [TESTS / "esm.test.mjs"])


@pytest.fixture(scope="module")
def nsrv(session_dir, image_cache):
    """A server of its own with the HTTP proxy and the SSH gateway on free
    ports, for sandboxes, URLs and SSH access."""
    pport = free_port()
    s = make_server(session_dir, image_cache, "sdk-node-ws", conf={
        "proxy_listen": "127.0.0.1:%d" % pport, "ssh_listen": "127.0.0.1:%d" % free_port()})
    s.proxy_port = pport
    yield s
    s.stop()


def test_against_the_real_server(node, nsrv):
    counts = node_test(node, [TESTS / "server.test.js"], env={
        "MAGS_E2E_URL": nsrv.url,
        "MAGS_E2E_TOKEN": nsrv.tokens["alice"],
        "MAGS_E2E_TOKEN_BOB": nsrv.tokens["bob"],
        "MAGS_E2E_PROXY_PORT": str(nsrv.proxy_port),
    })
    assert counts["pass"] >= 27


@pytest.fixture
def as_original(tmp_path):
    """A directory whose node_modules has the SDK as @magpiecloud/mags."""
    nm = tmp_path / "node_modules" / "@magpiecloud"
    nm.mkdir(parents=True)
    (nm / "mags").symlink_to(SDK, target_is_directory=True)
    return tmp_path


def run_script(node, srv, where, name, code, token="alice", timeout=120):
    f = where / name
    f.write_text(textwrap.dedent(code))
    env = clean_env({"MAGS_API_URL": srv.url, "MAGS_API_TOKEN": srv.tokens.get(token, token),
                     "HOME": str(where)})
    return subprocess.run([node, str(f)], cwd=str(where), env=env, capture_output=True,
                          text=True, timeout=timeout)


def test_doc_example_hello_world(node, srv, as_original):
    r = run_script(node, srv, as_original, "hello.js", """
        const Mags = require('@magpiecloud/mags');
        const mags = new Mags({ apiToken: process.env.MAGS_API_TOKEN });

        (async () => {
          const result = await mags.runAndWait('echo Hello World');
          console.log(result.status);
          console.log(JSON.stringify(result.logs.map(l => l.message)));
        })();
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == 'completed\n["Hello World"]\n'


def test_doc_example_esm_named_import(node, srv, as_original):
    r = run_script(node, srv, as_original, "esm.mjs", """
        import { Mags } from '@magpiecloud/mags';
        const mags = new Mags();
        const job = await mags.run('echo hello');
        let status = await mags.status(job.requestId);
        while (!['completed', 'error'].includes(status.status)) {
          await new Promise(r => setTimeout(r, 100));
          status = await mags.status(job.requestId);
        }
        const logs = await mags.logs(job.requestId);
        console.log(status.status, status.exitCode, logs.logs[0].message);
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "completed 0 hello\n"


def test_doc_example_error_handling(node, srv, as_original):
    r = run_script(node, srv, as_original, "err.js", """
        const { Mags, MagsError } = require('@magpiecloud/mags');
        const mags = new Mags();
        mags.runAndWait('exit 1').catch((e) => {
          console.log(e instanceof MagsError, e.statusCode, e.message);
        });
    """, token="wrong-token")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "true 401 invalid API token\n"


def test_doc_example_stream(node, srv, as_original):
    r = run_script(node, srv, as_original, "stream.js", """
        const Mags = require('@magpiecloud/mags');
        const mags = new Mags();
        (async () => {
          const stream = await mags.runStream('echo one; sleep 0.2; echo two >&2; exit 5');
          for await (const log of stream) console.log(log.source + ': ' + log.message);
          console.log('exit ' + stream.exitCode);
        })();
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "stdout: one\nstderr: two\nexit 5\n"


def test_doc_example_ssh_access(node, nsrv, as_original):
    """The §5 SSH example: a persistent job on workspace 'dev', then
    enableAccess(job.requestId, 22) and the ssh line from sshHost/sshPort."""
    import socket
    ws = "dev-%d" % os.getpid()
    r = run_script(node, nsrv, as_original, "ssh.js", """
        const Mags = require('@magpiecloud/mags');
        const mags = new Mags({ apiToken: process.env.MAGS_API_TOKEN });
        (async () => {
          const job = await mags.run('sleep 3600', { workspaceId: '%s', persistent: true });
          let st = await mags.status(job.requestId);
          while (st.status !== 'running') { await new Promise(r => setTimeout(r, 100)); st = await mags.status(job.requestId); }
          const ssh = await mags.enableAccess(job.requestId, 22);
          console.log(`ssh root@${ssh.sshHost} -p ${ssh.sshPort}`);
          console.log(job.requestId);
        })();
    """ % ws)
    assert r.returncode == 0, r.stderr
    line, rid = r.stdout.splitlines()
    m = re.fullmatch(r"ssh root@(\S+) -p (\d+)", line)
    assert m, r.stdout
    try:
        with socket.create_connection((m.group(1), int(m.group(2))), 5) as c:
            c.settimeout(5)
            assert c.recv(64).startswith(b"SSH-2.0-")
    finally:
        assert nsrv.api("POST", "/mags-jobs/%s/stop" % rid, timeout=120).status == 200
    assert nsrv.api("DELETE", "/mags-workspaces/" + ws, timeout=120).status == 200


def test_doc_example_live_url(node, nsrv, as_original):
    """The §5.3 url example: `const { url } = await mags.url('webapp', 8080)`
    on a sandbox serving files with busybox httpd; the URL answers."""
    import http.client
    from urllib.parse import urlsplit
    name = "webapp-%d" % os.getpid()
    r = run_script(node, nsrv, as_original, "url.js", """
        const Mags = require('@magpiecloud/mags');
        const mags = new Mags();
        (async () => {
          await mags.new('%s');
          await mags.exec('%s', 'mkdir -p /www && echo live > /www/index.html && (httpd -f -p 8080 -h /www >/dev/null 2>&1 &)');
          const { url } = await mags.url('%s', 8080);
          console.log(url);
        })();
    """ % (name, name, name))
    assert r.returncode == 0, r.stderr
    url = r.stdout.strip()
    u = urlsplit(url)
    assert u.hostname.endswith(".localhost") and u.port == nsrv.proxy_port, url
    try:
        deadline = time.time() + 10
        got = None
        while time.time() < deadline:
            c = http.client.HTTPConnection("127.0.0.1", u.port, timeout=5)
            try:
                c.request("GET", "/", headers={"Host": u.netloc})
                resp = c.getresponse()
                got = (resp.status, resp.read())
            except OSError as e:
                got = e
            finally:
                c.close()
            if got == (200, b"live\n"):
                break
            time.sleep(0.1)
        assert got == (200, b"live\n"), got
    finally:
        nsrv.api("POST", "/mags-jobs/%s/stop" % name, timeout=120)


def test_doc_example_cron(node, nsrv, as_original):
    """cronCreate / cronList ({ cron_jobs }) / cronUpdate / cronDelete as the
    docs show them."""
    r = run_script(node, nsrv, as_original, "cron.js", """
        const Mags = require('@magpiecloud/mags');
        const mags = new Mags({ apiToken: process.env.MAGS_API_TOKEN });
        (async () => {
          const cron = await mags.cronCreate({ name: 'nightly', cronExpression: '0 2 * * *', script: 'echo backup', workspaceId: 'backups' });
          const { cron_jobs } = await mags.cronList();
          for (const j of cron_jobs) if (j.id === cron.id) console.log(`${j.name}: ${j.cron_expression} ${j.workspace_id} ${j.enabled}`);
          await mags.cronUpdate(cron.id, { enabled: false });
          console.log((await mags.cronGet(cron.id)).enabled);
          await mags.cronDelete(cron.id);
          console.log((await mags.cronList()).cron_jobs.some(j => j.id === cron.id));
        })();
    """)
    assert r.returncode == 0, r.stderr
    assert r.stdout == "nightly: 0 2 * * * backups true\nfalse\nfalse\n"


def test_typescript_declarations_cover_every_method():
    """Every public method of the class is declared in index.d.ts."""
    src = (SDK / "index.js").read_text()
    cls = src[src.index("class Mags {"):]
    methods = set(re.findall(r"^  (?:async \*?)?([a-zA-Z]\w*)\(", cls, re.M)) - {"constructor"}
    dts = (SDK / "index.d.ts").read_text()
    missing = [m for m in sorted(methods) if not re.search(r"^  %s\(" % m, dts, re.M)]
    assert not missing, missing
    for m in ("run", "runAndWait", "new", "exec", "stop", "findJob", "url", "status", "logs",
              "list", "updateJob", "enableAccess", "resize", "uploadFile", "uploadFiles", "sync",
              "listWorkspaces", "deleteWorkspace", "urlAliasCreate", "urlAliasList",
              "urlAliasDelete", "cronCreate", "cronList", "cronGet", "cronUpdate", "cronDelete",
              "usage"):
        assert m in methods, m


def test_typescript_declarations_compile(node, tmp_path):
    """With tsc on the machine (Debian node-typescript), the declarations
    type-check for CommonJS and ESM users."""
    tsc = shutil.which("tsc")
    need(tsc, "tsc not installed (Debian package node-typescript)")
    mod = tmp_path / "node_modules" / "mags-sdk"
    mod.parent.mkdir(parents=True)
    mod.symlink_to(SDK, target_is_directory=True)
    (tmp_path / "package.json").write_text('{"type": "commonjs"}')
    (tmp_path / "g.d.ts").write_text("declare const console: any; declare const process: any;\n")
    (tmp_path / "a.ts").write_text(textwrap.dedent("""
        import Mags = require('mags-sdk');
        import { MagsError } from 'mags-sdk';
        async function main() {
          const mags = new Mags({ apiToken: process.env.MAGS_API_TOKEN });
          const job = await mags.run('sleep 3600', { workspaceId: 'dev', persistent: true });
          const ssh = await mags.enableAccess(job.requestId, 22);
          console.log(`ssh root@${ssh.sshHost} -p ${ssh.sshPort}`);
          const r = await mags.runAndWait('echo', { timeout: 1000 });
          for (const l of r.logs) console.log(l.message, r.exitCode);
          const { url } = await mags.url('webapp', 8080);
          const { cron_jobs } = await mags.cronList();
          const id: string = await mags.uploadFile('x');
          const s = await mags.runStream('x');
          for await (const l of s) console.log(l.source);
          try { await mags.status('x'); } catch (e) { if (e instanceof MagsError) console.log(e.statusCode); }
          new Mags.Mags(); new Mags.MagsError('x', 404);
        }
        main();
    """))
    (tmp_path / "b.mts").write_text(textwrap.dedent("""
        import Mags, { Mags as Named, MagsError } from 'mags-sdk';
        const m = new Mags({ apiUrl: 'http://x' });
        const vm = await m.new('box', { persistent: true, diskGb: 4 });
        console.log(vm.requestId, new Named(), new MagsError('x').statusCode);
    """))
    for args in (["--module", "commonjs", "--moduleResolution", "node", "--target", "es2020",
                  "--lib", "es2020", "a.ts", "g.d.ts"],
                 ["--module", "node16", "--moduleResolution", "node16", "--target", "es2022",
                  "--lib", "es2022", "b.mts", "g.d.ts"]):
        r = subprocess.run([tsc, "--noEmit", "--strict", *args], cwd=str(tmp_path), capture_output=True,
                           text=True, timeout=120)
        assert r.returncode == 0, r.stdout + r.stderr
