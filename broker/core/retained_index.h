// RetainedIndex: the in-memory retained messages, topic -> the very MessageRef that was fanned
// out. A trie with one node per topic level, so a filter with a literal prefix ("sensors/#")
// walks only that subtree, and '+' only the children of one node.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "broker/core/message.h"
#include "broker/core/subscription_tree.h"  // index_detail::StringHash

namespace broker::core {

namespace index_detail {

struct RetNode {
  RetNode* parent = nullptr;
  std::string_view level;  // views the key in the parent's map; empty for the root
  std::unordered_map<std::string, std::unique_ptr<RetNode>, StringHash, std::equal_to<>> children;
  MessageRef message;  // null if no retained message has exactly this topic

  RetNode* child(std::string_view lvl) const noexcept {
    auto it = children.find(lvl);
    return it == children.end() ? nullptr : it->second.get();
  }
};

}  // namespace index_detail

// Loop thread only. Topics and filters must be valid (checked by the engine on receipt).
// Expiry is not checked here: the engine skips or erases expired messages (erase_if()).
class RetainedIndex {
 public:
  RetainedIndex();
  ~RetainedIndex();
  RetainedIndex(const RetainedIndex&) = delete;
  RetainedIndex& operator=(const RetainedIndex&) = delete;

  // Stores `msg` as the retained message of msg->topic, replacing any previous one. A message
  // with an empty payload deletes the topic's retained message instead [MQTT-3.3.1-6/7].
  void set(MessageRef msg);
  bool erase(std::string_view topic);  // false if the topic had no retained message
  const MessageRef* find(std::string_view topic) const noexcept;  // nullptr if none

  // Calls visit(const MessageRef&) for every retained message whose topic matches `filter`
  // (a plain filter, no "$share/" prefix). '+' / '#' as the first level skip '$' topics
  // [MQTT-4.7.2-1]; "a/#" includes "a" [MQTT-4.7.1-2]. Only the subtrees the filter can
  // reach are walked. The visitor must not modify the index.
  template <class Visit>
  void match(std::string_view filter, Visit&& visit) const;

  // Erases every retained message matching `filter` (same rules as match()); returns how many.
  std::size_t erase_matching(std::string_view filter);

  // Erases every retained message for which pred(const MessageRef&) is true (e.g. expired).
  template <class Pred>
  std::size_t erase_if(Pred&& pred);

  template <class Visit>
  void for_each(Visit&& visit) const;  // visit(const MessageRef&), every message, any order

  std::size_t size() const noexcept { return count_; }
  // Topic + [properties | payload] bytes of every retained message (for limits and $SYS).
  std::size_t bytes() const noexcept { return bytes_; }
  std::size_t node_count() const noexcept { return nodes_; }  // for tests: empty nodes freed

 private:
  using Node = index_detail::RetNode;
  struct Frame {
    Node* node;
    std::size_t pos;  // start of the next filter level; > filter.size() once all are consumed
  };

  // Calls on_node(Node&) for every node holding a message that matches `filter`, ancestors
  // before descendants.
  template <class OnNode>
  void walk(std::string_view filter, OnNode&& on_node) const;
  template <class OnNode>
  void walk_subtree(Node& top, bool skip_dollar, OnNode& on_node) const;

  Node* find_path(std::string_view topic) const noexcept;  // nullptr if absent
  void drop_message(Node& node) noexcept;  // clears node.message and updates the counters
  void prune(Node* node) noexcept;         // frees node and its ancestors while unused
  static std::size_t cost(const Message& m) noexcept { return m.topic.size() + m.bytes.size(); }

  mutable Node root_;  // mutable: walk() is shared by match() const and the erasers
  std::size_t count_ = 0;
  std::size_t bytes_ = 0;
  std::size_t nodes_ = 1;
};

// ---- templates ----

template <class OnNode>
void RetainedIndex::walk_subtree(Node& top, bool skip_dollar, OnNode& on_node) const {
  std::vector<Node*> stack{&top};
  while (!stack.empty()) {
    Node* n = stack.back();
    stack.pop_back();
    if (n->message) on_node(*n);
    for (auto& [key, child] : n->children) {
      if (skip_dollar && n == &root_ && !key.empty() && key.front() == '$') continue;
      stack.push_back(child.get());
    }
  }
}

template <class OnNode>
void RetainedIndex::walk(std::string_view filter, OnNode&& on_node) const {
  if (filter.find_first_of("+#") == std::string_view::npos) {  // one path, no stack
    Node* n = find_path(filter);
    if (n != nullptr && n->message) on_node(*n);
    return;
  }
  const std::size_t end = filter.size() + 1;
  std::vector<Frame> stack{Frame{&root_, 0}};
  while (!stack.empty()) {
    const Frame f = stack.back();
    stack.pop_back();
    Node* node = f.node;
    if (f.pos == end) {
      if (node->message) on_node(*node);
      continue;
    }
    const std::size_t slash = filter.find('/', f.pos);
    const std::size_t level_end = slash == std::string_view::npos ? filter.size() : slash;
    const std::size_t next = slash == std::string_view::npos ? end : slash + 1;
    const std::string_view level = filter.substr(f.pos, level_end - f.pos);
    const bool at_root = node == &root_;
    if (level == "#") {  // '#' is always the last level; it includes the parent [MQTT-4.7.1-2]
      walk_subtree(*node, at_root, on_node);
    } else if (level == "+") {
      for (auto& [key, child] : node->children) {
        if (at_root && !key.empty() && key.front() == '$') continue;  // [MQTT-4.7.2-1]
        stack.push_back(Frame{child.get(), next});
      }
    } else if (Node* c = node->child(level)) {
      stack.push_back(Frame{c, next});
    }
  }
}

template <class Visit>
void RetainedIndex::match(std::string_view filter, Visit&& visit) const {
  walk(filter, [&](const Node& n) { visit(n.message); });
}

template <class Visit>
void RetainedIndex::for_each(Visit&& visit) const {
  auto on_node = [&](const Node& n) { visit(n.message); };
  walk_subtree(root_, false, on_node);
}

template <class Pred>
std::size_t RetainedIndex::erase_if(Pred&& pred) {
  std::vector<Node*> hits;
  auto on_node = [&](Node& n) {
    if (pred(n.message)) hits.push_back(&n);
  };
  walk_subtree(root_, false, on_node);
  for (Node* n : hits) drop_message(*n);
  // Ancestors come before descendants in `hits`, and a node with children is never pruned,
  // so pruning in this order never touches a node already freed.
  for (Node* n : hits) prune(n);
  return hits.size();
}

}  // namespace broker::core
