"""The concurrency model: what one read or write guarantees while another process writes."""

from __future__ import annotations

import time
from multiprocessing.context import BaseContext

from array_helpers import Pair, keep_writing
from helpers import JOIN_TIMEOUT, running_child

READS = 3000


def test_reads_never_see_half_written_values(ctx: BaseContext) -> None:
    pair = Pair()
    started, stop = ctx.Event(), ctx.Event()
    with running_child(ctx, keep_writing, pair, started, stop, stop=stop):
        assert started.wait(JOIN_TIMEOUT)
        seen_words, seen_blocks = set(), set()
        reads, give_up = 0, time.monotonic() + JOIN_TIMEOUT  # a hang guard, not a pace
        # At least READS reads, and on until they have seen the writer change both values: a
        # busy machine may keep the writer off the CPU for a while, which only makes this longer.
        while reads < READS or len(seen_words) < 2 or len(seen_blocks) < 2:
            assert time.monotonic() < give_up, f"the writer made no progress in {reads} reads"
            reads += 1
            word = pair.word  # a text read takes the lock: never a mix of two writes
            assert word and len(set(word)) == 1, word
            seen_words.add(word)
            snap = pair.snapshot()  # update() and whole-array writes are all-or-nothing for snapshots
            assert snap.a == -snap.b
            assert len(set(snap.block.tolist())) == 1
            seen_blocks.add(int(snap.block[0]))
            with pair.lock:  # reads under the lock see one consistent state too
                assert pair.a == -pair.b
