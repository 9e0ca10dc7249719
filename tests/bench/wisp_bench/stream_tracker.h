// Per-stream (one publisher as seen by one subscriber) delivery accounting: unique messages,
// duplicates, out-of-order arrivals and, given how many were sent, losses.
// Memory is proportional to the number of gaps, not to the number of messages.
#pragma once

#include <cstdint>
#include <map>

namespace wisp_bench {

class StreamTracker {
 public:
  // Records the arrival of sequence number `seq`.
  //   seq == next expected       -> in order
  //   seq >  next expected       -> in order; the skipped range becomes a gap
  //   seq <  next, inside a gap  -> out of order (late), fills that slot of the gap
  //   seq <  next, not in a gap  -> duplicate
  void record(std::uint64_t seq);

  std::uint64_t unique() const noexcept { return unique_; }
  std::uint64_t duplicates() const noexcept { return duplicates_; }
  std::uint64_t out_of_order() const noexcept { return out_of_order_; }
  std::uint64_t total() const noexcept { return unique_ + duplicates_; }
  // One past the highest sequence number seen (0 when nothing arrived).
  std::uint64_t next_expected() const noexcept { return next_; }
  // Messages never received, out of `sent` published (sequence numbers 0..sent-1).
  std::uint64_t lost(std::uint64_t sent) const noexcept;
  // Number of separate gaps currently open (for tests and diagnostics).
  std::size_t gap_count() const noexcept { return gaps_.size(); }

 private:
  std::uint64_t next_ = 0;
  std::uint64_t unique_ = 0;
  std::uint64_t duplicates_ = 0;
  std::uint64_t out_of_order_ = 0;
  std::uint64_t gap_total_ = 0;
  std::map<std::uint64_t, std::uint64_t> gaps_;  // start -> end (exclusive), disjoint, < next_
};

}  // namespace wisp_bench
