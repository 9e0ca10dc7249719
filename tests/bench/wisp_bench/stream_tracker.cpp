// Gap-interval bookkeeping for StreamTracker; see stream_tracker.h.
#include "stream_tracker.h"

namespace wisp_bench {

void StreamTracker::record(std::uint64_t seq) {
  if (seq == next_) {
    ++next_;
    ++unique_;
    return;
  }
  if (seq > next_) {
    gaps_.emplace(next_, seq);
    gap_total_ += seq - next_;
    next_ = seq + 1;
    ++unique_;
    return;
  }
  // seq < next_: a late arrival if it lies in a gap, else a duplicate.
  auto it = gaps_.upper_bound(seq);
  if (it == gaps_.begin()) {
    ++duplicates_;
    return;
  }
  --it;
  const std::uint64_t start = it->first;
  const std::uint64_t end = it->second;
  if (seq >= end) {
    ++duplicates_;
    return;
  }
  ++unique_;
  ++out_of_order_;
  --gap_total_;
  gaps_.erase(it);
  if (start < seq) gaps_.emplace(start, seq);
  if (seq + 1 < end) gaps_.emplace(seq + 1, end);
}

std::uint64_t StreamTracker::lost(std::uint64_t sent) const noexcept {
  const std::uint64_t tail = sent > next_ ? sent - next_ : 0;
  return gap_total_ + tail;
}

}  // namespace wisp_bench
