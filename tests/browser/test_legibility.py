"""What a person can actually read: Chinese text drawn as glyphs (not empty boxes), and
the teacher panel's buttons legible in every state (WCAG contrast), measured on the
pixels Chromium draws."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from playwright.async_api import expect

from tests.browser.conftest import open_page

pytestmark = pytest.mark.browser

# Drawn with the page's own font stack: with no CJK font every character falls back to the
# same .notdef box, so two different characters give the same pixels as an unassigned one.
GLYPHS_DIFFER_JS = """(sample) => {
  const font = getComputedStyle(document.body).fontFamily;
  const draw = (ch) => {
    const c = document.createElement("canvas");
    c.width = c.height = 64;
    const g = c.getContext("2d");
    g.font = "48px " + font;
    g.fillText(ch, 4, 52);
    return Array.from(g.getImageData(0, 0, 64, 64).data).join(",");
  };
  const notdef = draw("\\uE000");  // a private-use code point: no font has it
  const seen = sample.map(draw);
  return {font, blank: seen.map((s) => !/[1-9]/.test(s)),
          tofu: seen.map((s) => s === notdef), distinct: new Set(seen).size};
}"""


async def _assert_cjk_renders(page, sample: list[str]) -> None:
    r = await page.evaluate(GLYPHS_DIFFER_JS, sample)
    assert not any(r["blank"]), f"Chinese text draws nothing with {r['font']}: {r}"
    assert not any(r["tofu"]), (
        f"Chinese text draws as empty boxes (tofu) with {r['font']}: install a CJK font "
        "(Debian fonts-noto-cjk; scripts/setup.sh does)")
    assert r["distinct"] == len(sample), f"different characters draw the same: {r}"


async def test_chinese_pages_draw_glyphs(browser, make_config, run_agent, artifacts) -> None:
    async with run_agent(make_config(site={"name": "初二（3）班"})) as agent:
        status = await open_page(browser, agent.web_url + "/", locale="zh-CN")
        await expect(status.locator("#card-devices h2")).to_have_text("设备")
        await _assert_cjk_renders(status, ["设", "备", "录", "制"])
        await status.screenshot(path=artifacts / "legibility-status-zh-CN.png", full_page=True)

        panel = await open_page(browser, agent.web_url + "/panel?lang=zh-CN", width=1280,
                                height=800)
        await expect(panel.locator("#rec-label")).not_to_be_empty()
        await _assert_cjk_renders(panel, list("开始录制"))
        await panel.screenshot(path=artifacts / "legibility-panel-zh-CN.png")
        assert status.js_errors == [] and panel.js_errors == []


def _luminance(bgr: np.ndarray) -> float:
    c = bgr[::-1].astype(float) / 255.0  # RGB
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    return float(0.2126 * lin[0] + 0.7152 * lin[1] + 0.0722 * lin[2])


def contrast_of_text(png: bytes) -> float:
    """WCAG contrast between a text box's background (its most common colour) and its text
    (the drawn colour farthest from that background: the core of a large glyph)."""
    img = cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR)
    px = img.reshape(-1, 3)
    colours, counts = np.unique(px, axis=0, return_counts=True)
    bg = colours[counts.argmax()]
    text = px[np.abs(px.astype(int) - bg.astype(int)).sum(axis=1).argmax()]
    hi, lo = sorted((_luminance(bg), _luminance(text)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


# every state of the one button a teacher uses. WCAG AA asks 4.5:1 of text; a disabled
# control is exempt, but the teacher still reads what it says, so it is held to AA too.
STATES = {
    "idle": "recAvailable = true; streamUp = true; recActive = false; busy = false",
    "starting": "recAvailable = true; streamUp = true; recActive = false; busy = true",
    "recording": "recAvailable = true; streamUp = true; recActive = true; busy = false",
    "stopping": "recAvailable = true; streamUp = true; recActive = true; busy = true",
    "unavailable": "recAvailable = false; streamUp = true; recActive = false; busy = false",
    "agent-lost": "recAvailable = true; streamUp = false; recActive = true; busy = false",
}
AA = 4.5


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
async def test_panel_button_is_legible_in_every_state(
    browser, make_config, run_agent, artifacts, lang
) -> None:
    async with run_agent(make_config(site={"name": "Room 101"})) as agent:
        ctx = await browser.new_context(viewport={"width": 1280, "height": 800})
        # no live stream: it would re-render the button over the state set here
        await ctx.add_init_script(
            "window.EventSource = class { addEventListener() {} close() {} };")
        page = await ctx.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        await page.goto(agent.web_url + f"/panel?lang={lang}")
        await expect(page.locator("#rec-label")).not_to_be_empty()
        seen: dict[str, float] = {}
        low = []
        for name, state in STATES.items():
            await page.evaluate(f"{state}; renderButton();")
            label = page.locator("#rec-label")
            await page.wait_for_timeout(300)  # let the .2 s background transition finish
            ratio = contrast_of_text(await label.screenshot())
            seen[name] = round(ratio, 2)
            await page.screenshot(path=artifacts / f"legibility-panel-{lang}-{name}.png")
            if ratio < AA:
                low.append(f"{name} {ratio:.2f} < {AA}")
        print(f"contrast {lang}: {seen}")
        assert not low, f"{lang}: too little contrast: {low} (all: {seen})"
        assert errors == []
