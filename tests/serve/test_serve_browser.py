"""geocorr serve in a real browser: Debian's chromium, headless, driven over the DevTools protocol (cdp.py) loads
the page from a server with the tiny fixture DINOv2, clicks three points on the source image and checks that
each match marker is drawn where /api/match puts it (to half a screen pixel), at two window sizes; the heat
map overlay is the target's size; a screenshot lands in the build folder (docs/serve.png is one of these).
Skipped (exit 77, loudly) only when no chromium is installed: scripts/install-deps.sh installs it."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import cdp  # noqa: E402
import serve_util as su  # noqa: E402

READY = ("document.getElementById('src-img').dataset.loaded && document.getElementById('tgt-img').dataset.loaded"
         " && document.body.dataset.busy === '0'")
RECT = "(sel => { const r = document.querySelector(sel).getBoundingClientRect(); return [r.left, r.top, r.width, r.height]; })"


def check_markers(b, sv, W, H):
    """Each circle's centre on screen, mapped back to image pixels, is the point / match of /api/match."""
    pts = b.eval("state.points")
    page_json = b.eval("state.resultText")
    status, _, body = sv.post_json("/api/match", {"src": "fox.png", "tgt": "fox2.png", "points": pts})
    assert status == 200, body
    assert page_json.encode() == body, "the page shows another answer than /api/match gives"
    want = json.loads(body)["points"]
    for which, img, key, (w, h) in (("src", "#src-img", "src", (320, 240)), ("tgt", "#tgt-img", "match", (W, H))):
        left, top, width, height = b.eval(f"{RECT}('{img}')")
        for p in want:
            k = p["index"]
            cl, ct, cw, ch = b.eval(f"{RECT}('#{which}-marks circle[data-index=\"{k}\"]')")
            x = (cl + cw / 2 - left) * w / width
            y = (ct + ch / 2 - top) * h / height
            tol = 0.5 * w / width + 0.01  # half a CSS pixel, in image pixels
            ex, ey = p[key]
            assert abs(x - ex) <= tol and abs(y - ey) <= tol, f"{which} marker {k} at ({x:.2f}, {y:.2f}), expected ({ex}, {ey}) +- {tol:.2f}"
    return want


def main():
    exe = cdp.find_chromium()
    if not exe:
        print("*" * 78 + "\nSKIPPED: no chromium installed, so the page was NOT tested in a browser "
              "(scripts/install-deps.sh installs Debian's chromium)\n" + "*" * 78)
        return 77
    root = su.tmpdir("browser")
    images = os.path.join(root, "images")
    os.makedirs(images)
    W, H = 300, 300
    with open(os.path.join(images, "fox.png"), "wb") as f:
        f.write(su.shape_image(320, 240, 120, 110))
    with open(os.path.join(images, "fox2.png"), "wb") as f:
        f.write(su.shape_image(W, H, 170, 160, flip=True))
    sv = su.Server(["--dinov2", su.tiny_dino(root), "--images", images])
    b = cdp.Browser(exe)
    try:
        b.call("Emulation.setDeviceMetricsOverride", width=1280, height=760, deviceScaleFactor=1, mobile=False)
        b.call("Page.navigate", url=f"{sv.url}?src=fox.png&tgt=fox2.png")
        b.wait_for(READY)
        left, top, width, height = b.eval(f"{RECT}('#src-img')")
        for n, (fx, fy) in enumerate(((0.3, 0.45), (0.62, 0.4), (0.45, 0.8)), 1):
            b.click(left + fx * width, top + fy * height)
            b.wait_for(f"document.body.dataset.busy === '0' && state.result && state.result.points.length === {n}")
        want = check_markers(b, sv, W, H)
        assert len(want) == 3
        b.wait_for("!document.getElementById('heat-img').hidden && document.getElementById('heat-img').complete")
        assert b.eval("[document.getElementById('heat-img').naturalWidth, document.getElementById('heat-img').naturalHeight]") == [W, H]
        assert "pose:" in b.eval("document.getElementById('status').textContent")
        assert b.eval("document.getElementById('download').disabled") is False
        shot = os.path.join(os.environ.get("GEOCORR_TMP") or root, "serve_browser.png")
        b.screenshot(shot)
        print(f"screenshot: {shot}")
        # a narrow window: the images shrink, the markers follow
        b.call("Emulation.setDeviceMetricsOverride", width=560, height=900, deviceScaleFactor=1, mobile=False)
        b.wait_for(f"{RECT}('#src-img')[2] < {width}")
        check_markers(b, sv, W, H)
        # alignment off: a new answer, said in the status line
        b.eval("document.getElementById('align').value = 'off'; document.getElementById('align').dispatchEvent(new Event('change'))")
        b.wait_for("document.body.dataset.busy === '0' && state.result && state.result.align.mode === 'off'")
        assert "pose alignment off" in b.eval("document.getElementById('status').textContent")
    finally:
        b.close()
        sv.stop()
        sv.kill()
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
