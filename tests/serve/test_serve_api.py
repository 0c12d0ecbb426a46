"""geocorr serve, the JSON API, with the tiny fixture DINOv2 (and a DINO-only post-processor generated here):
/api/match answers exactly the bytes `geocorr match` writes for the same images, points and options (also for
an uploaded image and with the post-processor); the page and its assets; the listing (links out of --images,
hidden and broken files left out); hostile requests (traversal names, absolute paths, huge / truncated bodies,
invalid JSON, wrong types, points out of range, non-images) each answered 4xx with a message, the server
healthy after; one --cache folder shared with `geocorr match`; 320 requests from 8 threads with the RSS bounded
(160 under the sanitizers, where LeakSanitizer checks the server's exit);
clean exits on SIGINT and SIGTERM."""
import concurrent.futures
import http.client
import json
import os
import shutil
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import serve_util as su  # noqa: E402

SANITIZED = bool(os.environ.get("GEOCORR_SANITIZED"))


def server_env():
    env = dict(os.environ)
    if SANITIZED:  # ASan's quarantine would hold freed request buffers and hide what the RSS check looks for
        env["ASAN_OPTIONS"] = env.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=4:thread_local_quarantine_size_kb=64"
    return env


class ServeApi(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.root = su.tmpdir("api")
        cls.images = os.path.join(cls.root, "images")
        os.makedirs(os.path.join(cls.images, "cat", "sub"))
        os.makedirs(os.path.join(cls.images, ".git"))
        cls.files = {
            "a.png": su.shape_image(96, 64, 30, 32),
            "b.png": su.shape_image(80, 100, 50, 50, flip=True),
            "cat/c.png": su.shape_image(64, 64, 20, 40),
            "cat/sub/d.png": su.shape_image(50, 70, 25, 30),
        }
        for name, data in cls.files.items():
            with open(os.path.join(cls.images, name), "wb") as f:
                f.write(data)
        with open(su.fixture("images/antelope.jpg"), "rb") as f:
            cls.files["cat/e.jpg"] = f.read()
        with open(os.path.join(cls.images, "cat/e.jpg"), "wb") as f:
            f.write(cls.files["cat/e.jpg"])
        # what must never be listed or served
        cls.secret = os.path.join(cls.root, "secret.png")
        cls.secret_bytes = su.shape_image(10, 10, 5, 5)
        with open(cls.secret, "wb") as f:
            f.write(cls.secret_bytes)
        outside = os.path.join(cls.root, "outside")
        os.makedirs(outside)
        with open(os.path.join(outside, "x.png"), "wb") as f:
            f.write(su.shape_image(12, 12, 5, 5))
        os.symlink(cls.secret, os.path.join(cls.images, "link_out.png"))
        os.symlink(outside, os.path.join(cls.images, "linkdir"))
        os.symlink(os.path.join(cls.images, "a.png"), os.path.join(cls.images, "link_in.png"))
        cls.files["link_in.png"] = cls.files["a.png"]
        for name, data in ((".hidden.png", cls.files["a.png"]), (".git/h.png", cls.files["a.png"]),
                           ("broken.png", b"\x89PNG\r\n\x1a\n not really"), ("notes.txt", b"hello")):
            with open(os.path.join(cls.images, name), "wb") as f:
                f.write(data)
        cls.dino = su.tiny_dino(cls.root)
        cls.pp = su.tiny_postproc(cls.root, [64])
        cls.sv = su.Server(["--dinov2", cls.dino, "--postproc", cls.pp, "--images", cls.images, "--max-upload-mb", "1"],
                           env=server_env())

    @classmethod
    def tearDownClass(cls):
        cls.sv.kill()

    def status_json(self, st, ct, body, want):
        self.assertEqual(st, want, body)
        self.assertTrue(ct.startswith("application/json"), ct)
        return json.loads(body)

    def expect_error(self, st, ct, body, want, contains=""):
        j = self.status_json(st, ct, body, want)
        self.assertIsInstance(j.get("error"), str)
        self.assertIn(contains, j["error"])
        return j["error"]

    def healthy(self):
        st, _, body = self.sv.get("/api/images")
        self.assertEqual(st, 200)
        self.assertTrue(json.loads(body)["images"])

    # ---- the page ----

    def test_page_and_assets(self):
        st, ct, body = self.sv.get("/")
        self.assertEqual(st, 200)
        self.assertTrue(ct.startswith("text/html"))
        self.assertIn(b'<script src="/static/app.js">', body)
        for name, ctype in (("app.js", "text/javascript"), ("style.css", "text/css")):
            st, ct, body = self.sv.get(f"/static/{name}")
            self.assertEqual(st, 200)
            self.assertTrue(ct.startswith(ctype), ct)
            with open(os.path.join(os.path.dirname(__file__), "..", "..", "web", name), "rb") as f:
                self.assertEqual(body, f.read(), f"/static/{name} is not web/{name}")
        self.expect_error(*self.sv.get("/static/missing.js"), 404)
        self.assertEqual(self.sv.request("HEAD", "/")[0], 200)
        info = self.status_json(*self.sv.get("/api/info"), 200)
        self.assertEqual((info["recipe"], info["postproc"], info["max_upload_mb"]), ("dino", True, 1))
        self.assertIn("cat", info["categories"])
        self.assertIn("ap10k", info["categories"])

    # ---- listing and image bytes ----

    def test_images_listing(self):
        j = self.status_json(*self.sv.get("/api/images"), 200)
        names = [i["name"] for i in j["images"] if not i["name"].startswith("upload/")]
        self.assertEqual(names, ["a.png", "b.png", "cat/c.png", "cat/e.jpg", "cat/sub/d.png", "link_in.png"])
        sizes = {i["name"]: (i["w"], i["h"]) for i in j["images"]}
        self.assertEqual(sizes["a.png"], (96, 64))
        self.assertEqual(sizes["b.png"], (80, 100))
        self.assertEqual(sizes["cat/e.jpg"][0] > 0, True)
        self.assertIn("skipping", self.sv.stderr())  # broken.png and link_out.png are reported

    def test_image_bytes(self):
        for name, data in self.files.items():
            st, ct, body = self.sv.get(f"/api/image?name={name}")
            self.assertEqual(st, 200, name)
            self.assertEqual(ct, "image/jpeg" if name.endswith(".jpg") else "image/png")
            self.assertEqual(body, data, name)

    def test_traversal(self):
        secret = self.secret
        names = ["../secret.png", secret, "cat/../a.png", "./a.png", "a.png/", "link_out.png", "linkdir/x.png",
                 "%2e%2e/secret.png", ".hidden.png", ".git/h.png", "broken.png", "notes.txt", "cat", "images/a.png", ""]
        for n in names:
            q = n.replace("%", "%25").replace("/", "%2F") if n.startswith("%") else n
            st, ct, body = self.sv.get(f"/api/image?name={q}")
            self.assertIn(st, (400, 404), n)
            self.assertNotEqual(body, self.secret_bytes)
            self.assertIn("error", json.loads(body))
        # raw paths that a client could send without normalising them
        for path in ("/static/../api/images", "/static/%2e%2e/%2e%2e/etc/passwd", "/../../etc/passwd",
                     "/static/..%2F..%2Fsecret.png", "/static//etc/passwd", "//api/images"):
            st, body = raw_request(self.sv, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
            self.assertEqual(st, 404, path)
        # a listed file replaced by a link out of the folder afterwards is no longer served
        victim = os.path.join(self.images, "cat/sub/d.png")
        keep = victim + ".keep"
        os.rename(victim, keep)
        os.symlink(secret, victim)
        try:
            self.expect_error(*self.sv.get("/api/image?name=cat/sub/d.png"), 404)
            self.expect_error(*self.sv.post_json("/api/match", {"src": "cat/sub/d.png", "tgt": "a.png", "points": [[1, 1]]}), 404)
        finally:
            os.remove(victim)
            os.rename(keep, victim)
        self.healthy()

    # ---- /api/match against geocorr match ----

    def cli_match(self, src, tgt, pts, opts, cwd=None, postproc=None):
        """`geocorr match --dinov2` (the model as serve takes it) run in the images folder, optionally with
        --postproc; with a --cache folder of its own (not the server's), so that the command computes each image's
        maps once per test run (the sanitizer build is slow) and the server's maps are compared with its."""
        out = os.path.join(self.root, "cli.json")
        args = ["match", src, tgt, "--points", ";".join(f"{x:g},{y:g}" for x, y in pts), "--out", out,
                "--dinov2", self.dino, "--cache", os.path.join(self.root, "cli_cache")]
        if postproc:
            args += ["--postproc", postproc]
        if opts.get("category"):
            args += ["--category", opts["category"]]
        for k in ("align", "window"):
            if opts.get(k) is not None:
                args += [f"--{k}", str(opts[k])]
        if opts.get("hard"):
            args.append("--hard")
        su.geocorr(*args, cwd=cwd or self.images)
        with open(out, "rb") as f:
            return su.match_result(f.read())

    CASES = [
        ("a.png", "b.png", [[10, 20], [50.5, 30.25]], {}),
        ("a.png", "b.png", [[10, 20], [50, 30], [70, 40]], {"category": "cat", "align": "flip"}),
        ("b.png", "cat/c.png", [[5, 5], [79, 99]], {"align": "off", "window": 3, "hard": True}),
        ("cat/c.png", "cat/e.jpg", [[32, 32]], {"window": 0, "category": "ap10k"}),
        ("cat/e.jpg", "a.png", [[100, 80], [300, 200]], {"window": -2, "align": "auto"}),
    ]

    def test_match_equals_cli(self):
        for src, tgt, pts, opts in self.CASES:
            st, ct, body = self.sv.post_json("/api/match", dict({"src": src, "tgt": tgt, "points": pts}, **opts))
            self.assertEqual(st, 200, body)
            self.assertEqual(ct, "application/json")
            want = self.cli_match(src, tgt, pts, opts)
            self.assertEqual(body, want, f"{src} -> {tgt} {opts}: /api/match differs from geocorr match")
        # the features of an image are computed once per orientation (the first case computed a.png, b.png, a.png mirrored)
        log = self.sv.stderr()
        self.assertEqual(log.count("features of a.png: computed"), 1, log)
        self.assertEqual(log.count("features of a.png (mirrored): computed"), 1, log)

    def test_postproc_equals_cli(self):
        pts = [[12, 40], [60, 10]]
        for opts in ({"category": "cat"}, {"align": "off", "window": 4}):
            st, _, body = self.sv.post_json("/api/match", dict({"src": "a.png", "tgt": "b.png", "points": pts, "postproc": True},
                                                               **opts))
            self.assertEqual(st, 200, body)
            self.assertEqual(json.loads(body)["descriptor"]["recipe"], "postproc")
            self.assertEqual(body, self.cli_match("a.png", "b.png", pts, opts, postproc=self.pp), opts)

    def test_heatmap(self):
        q = "/api/heatmap?src=a.png&tgt=b.png&x=10&y=20"
        st, ct, png = self.sv.get(q)
        self.assertEqual((st, ct), (200, "image/png"), png)
        self.assertEqual(su.png_size(png), (80, 100))  # the target's size
        self.assertEqual(self.sv.get(q)[2], png)  # same query, same bytes
        self.assertNotEqual(self.sv.get("/api/heatmap?src=a.png&tgt=b.png&x=80&y=50")[2], png)
        st, ct, png2 = self.sv.get("/api/heatmap?src=a.png&tgt=cat/e.jpg&x=10&y=20&align=off&window=3&hard=true"
                                   "&postproc=true&category=cat")
        self.assertEqual(st, 200, png2)
        self.assertEqual(su.png_size(png2), (self.jpeg_size()))
        for bad, want in (("src=a.png&tgt=b.png&y=2", 400), ("src=a.png&tgt=b.png&x=1&y=200", 400),
                          ("src=a.png&tgt=b.png&x=abc&y=2", 400), ("src=a.png&tgt=b.png&x=1&y=2&align=up", 400),
                          ("src=a.png&tgt=b.png&x=1&y=2&window=1.5", 400), ("src=a.png&tgt=b.png&x=1&y=2&hard=maybe", 400),
                          ("src=a.png&tgt=b.png&x=1e999&y=2", 400), ("src=a.png&tgt=nope.png&x=1&y=2", 404),
                          ("tgt=b.png&x=1&y=2", 400), ("src=a.png&tgt=b.png&x=1&y=2&category=unicorn", 400)):
            self.expect_error(*self.sv.get(f"/api/heatmap?{bad}"), want)

    def jpeg_size(self):
        for i in self.status_json(*self.sv.get("/api/images"), 200)["images"]:
            if i["name"] == "cat/e.jpg":
                return (i["w"], i["h"])

    # ---- uploads ----

    def test_upload(self):
        data = su.shape_image(70, 50, 40, 20)
        st, ct, body = self.sv.request("POST", "/api/upload", body=data, headers={"Content-Type": "image/png"})
        name = self.status_json(st, ct, body, 200)["name"]
        self.assertEqual(name, f"upload/{su.sha16(data)}.png")
        again = self.sv.request("POST", "/api/upload", body=data, headers={"Content-Type": "image/png"})
        self.assertEqual(json.loads(again[2])["name"], name)
        listed = [i for i in self.status_json(*self.sv.get("/api/images"), 200)["images"] if i["name"] == name]
        self.assertEqual(listed, [{"name": name, "w": 70, "h": 50}])
        self.assertEqual(self.sv.get(f"/api/image?name={name}")[2], data)
        # matching with it gives what geocorr match gives on the same bytes under the same name
        cwd = os.path.join(self.root, "upload_cli")
        os.makedirs(os.path.join(cwd, "upload"), exist_ok=True)
        with open(os.path.join(cwd, name), "wb") as f:
            f.write(data)
        shutil.copy(os.path.join(self.images, "a.png"), cwd)
        pts = [[20, 10], [60, 45]]
        st, _, body = self.sv.post_json("/api/match", {"src": name, "tgt": "a.png", "points": pts})
        self.assertEqual(st, 200, body)
        self.assertEqual(body, self.cli_match(name, "a.png", pts, {}, cwd=cwd))

    def test_upload_refused(self):
        png = su.shape_image(40, 30, 10, 10)
        for body, ctype, want, msg in (
                (b"hello, not an image", "image/png", 400, "not a JPEG or PNG"),
                (png[: len(png) // 2], "image/png", 400, "upload"),
                (png, "text/plain", 400, "Content-Type"),
                (png, "image/jpeg", 400, "Content-Type says image/jpeg"),
                (b"", "image/png", 400, "empty")):
            st, ct, out = self.sv.request("POST", "/api/upload", body=body, headers={"Content-Type": ctype})
            self.expect_error(st, ct, out, want, msg)
        # over --max-upload-mb (1): answered 413 from the Content-Length, before the body is read (the client may
        # still be sending it when the server closes)
        big = b"\x89PNG\r\n\x1a\n" + b"\0" * (2 << 20)
        st, out = raw_request(self.sv, b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(big) + big)
        self.assertEqual(st, 413, out)
        self.assertIn(b"limit", out)
        # a body without Content-Length (chunked) over the limit: read, dropped, answered 413
        st, out = raw_request(self.sv, b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                              b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                              + b"".join(b"10000\r\n" + b"\0" * 0x10000 + b"\r\n" for _ in range(20)) + b"0\r\n\r\n")
        self.assertEqual(st, 413, out)
        # a Content-Length far beyond the limit is refused before any byte of the body is read
        st, out = raw_request(self.sv, b"POST /api/upload HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\n"
                              b"Content-Length: 99999999999\r\n\r\n")
        self.assertEqual(st, 413, out)
        self.healthy()

    # ---- hostile /api/match requests ----

    def test_bad_match_requests(self):
        ok = {"src": "a.png", "tgt": "b.png", "points": [[1, 2]]}
        cases = [
            (b"{", 400, "malformed JSON"), (b'{"src": "a.png", "tgt": "b.png", "points": [[1, 2]]', 400, "malformed"),
            (b"", 400, "malformed"), (b"[]", 400, "JSON object"), (b"null", 400, "JSON object"),
            (b'{"src": "a.png"} trailing', 400, "malformed"), (b'{"src": "a\x00.png"}', 400, "NUL"),
            (dict(ok, src=1), 400, "'src' must be a string"), (dict(ok, points="1,2"), 400, "'points'"),
            (dict(ok, points=[]), 400, "'points'"), (dict(ok, points=[[1]]), 400, "'points'[0]"),
            (dict(ok, points=[[1, "2"]]), 400, "'points'[0]"), (dict(ok, points=[[1, 2, 3]]), 400, "'points'[0]"),
            (dict(ok, points=[[1, 2]] * 1001), 400, "1001 points"), (dict(ok, window="5"), 400, "'window'"),
            (dict(ok, window=2.5), 400, "'window'"), (dict(ok, window=61), 400, "'window'"),
            (dict(ok, hard="yes"), 400, "'hard'"), (dict(ok, postproc=1), 400, "'postproc'"),
            (dict(ok, align="left"), 400, "'align'"), (dict(ok, category=5), 400, "'category'"),
            (dict(ok, category="unicorn"), 400, "'category'"), (dict(ok, extra=1), 400, "unknown field 'extra'"),
            (b'{"src": "a.png", "src": "b.png", "tgt": "b.png", "points": [[1, 2]]}', 400, "given twice"),
            ({"tgt": "b.png", "points": [[1, 2]]}, 400, "missing field 'src'"), ({"src": "a.png", "tgt": "b.png"}, 400, "'points'"),
            (dict(ok, src=""), 400, "empty"), (dict(ok, src="x" * 2000), 400, "longer"),
            (dict(ok, points=[[-1, 2]]), 400, "outside the source image"), (dict(ok, points=[[96, 2]]), 400, "outside"),
            (dict(ok, points=[[1, 64]]), 400, "outside"), (b'{"src": "a.png", "tgt": "b.png", "points": [[1e999, 2]]}', 400, "finite"),
            (b"[" * 5000 + b"]" * 5000, 400, "malformed"),
            (dict(ok, src="nope.png"), 404, "unknown image"), (dict(ok, tgt="../b.png"), 404, "unknown image"),
            (dict(ok, src="broken.png"), 404, "unknown image"),
        ]
        for body, want, msg in cases:
            self.expect_error(*self.sv.post_json("/api/match", body), want, msg)
        # too large a body: refused from its Content-Length
        big = b" " * (1 << 20) + b"{}"
        st, out = raw_request(self.sv, b"POST /api/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\n\r\n" % len(big) + big)
        self.assertEqual(st, 413, out)
        # a body cut short (the client stops sending and shuts its side): the connection closes, nothing hangs
        t0 = time.time()
        st, out = raw_request(self.sv, b"POST /api/match HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                              b"Content-Length: 100\r\n\r\n{\"src\": \"a.p", shut=True)
        self.assertIsNone(st, out)
        self.assertLess(time.time() - t0, 10)
        # a listed file that stopped decoding: 400 with the decoder's message
        path = os.path.join(self.images, "cat/c.png")
        with open(path, "wb") as f:
            f.write(self.files["cat/c.png"][:60])
        try:
            self.expect_error(*self.sv.post_json("/api/match", dict(ok, tgt="cat/c.png")), 400, "cat/c.png")
        finally:
            with open(path, "wb") as f:
                f.write(self.files["cat/c.png"])
        self.healthy()
        self.assertEqual(self.sv.post_json("/api/match", ok)[0], 200)

    def test_methods(self):
        for method, path in (("GET", "/api/match"), ("POST", "/api/images"), ("PUT", "/api/upload"), ("DELETE", "/"),
                             ("POST", "/"), ("POST", "/static/app.js"), ("GET", "/api/upload"), ("POST", "/api/heatmap")):
            c = http.client.HTTPConnection(self.sv.host, self.sv.port, timeout=60)
            c.request(method, path, body=b"{}" if method != "GET" else None)
            r = c.getresponse()
            self.expect_error(r.status, r.getheader("Content-Type"), r.read(), 405)
            self.assertEqual(r.getheader("Allow"), "POST" if path in ("/api/match", "/api/upload") else "GET, HEAD")
            c.close()
        self.expect_error(*self.sv.get("/api/nothing"), 404)
        self.expect_error(*self.sv.get("/index.html"), 404)

    # ---- one --cache folder for geocorr match and serve ----

    def test_cache_shared_with_match(self):
        """What `geocorr match --cache` computed, serve --cache reads (no computation, the same JSON); what serve
        computed, `geocorr match --cache` reads ("computed": no features)."""
        cache = os.path.join(self.root, "shared_cache")
        out = os.path.join(self.root, "cache_cli.json")

        def cli(src, tgt, points):
            su.geocorr("match", src, tgt, "--points", points, "--dinov2", self.dino, "--cache", cache, "--out", out,
                       cwd=self.images)
            with open(out, "rb") as f:
                text = f.read()
            return su.match_result(text), json.loads(text)["computed"]

        first, computed = cli("a.png", "b.png", "10,20;50,30")
        self.assertEqual(computed["features"], 3)  # a.png, its mirror, b.png
        sv = su.Server(["--dinov2", self.dino, "--images", self.images, "--cache", cache], env=server_env())
        try:
            st, _, body = sv.post_json("/api/match", {"src": "a.png", "tgt": "b.png", "points": [[10, 20], [50, 30]]})
            self.assertEqual(st, 200, body)
            self.assertEqual(body, first, "serve --cache on match's files differs from geocorr match")
            log = sv.stderr()
            self.assertEqual(log.count("read from the cache"), 3, log)
            self.assertNotIn(": computed", log)
            st, _, body = sv.post_json("/api/match", {"src": "cat/c.png", "tgt": "a.png", "points": [[32, 32]]})
            self.assertEqual(st, 200, body)
            log = sv.stderr()
            self.assertEqual(log.count(": computed"), 2, log)  # cat/c.png and its mirror
        finally:
            sv.kill()
        again, computed = cli("cat/c.png", "a.png", "32,32")
        self.assertEqual(computed["features"], 0, "geocorr match --cache recomputed what serve had cached")
        self.assertEqual(again, body)
        feat = os.path.join(cache, "features")
        self.assertEqual(len(os.listdir(feat)), 1, os.listdir(feat))  # one model, one folder
        self.assertEqual(len(os.listdir(os.path.join(feat, os.listdir(feat)[0]))), 5)  # a, a_flip, b, c, c_flip

    # ---- load ----

    def test_load(self):
        match = {"src": "a.png", "tgt": "b.png", "points": [[10, 20], [40, 30]]}
        reqs = [("GET", "/api/images", None, 200), ("POST", "/api/match", match, 200),
                ("GET", "/api/heatmap?src=a.png&tgt=b.png&x=10&y=20", None, 200), ("GET", "/static/app.js", None, 200),
                ("GET", "/api/image?name=b.png", None, 200), ("GET", "/api/image?name=../secret.png", None, 404),
                ("POST", "/api/match", {"src": "a.png"}, 400), ("GET", "/nothing", None, 404)]

        def one(i):
            method, path, body, want = reqs[i % len(reqs)]
            st = (self.sv.post_json(path, body) if method == "POST" else self.sv.get(path))[0]
            return st == want

        # A leak grows with the number of requests; allocator noise (what the threads happen to hold when the RSS
        # is read) does not. So: warm up (every feature computed), then two equal batches; the second may not grow
        # the RSS by more than 8 MiB. A leak of a match result, a request body or a heat map per request grows
        # both batches alike. Quiet or loaded (load average 20-29), the server's RSS moves by less than 1.5 MiB per
        # batch since its malloc runs with a fixed mmap threshold (src/serve/http.c); before, it grew by 14-60 MiB
        # per batch, ~15 MiB per malloc arena the overlapping connection threads had made.
        # Under the sanitizers half as many requests (each costs ~10x there): LeakSanitizer checks every allocation
        # when the server exits (test_zz_signals stops it and requires status 0), which finds a leak per request
        # that the RSS shows only in bulk.
        warm, batch = (32, 64) if SANITIZED else (64, 128)
        rss = []
        t0 = time.time()
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            self.assertTrue(all(ex.map(one, range(warm))))
            for _ in range(2):
                rss.append(self.sv.rss_kib())
                self.assertTrue(all(ex.map(one, range(batch))), "every request answered as expected")
            rss.append(self.sv.rss_kib())
        took = time.time() - t0
        print(f"{warm + 2 * batch} requests from 8 threads in {took:.1f} s; RSS after the warm-up and each batch of "
              f"{batch}: " + " -> ".join(f"{r / 1024:.1f}" for r in rss) + " MiB")
        self.assertLess(rss[2] - rss[1], 8 * 1024)
        # and the first batch settles what the warm-up left (a stray arena, ASan's quarantine filling up)
        self.assertLess(rss[1] - rss[0], 24 * 1024)
        self.healthy()

    # ---- stopping ----

    def test_zz_signals(self):
        """A second server without a post-processor: 'postproc' is refused; SIGINT stops it cleanly. Then the main
        server: SIGTERM while a computation runs (an image it has not seen) still exits within 5 s."""
        sv2 = su.Server(["--dinov2", self.dino, "--images", self.images], env=server_env())
        try:
            self.expect_error(*sv2.post_json("/api/match", {"src": "a.png", "tgt": "b.png", "points": [[1, 2]], "postproc": True}),
                              400, "no post-processor")
            print(f"SIGINT: exit in {sv2.stop(signal_int()):.2f} s")
        finally:
            sv2.kill()
        pool = concurrent.futures.ThreadPoolExecutor(1)
        pool.submit(self.sv.post_json, "/api/match", {"src": "cat/sub/d.png", "tgt": "cat/e.jpg", "points": [[1, 2]]})
        time.sleep(0.3)
        print(f"SIGTERM during a computation: exit in {self.sv.stop():.2f} s")
        pool.shutdown(wait=True)


def signal_int():
    import signal
    return signal.SIGINT


def raw_request(sv, data, shut=False):
    """Send bytes as they are (no client-side normalisation); (status or None, response bytes)."""
    s = socket.create_connection((sv.host, sv.port), timeout=20)
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # answered (and closed) before the whole body was sent: read the answer
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        while True:
            try:
                chunk = s.recv(65536)
            except (ConnectionResetError, socket.timeout):
                break
            if not chunk:
                break
            out += chunk
    finally:
        s.close()
    if not out.startswith(b"HTTP/1."):
        return None, out
    return int(out.split(b" ", 2)[1]), out


if __name__ == "__main__":
    unittest.main(verbosity=2)
