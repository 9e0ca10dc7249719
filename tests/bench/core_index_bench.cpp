// Benchmarks for broker/core/subscription_tree and retained_index: matching one topic against
// N subscriptions (literal, '+', '#' mix), retained walks over 100k topics, subscribe churn,
// and the child-map choice (hash map vs flat sorted vector) that the trie nodes use.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "broker/core/retained_index.h"
#include "broker/core/subscription_tree.h"

using broker::core::Message;
using broker::core::MessageRef;
using broker::core::RetainedIndex;
using broker::core::SessionId;
using broker::core::SubscriberOptions;
using broker::core::SubscriptionMatch;
using broker::core::SubscriptionTree;

namespace {

constexpr int kSites = 100;
constexpr int kDevices = 100;
constexpr int kMetrics = 10;  // kSites * kDevices * kMetrics = 100k distinct topics

std::string topic_of(int site, int device, int metric) {
  return "site" + std::to_string(site) + "/dev" + std::to_string(device) + "/m" +
         std::to_string(metric);
}

// n filters, one per session: 70% literal, 15% "site/+/metric", 10% "site/dev/#",
// 5% "+/dev/metric". Deterministic.
void fill_tree(SubscriptionTree& tree, std::size_t n) {
  std::mt19937 rng(42);
  std::uniform_int_distribution<int> site(0, kSites - 1), dev(0, kDevices - 1),
      metric(0, kMetrics - 1), kind(0, 99);
  for (std::size_t i = 0; i < n; ++i) {
    const int s = site(rng), d = dev(rng), m = metric(rng), k = kind(rng);
    std::string f;
    if (k < 70) {
      f = topic_of(s, d, m);
    } else if (k < 85) {
      f = "site" + std::to_string(s) + "/+/m" + std::to_string(m);
    } else if (k < 95) {
      f = "site" + std::to_string(s) + "/dev" + std::to_string(d) + "/#";
    } else {
      f = "+/dev" + std::to_string(d) + "/m" + std::to_string(m);
    }
    tree.subscribe(f, static_cast<SessionId>(i + 1), SubscriberOptions{});
  }
}

std::vector<std::string> sample_topics(std::size_t n) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> site(0, kSites - 1), dev(0, kDevices - 1),
      metric(0, kMetrics - 1);
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(topic_of(site(rng), dev(rng), metric(rng)));
  return out;
}

// ns per match of one topic against state.range(0) subscriptions.
void BM_SubscriptionMatch(benchmark::State& state) {
  SubscriptionTree tree;
  fill_tree(tree, static_cast<std::size_t>(state.range(0)));
  const auto topics = sample_topics(4096);
  std::size_t i = 0;
  std::uint64_t visited = 0;
  for (auto _ : state) {
    tree.match(
        topics[i++ & 4095], [&](const SubscriptionMatch& m) { visited += m.session; },
        [](SessionId) { return true; });
  }
  benchmark::DoNotOptimize(visited);
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
  state.counters["subs"] = static_cast<double>(tree.size());
  state.counters["nodes"] = static_cast<double>(tree.node_count());
}
BENCHMARK(BM_SubscriptionMatch)->Arg(1000)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

// The probe topic always has 10 matching subscriptions; the other state.range(0) filters live in
// other branches ("other/<i>/+/x", "other/<i>/#"). Shows the cost does not grow with them.
void BM_SubscriptionMatchFixedHits(benchmark::State& state) {
  SubscriptionTree tree;
  const auto n = static_cast<std::size_t>(state.range(0));
  for (std::size_t i = 0; i < n; ++i) {
    const std::string base = "other/" + std::to_string(i / 2);
    tree.subscribe(i % 2 ? base + "/+/x" : base + "/#", static_cast<SessionId>(i + 100), {});
  }
  for (SessionId s = 0; s < 10; ++s) {
    const char* filters[] = {"probe/a/b", "probe/+/b", "probe/#", "+/a/b", "#"};
    tree.subscribe(filters[s % 5], s, {});
  }
  std::uint64_t visited = 0;
  for (auto _ : state) {
    tree.match(
        "probe/a/b", [&](const SubscriptionMatch& m) { visited += m.session; },
        [](SessionId) { return true; });
  }
  benchmark::DoNotOptimize(visited);
  state.counters["subs"] = static_cast<double>(tree.size());
}
BENCHMARK(BM_SubscriptionMatchFixedHits)->Arg(0)->Arg(10'000)->Arg(100'000)->Arg(1'000'000);

// Matches per topic, to read the ns figure above as a cost per delivery target too.
void BM_SubscriptionMatchCountOnly(benchmark::State& state) {
  SubscriptionTree tree;
  fill_tree(tree, 100'000);
  const auto topics = sample_topics(4096);
  std::size_t i = 0;
  std::uint64_t hits = 0;
  for (auto _ : state) {
    tree.match(
        topics[i++ & 4095], [&](const SubscriptionMatch&) { ++hits; },
        [](SessionId) { return true; });
  }
  state.counters["hits_per_match"] =
      static_cast<double>(hits) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_SubscriptionMatchCountOnly);

// A shared group of 100 members on a '+' filter: match + round-robin pick.
void BM_SharedMatch(benchmark::State& state) {
  SubscriptionTree tree;
  fill_tree(tree, 100'000);
  for (SessionId s = 0; s < 100; ++s) tree.subscribe("$share/g/site1/+/m1", 2'000'000 + s, {});
  const std::string topic = topic_of(1, 5, 1);
  std::uint64_t visited = 0;
  for (auto _ : state) {
    tree.match(
        topic, [&](const SubscriptionMatch& m) { visited += m.session; },
        [](SessionId s) { return (s & 1) == 0; });
  }
  benchmark::DoNotOptimize(visited);
}
BENCHMARK(BM_SharedMatch);

// Subscribe + unsubscribe of a fresh filter on a tree of 100k subscriptions.
void BM_SubscribeUnsubscribe(benchmark::State& state) {
  SubscriptionTree tree;
  fill_tree(tree, 100'000);
  const auto topics = sample_topics(4096);
  std::size_t i = 0;
  for (auto _ : state) {
    const std::string& t = topics[i++ & 4095];
    tree.subscribe(t, 5'000'000, SubscriberOptions{});
    tree.unsubscribe(t, 5'000'000);
  }
}
BENCHMARK(BM_SubscribeUnsubscribe);

MessageRef retained_msg(std::string topic) {
  auto m = std::make_shared<Message>();
  m->topic = std::move(topic);
  m->retain = true;
  m->bytes = {'2', '1', '.', '5'};
  return m;
}

void fill_retained(RetainedIndex& idx) {
  for (int s = 0; s < kSites; ++s)
    for (int d = 0; d < kDevices; ++d)
      for (int m = 0; m < kMetrics; ++m) idx.set(retained_msg(topic_of(s, d, m)));
}

// Retained walk for a filter over 100k retained topics; items = messages visited.
void retained_match(benchmark::State& state, const char* filter) {
  RetainedIndex idx;
  fill_retained(idx);
  std::size_t visited = 0;
  for (auto _ : state) {
    idx.match(filter, [&](const MessageRef& m) { visited += m->bytes.size() > 0; });
  }
  benchmark::DoNotOptimize(visited);
  state.SetItemsProcessed(static_cast<std::int64_t>(visited));
  state.counters["per_match"] =
      static_cast<double>(visited) / static_cast<double>(state.iterations());
}
BENCHMARK_CAPTURE(retained_match, all_hash, "#")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(retained_match, site_subtree, "site7/#")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(retained_match, plus_plus_metric, "site7/+/m3")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(retained_match, leading_plus, "+/dev5/m3")->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(retained_match, literal, "site7/dev5/m3");

void BM_RetainedSet(benchmark::State& state) {
  RetainedIndex idx;
  fill_retained(idx);
  const auto topics = sample_topics(4096);
  std::vector<MessageRef> msgs;
  for (const auto& t : topics) msgs.push_back(retained_msg(t));
  std::size_t i = 0;
  for (auto _ : state) idx.set(msgs[i++ & 4095]);  // replace an existing topic
}
BENCHMARK(BM_RetainedSet);

// --- child map choice: what one trie level lookup costs with each container ---

struct Hash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

std::vector<std::string> level_keys(std::size_t n) {
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < n; ++i) keys.push_back("dev" + std::to_string(i));
  return keys;
}

void BM_ChildLookupHashMap(benchmark::State& state) {
  const auto keys = level_keys(static_cast<std::size_t>(state.range(0)));
  std::unordered_map<std::string, int, Hash, std::equal_to<>> map;
  for (std::size_t i = 0; i < keys.size(); ++i) map.emplace(keys[i], static_cast<int>(i));
  std::size_t i = 0;
  int sum = 0;
  for (auto _ : state) {
    const std::string_view k = keys[i++ % keys.size()];
    auto it = map.find(k);
    sum += it == map.end() ? 0 : it->second;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_ChildLookupHashMap)->Arg(4)->Arg(32)->Arg(1000);

void BM_ChildLookupFlatVector(benchmark::State& state) {
  const auto keys = level_keys(static_cast<std::size_t>(state.range(0)));
  std::vector<std::pair<std::string, int>> flat;
  for (std::size_t i = 0; i < keys.size(); ++i) flat.emplace_back(keys[i], static_cast<int>(i));
  std::sort(flat.begin(), flat.end());
  std::size_t i = 0;
  int sum = 0;
  for (auto _ : state) {
    const std::string_view k = keys[i++ % keys.size()];
    auto it = std::lower_bound(flat.begin(), flat.end(), k,
                               [](const auto& e, std::string_view key) { return e.first < key; });
    sum += it != flat.end() && it->first == k ? it->second : 0;
  }
  benchmark::DoNotOptimize(sum);
}
BENCHMARK(BM_ChildLookupFlatVector)->Arg(4)->Arg(32)->Arg(1000);

}  // namespace

BENCHMARK_MAIN();
