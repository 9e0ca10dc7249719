// Loss, duplicate and out-of-order accounting.
#include "stream_tracker.h"

#include <doctest/doctest.h>

using namespace wisp_bench;

TEST_CASE("in-order stream: nothing lost, nothing duplicated") {
  StreamTracker t;
  for (std::uint64_t i = 0; i < 1000; ++i) t.record(i);
  CHECK(t.unique() == 1000);
  CHECK(t.duplicates() == 0);
  CHECK(t.out_of_order() == 0);
  CHECK(t.lost(1000) == 0);
  CHECK(t.gap_count() == 0);
}

TEST_CASE("gaps are losses; tail not received is lost too") {
  StreamTracker t;
  for (std::uint64_t i : {0, 1, 2, 5, 6, 10}) t.record(i);
  CHECK(t.unique() == 6);
  CHECK(t.lost(11) == 5);  // 3,4,7,8,9
  CHECK(t.lost(15) == 9);  // + 11..14 never arrived
  CHECK(t.gap_count() == 2);
}

TEST_CASE("late arrivals fill gaps and count as out of order") {
  StreamTracker t;
  for (std::uint64_t i : {0, 3, 1, 2}) t.record(i);
  CHECK(t.unique() == 4);
  CHECK(t.out_of_order() == 2);
  CHECK(t.duplicates() == 0);
  CHECK(t.lost(4) == 0);
  CHECK(t.gap_count() == 0);
  // Filling the middle of a gap splits it.
  t.record(10);  // gap 4..9
  t.record(7);
  CHECK(t.gap_count() == 2);
  CHECK(t.lost(11) == 5);
}

TEST_CASE("repeats are duplicates, not new messages") {
  StreamTracker t;
  for (std::uint64_t i : {0, 1, 1, 2, 0, 5, 5, 3, 3}) t.record(i);
  CHECK(t.unique() == 5);        // 0,1,2,5,3
  CHECK(t.duplicates() == 4);    // 1,0,5,3(second)
  CHECK(t.out_of_order() == 1);  // 3
  CHECK(t.lost(6) == 1);         // 4
  CHECK(t.total() == 9);
}

TEST_CASE("nothing received: everything sent is lost") {
  StreamTracker t;
  CHECK(t.lost(0) == 0);
  CHECK(t.lost(42) == 42);
}
