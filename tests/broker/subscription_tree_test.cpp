// Tests for broker/core/subscription_tree: matching rules, overlaps, shared groups, cleanup,
// and a randomized comparison against a naive reference matcher.
#include "broker/core/subscription_tree.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

using broker::core::SessionId;
using broker::core::SubscriberOptions;
using broker::core::SubscriptionMatch;
using broker::core::SubscriptionTree;

namespace {

// Naive reference: split both on '/', compare level by level [MQTT-4.7].
std::vector<std::string> levels(const std::string& s) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t slash = s.find('/', pos);
    out.push_back(s.substr(pos, slash == std::string::npos ? slash : slash - pos));
    if (slash == std::string::npos) return out;
    pos = slash + 1;
  }
}

bool reference_matches(const std::string& filter, const std::string& topic) {
  if (!topic.empty() && topic[0] == '$' && !filter.empty() &&
      (filter[0] == '+' || filter[0] == '#'))
    return false;
  const auto f = levels(filter);
  const auto t = levels(topic);
  for (std::size_t i = 0; i < f.size(); ++i) {
    if (f[i] == "#") return true;  // also "a/#" vs "a": i == t.size() here
    if (i >= t.size()) return false;
    if (f[i] != "+" && f[i] != t[i]) return false;
  }
  return f.size() == t.size();
}

using Hit = std::tuple<SessionId, std::string, std::string>;  // session, filter, group

std::vector<Hit> hits(SubscriptionTree& tree, std::string_view topic) {
  std::vector<Hit> out;
  tree.match(
      topic,
      [&](const SubscriptionMatch& m) {
        out.emplace_back(m.session, std::string(m.filter), std::string(m.share_group));
      },
      [](SessionId) { return true; });
  std::sort(out.begin(), out.end());
  return out;
}

bool matches_one(const std::string& filter, const std::string& topic) {
  SubscriptionTree tree;
  tree.subscribe(filter, 1, {});
  return hits(tree, topic).size() == 1;
}

SubscriberOptions qos(int q, std::uint32_t id = 0) {
  SubscriberOptions o;
  o.qos = static_cast<protocol::QoS>(q);
  o.subscription_id = id;
  return o;
}

}  // namespace

TEST_CASE("subscription tree: matching table") {
  struct Row {
    const char* filter;
    const char* topic;
    bool match;
  };
  const Row rows[] = {
      {"a/b/c", "a/b/c", true},
      {"a/b/c", "a/b", false},
      {"a/b/c", "a/b/c/d", false},
      {"a/b/c", "a/b/C", false},
      {"a/+/c", "a/b/c", true},
      {"a/+/c", "a//c", true},  // '+' matches an empty level
      {"a/+/c", "a/b/d", false},
      {"+/+", "a/b", true},
      {"+/+", "/b", true},
      {"+/+", "a/", true},
      {"+/+", "a", false},
      {"+/+", "a/b/c", false},
      {"+", "a", true},
      {"+", "/", false},
      {"/+", "/finance", true},  // [MQTT-4.7.1-3] examples
      {"+/+", "/finance", true},
      {"+", "/finance", false},
      {"sport/tennis/+", "sport/tennis/player1", true},
      {"sport/tennis/+", "sport/tennis", false},
      {"sport/tennis/+", "sport/tennis/player1/ranking", false},
      {"sport/+", "sport", false},
      {"sport/+", "sport/", true},
      {"#", "a", true},
      {"#", "a/b/c", true},
      {"#", "/", true},
      {"a/#", "a", true},  // [MQTT-4.7.1-2] parent level matches
      {"a/#", "a/b/c", true},
      {"a/#", "ab", false},
      {"a/#", "b/a", false},
      {"sport/tennis/player1/#", "sport/tennis/player1", true},
      {"sport/tennis/player1/#", "sport/tennis/player1/score/wimbledon", true},
      {"sport/#", "sport", true},
      {"a/+/#", "a", false},
      {"a/+/#", "a/b", true},
      {"a/+/#", "a/b/c/d", true},
      // [MQTT-4.7.2-1] '$' topics are not matched by a leading wildcard.
      {"#", "$SYS/broker/uptime", false},
      {"#", "$", false},
      {"+/monitor/Clients", "$SYS/monitor/Clients", false},
      {"+/#", "$SYS/a", false},
      {"+", "$SYS", false},
      {"$SYS/#", "$SYS/monitor/Clients", true},
      {"$SYS/#", "$SYS", true},
      {"$SYS/monitor/+", "$SYS/monitor/Clients", true},
      {"$SYS/+", "$SYS/a/b", false},
      {"a/$x", "a/$x", true},
      {"a/+", "a/$x", true},  // only the first level is special
      {"a/#", "a/$x/y", true},
  };
  for (const Row& r : rows) {
    CAPTURE(r.filter);
    CAPTURE(r.topic);
    CHECK(matches_one(r.filter, r.topic) == r.match);
    CHECK(reference_matches(r.filter, r.topic) == r.match);  // the oracle agrees
  }
}

TEST_CASE("subscription tree: subscribe reports new vs replaced and keeps the latest options") {
  SubscriptionTree tree;
  CHECK(tree.subscribe("a/+", 7, qos(0)));
  CHECK(tree.size() == 1);
  CHECK_FALSE(tree.subscribe("a/+", 7, qos(2, 42)));  // [MQTT-3.8.4-3] replaces
  CHECK(tree.size() == 1);
  const SubscriberOptions* o = tree.find("a/+", 7);
  REQUIRE(o != nullptr);
  CHECK(o->qos == protocol::QoS::exactly_once);
  CHECK(o->subscription_id == 42);
  CHECK(tree.find("a/+", 8) == nullptr);
  CHECK(tree.find("a/b", 7) == nullptr);
  CHECK(tree.find("$share/g/a/+", 7) == nullptr);

  std::vector<SubscriptionMatch> seen;
  tree.match(
      "a/x", [&](const SubscriptionMatch& m) { seen.push_back(m); },
      [](SessionId) { return true; });
  REQUIRE(seen.size() == 1);
  CHECK(seen[0].session == 7);
  CHECK(seen[0].options == qos(2, 42));
  CHECK(seen[0].filter == "a/+");
  CHECK(seen[0].share_group.empty());
}

TEST_CASE("subscription tree: overlapping filters visit once per filter") {
  SubscriptionTree tree;
  tree.subscribe("a/#", 1, qos(0, 1));
  tree.subscribe("a/+", 1, qos(1, 2));
  tree.subscribe("a/b", 1, qos(2, 3));
  tree.subscribe("#", 1, qos(0, 4));
  tree.subscribe("a/b", 2, qos(1));
  tree.subscribe("x/#", 3, qos(1));
  std::map<std::pair<SessionId, std::string>, SubscriberOptions> seen;
  tree.match(
      "a/b",
      [&](const SubscriptionMatch& m) {
        CHECK(seen.emplace(std::pair{m.session, std::string(m.filter)}, m.options).second);
      },
      [](SessionId) { return true; });
  CHECK(seen.size() == 5);
  CHECK(seen.at({1, "a/#"}) == qos(0, 1));
  CHECK(seen.at({1, "a/+"}) == qos(1, 2));
  CHECK(seen.at({1, "a/b"}) == qos(2, 3));
  CHECK(seen.at({1, "#"}) == qos(0, 4));
  CHECK(seen.at({2, "a/b"}) == qos(1));
  CHECK(hits(tree, "x") == std::vector<Hit>{{1, "#", ""}, {3, "x/#", ""}});
  CHECK(hits(tree, "nothing/here") == std::vector<Hit>{{1, "#", ""}});
  CHECK(hits(tree, "$SYS/x").empty());
}

TEST_CASE("subscription tree: unsubscribe removes exactly one and frees empty nodes") {
  SubscriptionTree tree;
  CHECK(tree.node_count() == 1);
  CHECK_FALSE(tree.unsubscribe("a/b", 1));  // [MQTT-3.10.4-5] nothing to remove
  tree.subscribe("a/b/c/d", 1, {});
  tree.subscribe("a/b/+/d", 1, {});
  tree.subscribe("a/b/#", 2, {});
  tree.subscribe("$share/g/a/b/c/d", 3, {});
  CHECK(tree.size() == 4);
  const std::size_t full = tree.node_count();
  CHECK(full == 8);  // root, a, b, c, d, +, d, #

  CHECK_FALSE(tree.unsubscribe("a/b/c/d", 2));           // other session's filter
  CHECK_FALSE(tree.unsubscribe("a/b/c", 1));             // interior node, no subscription
  CHECK_FALSE(tree.unsubscribe("$share/h/a/b/c/d", 3));  // wrong group
  CHECK_FALSE(tree.unsubscribe("a/b/c/d", 3));           // 3 holds the shared one only
  CHECK(tree.size() == 4);

  CHECK(tree.unsubscribe("a/b/+/d", 1));
  CHECK_FALSE(tree.unsubscribe("a/b/+/d", 1));
  CHECK(tree.node_count() == full - 2);
  CHECK(tree.unsubscribe("a/b/c/d", 1));
  CHECK(tree.node_count() == full - 2);  // still held by the shared group
  CHECK(tree.unsubscribe("$share/g/a/b/c/d", 3));
  CHECK(tree.node_count() == 4);  // root, a, b, #
  CHECK(hits(tree, "a/b/c/d") == std::vector<Hit>{{2, "a/b/#", ""}});
  CHECK(tree.unsubscribe("a/b/#", 2));
  CHECK(tree.size() == 0);
  CHECK(tree.node_count() == 1);
  CHECK(hits(tree, "a/b/c/d").empty());
}

TEST_CASE("subscription tree: unsubscribe_all and for_each_of") {
  SubscriptionTree tree;
  tree.subscribe("a", 1, qos(0));
  tree.subscribe("a/+", 1, qos(1));
  tree.subscribe("$share/g/a", 1, qos(2));
  tree.subscribe("a", 2, qos(1));
  tree.subscribe("$share/g/a", 2, qos(1));

  std::set<std::tuple<std::string, std::string, int>> of1;
  tree.for_each_of(1, [&](const SubscriptionMatch& m) {
    CHECK(m.session == 1);
    of1.emplace(std::string(m.share_group), std::string(m.filter), static_cast<int>(m.options.qos));
  });
  CHECK(of1 == std::set<std::tuple<std::string, std::string, int>>{
                   {"", "a", 0}, {"", "a/+", 1}, {"g", "a", 2}});

  CHECK(tree.unsubscribe_all(1) == 3);
  CHECK(tree.unsubscribe_all(1) == 0);
  CHECK(tree.size() == 2);
  int count = 0;
  tree.for_each_of(1, [&](const SubscriptionMatch&) { ++count; });
  CHECK(count == 0);
  CHECK(hits(tree, "a") == std::vector<Hit>{{2, "a", ""}, {2, "a", "g"}});
  CHECK(hits(tree, "a/x").empty());
  CHECK(tree.unsubscribe_all(2) == 2);
  CHECK(tree.node_count() == 1);
}

TEST_CASE("subscription tree: one session with many filters, removed in random order") {
  // Exercises the session -> entry back-links (swap-remove) under many subscriptions.
  SubscriptionTree tree;
  std::vector<std::string> filters;
  for (int i = 0; i < 200; ++i) {
    filters.push_back("t/" + std::to_string(i % 20) + "/" + std::to_string(i));
    filters.push_back("$share/g" + std::to_string(i % 3) + "/t/+/" + std::to_string(i));
  }
  for (const auto& f : filters) CHECK(tree.subscribe(f, 9, {}));
  for (const auto& f : filters) CHECK(tree.subscribe(f, 10, {}));
  CHECK(tree.size() == 800);
  std::mt19937 rng(1234);
  std::shuffle(filters.begin(), filters.end(), rng);
  for (std::size_t i = 0; i < filters.size() / 2; ++i) CHECK(tree.unsubscribe(filters[i], 9));
  for (std::size_t i = 0; i < filters.size() / 2; ++i) CHECK(tree.find(filters[i], 9) == nullptr);
  for (std::size_t i = filters.size() / 2; i < filters.size(); ++i) {
    CHECK(tree.find(filters[i], 9) != nullptr);
  }
  int of9 = 0;
  tree.for_each_of(9, [&](const SubscriptionMatch&) { ++of9; });
  CHECK(of9 == 200);
  CHECK(tree.unsubscribe_all(9) == 200);
  CHECK(tree.size() == 400);
  CHECK(tree.unsubscribe_all(10) == 400);
  CHECK(tree.size() == 0);
  CHECK(tree.node_count() == 1);
}

TEST_CASE("subscription tree: many sessions on one filter (indexed subscriber set)") {
  SubscriptionTree tree;
  for (SessionId s = 1; s <= 100; ++s) CHECK(tree.subscribe("hot/topic", s, qos(1)));
  for (SessionId s = 1; s <= 100; ++s) CHECK_FALSE(tree.subscribe("hot/topic", s, qos(2)));
  for (SessionId s = 2; s <= 100; s += 2) CHECK(tree.unsubscribe("hot/topic", s));
  for (SessionId s = 2; s <= 100; s += 2) CHECK_FALSE(tree.unsubscribe("hot/topic", s));
  const auto h = hits(tree, "hot/topic");
  REQUIRE(h.size() == 50);
  for (std::size_t i = 0; i < h.size(); ++i) CHECK(std::get<0>(h[i]) == 2 * i + 1);
  for (SessionId s = 1; s <= 100; s += 2) {
    const SubscriberOptions* o = tree.find("hot/topic", s);
    REQUIRE(o != nullptr);
    CHECK(o->qos == protocol::QoS::exactly_once);
  }
  // Shrinks below the index threshold and keeps working.
  for (SessionId s = 1; s <= 95; s += 2) CHECK(tree.unsubscribe("hot/topic", s));
  CHECK(hits(tree, "hot/topic") == std::vector<Hit>{{97, "hot/topic", ""}, {99, "hot/topic", ""}});
}

TEST_CASE("subscription tree: shared group distributes round-robin, evenly") {
  SubscriptionTree tree;
  for (SessionId s = 1; s <= 3; ++s) CHECK(tree.subscribe("$share/workers/jobs/+", s, qos(1)));
  tree.subscribe("jobs/#", 50, qos(0));  // a plain subscriber still gets everything
  std::map<SessionId, int> got;
  int plain = 0;
  std::vector<SessionId> order;
  for (int i = 0; i < 300; ++i) {
    int shared_hits = 0;
    tree.match(
        "jobs/" + std::to_string(i),
        [&](const SubscriptionMatch& m) {
          if (m.share_group.empty()) {
            ++plain;
            return;
          }
          CHECK(m.share_group == "workers");
          CHECK(m.filter == "jobs/+");
          ++shared_hits;
          ++got[m.session];
          order.push_back(m.session);
        },
        [](SessionId) { return true; });
    CHECK(shared_hits == 1);  // exactly one member per message [MQTT-4.8.2]
  }
  CHECK(plain == 300);
  CHECK(got == std::map<SessionId, int>{{1, 100}, {2, 100}, {3, 100}});
  for (std::size_t i = 3; i < order.size(); ++i) CHECK(order[i] == order[i - 3]);  // strict turn
}

TEST_CASE("subscription tree: shared group skips ineligible members") {
  SubscriptionTree tree;
  for (SessionId s = 1; s <= 4; ++s) tree.subscribe("$share/g/t", s, {});
  std::set<SessionId> online{1, 3, 4};
  std::map<SessionId, int> got;
  auto run = [&](int n) {
    for (int i = 0; i < n; ++i) {
      tree.match(
          "t", [&](const SubscriptionMatch& m) { ++got[m.session]; },
          [&](SessionId s) { return online.count(s) == 1; });
    }
  };
  run(300);
  CHECK(got == std::map<SessionId, int>{{1, 100}, {3, 100}, {4, 100}});

  got.clear();
  online = {2};
  run(10);
  CHECK(got == std::map<SessionId, int>{{2, 10}});

  // Nobody eligible: the message still goes to one member, in turn (it may be queued).
  got.clear();
  online.clear();
  run(8);
  CHECK(got == std::map<SessionId, int>{{1, 2}, {2, 2}, {3, 2}, {4, 2}});
}

TEST_CASE("subscription tree: shared groups are independent, members leave and join") {
  SubscriptionTree tree;
  tree.subscribe("$share/a/t/#", 1, {});
  tree.subscribe("$share/a/t/#", 2, {});
  tree.subscribe("$share/b/t/#", 3, {});
  tree.subscribe("$share/a/t/+", 4, {});  // same group name, other filter: another group
  std::map<std::pair<std::string, std::string>, int> per_group;
  std::map<SessionId, int> got;
  auto run = [&](int n) {
    for (int i = 0; i < n; ++i) {
      tree.match(
          "t/x",
          [&](const SubscriptionMatch& m) {
            ++per_group[{std::string(m.share_group), std::string(m.filter)}];
            ++got[m.session];
          },
          [](SessionId) { return true; });
    }
  };
  run(10);
  CHECK(per_group == std::map<std::pair<std::string, std::string>, int>{
                         {{"a", "t/#"}, 10}, {{"b", "t/#"}, 10}, {{"a", "t/+"}, 10}});
  CHECK(got == std::map<SessionId, int>{{1, 5}, {2, 5}, {3, 10}, {4, 10}});

  CHECK(tree.unsubscribe("$share/a/t/#", 1));
  got.clear();
  run(4);
  CHECK(got == std::map<SessionId, int>{{2, 4}, {3, 4}, {4, 4}});
  CHECK(tree.subscribe("$share/a/t/#", 5, {}));
  got.clear();
  run(10);
  CHECK(got[2] == 5);
  CHECK(got[5] == 5);

  // '$' rule applies inside the share too.
  tree.subscribe("$share/a/#", 6, {});
  CHECK(hits(tree, "$SYS/x").empty());
  CHECK(hits(tree, "y") == std::vector<Hit>{{6, "#", "a"}});
}

TEST_CASE("subscription tree: pick_shared for redelivery excludes the leaving member") {
  SubscriptionTree tree;
  tree.subscribe("$share/g/q", 1, qos(1));
  tree.subscribe("$share/g/q", 2, qos(2));
  tree.subscribe("$share/g/q", 3, qos(1));
  auto all = [](SessionId) { return true; };
  CHECK_FALSE(tree.pick_shared("$share/h/q", 1, all).has_value());
  CHECK_FALSE(tree.pick_shared("$share/g/r", 1, all).has_value());
  CHECK_FALSE(tree.pick_shared("q", 1, all).has_value());
  for (int i = 0; i < 6; ++i) {
    auto m = tree.pick_shared("$share/g/q", 1, all);
    REQUIRE(m.has_value());
    CHECK(m->session != 1);
    CHECK(m->share_group == "g");
    CHECK(m->filter == "q");
  }
  auto only3 = tree.pick_shared("$share/g/q", 1, [](SessionId s) { return s == 3; });
  REQUIRE(only3.has_value());
  CHECK(only3->session == 3);
  tree.unsubscribe("$share/g/q", 2);
  tree.unsubscribe("$share/g/q", 3);
  CHECK_FALSE(tree.pick_shared("$share/g/q", 1, all).has_value());  // only the leaver is left
}

TEST_CASE("subscription tree: malformed $share filters are plain filters") {
  SubscriptionTree tree;
  CHECK(tree.subscribe("$share/g", 1, {}));
  CHECK(tree.subscribe("$share//x", 2, {}));
  CHECK(hits(tree, "$share/g") == std::vector<Hit>{{1, "$share/g", ""}});
  CHECK(hits(tree, "$share//x") == std::vector<Hit>{{2, "$share//x", ""}});
  CHECK(hits(tree, "g").empty());
  CHECK(hits(tree, "x").empty());
}

TEST_CASE("subscription tree: randomized against the reference matcher") {
  std::mt19937 rng(20261124);
  const char* level_pool[] = {"a", "b", "c", "", "$x"};
  auto pick = [&](std::size_t n) {
    return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng);
  };
  auto random_topic = [&] {
    std::string t;
    const std::size_t depth = 1 + pick(4);
    for (std::size_t i = 0; i < depth; ++i) {
      if (i) t += '/';
      t += level_pool[pick(5)];
    }
    return t;
  };
  auto random_filter = [&] {
    std::string f;
    const std::size_t depth = 1 + pick(4);
    for (std::size_t i = 0; i < depth; ++i) {
      if (i) f += '/';
      const std::size_t r = pick(8);
      if (r == 7 && i + 1 == depth) {
        f += '#';
      } else if (r >= 5) {
        f += '+';
      } else {
        f += level_pool[r];
      }
    }
    return f;
  };

  SubscriptionTree tree;
  std::set<std::pair<SessionId, std::string>> model;
  for (int step = 0; step < 4000; ++step) {
    const SessionId s = 1 + pick(12);
    const std::size_t op = pick(10);
    if (op < 6) {
      const std::string f = random_filter();
      CHECK(tree.subscribe(f, s, {}) == model.emplace(s, f).second);
    } else if (op < 9) {
      const std::string f = random_filter();
      CHECK(tree.unsubscribe(f, s) == (model.erase({s, f}) == 1));
    } else {
      std::size_t n = 0;
      for (auto it = model.begin(); it != model.end();) {
        if (it->first == s) {
          it = model.erase(it);
          ++n;
        } else {
          ++it;
        }
      }
      CHECK(tree.unsubscribe_all(s) == n);
    }
    REQUIRE(tree.size() == model.size());
    if (step % 10 == 0) {
      const std::string topic = random_topic();
      std::vector<Hit> expected;
      for (const auto& [sess, f] : model) {
        if (reference_matches(f, topic)) expected.emplace_back(sess, f, "");
      }
      std::sort(expected.begin(), expected.end());
      CAPTURE(topic);
      CHECK(hits(tree, topic) == expected);
    }
  }
  for (SessionId s = 1; s <= 12; ++s) tree.unsubscribe_all(s);
  CHECK(tree.size() == 0);
  CHECK(tree.node_count() == 1);
}

TEST_CASE("subscription tree: very deep filters need no recursion") {
  // 65535-byte filters can have 32768 levels; matching, pruning and teardown are iterative.
  std::string deep;
  for (int i = 0; i < 30000; ++i) deep += i ? "/a" : "a";
  std::string deep_plus = deep.substr(0, deep.size() - 1) + "+";
  {
    SubscriptionTree tree;
    tree.subscribe(deep, 1, {});
    tree.subscribe(deep_plus, 2, {});
    tree.subscribe(deep + "/#", 3, {});
    tree.subscribe(std::string(32767, '/'), 4, {});  // 32768 empty levels
    CHECK(hits(tree, deep) ==
          std::vector<Hit>{{1, deep, ""}, {2, deep_plus, ""}, {3, deep + "/#", ""}});
    CHECK(hits(tree, std::string(32767, '/')).size() == 1);
    CHECK(hits(tree, "a/a").empty());
    CHECK(tree.unsubscribe(deep_plus, 2));
    CHECK(tree.unsubscribe_all(4) == 1);
  }  // destructor with ~30000-level chains
  SubscriptionTree tree;
  tree.subscribe(deep, 1, {});
  CHECK(tree.unsubscribe(deep, 1));
  CHECK(tree.node_count() == 1);
}
