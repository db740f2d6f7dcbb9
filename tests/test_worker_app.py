"""The worker's pure helpers (the task shells themselves run in tests/test_e2e.py)."""

from __future__ import annotations

from worker.app import batches


def test_links_are_split_into_the_fewest_even_batches() -> None:
    links = [f"https://example.com/{n}" for n in range(20)]
    split = batches(links, 16)
    assert [len(batch) for batch in split] == [10, 10]
    assert sorted(link for batch in split for link in batch) == sorted(links)
    assert [len(batch) for batch in batches(links[:16], 16)] == [16]
    assert [len(batch) for batch in batches(links[:17], 8)] == [6, 6, 5]
    assert batches([], 16) == []
