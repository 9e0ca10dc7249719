// Mosquitto-compatible ACL file parser and checker.
#include "broker/security/acl_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "broker/security/topic_match.h"

namespace broker::security {
namespace {

std::string_view trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(" \t\r\n");
  return s.substr(b, e - b + 1);
}

// Splits off the first space-separated token; `rest` keeps the remainder, leading spaces
// removed (Mosquitto: the topic is the rest of the line and may contain spaces).
std::string_view next_token(std::string_view& rest) {
  rest = trim(rest);
  const auto sp = rest.find_first_of(" \t");
  std::string_view tok = rest.substr(0, sp);
  rest = sp == std::string_view::npos ? std::string_view{} : trim(rest.substr(sp));
  return tok;
}

std::string substitute(std::string_view pattern, std::string_view client_id,
                       std::optional<std::string_view> username) {
  std::string out;
  out.reserve(pattern.size() + client_id.size());
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == 'c') {
        out += client_id;
        ++i;
        continue;
      }
      if (pattern[i + 1] == 'u' && username) {
        out += *username;
        ++i;
        continue;
      }
    }
    out += pattern[i];
  }
  return out;
}

bool rule_applies(std::string_view rule_topic, std::string_view topic, core::Access access,
                  SubscribeCheck mode) {
  // [Mosquitto] a '$' topic only matches rules that start with '$'.
  if (!topic.empty() && topic.front() == '$' && (rule_topic.empty() || rule_topic.front() != '$')) {
    return false;
  }
  if (access == core::Access::subscribe && mode == SubscribeCheck::strict) {
    return filter_covers(rule_topic, topic);
  }
  return filter_matches(rule_topic, topic);
}

}  // namespace

void AclFile::add(std::vector<Rule>& list, Rule r) {
  if (r.access == kNone) {
    auto pos = list.begin();
    while (pos != list.end() && pos->access == kNone) ++pos;
    list.insert(pos, std::move(r));
  } else {
    list.push_back(std::move(r));
  }
}

protocol::Result<AclFile, protocol::Error> AclFile::load(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return protocol::fail(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << f.rdbuf();
  return parse(ss.str(), path);
}

protocol::Result<AclFile, protocol::Error> AclFile::parse(std::string_view text,
                                                          std::string_view name) {
  AclFile acl;
  std::optional<std::string> user;
  std::size_t line_no = 0;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view raw = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    const std::string where = std::string(name) + ":" + std::to_string(line_no) + ": ";
    std::string_view rest = trim(raw);
    if (rest.empty() || rest.front() == '#') continue;
    const std::string_view keyword = next_token(rest);
    if (keyword == "user") {
      if (rest.empty()) return protocol::fail(where + "missing username after 'user'");
      user = std::string(rest);
      acl.users_.try_emplace(*user);
      continue;
    }
    if (keyword != "topic" && keyword != "pattern") {
      return protocol::fail(where + "unknown keyword '" + std::string(keyword) +
                            "' (want topic, pattern or user)");
    }
    if (rest.empty()) return protocol::fail(where + "empty topic");
    std::string_view topic = rest;
    unsigned access = kRead | kWrite;
    std::string_view probe = rest;
    const std::string_view first = next_token(probe);
    if (!probe.empty()) {
      // Two or more tokens: the first is the access type, the rest the topic.
      if (first == "read") {
        access = kRead;
      } else if (first == "write") {
        access = kWrite;
      } else if (first == "readwrite") {
        access = kRead | kWrite;
      } else if (first == "deny") {
        access = kNone;
      } else {
        return protocol::fail(where + "invalid access type '" + std::string(first) +
                              "' (want read, write, readwrite or deny)");
      }
      topic = probe;
    }
    if (!filter_valid(topic)) {
      return protocol::fail(where + "invalid topic filter '" + std::string(topic) + "'");
    }
    Rule rule{std::string(topic), access};
    if (keyword == "pattern") {
      add(acl.patterns_, std::move(rule));
    } else if (user) {
      add(acl.users_[*user], std::move(rule));
    } else {
      add(acl.anonymous_, std::move(rule));
    }
  }
  return acl;
}

std::size_t AclFile::rule_count() const noexcept {
  std::size_t n = anonymous_.size() + patterns_.size();
  for (const auto& [u, rules] : users_) n += rules.size();
  return n;
}

AclFile::Verdict AclFile::walk(const std::vector<Rule>& rules, std::string_view client_id,
                               std::optional<std::string_view> username, bool patterns,
                               std::string_view topic, core::Access access, SubscribeCheck mode) {
  const unsigned want = access == core::Access::write ? kWrite : kRead;
  for (const Rule& r : rules) {
    std::string expanded;
    std::string_view rule_topic = r.topic;
    if (patterns) {
      if (!username && r.topic.find("%u") != std::string::npos) continue;
      expanded = substitute(r.topic, client_id, username);
      rule_topic = expanded;
    }
    if (!rule_applies(rule_topic, topic, access, mode)) continue;
    if (r.access == kNone) return Verdict::deny;
    if ((r.access & want) != 0) return Verdict::allow;
  }
  return Verdict::no_match;
}

bool AclFile::allowed(std::string_view client_id, std::optional<std::string_view> username,
                      std::string_view topic, core::Access access, SubscribeCheck mode) const {
  if (access == core::Access::subscribe && mode == SubscribeCheck::mosquitto) return true;
  const std::vector<Rule>* own = nullptr;
  if (username) {
    const auto it = users_.find(*username);
    if (it != users_.end()) own = &it->second;
  } else {
    own = &anonymous_;
  }
  if (own != nullptr) {
    const Verdict v = walk(*own, client_id, username, false, topic, access, mode);
    if (v != Verdict::no_match) return v == Verdict::allow;
  }
  if (patterns_.empty()) return false;
  // [Mosquitto] a '+' or '#' in the username or client id could widen a pattern.
  if (username && username->find_first_of("+#") != std::string_view::npos) return false;
  if (client_id.find_first_of("+#") != std::string_view::npos) return false;
  return walk(patterns_, client_id, username, true, topic, access, mode) == Verdict::allow;
}

}  // namespace broker::security
