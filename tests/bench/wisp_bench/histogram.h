// Log-linear latency histogram (HDR-style): exact below 128 ns, then 128 sub-buckets per
// power of two, i.e. every recorded value is reported within 0.8 %. Fixed memory (~60 KiB),
// O(1) record, mergeable across threads.
#pragma once

#include <cstdint>
#include <vector>

namespace wisp_bench {

class Histogram {
 public:
  Histogram();
  void record(std::uint64_t value) noexcept;
  void merge(const Histogram& other) noexcept;

  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t min() const noexcept { return count_ ? min_ : 0; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept;
  // Smallest recorded-bucket value v such that at least `q` (0..1] of samples are <= v
  // (within bucket precision; never above max()). 0 when empty.
  std::uint64_t percentile(double q) const noexcept;

  static std::size_t bucket_of(std::uint64_t value) noexcept;
  static std::uint64_t bucket_low(std::size_t index) noexcept;   // smallest value in bucket
  static std::uint64_t bucket_high(std::size_t index) noexcept;  // largest value in bucket

 private:
  std::vector<std::uint64_t> buckets_;
  std::uint64_t count_ = 0;
  std::uint64_t min_ = UINT64_MAX;
  std::uint64_t max_ = 0;
  long double sum_ = 0;
};

}  // namespace wisp_bench
