"""Admin logins: failures are throttled per account and per client address in the real Redis,
refused while Redis stalls (logins fail closed), logged; a refused ?next= lands on the admin."""

from __future__ import annotations

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client

from tests.test_outages import redis_stalled

LOGIN = "/admin/login/"
PASSWORD = "correct horse battery"


@pytest.fixture
def counts_cleared(settings):
    settings.LOGIN_FAILURES_PER_ACCOUNT = 5
    settings.LOGIN_FAILURES_PER_ADDRESS = 8
    settings.CACHE_RETRY_AFTER = 0  # each call tries Redis: the next test must not inherit a stall
    cache.clear()  # the test cache's own Redis database
    yield
    cache.clear()


def log_in(username: str, password: str, address: str = "10.0.0.1", next_url: str = "/admin/") -> int:
    response = Client(REMOTE_ADDR=address).post(LOGIN, {"username": username, "password": password, "next": next_url})
    return response.status_code  # 302: logged in; 200: the form again


def test_failed_logins_are_throttled_per_account_and_logged(counts_cleared, staff_user, caplog) -> None:
    for n in range(5):
        assert log_in("staff", f"wrong {n}", address=f"10.0.1.{n}") == 200
    assert "Failed login for 'staff' from 10.0.1.4" in caplog.text
    assert log_in("staff", PASSWORD, address="10.0.2.1") == 200  # the right password, refused
    assert "too many failed logins for its account" in caplog.text
    other = get_user_model().objects.create_superuser("other", "o@example.com", PASSWORD)
    assert log_in(other.username, PASSWORD, address="10.0.2.1") == 302  # other accounts are not locked


def test_failed_logins_are_throttled_per_address(counts_cleared, staff_user) -> None:
    for n in range(8):
        assert log_in(f"guess{n}", "wrong", address="10.0.3.1") == 200
    assert log_in("staff", PASSWORD, address="10.0.3.1") == 200
    assert log_in("staff", PASSWORD, address="10.0.3.2") == 302


def test_logins_are_refused_while_redis_stalls(counts_cleared, staff_user) -> None:
    with redis_stalled():
        started = time.monotonic()
        assert log_in("staff", PASSWORD) == 200
        assert time.monotonic() - started < 3
    assert log_in("staff", PASSWORD) == 302  # Redis is back


def test_a_refused_next_lands_on_the_admin_index(counts_cleared, staff_user) -> None:
    response = Client().post(LOGIN, {"username": "staff", "password": PASSWORD, "next": "https://evil.example/"})
    assert response.status_code == 302 and response["Location"] == "/admin/"
