// Log-linear histogram: bucket arithmetic and percentiles within bucket precision.
#include "histogram.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <random>
#include <vector>

using namespace wisp_bench;

TEST_CASE("buckets cover every value and are ordered") {
  for (std::uint64_t v : {0ull, 1ull, 127ull, 128ull, 255ull, 256ull, 1000ull, 123456789ull,
                          (1ull << 40) + 12345, ~0ull}) {
    const std::size_t b = Histogram::bucket_of(v);
    CHECK(Histogram::bucket_low(b) <= v);
    CHECK(Histogram::bucket_high(b) >= v);
    // Relative width below 1 %.
    const auto width = static_cast<double>(Histogram::bucket_high(b) - Histogram::bucket_low(b));
    CHECK(width <= static_cast<double>(v) * 0.01 + 1);
  }
  for (std::size_t b = 1; b < 2000; ++b) {
    CHECK(Histogram::bucket_low(b) == Histogram::bucket_high(b - 1) + 1);
  }
}

TEST_CASE("small values are exact") {
  Histogram h;
  for (std::uint64_t v = 1; v <= 100; ++v) h.record(v);
  CHECK(h.count() == 100);
  CHECK(h.percentile(0.5) == 50);
  CHECK(h.percentile(0.99) == 99);
  CHECK(h.percentile(1.0) == 100);
  CHECK(h.min() == 1);
  CHECK(h.max() == 100);
  CHECK(h.mean() == doctest::Approx(50.5));
}

TEST_CASE("percentiles match sorted samples within 1 %") {
  std::mt19937_64 rng(7);
  std::lognormal_distribution<double> dist(11.0, 1.5);  // ~60 us median, long tail
  std::vector<std::uint64_t> samples;
  Histogram h;
  for (int i = 0; i < 100000; ++i) {
    const auto v = static_cast<std::uint64_t>(dist(rng));
    samples.push_back(v);
    h.record(v);
  }
  std::sort(samples.begin(), samples.end());
  for (double q : {0.5, 0.9, 0.99, 0.999}) {
    const auto exact = static_cast<double>(samples[static_cast<std::size_t>(q * 100000) - 1]);
    CHECK(static_cast<double>(h.percentile(q)) == doctest::Approx(exact).epsilon(0.01));
  }
  CHECK(h.percentile(1.0) == samples.back());
  CHECK(h.max() == samples.back());
}

TEST_CASE("merge adds counts; empty histogram reports zeros") {
  Histogram a, b, empty;
  CHECK(empty.percentile(0.5) == 0);
  CHECK(empty.max() == 0);
  CHECK(empty.min() == 0);
  for (int i = 0; i < 10; ++i) a.record(1000);
  for (int i = 0; i < 90; ++i) b.record(10);
  a.merge(b);
  CHECK(a.count() == 100);
  CHECK(a.percentile(0.5) == 10);
  CHECK(a.percentile(0.95) >= 990);
  CHECK(a.max() == 1000);
}
