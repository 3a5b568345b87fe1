"""The load generator's popularity model and request mix."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from lab.load import SEARCH_TERMS, Mix, RequestMaker, Stratified, ZipfSampler


def harmonic(n: int, s: float = 1.0) -> float:
    return sum(1.0 / k**s for k in range(1, n + 1))


def test_zipf_top_fifth_gets_its_analytic_share_and_rank_one_its_own():
    n, draws = 100_000, 60_000
    sampler = ZipfSampler(n, 1.0)
    rng = random.Random(1234)
    ranks = [sampler.rank(rng) for _ in range(draws)]
    top_fifth = sum(1 for r in ranks if r <= n // 5) / draws
    expected = harmonic(n // 5) / harmonic(n)  # 0.867 for s=1 over 100k
    assert expected == pytest.approx(sampler.share_of_top(0.2))
    # 60k Bernoulli draws: the standard error is ~0.0014; 0.006 is > 4 sigma.
    assert top_fifth == pytest.approx(expected, abs=0.006)
    assert top_fifth >= 0.8  # the seeds' 80/20, at least
    rank_one = ranks.count(1) / draws
    assert rank_one == pytest.approx(1 / harmonic(n), abs=0.004)


def test_zipf_is_steeper_with_larger_s_and_uniform_ids_are_a_permutation():
    flat = ZipfSampler(1000, 0.5)
    steep = ZipfSampler(1000, 1.2)
    assert steep.share_of_top(0.01) > flat.share_of_top(0.01)
    assert sorted(steep.ids) == list(range(1, 1001))
    assert steep.ids != list(range(1, 1001))  # hot ids are spread, not 1..k


def test_zipf_same_seed_same_sequence():
    a, b = ZipfSampler(5000, 1.0), ZipfSampler(5000, 1.0)
    ra, rb = random.Random(9), random.Random(9)
    assert [a.movie_id(ra) for _ in range(200)] == [b.movie_id(rb) for _ in range(200)]


@pytest.mark.parametrize(("n", "s"), [(0, 1.0), (10, 0.0), (10, -1.0)])
def test_zipf_rejects_bad_parameters(n, s):
    with pytest.raises(ValueError, match=r"zipf (n|s)="):
        ZipfSampler(n, s)


def test_request_mix_follows_the_workload_shares():
    mix = Mix(read_share=0.9, anonymous_share=0.6, search_share=0.2, poster_share=0.1)
    maker = RequestMaker(mix, 10_000, api_keys=["mk_a", "mk_b"], writer_keys=["mk_w"])
    rng = random.Random(5)
    reqs = [maker.make(rng) for _ in range(20_000)]
    kinds = Counter(r.kind for r in reqs)
    assert kinds["write"] / len(reqs) == pytest.approx(0.1, abs=0.01)
    reads = len(reqs) - kinds["write"]
    assert kinds["search"] / reads == pytest.approx(0.2, abs=0.015)
    assert kinds["poster"] / reads == pytest.approx(0.1, abs=0.015)
    writes = [r for r in reqs if r.kind == "write"]
    assert all(not r.anonymous and r.headers["X-API-Key"] in ("mk_a", "mk_b") for r in writes)
    assert all(r.method == "POST" and r.path == "/users/me/watchlist" for r in writes)
    read_reqs = [r for r in reqs if r.kind != "write"]
    anon = sum(r.anonymous for r in read_reqs) / len(read_reqs)
    assert anon == pytest.approx(0.6, abs=0.015)
    assert all(("X-API-Key" in r.headers) != r.anonymous for r in read_reqs)


def test_without_keys_everything_is_anonymous_and_read_only():
    maker = RequestMaker(Mix(), 100)
    rng = random.Random(2)
    reqs = [maker.make(rng) for _ in range(2000)]
    assert all(r.anonymous and r.method == "GET" for r in reqs)


def test_mix_from_workload_reads_stacks_workload_yaml():
    mix = Mix.from_workload()
    assert 0 < mix.read_share <= 1 and mix.zipf_s > 0
    with pytest.raises(ValueError, match=r"read_share=1\.5"):
        Mix(read_share=1.5).validate()


def _windows(maker: RequestMaker, rng: random.Random, size: int, count: int) -> list[Counter]:
    return [Counter(maker.make(rng).kind for _ in range(size)) for _ in range(count)]


def test_a_stratified_mix_holds_its_shares_in_every_window():
    """A probe's worth of requests (990: 6 s at 165 rps) holds the mix's searches to a
    request or two when stratified; random draws miss by more in some window (by up to a
    sixth over 20 seeds: lab/load.py Stratified)."""
    mix = Mix(read_share=0.97, anonymous_share=0.7, search_share=0.15, poster_share=0.3)
    keys = ["mk_a", "mk_b"]
    rng = random.Random(4)
    strat = _windows(RequestMaker(mix, 10_000, keys, stratified=True), rng, 990, 20)
    plain = _windows(RequestMaker(mix, 10_000, keys), random.Random(4), 990, 20)
    expected = 990 * 0.97 * 0.15
    assert all(abs(w["search"] - expected) <= 3 for w in strat)
    assert all(abs(w["write"] - 990 * 0.03) <= 3 for w in strat)
    # The same check fails for independent draws: the variance the strata remove.
    assert max(abs(w["search"] - expected) for w in plain) > 3


def test_stratified_search_terms_follow_the_zipf_weights_among_searches():
    """With the bench's mix (searches 15% of reads), the term sequence advances once per
    search, so the searches' terms hold the Zipf weights: a term drawn on every request
    would skip most of the sequence and drift off them."""
    mix = Mix(read_share=0.97, anonymous_share=0.7, search_share=0.15, poster_share=0.3)
    maker = RequestMaker(mix, 100, api_keys=["mk_a"], stratified=True)
    rng = random.Random(1)
    searches = [r.path for r in (maker.make(rng) for _ in range(20_000)) if r.kind == "search"]
    terms = Counter(searches)
    n = len(searches)
    for rank in (1, 2, 5):
        top, above = maker.terms.mass_of_top(rank), maker.terms.mass_of_top(rank - 1)
        share = top - (above if rank > 1 else 0.0)
        assert terms[f"/movies?q={SEARCH_TERMS[rank - 1]}"] == pytest.approx(n * share, abs=3)


def test_stratified_draws_stay_in_the_unit_interval_and_differ_by_seed():
    a, b = Stratified(1), Stratified(2)
    draws = [a.draw(c) for _ in range(500) for c in range(4)]
    assert all(0 <= u < 1 for u in draws)
    assert [a.draw(0) for _ in range(5)] != [b.draw(0) for _ in range(5)]
