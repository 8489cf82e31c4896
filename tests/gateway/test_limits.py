from __future__ import annotations

from llmops_cli.gateway.policy.limits import Limiter, TokenBucket


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_refills_continuously() -> None:
    c = Clock()
    b = TokenBucket(60, c)
    assert all(b.try_take(1) for _ in range(60))
    assert not b.try_take(1)
    assert b.retry_after(1) == 1.0
    c.t += 1.0  # 60/min = 1/s
    assert b.try_take(1)
    assert not b.try_take(1)
    c.t += 1000
    assert b.level <= 60 and b.try_take(60)  # never more than capacity


def test_limiter_rpm_then_tpm_and_reconcile() -> None:
    c = Clock()
    lim = Limiter(c)
    assert lim.admit("k", 2, 1000, 400) == (None, 0.0)
    assert lim.admit("k", 2, 1000, 400) == (None, 0.0)
    reason, retry = lim.admit("k", 2, 1000, 100)
    assert reason == "requests_per_minute" and retry > 0
    c.t += 60
    # 1000 tokens back; reserve 900, use only 100 → 800 refunded
    assert lim.admit("k", 2, 1000, 900)[0] is None
    assert lim.admit("k", 2, 1000, 900)[0] == "tokens_per_minute"
    lim.reconcile("k", 900, 100)
    assert lim.admit("k", 2, 1000, 800)[0] is None


def test_overrun_becomes_debt_and_oversize_is_refused() -> None:
    c = Clock()
    lim = Limiter(c)
    assert lim.admit("k", None, 100, 10)[0] is None
    lim.reconcile("k", 10, 150)  # used far more than reserved
    assert lim.admit("k", None, 100, 1)[0] == "tokens_per_minute"
    assert lim.admit("k", None, 100, 101)[0] == "request_exceeds_tokens_per_minute"
    assert lim.admit("other", None, 100, 1)[0] is None  # per key


def test_a_reload_that_resizes_a_bucket_keeps_its_debt() -> None:
    c = Clock()
    lim = Limiter(c)
    assert lim.admit("k", None, 1000, 900)[0] is None
    lim.reconcile("k", 900, 3000)  # the upstream used far more than reserved: 2000 in debt
    assert lim.balance("k", "tpm") == (-2000, 1000)
    # a reload raises the limit: the debt stays (it used to come back as a full bucket)
    assert lim.admit("k", None, 1200, 500)[0] == "tokens_per_minute"
    assert lim.balance("k", "tpm") == (-2000, 1200)
    c.t += 60  # refills at the new rate: 1200/min
    assert lim.admit("k", None, 1200, 1)[0] == "tokens_per_minute"  # -800: still in debt
    c.t += 60
    assert lim.admit("k", None, 1200, 300)[0] is None


def test_resize_refills_up_to_now_first_and_only_trims_what_exceeds_the_new_capacity() -> None:
    c = Clock()
    lim = Limiter(c)
    assert lim.admit("k", 60, None, 0)[0] is None
    for _ in range(59):
        lim.admit("k", 60, None, 0)
    assert lim.balance("k", "rpm") == (0, 60)  # empty, exactly: not "fresh"
    c.t += 10  # +10 at the old rate (1/s)
    assert lim.admit("k", 30, None, 0)[0] is None  # resized to 30, with 10 - 1 left
    assert lim.balance("k", "rpm") == (9, 30)
    lim2 = Limiter(c)
    assert lim2.balance("k", "rpm") is None  # no bucket until the key is first seen
    assert lim2.admit("k", 60, None, 0)[0] is None  # fresh: full
    assert lim2.admit("k", 30, None, 0)[0] is None and lim2.balance("k", "rpm") == (29, 30)  # trimmed to the new cap
    assert TokenBucket(10, c, 0.0).level == 0 and TokenBucket(10, c, -5.0).level == -5
    assert TokenBucket(10, c).level == 10
