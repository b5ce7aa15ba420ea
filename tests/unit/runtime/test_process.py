"""Process-wide settings of the long-running commands, checked in a process of their own."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_startup_heap_is_frozen_and_later_cycles_are_still_collected() -> None:
    script = textwrap.dedent(
        """
        import gc, weakref
        import crmsync.sync.engine  # a started process's heap: modules, classes
        from crmsync.runtime.process import freeze_startup_heap

        assert gc.get_freeze_count() == 0
        freeze_startup_heap()
        print(gc.get_freeze_count())

        class Node:
            pass

        node = Node()
        node.self = node  # a cycle, made after the freeze
        gone = weakref.ref(node)
        del node
        gc.collect()
        print(gone() is None)
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=60
    )
    frozen, collected = result.stdout.split()
    assert int(frozen) > 10_000
    assert collected == "True"
