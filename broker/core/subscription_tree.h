// SubscriptionTree: the subscription index. A trie with one node per topic level, separate '+'
// and '#' children, and shared groups ("$share/group/filter") held on the node of their filter.
// Matching a topic costs O(levels x wildcard branches), independent of the subscriber count.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "protocol/types.h"

namespace broker::core {

using SessionId = std::uint64_t;  // the engine's stable session handle

// What one subscription holds: the v5 subscription options [MQTT-3.8.3.1] and identifier.
struct SubscriberOptions {
  protocol::QoS qos = protocol::QoS::at_most_once;  // maximum QoS granted
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;   // 0, 1 or 2
  std::uint32_t subscription_id = 0;  // 0 = none

  friend bool operator==(const SubscriberOptions&, const SubscriberOptions&) = default;
};

// One delivery target found by SubscriptionTree::match(). The views stay valid until the tree
// is next modified.
struct SubscriptionMatch {
  SessionId session = 0;
  SubscriberOptions options;
  std::string_view filter;       // the topic filter, without any "$share/group/" prefix
  std::string_view share_group;  // empty for a non-shared subscription
};

namespace index_detail {

// Transparent hash so maps keyed by std::string are searched with a string_view, no copy.
struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const noexcept {
    return std::hash<std::string_view>{}(s);
  }
};

struct Subscriber {
  SessionId session = 0;
  SubscriberOptions options;
  std::uint32_t slot = 0;  // position in the session's entry list (SubscriptionTree::sessions_)
};

// The subscribers of one filter: a dense vector (fast to iterate when matching) plus, once it
// grows past a few entries, a session -> position index so insert/erase stay O(1).
class SubscriberSet {
 public:
  // Inserts or replaces; returns the stored subscriber and whether it is new.
  std::pair<Subscriber*, bool> upsert(SessionId session, const SubscriberOptions& options);
  bool erase(SessionId session);
  Subscriber* find(SessionId session) noexcept;
  const Subscriber* find(SessionId session) const noexcept;
  std::span<const Subscriber> items() const noexcept { return items_; }
  std::span<Subscriber> items() noexcept { return items_; }
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }

 private:
  static constexpr std::size_t kIndexThreshold = 16;
  std::size_t position(SessionId session) const noexcept;  // items_.size() if absent
  std::vector<Subscriber> items_;
  std::unique_ptr<std::unordered_map<SessionId, std::uint32_t>> index_;
};

struct SharedGroup {
  std::string name;
  SubscriberSet members;
  std::size_t next = 0;  // round-robin cursor into members
};

struct SubNode {
  SubNode* parent = nullptr;
  std::string_view level;  // this node's level; views the key in parent's map, or "+" / "#"
  std::unordered_map<std::string, std::unique_ptr<SubNode>, StringHash, std::equal_to<>> children;
  std::unique_ptr<SubNode> plus;
  std::unique_ptr<SubNode> hash;
  SubscriberSet subscribers;                         // non-shared subscriptions
  std::vector<std::unique_ptr<SharedGroup>> shared;  // usually empty or one group
  std::string filter;  // full filter text, set when the first subscription arrives

  SubNode* child(std::string_view lvl) noexcept {
    auto it = children.find(lvl);
    return it == children.end() ? nullptr : it->second.get();
  }
  bool unused() const noexcept {
    return children.empty() && !plus && !hash && subscribers.empty() && shared.empty();
  }
};

}  // namespace index_detail

// Loop thread only. Filters and topics must already be valid (protocol::valid_topic_filter,
// protocol::valid_topic_name): the engine rejects bad ones with a reason code before calling.
// Nodes are freed as soon as they hold no subscription and no child.
class SubscriptionTree {
 public:
  SubscriptionTree();
  ~SubscriptionTree();
  SubscriptionTree(const SubscriptionTree&) = delete;
  SubscriptionTree& operator=(const SubscriptionTree&) = delete;

  // `filter` is a plain filter or "$share/group/filter" [MQTT-4.8.2]. Returns true if the
  // subscription is new, false if it replaced this session's subscription to the same
  // (group, filter) (the options are updated [MQTT-3.8.4-3]). A "$share/" filter without a
  // group or filter part is stored as a plain filter (it can then match only "$share/..."
  // topics); the engine rejects those first with topic_filter_invalid.
  bool subscribe(std::string_view filter, SessionId session, const SubscriberOptions& options);

  // Removes this session's subscription to `filter` (same syntax as subscribe()). Returns
  // false if there was none [MQTT-3.10.4-5] (v5 UNSUBACK 0x11).
  bool unsubscribe(std::string_view filter, SessionId session);

  // Removes every subscription of `session` (session end). Returns how many were removed.
  std::size_t unsubscribe_all(SessionId session);

  // The options of this session's subscription to `filter`, or nullptr. For retain handling
  // 1 the engine asks before subscribe() whether the subscription already existed.
  const SubscriberOptions* find(std::string_view filter, SessionId session) const;

  // Visits every subscription held by `session`: visit(const SubscriptionMatch&).
  template <class Visit>
  void for_each_of(SessionId session, Visit&& visit) const;

  // Calls visit(const SubscriptionMatch&) once for every non-shared (session, filter) pair
  // whose filter matches `topic` (a session with overlapping filters is visited once per
  // filter: the engine merges them [MQTT-3.3.4-2]), and once per shared group with a matching
  // filter, for ONE member picked round-robin among those for which eligible(SessionId)
  // returns true. If no member is eligible, the next member in turn is visited anyway (its
  // session may queue the message). Filters starting with '+' or '#' do not match topics
  // starting with '$' [MQTT-4.7.2-1]; "a/#" matches "a" [MQTT-4.7.1-2].
  // No heap allocation once warmed up. The visitor must not modify the tree or call match().
  template <class Visit, class Eligible>
  void match(std::string_view topic, Visit&& visit, Eligible&& eligible);

  // Picks the next eligible member of the shared group of `shared_filter`
  // ("$share/group/filter"), with the same rules as match(): used to redeliver the unacknowledged
  // messages of a member that left. std::nullopt if the group does not exist or is empty.
  // `exclude` (e.g. the leaving session) is never picked.
  template <class Eligible>
  std::optional<SubscriptionMatch> pick_shared(std::string_view shared_filter, SessionId exclude,
                                               Eligible&& eligible);

  std::size_t size() const noexcept { return count_; }        // number of (session, filter) pairs
  std::size_t node_count() const noexcept { return nodes_; }  // for tests: empty nodes freed

 private:
  using Node = index_detail::SubNode;
  using Subscriber = index_detail::Subscriber;
  using SharedGroup = index_detail::SharedGroup;

  struct Entry {  // one subscription, seen from its session
    Node* node = nullptr;
    SharedGroup* group = nullptr;  // nullptr = non-shared
  };
  struct Frame {
    Node* node;
    std::size_t pos;  // start of the next topic level; > topic.size() once all are consumed
  };

  Node* find_node(std::string_view filter) const noexcept;
  Node* make_node(std::string_view filter);
  SharedGroup* find_group(Node& node, std::string_view group) const noexcept;
  void remove(const Entry& entry, SessionId session);
  void prune(Node* node) noexcept;
  Subscriber* subscriber_of(const Entry& entry, SessionId session) const noexcept;

  template <class Eligible>
  static const Subscriber* pick(SharedGroup& group, std::optional<SessionId> exclude,
                                Eligible& eligible);
  template <class Visit, class Eligible>
  static void visit_node(Node& node, Visit& visit, Eligible& eligible);

  Node root_;
  std::unordered_map<SessionId, std::vector<Entry>> sessions_;
  std::vector<Frame> stack_;  // match() scratch, reused
  std::size_t count_ = 0;
  std::size_t nodes_ = 1;
};

// ---- templates ----

template <class Visit>
void SubscriptionTree::for_each_of(SessionId session, Visit&& visit) const {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return;
  for (const Entry& e : it->second) {
    const Subscriber* s = subscriber_of(e, session);
    if (s == nullptr) continue;
    visit(SubscriptionMatch{session, s->options, e.node->filter,
                            e.group ? std::string_view(e.group->name) : std::string_view()});
  }
}

template <class Eligible>
const index_detail::Subscriber* SubscriptionTree::pick(SharedGroup& group,
                                                       std::optional<SessionId> exclude,
                                                       Eligible& eligible) {
  auto members = group.members.items();
  const std::size_t n = members.size();
  if (n == 0) return nullptr;
  const std::size_t start = group.next % n;
  const Subscriber* fallback = nullptr;
  std::size_t fallback_index = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t idx = (start + i) % n;
    const Subscriber& s = members[idx];
    if (exclude && s.session == *exclude) continue;
    if (eligible(s.session)) {
      group.next = idx + 1;
      return &s;
    }
    if (fallback == nullptr) {
      fallback = &s;
      fallback_index = idx;
    }
  }
  if (fallback != nullptr) group.next = fallback_index + 1;
  return fallback;
}

template <class Visit, class Eligible>
void SubscriptionTree::visit_node(Node& node, Visit& visit, Eligible& eligible) {
  for (const Subscriber& s : node.subscribers.items()) {
    visit(SubscriptionMatch{s.session, s.options, node.filter, {}});
  }
  for (auto& group : node.shared) {
    if (const Subscriber* s = pick(*group, std::nullopt, eligible)) {
      visit(SubscriptionMatch{s->session, s->options, node.filter, group->name});
    }
  }
}

template <class Visit, class Eligible>
void SubscriptionTree::match(std::string_view topic, Visit&& visit, Eligible&& eligible) {
  const bool dollar = !topic.empty() && topic.front() == '$';
  const std::size_t end = topic.size() + 1;
  stack_.clear();
  stack_.push_back(Frame{&root_, 0});
  while (!stack_.empty()) {
    const Frame f = stack_.back();
    stack_.pop_back();
    Node* node = f.node;
    if (f.pos == end) {  // every level consumed: exact match here
      visit_node(*node, visit, eligible);
      if (node->hash) visit_node(*node->hash, visit, eligible);  // [MQTT-4.7.1-2] "a/#" ~ "a"
      continue;
    }
    const std::size_t slash = topic.find('/', f.pos);
    const std::size_t level_end = slash == std::string_view::npos ? topic.size() : slash;
    const std::size_t next = slash == std::string_view::npos ? end : slash + 1;
    // [MQTT-4.7.2-1] no leading wildcard matches a '$' topic.
    if (!(dollar && node == &root_)) {
      if (node->hash) visit_node(*node->hash, visit, eligible);
      if (node->plus) stack_.push_back(Frame{node->plus.get(), next});
    }
    if (node->children.empty()) continue;
    if (Node* c = node->child(topic.substr(f.pos, level_end - f.pos))) {
      stack_.push_back(Frame{c, next});
    }
  }
}

template <class Eligible>
std::optional<SubscriptionMatch> SubscriptionTree::pick_shared(std::string_view shared_filter,
                                                               SessionId exclude,
                                                               Eligible&& eligible) {
  constexpr std::string_view kPrefix = "$share/";
  if (shared_filter.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  const std::string_view rest = shared_filter.substr(kPrefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  Node* node = find_node(rest.substr(slash + 1));
  if (node == nullptr) return std::nullopt;
  SharedGroup* group = find_group(*node, rest.substr(0, slash));
  if (group == nullptr) return std::nullopt;
  const Subscriber* s = pick(*group, exclude, eligible);
  if (s == nullptr) return std::nullopt;
  return SubscriptionMatch{s->session, s->options, node->filter, group->name};
}

}  // namespace broker::core
