// SubscriptionTree: insertion, removal and node pruning of the subscription trie. Matching is a
// template in the header so the engine's visitor is inlined.
#include "broker/core/subscription_tree.h"

#include <algorithm>
#include <utility>

namespace broker::core {

namespace index_detail {

std::size_t SubscriberSet::position(SessionId session) const noexcept {
  if (index_) {
    auto it = index_->find(session);
    return it == index_->end() ? items_.size() : it->second;
  }
  for (std::size_t i = 0; i < items_.size(); ++i) {
    if (items_[i].session == session) return i;
  }
  return items_.size();
}

std::pair<Subscriber*, bool> SubscriberSet::upsert(SessionId session,
                                                   const SubscriberOptions& options) {
  const std::size_t pos = position(session);
  if (pos < items_.size()) {
    items_[pos].options = options;
    return {&items_[pos], false};
  }
  items_.push_back(Subscriber{session, options, 0});
  if (index_) {
    index_->emplace(session, static_cast<std::uint32_t>(items_.size() - 1));
  } else if (items_.size() > kIndexThreshold) {
    index_ = std::make_unique<std::unordered_map<SessionId, std::uint32_t>>();
    index_->reserve(items_.size() * 2);
    for (std::size_t i = 0; i < items_.size(); ++i) {
      index_->emplace(items_[i].session, static_cast<std::uint32_t>(i));
    }
  }
  return {&items_.back(), true};
}

bool SubscriberSet::erase(SessionId session) {
  const std::size_t pos = position(session);
  if (pos >= items_.size()) return false;
  if (pos + 1 != items_.size()) {
    items_[pos] = items_.back();
    if (index_) (*index_)[items_[pos].session] = static_cast<std::uint32_t>(pos);
  }
  items_.pop_back();
  if (index_) {
    index_->erase(session);
    if (items_.size() < kIndexThreshold / 2) index_.reset();  // hysteresis: no flapping
  }
  if (items_.empty()) items_.shrink_to_fit();
  return true;
}

Subscriber* SubscriberSet::find(SessionId session) noexcept {
  const std::size_t pos = position(session);
  return pos < items_.size() ? &items_[pos] : nullptr;
}

const Subscriber* SubscriberSet::find(SessionId session) const noexcept {
  const std::size_t pos = position(session);
  return pos < items_.size() ? &items_[pos] : nullptr;
}

}  // namespace index_detail

namespace {

struct SplitFilter {
  std::string_view group;  // empty: not shared
  std::string_view filter;
};

// "$share/group/filter" -> {group, filter} [MQTT-4.8.2]; anything else, including a malformed
// "$share/" filter, is a plain filter.
SplitFilter split_shared(std::string_view filter) noexcept {
  constexpr std::string_view kPrefix = "$share/";
  if (filter.substr(0, kPrefix.size()) != kPrefix) return {{}, filter};
  const std::string_view rest = filter.substr(kPrefix.size());
  const std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0 || slash + 1 == rest.size()) {
    return {{}, filter};
  }
  return {rest.substr(0, slash), rest.substr(slash + 1)};
}

// Calls f(level) for each '/'-separated level of `s` ("a//b" has levels "a", "", "b").
template <class F>
bool for_each_level(std::string_view s, F&& f) {
  std::size_t pos = 0;
  for (;;) {
    const std::size_t slash = s.find('/', pos);
    if (!f(s.substr(pos, slash == std::string_view::npos ? slash : slash - pos))) return false;
    if (slash == std::string_view::npos) return true;
    pos = slash + 1;
  }
}

}  // namespace

SubscriptionTree::SubscriptionTree() = default;

// Iterative teardown: a filter may have ~32k levels, too deep for recursive destructors.
SubscriptionTree::~SubscriptionTree() {
  std::vector<std::unique_ptr<Node>> pending;
  auto detach = [&](Node& n) {
    for (auto& [level, child] : n.children) pending.push_back(std::move(child));
    n.children.clear();
    if (n.plus) pending.push_back(std::move(n.plus));
    if (n.hash) pending.push_back(std::move(n.hash));
  };
  detach(root_);
  while (!pending.empty()) {
    std::unique_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    detach(*n);
  }
}

SubscriptionTree::Node* SubscriptionTree::find_node(std::string_view filter) const noexcept {
  Node* node = const_cast<Node*>(&root_);
  const bool found = for_each_level(filter, [&](std::string_view level) {
    if (level == "+") {
      node = node->plus.get();
    } else if (level == "#") {
      node = node->hash.get();
    } else {
      node = node->child(level);
    }
    return node != nullptr;
  });
  return found ? node : nullptr;
}

SubscriptionTree::Node* SubscriptionTree::make_node(std::string_view filter) {
  Node* node = &root_;
  for_each_level(filter, [&](std::string_view level) {
    Node* next = nullptr;
    if (level == "+" || level == "#") {
      std::unique_ptr<Node>& slot = level == "+" ? node->plus : node->hash;
      if (!slot) {
        slot = std::make_unique<Node>();
        slot->parent = node;
        slot->level = level == "+" ? std::string_view("+") : std::string_view("#");
        ++nodes_;
      }
      next = slot.get();
    } else if ((next = node->child(level)) == nullptr) {
      auto [it, inserted] = node->children.emplace(std::string(level), std::make_unique<Node>());
      next = it->second.get();
      next->parent = node;
      next->level = it->first;  // node-based map: the key never moves
      ++nodes_;
    }
    node = next;
    return true;
  });
  return node;
}

SubscriptionTree::SharedGroup* SubscriptionTree::find_group(Node& node,
                                                            std::string_view group) const noexcept {
  for (auto& g : node.shared) {
    if (g->name == group) return g.get();
  }
  return nullptr;
}

index_detail::Subscriber* SubscriptionTree::subscriber_of(const Entry& entry,
                                                          SessionId session) const noexcept {
  return entry.group ? entry.group->members.find(session) : entry.node->subscribers.find(session);
}

bool SubscriptionTree::subscribe(std::string_view filter, SessionId session,
                                 const SubscriberOptions& options) {
  const SplitFilter split = split_shared(filter);
  Node* node = make_node(split.filter);
  if (node->filter.empty()) node->filter = std::string(split.filter);
  SharedGroup* group = nullptr;
  if (!split.group.empty()) {
    group = find_group(*node, split.group);
    if (group == nullptr) {
      node->shared.push_back(std::make_unique<SharedGroup>());
      group = node->shared.back().get();
      group->name = std::string(split.group);
    }
  }
  auto [sub, inserted] = (group ? group->members : node->subscribers).upsert(session, options);
  if (inserted) {
    std::vector<Entry>& entries = sessions_[session];
    sub->slot = static_cast<std::uint32_t>(entries.size());
    entries.push_back(Entry{node, group});
    ++count_;
  }
  return inserted;
}

bool SubscriptionTree::unsubscribe(std::string_view filter, SessionId session) {
  const SplitFilter split = split_shared(filter);
  Node* node = find_node(split.filter);
  if (node == nullptr) return false;
  Entry entry{node, nullptr};
  if (!split.group.empty()) {
    entry.group = find_group(*node, split.group);
    if (entry.group == nullptr) return false;
  }
  const Subscriber* sub = subscriber_of(entry, session);
  if (sub == nullptr) return false;

  // Drop the entry from the session's list (swap with the last, fix that one's back-link).
  auto it = sessions_.find(session);
  std::vector<Entry>& entries = it->second;
  const std::uint32_t slot = sub->slot;
  if (slot + 1 != entries.size()) {
    entries[slot] = entries.back();
    subscriber_of(entries[slot], session)->slot = slot;
  }
  entries.pop_back();
  if (entries.empty()) sessions_.erase(it);

  remove(entry, session);
  return true;
}

std::size_t SubscriptionTree::unsubscribe_all(SessionId session) {
  auto it = sessions_.find(session);
  if (it == sessions_.end()) return 0;
  const std::vector<Entry> entries = std::move(it->second);
  sessions_.erase(it);
  // A node still holding one of this session's later entries is not empty, so prune() in
  // remove() never frees a node a later entry points to.
  for (const Entry& e : entries) remove(e, session);
  return entries.size();
}

void SubscriptionTree::remove(const Entry& entry, SessionId session) {
  Node* node = entry.node;
  if (entry.group != nullptr) {
    entry.group->members.erase(session);
    if (entry.group->members.empty()) {
      auto& shared = node->shared;
      shared.erase(std::find_if(shared.begin(), shared.end(),
                                [&](const auto& g) { return g.get() == entry.group; }));
    }
  } else {
    node->subscribers.erase(session);
  }
  --count_;
  prune(node);
}

void SubscriptionTree::prune(Node* node) noexcept {
  while (node != &root_ && node->unused()) {
    Node* parent = node->parent;
    if (node == parent->plus.get()) {
      parent->plus.reset();
    } else if (node == parent->hash.get()) {
      parent->hash.reset();
    } else {
      auto it = parent->children.find(node->level);
      if (it == parent->children.end()) return;  // unreachable: a node is its parent's child
      parent->children.erase(it);
    }
    --nodes_;
    node = parent;
  }
}

const SubscriberOptions* SubscriptionTree::find(std::string_view filter, SessionId session) const {
  const SplitFilter split = split_shared(filter);
  Node* node = find_node(split.filter);
  if (node == nullptr) return nullptr;
  Entry entry{node, nullptr};
  if (!split.group.empty()) {
    entry.group = find_group(*node, split.group);
    if (entry.group == nullptr) return nullptr;
  }
  const Subscriber* sub = subscriber_of(entry, session);
  return sub ? &sub->options : nullptr;
}

}  // namespace broker::core
