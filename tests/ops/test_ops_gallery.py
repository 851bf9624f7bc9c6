"""`gallery`: a self-contained page whose thumbnails are real images, with everything escaped."""

from __future__ import annotations

import base64
import io
import re
from pathlib import Path
from urllib.parse import unquote
from urllib.request import urlopen

from PIL import Image

from ops.gallery import SCALED_PIXELS, full_image
from tests.functional.conftest import HandlerHarness
from tests.ops.conftest import Cli, CliResult

DATA_URI = re.compile(r'<img src="data:image/jpeg;base64,([A-Za-z0-9+/=]+)" alt="([a-z]+)">')


def collected_task(collector: HandlerHarness, images: int = 2, **options: object) -> tuple[str, list[str]]:  # fmt: skip
    cloud = collector.cloud
    sources = cloud.add_images("gal/src", images)
    task_id = cloud.alimt.create_task(sources, need_editor_data=True, **options)  # type: ignore[arg-type]
    assert collector.invoke({"taskId": task_id})["results"][0]["outcome"] == "copied"
    return task_id, sources


def gallery_with_sources(
    cli: Cli, collector: HandlerHarness, tmp_path: Path
) -> tuple[str, list[str], Path, CliResult]:
    """A collected 2-image task, its gallery written with the sources listed: (task, sources, page
    path, the command's result)."""
    task_id, sources = collected_task(collector, images=2)
    source_file = tmp_path / "sources.txt"
    source_file.write_text("\n".join(sources), encoding="utf-8")
    out = tmp_path / "page.html"
    return task_id, sources, out, cli("gallery", task_id, "--sources", str(source_file), "--out", str(out))  # fmt: skip


def thumbnails(page: str) -> list[tuple[str, tuple[int, int]]]:
    found = []
    for data, label in DATA_URI.findall(page):
        with Image.open(io.BytesIO(base64.b64decode(data))) as image:
            image.load()
            assert image.format == "JPEG"
            found.append((label, image.size))
    return found


def test_gallery_embeds_source_translated_and_inpainting(
    cli: Cli, collector: HandlerHarness, tmp_path: Path
) -> None:
    _, _, out, result = gallery_with_sources(cli, collector, tmp_path)
    assert result.code == 0, result.err
    assert result.out.strip() == str(out.resolve())
    page = out.read_text(encoding="utf-8")
    found = thumbnails(page)
    assert [label for label, _ in found] == ["source", "translated", "inpainting"] * 2
    assert all(max(size) <= 320 for _, size in found)
    assert page.count("<details><summary>template JSON</summary>") == 2
    assert "editor template" in page
    assert "Signature=" not in page  # signed URLs are used, never written (templates redacted)


def test_unfetchable_sources_fall_back_to_links(
    cli: Cli, collector: HandlerHarness, tmp_path: Path
) -> None:
    task_id, sources = collected_task(collector, images=1)
    out = tmp_path / "page.html"
    assert cli("gallery", task_id, "--out", str(out)).code == 0
    page = out.read_text(encoding="utf-8")
    assert [label for label, _ in thumbnails(page)] == ["translated", "inpainting"]
    plain = sources[0].split("?")[0]
    assert f'<a href="{plain}">source</a>' in page
    assert "could not fetch: HTTP 403; pass the original URLs with --sources" in page


def test_failed_images_and_messages_are_escaped(
    cli: Cli, collector: HandlerHarness, tmp_path: Path
) -> None:
    task_id, _ = collected_task(
        collector, images=2, failing_images={1: (107, "<script>alert(1)</script>")}
    )
    out = tmp_path / "page.html"
    assert cli("gallery", task_id, "--out", str(out), "--no-source-fetch").code == 0
    page = out.read_text(encoding="utf-8")
    assert "<script>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert len(re.findall(r"<tr id=\"row-\d+\" class=\"fail\">", page)) == 1
    assert [label for label, _ in thumbnails(page)] == ["translated", "inpainting"]


def test_links_mode_uses_presigned_urls(
    cli: Cli, collector: HandlerHarness, tmp_path: Path
) -> None:
    task_id, _ = collected_task(collector, images=1)
    out = tmp_path / "links.html"
    assert cli("gallery", task_id, "--links", "--no-source-fetch", "--out", str(out)).code == 0
    page = out.read_text(encoding="utf-8")
    assert thumbnails(page) == []
    hrefs = [unquote(h) for h in re.findall(r'<a href="([^"]+)">translated</a>', page)]
    assert len(hrefs) == 1 and f"translated/{task_id}/000-final.png?" in hrefs[0]
    assert "Signature=" in hrefs[0] and "Expires=" in hrefs[0]


def test_default_output_path_and_unknown_task(
    cli: Cli, collector: HandlerHarness, tmp_path: Path, monkeypatch: object
) -> None:
    import pytest

    assert isinstance(monkeypatch, pytest.MonkeyPatch)
    monkeypatch.chdir(tmp_path)
    task_id, _ = collected_task(collector, images=1)
    result = cli("gallery", task_id, "--no-source-fetch")
    assert result.code == 0
    assert Path(result.out.strip()) == tmp_path / f"gallery-{task_id}.html"

    missing = cli("gallery", "NEVER-SEEN")
    assert missing.code == 1 and "has no manifest (state: unknown)" in missing.err


LIGHTBOX = re.compile(
    r'<a class="lightbox" id="(full-(\d+)-([a-z]+))" href="#row-(\d+)">'
    r'<img src="data:(image/[a-z]+);base64,([A-Za-z0-9+/=]+)" alt="[a-z]+, full size"'
)


def test_each_thumbnail_opens_its_full_size_original(
    cli: Cli, collector: HandlerHarness, tmp_path: Path
) -> None:
    task_id, sources, out, result = gallery_with_sources(cli, collector, tmp_path)
    assert result.code == 0, result.err
    page = out.read_text(encoding="utf-8")

    targets = re.findall(r'<a class="thumb" href="#([^"]+)"', page)
    boxes = {m[0]: m for m in LIGHTBOX.findall(page)}
    assert len(targets) == 6 and sorted(targets) == sorted(boxes)  # every thumbnail, its own box
    bucket = collector.cloud.bucket()
    for target, index, label, row, mime, data in boxes.values():
        assert row == index and f'<tr id="row-{row}"' in page  # closing goes back to the row
        shown = base64.b64decode(data)
        if label == "source":
            original = urlopen(sources[int(index)]).read()  # the signed URL, as given
        else:
            kind = "final" if label == "translated" else label
            original = bucket.get_object(f"translated/{task_id}/{int(index):03d}-{kind}.png").read()
        assert shown == original, target  # the original bytes, not a re-encoded copy
        assert mime == ("image/jpeg" if label == "source" else "image/png")


def test_originals_a_browser_cannot_show_are_scaled_to_jpeg() -> None:
    image = Image.new("RGB", (3000, 600), (200, 30, 30))
    raw = io.BytesIO()
    image.save(raw, "BMP")
    full = full_image(raw.getvalue())
    assert full.scaled and (full.width, full.height) == (3000, 600)
    assert full.data_uri.startswith("data:image/jpeg;base64,")
    with Image.open(io.BytesIO(base64.b64decode(full.data_uri.split(",", 1)[1]))) as shown:
        assert shown.size == (SCALED_PIXELS, 410)


def test_the_page_shows_the_submitted_language_pair_and_field(
    cli: Cli, collector: HandlerHarness, tmp_path: Path
) -> None:
    urls = cli.cloud.add_images("gal/submitted", 1)
    submitted = cli("submit", "--from", "zh", "--to", "ja", "--scene", "e-commerce", *urls)
    task_id = submitted.out.strip()
    record = collector.json_object(f"collector/submissions/{task_id}.json")
    assert record["sourceLanguage"] == "zh" and record["targetLanguage"] == "ja"
    assert record["field"] == "e-commerce" and record["imageCount"] == 1
    collector.invoke({"taskId": task_id})

    out = tmp_path / "page.html"
    assert cli("gallery", task_id, "--no-source-fetch", "--out", str(out)).code == 0
    page = out.read_text(encoding="utf-8")
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in page
    assert f'<p class="request">zh → ja · field e-commerce · submitted {record["submittedAt"]}</p>' in page  # fmt: skip

    # a task submitted some other way has no record: the page says nothing about languages
    other, _ = collected_task(collector, images=1)
    assert cli("gallery", other, "--no-source-fetch", "--out", str(out)).code == 0
    assert 'class="request"' not in out.read_text(encoding="utf-8")
