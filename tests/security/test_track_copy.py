"""``track()`` copies what it keeps (issue 14, finding 9): a label changed after ``kero.track(...)``
was stored with its new value, and a 2M-key dict cost 213 ms in the writer before 32 keys were
kept. Now the calling thread copies at most 32 labels, each key and value bounded, reading no
more of the mapping than that."""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping
from typing import Any, Callable

from kero_core import Kero
from kero_core.capture import MAX_LABEL, MAX_LABELS


class CountingMapping(Mapping[str, Any]):
    """A large mapping that counts how many of its items were read."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.read = 0

    def __getitem__(self, key: str) -> Any:
        return int(key[1:])

    def __iter__(self) -> Iterator[str]:
        for i in range(self.size):
            self.read += 1
            yield f"k{i}"

    def __len__(self) -> int:
        return self.size


def test_a_label_changed_after_track_is_stored_as_it_was(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero()
    labels = {"plan": "pro", "nested": ["a", "b"]}
    kero.track("signup", labels)
    labels["plan"] = "changed"
    labels["nested"].append("c")  # type: ignore[attr-defined]
    labels["added"] = "later"
    assert kero.flush(10)
    [event] = kero.query("signup")
    assert event.labels == {"plan": "pro", "nested": "['a', 'b']"}


def test_track_reads_at_most_32_labels_of_a_huge_mapping(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero()
    huge = CountingMapping(2_000_000)
    started = time.perf_counter()
    kero.track("huge", huge)
    elapsed = time.perf_counter() - started
    print(f"\n[track] a 2,000,000-key mapping: {huge.read} items read, {elapsed * 1e6:.0f} µs on the calling thread")
    assert huge.read <= MAX_LABELS + 1  # islice may pull one more to know it is done; never the rest
    assert kero.flush(10)
    [event] = kero.query("huge")
    assert event.labels == {f"k{i}": str(i) for i in range(MAX_LABELS)}


def test_huge_keys_values_and_objects_are_bounded_on_the_calling_thread(make_kero: Callable[..., Kero]) -> None:
    kero = make_kero()
    kero.track("big", {"k" * 10_000_000: "v" * 10_000_000, "n": 10 ** 100_000, "list": list(range(1_000_000))})
    assert kero.flush(10)
    [event] = kero.query("big")
    assert {len(k) for k in event.labels} <= {1, 4, MAX_LABEL}
    assert all(len(v) <= MAX_LABEL for v in event.labels.values())
    assert event.labels["list"].startswith("[0, 1, 2")
