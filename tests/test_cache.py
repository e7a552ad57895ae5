"""The Redis cache backend: Django's, with its Redis clients reused across calls and threads."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

from django.core.cache import cache, caches

from mdm_project.cache import RedisCache


def test_the_configured_cache_is_the_redis_backend_reusing_its_clients():
    assert isinstance(caches["default"], RedisCache)

    assert cache._cache.get_client("a") is cache._cache.get_client("b")
    assert cache._cache.get_client("a", write=True) is cache._cache.get_client("b", write=True)


def test_it_keeps_djangos_cache_behaviour():
    key = f"cache-test:{uuid.uuid4()}"

    assert cache.get(key) is None
    assert cache.add(key, 1, 30) and not cache.add(key, 5, 30)
    assert cache.incr(key) == 2
    cache.set_many({f"{key}:x": {"nested": [1, "ü"]}, f"{key}:y": 3}, 30)
    assert cache.get_many([key, f"{key}:x", f"{key}:y"]) == {key: 2, f"{key}:x": {"nested": [1, "ü"]}, f"{key}:y": 3}
    cache.delete_many([key, f"{key}:x", f"{key}:y"])
    assert cache.get_many([key, f"{key}:x"]) == {}


def test_threads_share_one_client_and_each_count_is_kept():
    """redis-py clients take a pooled connection per command: concurrent increments all land."""
    key = f"cache-test:{uuid.uuid4()}"
    cache.add(key, 0, 30)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda _: cache.incr(key), range(400)))

    assert cache.get(key) == 400
    cache.delete(key)
