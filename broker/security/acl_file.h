// Mosquitto acl_file: parsing and the access check, with Mosquitto 2.0 semantics:
//   topic [read|write|readwrite|deny] TOPIC   before any `user` line: anonymous clients
//   user NAME                                 following `topic` lines belong to NAME
//   pattern [read|write|readwrite|deny] TOPIC every client; %c = client id, %u = username
// A check walks the client's own rules (deny rules first, then the others in file order),
// then the patterns (deny first). The first matching deny refuses, the first matching rule
// granting the access allows, no match refuses. Patterns never apply to a client whose
// username or client id contains '+' or '#'; %u patterns never apply to anonymous clients.
// A '$' topic only matches rules that start with '$' themselves.
//
// Subscribe: Mosquitto 2.0 does not check SUBSCRIBE against the ACL file at all (every
// subscription succeeds; each message is checked for `read` on delivery). SubscribeCheck::
// strict refuses a subscription no `read` rule covers entirely (e.g. "a/#" under
// "topic read a/b/#"), or one a deny rule covers entirely.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/auth.h"
#include "protocol/result.h"

namespace broker::security {

enum class SubscribeCheck { mosquitto, strict };

class AclFile {
 public:
  static protocol::Result<AclFile, protocol::Error> load(const std::string& path);
  static protocol::Result<AclFile, protocol::Error> parse(std::string_view text,
                                                          std::string_view name);

  // `topic` is a topic name for read/write and a filter (without "$share/g/") for subscribe.
  bool allowed(std::string_view client_id, std::optional<std::string_view> username,
               std::string_view topic, core::Access access,
               SubscribeCheck mode = SubscribeCheck::mosquitto) const;

  std::size_t rule_count() const noexcept;

 private:
  enum Bits : unsigned { kNone = 0, kRead = 1, kWrite = 2 };
  struct Rule {
    std::string topic;
    unsigned access = kNone;  // kNone = deny
  };
  // Deny rules go to the front (kept in file order among themselves), like Mosquitto.
  static void add(std::vector<Rule>& list, Rule r);
  enum class Verdict { allow, deny, no_match };
  static Verdict walk(const std::vector<Rule>& rules, std::string_view client_id,
                      std::optional<std::string_view> username, bool patterns,
                      std::string_view topic, core::Access access, SubscribeCheck mode);

  std::vector<Rule> anonymous_;
  std::map<std::string, std::vector<Rule>, std::less<>> users_;
  std::vector<Rule> patterns_;
};

}  // namespace broker::security
