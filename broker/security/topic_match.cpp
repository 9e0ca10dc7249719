// Topic matching for authorization: the codec's matcher and filter check, plus
// filter-covers-filter (level by level, without allocation) for strict subscribe checks.
#include "broker/security/topic_match.h"

#include "protocol/topic.h"

namespace broker::security {
namespace {

// Iterates the '/'-separated levels of a topic or filter. "" has one empty level.
class Levels {
 public:
  explicit Levels(std::string_view s) noexcept : s_(s) {}
  bool done() const noexcept { return done_; }
  std::string_view next() noexcept {
    const std::size_t slash = s_.find('/', pos_);
    std::string_view level;
    if (slash == std::string_view::npos) {
      level = s_.substr(pos_);
      done_ = true;
    } else {
      level = s_.substr(pos_, slash - pos_);
      pos_ = slash + 1;
    }
    return level;
  }

 private:
  std::string_view s_;
  std::size_t pos_ = 0;
  bool done_ = false;
};

}  // namespace

bool filter_matches(std::string_view filter, std::string_view name) noexcept {
  // The codec's matcher, so ACLs and routing can never disagree on what a filter matches.
  return !filter.empty() && !name.empty() && protocol::topic_matches(filter, name);
}

bool filter_covers(std::string_view outer, std::string_view inner) noexcept {
  if (outer.empty() || inner.empty()) return false;
  // A wildcard first level of `outer` never covers '$' topics; an inner wildcard first level
  // matches no '$' topics either, so only a literal '$' level is a problem.
  if (inner.front() == '$' && (outer.front() == '+' || outer.front() == '#')) return false;
  Levels o(outer);
  Levels i(inner);
  while (!o.done()) {
    const std::string_view ol = o.next();
    if (ol == "#") return o.done();
    if (i.done()) return false;  // inner ended; only "#" (handled above) covers that
    const std::string_view il = i.next();
    if (il == "#") return false;  // outer level is not '#'
    if (ol == "+") continue;      // covers any single level, incl. '+'
    if (il == "+" || il != ol) return false;
  }
  return i.done();
}

bool filter_valid(std::string_view filter) noexcept { return protocol::valid_topic_filter(filter); }

std::string_view strip_share(std::string_view filter) noexcept {
  constexpr std::string_view kShare = "$share/";
  if (filter.substr(0, kShare.size()) != kShare) return filter;
  const std::size_t slash = filter.find('/', kShare.size());
  if (slash == std::string_view::npos) return filter;
  return filter.substr(slash + 1);
}

}  // namespace broker::security
