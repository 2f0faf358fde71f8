"""Checksums git and DVC already know, learnt after a scan of a working tree: untracked data
inside a DVC project is asked about once, not on every audit."""

from __future__ import annotations

import datacheck.sources.known_content as known_content
from datacheck import audit
from tests.helpers import distinct_patches, save, sh


def test_untracked_data_is_asked_about_again_only_after_git_add(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    for k, patch in enumerate(distinct_patches(12, size=48, seed=4)):
        save(patch, root / "extra" / ("train", "test")[k % 2] / "ab"[k % 3 == 0] / f"{k}.png")
    sh(root, "git", "init", "-q")
    sh(root, "dvc", "init", "-q")
    asked = []
    real = known_content._dvc_state
    monkeypatch.setattr(known_content, "_dvc_state",
                        lambda top, items: (asked.append(len(items)), real(top, items))[1])

    def run():
        return audit(root / "extra", checks=["integrity"], cache_dir=tmp_path / "cache",
                     progress=False)

    run()
    assert asked == [12]  # untracked: DVC knows none of them
    assert run().stats["decoded"] == 0
    assert asked == [12]  # git's index is unchanged: not asked again
    sh(root, "git", "add", "extra")
    run()
    assert asked == [12, 12]  # the index changed: asked again, and git now knows them all
    run()
    assert asked == [12, 12]  # every digest has a git checksum now: nothing left to ask
    db = known_content.known_db(tmp_path / "cache")
    try:
        assert db.execute("SELECT count(*) FROM known WHERE checksum LIKE 'git:%'"
                          ).fetchone()[0] == 12
    finally:
        db.close()
