"""status, verify [--repair] and retag over an archive made from the sample server."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from mutagen.id3 import ID3
from mutagen.mp4 import MP4

from archiver.cli import main
from archiver.demo import DemoServer

from .samples import load_sample

KEY = "sk-maintenance"


@pytest.fixture
def archive(demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("PIAPI_API_KEY", KEY)
    dest = tmp_path / "archive"
    ids = [load_sample(n)["data"]["task_id"] for n in ("01", "10")]
    err = io.StringIO()
    code = main([*ids, "-d", str(dest), "--base-url", demo_server.api_url], stderr=err)
    assert code == 0, err.getvalue()
    return dest


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(args), stdout=out, stderr=err), out.getvalue(), err.getvalue()


def test_verify_clean_archive_exits_0(archive: Path) -> None:
    code, out, _ = _cli("verify", "-d", str(archive))
    assert code == 0 and "verified 12 files: 12 ok" in out


def test_verify_names_missing_truncated_and_changed_files(archive: Path) -> None:
    mp3, mp4, png = (sorted(archive.glob(f"*.{ext}"))[0] for ext in ("mp3", "mp4", "png"))
    mp3.unlink()
    mp4.write_bytes(mp4.read_bytes()[:1000])
    data = bytearray(png.read_bytes())
    data[-20] ^= 0xFF
    png.write_bytes(bytes(data))
    code, out, _ = _cli("verify", "-d", str(archive))
    assert code == 1
    assert f"missing   {mp3.name}" in out and f"truncated {mp4.name}" in out
    assert f"changed   {png.name}" in out
    assert "9 ok, 1 changed, 1 missing, 1 truncated" in out


def test_a_deleted_file_is_not_brought_back_silently(
    archive: Path, demo_server: DemoServer
) -> None:
    mp3 = sorted(archive.glob("*.mp3"))[0]
    mp3.unlink()
    before = len(demo_server.requests)
    ids = [load_sample(n)["data"]["task_id"] for n in ("01", "10")]
    assert main([*ids, "-d", str(archive), "--base-url", demo_server.api_url]) == 0
    assert len(demo_server.requests) == before and not mp3.exists()


def test_verify_repair_restores_and_keeps_the_changed_file(
    archive: Path, demo_server: DemoServer
) -> None:
    mp3 = sorted(archive.glob("*.mp3"))[0]
    original = mp3.read_bytes()
    mp3.write_bytes(b"user edited this")
    gone = sorted(archive.glob("*.mp4"))[0]
    gone.unlink()
    code, out, _ = _cli("verify", "-d", str(archive), "--repair")
    assert code == 0, out
    assert mp3.read_bytes() == original and gone.exists()
    kept = [p for p in (archive / ".suno-archiver" / "replaced").rglob("*") if p.is_file()]
    assert [p.read_bytes() for p in kept] == [b"user edited this"]
    api = [r for r in demo_server.requests if r.server == "api"]
    assert len(api) == 2  # only the first archive run asked PiAPI: repair used stored JSON


def test_retag_restores_wiped_tags_offline(archive: Path, demo_server: DemoServer) -> None:
    mp3 = sorted(archive.glob("*.mp3"))[0]
    mp4 = sorted(archive.glob("*.mp4"))[0]
    ID3(mp3).delete()
    video = MP4(mp4)
    video.delete()
    video.save()
    assert _cli("verify", "-d", str(archive))[0] == 1  # wiped tags changed the files
    before = len(demo_server.requests)
    code, _, err = _cli("retag", "-d", str(archive))
    assert code == 0 and "retagged 8 files, 0 failed" in err
    assert len(demo_server.requests) == before
    tags = ID3(mp3)
    assert tags["TIT2"].text[0] and tags.getall("TXXX:SUNO_CLIP_ID") and tags.getall("APIC")
    assert MP4(mp4).tags["----:com.apple.iTunes:SUNO_CLIP_ID"]
    assert _cli("verify", "-d", str(archive))[0] == 0  # the manifest has the new hashes


def test_retag_keeps_the_embedded_cover_when_no_image_was_kept(
    demo_server: DemoServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PIAPI_API_KEY", KEY)
    dest = tmp_path / "a"
    task_id = load_sample("01")["data"]["task_id"]
    assert main([task_id, "--assets", "audio", "-d", str(dest), "--base-url",
                 demo_server.api_url]) == 0
    mp3 = sorted(dest.glob("*.mp3"))[0]
    picture = ID3(mp3).getall("APIC")[0].data
    assert _cli("retag", "-d", str(dest), "--id3-version", "2.4")[0] == 0
    tags = ID3(mp3)
    assert tags.version[1] == 4 and tags.getall("APIC")[0].data == picture


def test_status_text_and_json(archive: Path) -> None:
    code, out, _ = _cli("status", "-d", str(archive))
    assert code == 0 and "4 clips" in out and "12 done" in out
    code, out, _ = _cli("status", "-d", str(archive), "--json")
    document = json.loads(out)
    assert document["clips"] == 4 and document["bytes_on_disk"] > 0


@pytest.mark.parametrize("command", ["status", "verify", "retag"])
def test_commands_on_a_folder_that_is_no_archive(command: str, tmp_path: Path) -> None:
    code, _, err = _cli(command, "-d", str(tmp_path / "nothing"))
    assert code == 2 and "no archive here" in err
    assert not (tmp_path / "nothing").exists()
