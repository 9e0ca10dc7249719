// RetainedIndex: storing, replacing and erasing retained messages, and freeing empty nodes.
// Filter walks are templates in the header.
#include "broker/core/retained_index.h"

#include <utility>
#include <vector>

namespace broker::core {

RetainedIndex::RetainedIndex() = default;

// Iterative teardown: a topic may have ~32k levels, too deep for recursive destructors.
RetainedIndex::~RetainedIndex() {
  std::vector<std::unique_ptr<Node>> pending;
  auto detach = [&](Node& n) {
    for (auto& [level, child] : n.children) pending.push_back(std::move(child));
    n.children.clear();
  };
  detach(root_);
  while (!pending.empty()) {
    std::unique_ptr<Node> n = std::move(pending.back());
    pending.pop_back();
    detach(*n);
  }
}

RetainedIndex::Node* RetainedIndex::find_path(std::string_view topic) const noexcept {
  Node* n = &root_;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t slash = topic.find('/', pos);
    n = n->child(topic.substr(pos, slash == std::string_view::npos ? slash : slash - pos));
    if (n == nullptr || slash == std::string_view::npos) return n;
    pos = slash + 1;
  }
}

void RetainedIndex::set(MessageRef msg) {
  if (!msg) return;
  if (msg->payload().empty()) {  // [MQTT-3.3.1-6] empty payload: delete, store nothing
    erase(msg->topic);
    return;
  }
  const std::string_view topic = msg->topic;
  Node* n = &root_;
  std::size_t pos = 0;
  for (;;) {
    const std::size_t slash = topic.find('/', pos);
    const std::string_view level =
        topic.substr(pos, slash == std::string_view::npos ? slash : slash - pos);
    Node* next = n->child(level);
    if (next == nullptr) {
      auto [it, inserted] = n->children.emplace(std::string(level), std::make_unique<Node>());
      next = it->second.get();
      next->parent = n;
      next->level = it->first;  // node-based map: the key never moves
      ++nodes_;
    }
    n = next;
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  if (n->message) {
    bytes_ -= cost(*n->message);
  } else {
    ++count_;
  }
  bytes_ += cost(*msg);
  n->message = std::move(msg);
}

bool RetainedIndex::erase(std::string_view topic) {
  Node* n = find_path(topic);
  if (n == nullptr || !n->message) return false;
  drop_message(*n);
  prune(n);
  return true;
}

const MessageRef* RetainedIndex::find(std::string_view topic) const noexcept {
  const Node* n = find_path(topic);
  return n != nullptr && n->message ? &n->message : nullptr;
}

std::size_t RetainedIndex::erase_matching(std::string_view filter) {
  std::vector<Node*> hits;
  walk(filter, [&](Node& n) { hits.push_back(&n); });
  for (Node* n : hits) drop_message(*n);
  // walk() reports ancestors before descendants and a node with children is never pruned, so
  // pruning in this order never touches a node already freed.
  for (Node* n : hits) prune(n);
  return hits.size();
}

void RetainedIndex::drop_message(Node& node) noexcept {
  bytes_ -= cost(*node.message);
  --count_;
  node.message.reset();
}

void RetainedIndex::prune(Node* node) noexcept {
  while (node != &root_ && !node->message && node->children.empty()) {
    Node* parent = node->parent;
    auto it = parent->children.find(node->level);
    if (it == parent->children.end()) return;  // unreachable: a node is its parent's child
    parent->children.erase(it);
    --nodes_;
    node = parent;
  }
}

}  // namespace broker::core
