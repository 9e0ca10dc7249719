// Log-linear bucket arithmetic; see histogram.h.
#include "histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>

namespace wisp_bench {
namespace {
constexpr int kSubBits = 7;  // 128 sub-buckets per power of two
constexpr std::uint64_t kSub = 1u << kSubBits;
constexpr std::size_t kBuckets = (64 - kSubBits) * kSub + kSub;
}  // namespace

Histogram::Histogram() : buckets_(kBuckets, 0) {}

std::size_t Histogram::bucket_of(std::uint64_t v) noexcept {
  if (v < kSub) return static_cast<std::size_t>(v);
  const int e = 63 - std::countl_zero(v);  // e >= kSubBits
  const int shift = e - kSubBits;
  return static_cast<std::size_t>(shift) * kSub + static_cast<std::size_t>(v >> shift);
}

std::uint64_t Histogram::bucket_low(std::size_t i) noexcept {
  if (i < 2 * kSub) return i;
  const std::size_t shift = i / kSub - 1;
  const std::uint64_t mant = i - shift * kSub;  // in [kSub, 2*kSub)
  return mant << shift;
}

std::uint64_t Histogram::bucket_high(std::size_t i) noexcept {
  if (i < 2 * kSub) return i;
  const std::size_t shift = i / kSub - 1;
  return bucket_low(i) + ((std::uint64_t{1} << shift) - 1);
}

void Histogram::record(std::uint64_t v) noexcept {
  ++buckets_[bucket_of(v)];
  ++count_;
  min_ = std::min(min_, v);
  max_ = std::max(max_, v);
  sum_ += static_cast<long double>(v);
}

void Histogram::merge(const Histogram& o) noexcept {
  for (std::size_t i = 0; i < buckets_.size(); ++i) buckets_[i] += o.buckets_[i];
  count_ += o.count_;
  min_ = std::min(min_, o.min_);
  max_ = std::max(max_, o.max_);
  sum_ += o.sum_;
}

double Histogram::mean() const noexcept {
  return count_ ? static_cast<double>(sum_ / static_cast<long double>(count_)) : 0.0;
}

std::uint64_t Histogram::percentile(double q) const noexcept {
  if (count_ == 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
  rank = std::clamp<std::uint64_t>(rank, 1, count_);
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < buckets_.size(); ++i) {
    seen += buckets_[i];
    if (seen >= rank) return std::clamp(bucket_high(i), min_, max_);
  }
  return max_;
}

}  // namespace wisp_bench
