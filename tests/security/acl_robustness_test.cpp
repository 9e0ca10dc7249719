// Hostile ACL files and topics: random input parses to a clean error or a usable file, and
// checks never crash.
#include <doctest/doctest.h>

#include <random>

#include "broker/security/acl_file.h"
#include "broker/security/topic_match.h"

using broker::core::Access;

TEST_CASE("ACL parser and matcher: random input never crashes") {
  std::mt19937 rng(2024);
  const std::string alphabet = "topic pattern user read write deny readwrite %c%u/+#$ \n\r\tab";
  std::uniform_int_distribution<std::size_t> pick(0, alphabet.size() - 1);
  std::uniform_int_distribution<std::size_t> len(0, 300);
  int parsed = 0;
  for (int i = 0; i < 3000; ++i) {
    std::string text(len(rng), '\0');
    for (auto& c : text) c = alphabet[pick(rng)];
    auto acl = broker::security::AclFile::parse(text, "fuzz");
    std::string topic(len(rng) % 20, '\0');
    for (auto& c : topic) c = alphabet[pick(rng)];
    (void)broker::security::filter_matches(topic, text.substr(0, 20));
    (void)broker::security::filter_covers(topic, text.substr(0, 20));
    if (!acl) continue;
    ++parsed;
    for (Access a : {Access::read, Access::write, Access::subscribe}) {
      (void)acl->allowed("c%u", "u%c", topic, a, broker::security::SubscribeCheck::strict);
      (void)acl->allowed("c", std::nullopt, topic, a);
    }
  }
  CHECK(parsed > 0);
}
