from __future__ import annotations

import threading
import time

from whatsapp_bridge.ratelimit import RecipientBackoff, TokenBucket


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_keeps_the_rate_on_a_fake_clock():
    clock = FakeClock()
    bucket = TokenBucket(rate=80, capacity=8, clock=clock, sleep=clock.sleep)
    start = clock.now
    for _ in range(808):
        bucket.acquire()
    elapsed = clock.now - start
    # 8 tokens of burst, then 800 at 80/s = 10 s
    assert 9.9 <= elapsed <= 10.1


def test_token_bucket_real_time_rate_across_threads():
    bucket = TokenBucket(rate=200, capacity=1)
    taken = []
    lock = threading.Lock()

    def worker():
        for _ in range(25):
            bucket.acquire()
            with lock:
                taken.append(time.monotonic())

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    assert len(taken) == 100
    assert elapsed >= 99 / 200 * 0.95  # never faster than the rate (1 burst token)
    assert elapsed < 2.0


def test_try_acquire_reports_the_wait():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=1, clock=clock, sleep=clock.sleep)
    assert bucket.try_acquire() == 0.0
    assert abs(bucket.try_acquire() - 0.1) < 1e-9
    clock.now += 0.1
    assert bucket.try_acquire() == 0.0


def test_acquire_gives_up_when_stopped():
    clock = FakeClock()
    bucket = TokenBucket(rate=1, capacity=1, clock=clock, sleep=lambda s: None)
    stop = threading.Event()
    assert bucket.acquire(stop)
    stop.set()
    assert bucket.acquire(stop) is False


def test_recipient_backoff_is_per_recipient_and_exponential():
    clock = FakeClock()
    backoff = RecipientBackoff(base=1.0, cap=5.0, clock=clock)
    assert backoff.penalize("5511") == 1.0
    assert backoff.penalize("5511") == 2.0
    assert backoff.penalize("5511") == 4.0
    assert backoff.penalize("5511") == 5.0  # capped
    assert backoff.wait_time("5511") == 5.0
    assert backoff.wait_time("5522") == 0.0  # other customers are not slowed down
    clock.now += 5.0
    assert backoff.wait_time("5511") == 0.0
    backoff.clear("5511")
    assert backoff.penalize("5511") == 1.0  # strikes reset after a success
    assert backoff.penalize("5533", retry_after=30) == 30


def test_token_bucket_pause_holds_every_acquisition_then_resumes_at_the_rate():
    clock = FakeClock()
    bucket = TokenBucket(rate=10, capacity=5, clock=clock, sleep=clock.sleep)
    start = clock.now
    bucket.pause_for(2.0)
    assert bucket.paused_for() == 2.0
    bucket.pause_for(0.5)  # a shorter pause does not cut a running one
    bucket.acquire()
    assert clock.now - start >= 2.0
    for _ in range(10):  # no burst saved up during the pause: 10 more at 10/s take about a second
        bucket.acquire()
    assert 2.9 <= clock.now - start <= 3.2


def test_recipient_pacer_spaces_messages_to_one_recipient_only_on_a_fake_clock():
    from whatsapp_bridge.ratelimit import RecipientPacer

    clock = FakeClock()
    pacer = RecipientPacer(2.0, clock=clock)
    assert pacer.wait_time("5511987654321") == 0.0
    pacer.sent("5511987654321")
    assert pacer.wait_time("5511987654321") == 2.0
    assert pacer.wait_time("5521998877665") == 0.0  # another chat is not held up
    clock.sleep(1.5)
    assert pacer.wait_time("5511987654321") == 0.5
    clock.sleep(0.5)
    assert pacer.wait_time("5511987654321") == 0.0
    for n in range(1100):  # a busy day: recipients of long ago are forgotten
        pacer.sent(f"55119{n:08d}")
        clock.sleep(0.01)
    assert len(pacer) < 1100
