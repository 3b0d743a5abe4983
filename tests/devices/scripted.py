"""A scripted fake instrument for byte-exact driver tests (the pattern of pymeasure's ``expected_protocol``)."""

from __future__ import annotations


class Scripted:
    """A fake instrument: asserts each write is the expected bytes, answers the scripted reply."""

    def __init__(self, exchanges: list[tuple[bytes, bytes]]) -> None:
        self.exchanges = list(exchanges)

    def handle(self, data: bytes) -> bytes:
        assert self.exchanges, f"unexpected write {data!r}"
        expected, reply = self.exchanges.pop(0)
        assert data == expected, f"wrote {data!r}, expected {expected!r}"
        return reply

    def assert_done(self) -> None:
        assert not self.exchanges, f"exchanges never made: {self.exchanges!r}"
