// Config: parses mosquitto.conf-syntax files (include_dir, listener scoping, Wisp's own keys)
// into a Config. One table of keys drives both the parser and the Markdown reference printed by
// describe_supported_keys(), so the documentation cannot drift from the code.
#include "broker/app/config.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>

namespace broker::app {
namespace {

namespace fs = std::filesystem;
using protocol::Error;
using protocol::Result;

constexpr std::int64_t kMaxRemainingLength = 268'435'455;          // [MQTT-2.2.3] 4-byte varint
constexpr std::int64_t kMaxPacketBytes = kMaxRemainingLength + 5;  // + type byte + varint
constexpr std::int64_t kMaxSizeValue = std::int64_t{1} << 40;      // sanity bound for byte sizes
constexpr std::string_view kBuiltIn = "built-in default";
constexpr std::size_t kMaxLineBytes = 64 * 1024;

// ---------------------------------------------------------------------------------------------
// One parsed line: `key value...`.

struct Line {
  std::string where;  // "path:line", prefix of every message about this line
  std::string key;
  std::vector<std::string> args;  // the values, split on spaces and tabs
  std::string rest;               // everything after the key, trimmed (Mosquitto string values)
};

bool is_blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (is_blank(s.front()) || s.front() == '\r' || s.front() == '\n')) {
    s.remove_prefix(1);
  }
  while (!s.empty() && (is_blank(s.back()) || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

std::vector<std::string> split_blanks(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_blank(s[i])) ++i;
    std::size_t j = i;
    while (j < s.size() && !is_blank(s[j])) ++j;
    if (j > i) out.emplace_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string quote(std::string_view s) { return "'" + std::string(s) + "'"; }

// ---------------------------------------------------------------------------------------------
// Parser state.

struct ListenerState {
  std::string where;  // the `listener` line (or the first `port`/`bind_address` line)
  bool address_from_line = false;
  std::optional<bool> allow_anonymous;  // per_listener_settings true
  std::string auth_where;               // first auth key in this scope (per_listener_settings)
  std::string tls_where;                // first TLS key in this scope, and its name
  std::string tls_key;
  std::string require_certificate_where;
  std::string identity_where;  // use_identity_as_username / use_subject_as_username
  std::vector<std::pair<std::string, std::string>> ws_keys;  // (key, where): websockets-only
  bool ws_paths_replaced = false;
  std::map<std::string, std::string, std::less<>> seen;  // string keys -> where (duplicates)
};

struct Parser {
  Config cfg;
  std::string error;  // the first error; non-empty = failed

  std::vector<ListenerState> states;  // parallel to cfg.listeners
  // Mosquitto's implicit "default listener": created by `port` / `bind_address`; listener keys
  // that come before any `listener` line of a file configure it.
  ListenerConfig dflt;
  ListenerState dflt_state;
  std::string default_where;  // first `port`/`bind_address` line; empty = none
  // Listener keys at global scope, (key, where): they need the default listener.
  std::vector<std::pair<std::string, std::string>> global_listener_keys;
  std::optional<std::size_t> current;  // latest `listener` of the file being read

  int depth = 0;  // 0 = main file
  fs::path main_path;
  std::optional<bool> allow_anonymous;  // global, when set explicitly
  std::string first_listener_where;
  std::string first_auth_where;
  std::map<std::string, std::string, std::less<>> global_seen;
  bool log_dest_replaced = false;
  std::string log_file_where;
  std::string output_where;  // last output_*_bytes line
  std::string ticket_where;  // first ticket_* line

  TicketSettings& tickets(const Line& l) {
    if (!cfg.tickets) {
      cfg.tickets.emplace();
      ticket_where = l.where;
    }
    return *cfg.tickets;
  }

  bool fail(const std::string& where, const std::string& message) {
    if (error.empty()) error = where + ": " + message;
    return false;
  }
  void warn(const std::string& where, const std::string& message) {
    cfg.warnings.push_back(where + ": " + message);
  }

  // --- value helpers: on failure they record the error and return nullopt ---

  bool one_value(const Line& l) {
    if (l.args.empty()) return fail(l.where, quote(l.key) + " needs a value");
    if (l.args.size() > 1) {
      if (l.args[1].front() == '#') {
        return fail(l.where, quote(l.key) +
                                 " takes one value; '#' starts a comment only at the beginning "
                                 "of a line");
      }
      return fail(l.where, quote(l.key) + " takes one value, got " + std::to_string(l.args.size()));
    }
    return true;
  }

  std::optional<bool> get_bool(const Line& l) {
    if (!one_value(l)) return std::nullopt;
    if (l.args[0] == "true") return true;
    if (l.args[0] == "false") return false;
    fail(l.where, quote(l.key) + " must be true or false, not " + quote(l.args[0]));
    return std::nullopt;
  }

  std::optional<std::int64_t> get_int(const Line& l, std::int64_t min, std::int64_t max) {
    if (!one_value(l)) return std::nullopt;
    const std::string& s = l.args[0];
    std::int64_t v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc{} || end != s.data() + s.size() || v < min || v > max) {
      fail(l.where, quote(l.key) + " must be an integer from " + std::to_string(min) + " to " +
                        std::to_string(max) + ", not " + quote(s));
      return std::nullopt;
    }
    return v;
  }

  std::optional<std::string> get_enum(const Line& l, std::initializer_list<std::string_view> ok) {
    if (!one_value(l)) return std::nullopt;
    for (auto v : ok) {
      if (l.args[0] == v) return l.args[0];
    }
    std::string list;
    std::size_t i = 0;
    for (auto v : ok) {
      if (i > 0) list += (i + 1 == ok.size()) ? " or " : ", ";
      list += v;
      ++i;
    }
    fail(l.where, quote(l.key) + " must be " + list + ", not " + quote(l.args[0]));
    return std::nullopt;
  }

  // Mosquitto string values are the rest of the line, spaces included; they may be given once
  // per scope ("Duplicate ... value" in Mosquitto).
  std::optional<std::string> get_string(const Line& l,
                                        std::map<std::string, std::string, std::less<>>& seen) {
    if (l.rest.empty()) {
      fail(l.where, quote(l.key) + " needs a value");
      return std::nullopt;
    }
    if (auto it = seen.find(l.key); it != seen.end()) {
      fail(l.where, "duplicate " + quote(l.key) + " (first set at " + it->second + ")");
      return std::nullopt;
    }
    seen.emplace(l.key, l.where);
    if (l.rest.find(" #") != std::string::npos || l.rest.find("\t#") != std::string::npos) {
      warn(l.where, "the value of " + quote(l.key) +
                        " contains ' #'; there are no end-of-line comments, the whole rest of "
                        "the line is the value");
    }
    return l.rest;
  }

  std::optional<std::string> get_word(const Line& l,
                                      std::map<std::string, std::string, std::less<>>& seen) {
    if (!one_value(l)) return std::nullopt;
    if (auto it = seen.find(l.key); it != seen.end()) {
      fail(l.where, "duplicate " + quote(l.key) + " (first set at " + it->second + ")");
      return std::nullopt;
    }
    seen.emplace(l.key, l.where);
    return l.args[0];
  }

  // Addresses go to the socket layer as written: an IP address or a host name.
  bool check_address(const Line& l, const std::string& address) {
    if (address.front() == '[') {
      return fail(l.where,
                  "write IPv6 addresses without brackets (e.g. ::1), not " + quote(address));
    }
    return true;
  }

  // The listener a listener key applies to: the latest `listener` line of this file, or the
  // default listener when there is none yet (Mosquitto semantics).
  std::pair<ListenerConfig*, ListenerState*> listener_for(const Line& l) {
    if (current) return {&cfg.listeners[*current], &states[*current]};
    global_listener_keys.emplace_back(l.key, l.where);
    return {&dflt, &dflt_state};
  }

  TlsConfig& tls_of(ListenerConfig& lc, ListenerState& st, const Line& l) {
    if (!lc.tls) lc.tls.emplace();
    if (st.tls_where.empty()) {
      st.tls_where = l.where;
      st.tls_key = l.key;
    }
    return *lc.tls;
  }

  void ws_key(ListenerState& st, const Line& l) { st.ws_keys.emplace_back(l.key, l.where); }

  // Auth keys: global unless per_listener_settings is true.
  void note_auth(const Line& l) {
    if (first_auth_where.empty()) first_auth_where = l.where;
  }
  std::pair<ListenerConfig*, ListenerState*> auth_listener() {
    if (current) return {&cfg.listeners[*current], &states[*current]};
    return {&dflt, &dflt_state};
  }

  void global_only_in_wisp(const Line& l, std::string_view what) {
    if (current) {
      warn(l.where, quote(l.key) + " " + std::string(what));
    }
  }

  bool read_file(const fs::path& path, const std::string& display);
  bool handle_line(const std::string& display, int lineno, std::string_view raw);
  bool include_dir(const Line& l);
  bool finish_listener(ListenerConfig& lc, ListenerState& st);
  bool finish();
};

// ---------------------------------------------------------------------------------------------
// The key table.

enum class Scope { global, listener, auth, both };

using Handler = bool (*)(Parser&, const Line&);

struct KeySpec {
  std::string_view name;
  Scope scope;
  std::string_view values;
  std::string_view fallback;  // the default, as documented
  std::string_view meaning;
  Handler handle;
  bool wisp_only = false;
};

// Sets a BrokerConfig/Config integer field from a ranged value.
template <class T>
bool set_int(Parser& p, const Line& l, T& field, std::int64_t min, std::int64_t max) {
  auto v = p.get_int(l, min, max);
  if (!v) return false;
  field = static_cast<T>(*v);
  return true;
}

bool set_bool(Parser& p, const Line& l, bool& field) {
  auto v = p.get_bool(l);
  if (!v) return false;
  field = *v;
  return true;
}

bool valid_mount_point(std::string_view s) {
  return s.find_first_of("+#") == std::string_view::npos && s.find('\0') == std::string_view::npos;
}

bool valid_origin(std::string_view s) {
  std::string_view rest;
  if (s.starts_with("http://")) {
    rest = s.substr(7);
  } else if (s.starts_with("https://")) {
    rest = s.substr(8);
  } else {
    return false;
  }
  return !rest.empty() && rest.find_first_of("/?#") == std::string_view::npos;
}

// Mosquitto's persistent_client_expiration syntax: an integer followed by h, d, w, m or y.
std::optional<std::chrono::seconds> parse_duration(std::string_view s) {
  if (s.size() < 2) return std::nullopt;
  std::int64_t unit = 0;
  switch (s.back()) {
    case 'h': unit = 3600; break;
    case 'd': unit = 86400; break;
    case 'w': unit = 86400 * 7; break;
    case 'm': unit = 86400 * 30; break;
    case 'y': unit = 86400 * 365; break;
    default: return std::nullopt;
  }
  std::string_view digits = s.substr(0, s.size() - 1);
  std::int64_t n = 0;
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), n);
  if (ec != std::errc{} || end != digits.data() + digits.size() || n < 1 || n > 1'000'000) {
    return std::nullopt;
  }
  return std::chrono::seconds{n * unit};
}

const std::vector<KeySpec>& key_table() {
  static const std::vector<KeySpec> table = {
      // --- listeners ---
      {"listener", Scope::global, "`PORT [ADDRESS]`", "-",
       "Starts a listener; the listener keys that follow apply to it. Without ADDRESS it binds "
       "all addresses.",
       [](Parser& p, const Line& l) {
         if (l.args.empty()) return p.fail(l.where, "'listener' needs a port");
         if (l.args.size() > 2) {
           if (l.args[2].front() == '#') {
             return p.fail(l.where,
                           "'listener' takes a port and an optional address; '#' starts a "
                           "comment only at the beginning of a line");
           }
           return p.fail(l.where, "'listener' takes a port and an optional address, got " +
                                      std::to_string(l.args.size()) + " values");
         }
         std::int64_t port = 0;
         const std::string& s = l.args[0];
         auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
         if (ec != std::errc{} || end != s.data() + s.size() || port < 0 || port > 65535) {
           return p.fail(l.where,
                         "listener port must be an integer from 1 to 65535, not " + quote(s));
         }
         if (port == 0 || (l.args.size() == 2 && l.args[1].find('/') != std::string::npos)) {
           return p.fail(l.where, "Unix socket listeners are not supported by Wisp");
         }
         if (l.args.size() == 2 && !p.check_address(l, l.args[1])) return false;
         ListenerConfig lc;
         lc.port = static_cast<std::uint16_t>(port);
         ListenerState st;
         st.where = l.where;
         if (l.args.size() == 2) {
           lc.bind_address = l.args[1];
           st.address_from_line = true;
         }
         p.cfg.listeners.push_back(std::move(lc));
         p.states.push_back(std::move(st));
         p.current = p.cfg.listeners.size() - 1;
         if (p.first_listener_where.empty()) p.first_listener_where = l.where;
         return true;
       }},
      {"port", Scope::global, "`PORT`", "-",
       "Mosquitto's deprecated default listener (MQTT) on PORT, all addresses unless "
       "`bind_address` is set. Prefer `listener`.",
       [](Parser& p, const Line& l) {
         auto v = p.get_int(l, 1, 65535);
         if (!v) return false;
         if (auto it = p.global_seen.find("port"); it != p.global_seen.end()) {
           return p.fail(l.where, "duplicate 'port' (first set at " + it->second + ")");
         }
         p.global_seen.emplace("port", l.where);
         p.dflt.port = static_cast<std::uint16_t>(*v);
         if (p.default_where.empty()) p.default_where = l.where;
         return true;
       }},
      {"bind_address", Scope::both, "`ADDRESS`", "all addresses",
       "In a listener: its address (if the `listener` line has none). At global scope: "
       "Mosquitto's deprecated default listener on port 1883 (or `port`) at ADDRESS.",
       [](Parser& p, const Line& l) {
         if (p.current) {
           ListenerConfig& lc = p.cfg.listeners[*p.current];
           ListenerState& st = p.states[*p.current];
           if (st.address_from_line) {
             return p.fail(l.where, "this listener already has address " + quote(lc.bind_address) +
                                        " from its 'listener' line");
           }
           auto v = p.get_word(l, st.seen);
           if (!v || !p.check_address(l, *v)) return false;
           lc.bind_address = *v;
           return true;
         }
         auto v = p.get_word(l, p.global_seen);
         if (!v || !p.check_address(l, *v)) return false;
         p.dflt.bind_address = *v;
         if (p.default_where.empty()) p.default_where = l.where;
         return true;
       }},
      {"protocol", Scope::listener, "`mqtt` \\| `websockets`", "`mqtt`",
       "What the listener speaks. `websockets` listeners also serve native MQTT and HTTP on the "
       "same port unless `wisp_one_port false`.",
       [](Parser& p, const Line& l) {
         auto v = p.get_enum(l, {"mqtt", "websockets"});
         if (!v) return false;
         p.listener_for(l).first->protocol =
             *v == "mqtt" ? ListenerProtocol::mqtt : ListenerProtocol::websockets;
         return true;
       }},
      {"socket_domain", Scope::listener, "`ipv4` \\| `ipv6`", "both",
       "Restricts the listener to one IP version.",
       [](Parser& p, const Line& l) {
         auto v = p.get_enum(l, {"ipv4", "ipv6"});
         if (!v) return false;
         p.listener_for(l).first->socket_domain =
             *v == "ipv4" ? SocketDomain::ipv4 : SocketDomain::ipv6;
         return true;
       }},
      {"max_connections", Scope::both, "`N` (-1 = unlimited)", "unlimited",
       "In a listener: the most clients connected to it. At global scope (before any "
       "`listener`): the most clients connected to the whole broker (a Wisp extension; "
       "Mosquitto applies it to the default listener).",
       [](Parser& p, const Line& l) {
         auto v = p.get_int(l, -1, std::numeric_limits<std::int32_t>::max());
         if (!v) return false;
         const std::size_t n = *v <= 0 ? 0 : static_cast<std::size_t>(*v);
         if (p.current) {
           p.cfg.listeners[*p.current].policy.max_connections = n;
         } else {
           p.cfg.max_connections = n;
         }
         return true;
       }},
      {"mount_point", Scope::listener, "`PREFIX`", "none",
       "Topic prefix that isolates the listener's clients: added to every topic they use and "
       "removed from what they receive.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         if (!valid_mount_point(*v)) {
           return p.fail(l.where, "'mount_point' must not contain the wildcards '+' or '#'");
         }
         lc->policy.mount_point = *v;
         return true;
       }},
      {"http_dir", Scope::listener, "`DIRECTORY`", "none (no static files)",
       "Static files served over HTTP by a `websockets` listener. Nothing outside it is served.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         std::error_code ec;
         if (!fs::is_directory(*v, ec)) {
           return p.fail(l.where, "'http_dir' " + quote(*v) + " is not a directory");
         }
         lc->http_dir = *v;
         p.ws_key(*st, l);
         return true;
       }},
      // --- TLS (per listener) ---
      {"certfile", Scope::listener, "`PATH`", "none",
       "PEM server certificate (chain). With `keyfile` it turns TLS on for the listener.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         p.tls_of(*lc, *st, l).certfile = *v;
         return true;
       }},
      {"keyfile", Scope::listener, "`PATH`", "none", "PEM private key of `certfile`.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         p.tls_of(*lc, *st, l).keyfile = *v;
         return true;
       }},
      {"cafile", Scope::listener, "`PATH`", "none",
       "PEM CA certificates trusted for client certificates.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         p.tls_of(*lc, *st, l).cafile = *v;
         return true;
       }},
      {"capath", Scope::listener, "`DIRECTORY`", "none",
       "Directory of PEM CA certificates (hashed with `openssl rehash`) for client "
       "certificates.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         p.tls_of(*lc, *st, l).capath = *v;
         return true;
       }},
      {"crlfile", Scope::listener, "`PATH`", "none",
       "PEM certificate revocation list checked against client certificates.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         p.tls_of(*lc, *st, l).crlfile = *v;
         return true;
       }},
      {"ciphers", Scope::listener, "`CIPHER:LIST`", "library default",
       "Allowed TLS 1.2 cipher suites (OpenSSL syntax).",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         p.tls_of(*lc, *st, l).ciphers = *v;
         return true;
       }},
      {"tls_version", Scope::listener, "`tlsv1.3` \\| `tlsv1.2`", "`tlsv1.2`",
       "Minimum TLS version. `tlsv1.1` is accepted with a warning and raised to `tlsv1.2`.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_enum(l, {"tlsv1.3", "tlsv1.2", "tlsv1.1"});
         if (!v) return false;
         if (auto it = st->seen.find("tls_version"); it != st->seen.end()) {
           return p.fail(l.where, "duplicate 'tls_version' (first set at " + it->second + ")");
         }
         st->seen.emplace("tls_version", l.where);
         if (*v == "tlsv1.1") {
           p.warn(l.where, "'tls_version tlsv1.1' is not supported by Wisp; using tlsv1.2");
           *v = "tlsv1.2";
         }
         p.tls_of(*lc, *st, l).tls_version = *v;
         return true;
       }},
      {"require_certificate", Scope::listener, "`true` \\| `false`", "`false`",
       "Clients must present a certificate signed by `cafile`/`capath`.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_bool(l);
         if (!v) return false;
         p.tls_of(*lc, *st, l).require_certificate = *v;
         st->require_certificate_where = l.where;
         return true;
       }},
      {"use_identity_as_username", Scope::listener, "`true` \\| `false`", "`false`",
       "Use the client certificate's Common Name as the username (password not checked).",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_bool(l);
         if (!v) return false;
         p.tls_of(*lc, *st, l).use_identity_as_username = *v;
         if (*v) st->identity_where = l.where;
         return true;
       }},
      {"use_subject_as_username", Scope::listener, "`true` \\| `false`", "`false`",
       "Use the client certificate's whole subject as the username.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         auto v = p.get_bool(l);
         if (!v) return false;
         p.tls_of(*lc, *st, l).use_subject_as_username = *v;
         if (*v) st->identity_where = l.where;
         return true;
       }},
      // --- Wisp's WebSocket keys (per listener) ---
      {"wisp_one_port", Scope::listener, "`true` \\| `false`", "`true`",
       "A `websockets` listener also accepts native MQTT and plain HTTP on its port, telling "
       "them apart by the first bytes.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         p.ws_key(*st, l);
         return set_bool(p, l, lc->one_port);
       },
       true},
      {"ws_paths", Scope::listener, "`PATH...`", "`/mqtt /`",
       "HTTP paths where WebSocket upgrades are accepted. The first `ws_paths` line of a "
       "listener replaces the default; later ones add to it.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         if (l.args.empty()) return p.fail(l.where, "'ws_paths' needs at least one path");
         if (!st->ws_paths_replaced) {
           lc->ws_paths.clear();
           st->ws_paths_replaced = true;
         }
         for (const auto& path : l.args) {
           if (path.front() != '/' || path.find_first_of("?#") != std::string::npos) {
             return p.fail(l.where,
                           "'ws_paths' entries must start with '/' and hold no '?' or '#', "
                           "not " +
                               quote(path));
           }
           if (std::find(lc->ws_paths.begin(), lc->ws_paths.end(), path) != lc->ws_paths.end()) {
             return p.fail(l.where, "'ws_paths' lists " + quote(path) + " twice");
           }
           lc->ws_paths.push_back(path);
         }
         p.ws_key(*st, l);
         return true;
       },
       true},
      {"websockets_strict", Scope::listener, "`true` \\| `false`", "`false`",
       "Answer 400 to WebSocket clients that offer no `mqtt`/`mqttv3.1` subprotocol (by default "
       "they are accepted).",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         p.ws_key(*st, l);
         return set_bool(p, l, lc->websockets_strict);
       },
       true},
      {"allowed_origins", Scope::listener, "`ORIGIN...`", "any Origin",
       "Origins (`https://host[:port]`) allowed to open WebSockets; others are refused. "
       "Several lines add up.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         if (l.args.empty()) return p.fail(l.where, "'allowed_origins' needs at least one origin");
         for (const auto& origin : l.args) {
           if (!valid_origin(origin)) {
             return p.fail(l.where,
                           "'allowed_origins' entries look like https://host[:port], "
                           "not " +
                               quote(origin));
           }
           lc->allowed_origins.push_back(origin);
         }
         p.ws_key(*st, l);
         return true;
       },
       true},
      {"ws_ping_interval", Scope::listener, "`SECONDS` (0-86400)", "`45`",
       "Interval of server WebSocket pings, which keep proxies from closing idle links; "
       "0 = off.",
       [](Parser& p, const Line& l) {
         auto [lc, st] = p.listener_for(l);
         p.ws_key(*st, l);
         return set_int(p, l, lc->ws_ping_interval_s, 0, 86400);
       },
       true},
      // --- authentication ---
      {"per_listener_settings", Scope::global, "`true` \\| `false`", "`false`",
       "If true, `allow_anonymous`, `password_file` and `acl_file` apply to the listener they "
       "follow. Must come before the first `listener` and before those keys.",
       [](Parser& p, const Line& l) {
         auto v = p.get_bool(l);
         if (!v) return false;
         if (*v != p.cfg.per_listener_settings) {
           const std::string& before =
               !p.first_listener_where.empty() ? p.first_listener_where : p.first_auth_where;
           if (!before.empty()) {
             return p.fail(l.where,
                           "'per_listener_settings' must come before the first 'listener' and "
                           "before allow_anonymous, password_file and acl_file (see " +
                               before + ")");
           }
         }
         p.cfg.per_listener_settings = *v;
         return true;
       }},
      {"allow_anonymous", Scope::auth, "`true` \\| `false`",
       "`false` if the files define a listener, else `true` (loopback only)",
       "Whether clients without a username may connect.",
       [](Parser& p, const Line& l) {
         p.note_auth(l);
         auto v = p.get_bool(l);
         if (!v) return false;
         if (!p.cfg.per_listener_settings) {
           p.allow_anonymous = *v;
           return true;
         }
         auto [lc, st] = p.auth_listener();
         st->allow_anonymous = *v;
         if (st->auth_where.empty()) st->auth_where = l.where;
         return true;
       }},
      {"password_file", Scope::auth, "`PATH`", "none",
       "Users and password hashes (`mosquitto_passwd` format).",
       [](Parser& p, const Line& l) {
         p.note_auth(l);
         if (!p.cfg.per_listener_settings) {
           auto v = p.get_string(l, p.global_seen);
           if (!v) return false;
           p.cfg.password_file = *v;
           return true;
         }
         auto [lc, st] = p.auth_listener();
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         lc->password_file = *v;
         if (st->auth_where.empty()) st->auth_where = l.where;
         return true;
       }},
      {"acl_file", Scope::auth, "`PATH`", "none (all topics allowed)",
       "Topic access rules (Mosquitto ACL file format).",
       [](Parser& p, const Line& l) {
         p.note_auth(l);
         if (!p.cfg.per_listener_settings) {
           auto v = p.get_string(l, p.global_seen);
           if (!v) return false;
           p.cfg.acl_file = *v;
           return true;
         }
         auto [lc, st] = p.auth_listener();
         auto v = p.get_string(l, st->seen);
         if (!v) return false;
         lc->acl_file = *v;
         if (st->auth_where.empty()) st->auth_where = l.where;
         return true;
       }},
      {"ticket_algorithm", Scope::global, "`HS256` \\| `RS256` \\| `ES256`", "`HS256`",
       "Signature algorithm of tickets (JWT). HS256 needs `ticket_secret_file`, RS256/ES256 "
       "`ticket_public_key_file`. Any `ticket_*` key turns tickets on.",
       [](Parser& p, const Line& l) {
         if (auto it = p.global_seen.find(l.key); it != p.global_seen.end()) {
           return p.fail(l.where, "duplicate 'ticket_algorithm' (first set at " + it->second + ")");
         }
         auto v = p.get_enum(l, {"HS256", "RS256", "ES256"});
         if (!v) return false;
         p.global_seen.emplace(l.key, l.where);
         p.tickets(l).algorithm = *v;
         return true;
       },
       true},
      {"ticket_secret_file", Scope::global, "`PATH`", "none",
       "File holding the HS256 ticket secret (trailing newline ignored; at least 32 bytes "
       "recommended). Also enables `POST /api/v1/tickets` on WebSocket listeners.",
       [](Parser& p, const Line& l) {
         auto v = p.get_string(l, p.global_seen);
         if (!v) return false;
         p.tickets(l).secret_file = *v;
         return true;
       },
       true},
      {"ticket_public_key_file", Scope::global, "`PATH`", "none",
       "PEM public key that verifies RS256/ES256 tickets (issued elsewhere).",
       [](Parser& p, const Line& l) {
         auto v = p.get_string(l, p.global_seen);
         if (!v) return false;
         p.tickets(l).public_key_file = *v;
         return true;
       },
       true},
      {"ticket_username_claim", Scope::global, "`CLAIM`", "`sub`",
       "Ticket claim used as the client's username.",
       [](Parser& p, const Line& l) {
         auto v = p.get_word(l, p.global_seen);
         if (!v) return false;
         p.tickets(l).username_claim = *v;
         return true;
       },
       true},
      {"ticket_clock_skew", Scope::global, "`SECONDS` (0-3600)", "`30`",
       "Tolerance on a ticket's `exp`/`nbf`.",
       [](Parser& p, const Line& l) {
         auto v = p.get_int(l, 0, 3600);
         if (!v) return false;
         p.tickets(l).clock_skew_s = static_cast<std::uint32_t>(*v);
         return true;
       },
       true},
      {"ticket_audience", Scope::global, "`AUDIENCE`", "none (`aud` not checked)",
       "Required `aud` claim of tickets; also put in issued tickets.",
       [](Parser& p, const Line& l) {
         auto v = p.get_word(l, p.global_seen);
         if (!v) return false;
         p.tickets(l).audience = *v;
         return true;
       },
       true},
      {"ticket_lifetime", Scope::global, "`SECONDS` (1-86400)", "`300`",
       "Lifetime of tickets issued by `POST /api/v1/tickets`.",
       [](Parser& p, const Line& l) {
         auto v = p.get_int(l, 1, 86400);
         if (!v) return false;
         p.tickets(l).lifetime_s = static_cast<std::uint32_t>(*v);
         return true;
       },
       true},
      {"ticket_cookie", Scope::global, "`NAME`", "`wisp_ticket`",
       "Cookie read (like `?ticket=`) on WebSocket upgrades.",
       [](Parser& p, const Line& l) {
         auto v = p.get_word(l, p.global_seen);
         if (!v) return false;
         if (v->find_first_of("=;, \t") != std::string::npos) {
           return p.fail(l.where, "'ticket_cookie' is not a valid cookie name: " + quote(*v));
         }
         p.tickets(l).cookie_name = *v;
         return true;
       },
       true},
      {"scram_file", Scope::global, "`PATH`", "none (SCRAM-SHA-256 off)",
       "SCRAM-SHA-256 verifiers (`wisp passwd --scram-sha-256`) for MQTT 5 enhanced "
       "authentication. SCRAM-SHA-512 uses the `password_file`'s `$7$` entries.",
       [](Parser& p, const Line& l) {
         auto v = p.get_string(l, p.global_seen);
         if (!v) return false;
         p.cfg.scram_file = *v;
         return true;
       },
       true},
      {"acl_subscribe_check", Scope::global, "`mosquitto` \\| `strict`", "`mosquitto`",
       "`mosquitto`: a subscription is allowed if some read rule could match (each message is "
       "checked on delivery); `strict`: refused unless read rules cover the whole filter.",
       [](Parser& p, const Line& l) {
         auto v = p.get_enum(l, {"mosquitto", "strict"});
         if (!v) return false;
         p.cfg.acl_subscribe_strict = *v == "strict";
         return true;
       },
       true},
      {"allow_zero_length_clientid", Scope::global, "`true` \\| `false`", "`true`",
       "Accept an empty client id and assign one (`auto_id_prefix` + random).",
       [](Parser& p, const Line& l) {
         if (p.cfg.per_listener_settings) p.global_only_in_wisp(l, "applies to all listeners");
         return set_bool(p, l, p.cfg.broker.allow_zero_length_clientid);
       }},
      {"auto_id_prefix", Scope::global, "`PREFIX`", "`auto-`",
       "Prefix of client ids the broker assigns.",
       [](Parser& p, const Line& l) {
         if (p.cfg.per_listener_settings) p.global_only_in_wisp(l, "applies to all listeners");
         auto v = p.get_string(l, p.global_seen);
         if (!v) return false;
         p.cfg.broker.auto_id_prefix = *v;
         return true;
       }},
      // --- limits and MQTT behaviour ---
      {"message_size_limit", Scope::global, "`BYTES` (0-268435455)", "`0` (no limit)",
       "Largest PUBLISH payload accepted; bigger ones are not forwarded.",
       [](Parser& p, const Line& l) {
         return set_int(p, l, p.cfg.broker.message_size_limit, 0, kMaxRemainingLength);
       }},
      {"max_packet_size", Scope::global, "`BYTES` (0 or 20-268435460)", "`0` (protocol maximum)",
       "Largest packet accepted from a client (also announced to MQTT 5 clients); a bigger "
       "one disconnects the client.",
       [](Parser& p, const Line& l) {
         auto v = p.get_int(l, 0, kMaxPacketBytes);
         if (!v) return false;
         if (*v != 0 && *v < 20) {
           return p.fail(l.where, "'max_packet_size' must be 0 (no limit) or at least 20, not " +
                                      quote(l.args[0]));
         }
         p.cfg.broker.max_packet_bytes = static_cast<std::uint32_t>(*v);
         return true;
       }},
      {"max_inflight_messages", Scope::global, "`N` (0-65535)", "`20`",
       "QoS 1/2 messages in flight to one client (announced as Receive Maximum); 0 = 65535.",
       [](Parser& p, const Line& l) {
         auto v = p.get_int(l, 0, 65535);
         if (!v) return false;
         p.cfg.broker.max_inflight_messages = static_cast<std::uint16_t>(*v == 0 ? 65535 : *v);
         return true;
       }},
      {"max_queued_messages", Scope::global, "`N` (1-10000000)", "`1000`",
       "QoS 1/2 messages queued per client beyond those in flight; more are dropped. Wisp "
       "queues are always bounded, so 0 (Mosquitto: no limit) is refused.",
       [](Parser& p, const Line& l) {
         if (l.args.size() == 1 && l.args[0] == "0") {
           return p.fail(l.where,
                         "'max_queued_messages 0' (no limit) is not allowed: Wisp queues are "
                         "always bounded; give a number from 1 to 10000000");
         }
         return set_int(p, l, p.cfg.broker.max_queued_messages, 1, 10'000'000);
       }},
      {"max_queued_bytes", Scope::global, "`BYTES`", "`0` (no byte limit)",
       "Bytes of QoS 1/2 payload queued per client beyond those in flight.",
       [](Parser& p, const Line& l) {
         return set_int(p, l, p.cfg.broker.max_queued_bytes, 0, kMaxSizeValue);
       }},
      {"max_keepalive", Scope::global, "`SECONDS` (10-65535)", "`65535`",
       "MQTT 5 clients asking a longer keep alive are told this one (Server Keep Alive).",
       [](Parser& p, const Line& l) {
         return set_int(p, l, p.cfg.broker.max_keepalive, 10, 65535);
       }},
      {"max_qos", Scope::global, "`0` \\| `1` \\| `2`", "`2`",
       "Highest QoS accepted (announced to MQTT 5 clients). Applies to all listeners in Wisp.",
       [](Parser& p, const Line& l) {
         p.global_only_in_wisp(l, "applies to all listeners in Wisp");
         auto v = p.get_int(l, 0, 2);
         if (!v) return false;
         p.cfg.broker.maximum_qos = static_cast<protocol::QoS>(*v);
         return true;
       }},
      {"max_topic_alias", Scope::global, "`N` (0-65535)", "`10`",
       "Topic aliases an MQTT 5 client may create; 0 = none. Applies to all listeners in Wisp.",
       [](Parser& p, const Line& l) {
         p.global_only_in_wisp(l, "applies to all listeners in Wisp");
         return set_int(p, l, p.cfg.broker.max_topic_alias, 0, 65535);
       }},
      {"retain_available", Scope::global, "`true` \\| `false`", "`true`",
       "If false, retained messages are refused.",
       [](Parser& p, const Line& l) { return set_bool(p, l, p.cfg.broker.retain_available); }},
      {"queue_qos0_messages", Scope::global, "`true` \\| `false`", "`false`",
       "Also queue QoS 0 messages for offline persistent sessions.",
       [](Parser& p, const Line& l) { return set_bool(p, l, p.cfg.broker.queue_qos0_messages); }},
      {"persistent_client_expiration", Scope::global, "`N` + `h`\\|`d`\\|`w`\\|`m`\\|`y`", "never",
       "Expire MQTT 3.1.1 persistent sessions not resumed within this time (m = 30 days, "
       "y = 365 days).",
       [](Parser& p, const Line& l) {
         if (!p.one_value(l)) return false;
         auto d = parse_duration(l.args[0]);
         if (!d) {
           return p.fail(l.where,
                         "'persistent_client_expiration' must be a positive integer followed "
                         "by h, d, w, m or y (e.g. 14d), not " +
                             quote(l.args[0]));
         }
         p.cfg.broker.persistent_client_expiration = *d;
         return true;
       }},
      {"sys_interval", Scope::global, "`SECONDS` (0-65535)", "`10`",
       "Period of the `$SYS` statistics; 0 = no `$SYS`.",
       [](Parser& p, const Line& l) {
         auto v = p.get_int(l, 0, 65535);
         if (!v) return false;
         p.cfg.broker.sys_interval = std::chrono::seconds{*v};
         return true;
       }},
      {"set_tcp_nodelay", Scope::global, "`true` \\| `false`", "always on",
       "Accepted for compatibility: Wisp always sets TCP_NODELAY, because its writes are already "
       "coalesced and Nagle only adds latency (40 ms per QoS 1 round trip).",
       [](Parser& p, const Line& l) { return set_bool(p, l, p.cfg.set_tcp_nodelay); }},
      {"connect_timeout", Scope::global, "`SECONDS` (1-3600)", "`10`",
       "A connection that has not sent CONNECT by then is closed.",
       [](Parser& p, const Line& l) {
         auto v = p.get_int(l, 1, 3600);
         if (!v) return false;
         p.cfg.broker.connect_timeout = std::chrono::seconds{*v};
         return true;
       },
       true},
      {"output_high_water_bytes", Scope::global, "`BYTES`", "`4194304` (4 MiB)",
       "Output queued to one client above which QoS 0 is dropped and its reading paused.",
       [](Parser& p, const Line& l) {
         p.output_where = l.where;
         return set_int(p, l, p.cfg.broker.output_high_water_bytes, 1024, kMaxSizeValue);
       },
       true},
      {"output_low_water_bytes", Scope::global, "`BYTES`", "`1048576` (1 MiB)",
       "Output level below which a paused client is read again.",
       [](Parser& p, const Line& l) {
         p.output_where = l.where;
         return set_int(p, l, p.cfg.broker.output_low_water_bytes, 0, kMaxSizeValue);
       },
       true},
      {"output_hard_limit_bytes", Scope::global, "`BYTES`", "`67108864` (64 MiB)",
       "Output queued to one client above which it is disconnected as a slow consumer.",
       [](Parser& p, const Line& l) {
         p.output_where = l.where;
         return set_int(p, l, p.cfg.broker.output_hard_limit_bytes, 1024, kMaxSizeValue);
       },
       true},
      // --- persistence ---
      {"persistence", Scope::global, "`true` \\| `false`", "`true` (Mosquitto: false)",
       "Keep retained messages and sessions in an SQLite database across restarts.",
       [](Parser& p, const Line& l) { return set_bool(p, l, p.cfg.persistence); }},
      {"persistence_location", Scope::global, "`DIRECTORY`", "`./wisp-data`",
       "Directory of the database.",
       [](Parser& p, const Line& l) {
         auto v = p.get_string(l, p.global_seen);
         if (!v) return false;
         p.cfg.persistence_location = *v;
         return true;
       }},
      {"persistence_file", Scope::global, "`NAME`", "`wisp.db`",
       "File name of the SQLite database inside `persistence_location`.",
       [](Parser& p, const Line& l) {
         auto v = p.get_string(l, p.global_seen);
         if (!v) return false;
         if (v->find('/') != std::string::npos) {
           return p.fail(l.where,
                         "'persistence_file' is a file name; put the directory in "
                         "'persistence_location'");
         }
         if (*v == "mosquitto.db") {
           p.warn(l.where,
                  "Wisp's database is SQLite, not Mosquitto's format; use another name so a "
                  "Mosquitto database is never opened by Wisp");
         }
         p.cfg.persistence_file = *v;
         return true;
       }},
      {"persistence_sync", Scope::global, "`normal` \\| `full`", "`normal`",
       "SQLite `synchronous` mode: `normal` survives a crash of Wisp, `full` (an fsync per "
       "commit) also a power loss.",
       [](Parser& p, const Line& l) {
         auto v = p.get_enum(l, {"normal", "full"});
         if (!v) return false;
         p.cfg.persistence_sync = *v == "full" ? PersistenceSync::full : PersistenceSync::normal;
         return true;
       },
       true},
      {"persistence_recover", Scope::global, "`true` \\| `false`", "`false`",
       "What to do with a damaged database: `false` refuses to start and names the file; `true` "
       "moves it aside (`wisp.db.damaged-<UTC time>`) and starts empty.",
       [](Parser& p, const Line& l) {
         auto v = p.get_bool(l);
         if (!v) return false;
         p.cfg.persistence_recover = *v;
         return true;
       },
       true},
      {"autosave_interval", Scope::global, "`SECONDS`", "-",
       "Accepted with a warning and ignored: Wisp commits to its database continuously.",
       [](Parser& p, const Line& l) {
         auto v = p.get_int(l, 0, std::numeric_limits<std::int32_t>::max());
         if (!v) return false;
         p.warn(l.where,
                "'autosave_interval' is ignored: Wisp commits to its database "
                "continuously");
         return true;
       }},
      // --- logging ---
      {"log_dest", Scope::global, "`stderr` \\| `stdout` \\| `file PATH` \\| `none`", "`stderr`",
       "Where logs go; several lines add destinations (the first replaces the default). "
       "`syslog`, `topic` and `dlt` are accepted with a warning.",
       [](Parser& p, const Line& l) {
         if (l.args.empty()) return p.fail(l.where, "'log_dest' needs a value");
         const std::string& dest = l.args[0];
         if (dest == "syslog" || dest == "topic" || dest == "dlt") {
           p.warn(l.where, "'log_dest " + dest + "' is not supported by Wisp yet; ignored");
           return true;
         }
         if (!p.log_dest_replaced) {
           p.cfg.log_dest.clear();
           p.log_dest_replaced = true;
         }
         if (dest == "file") {
           std::string path(trim(std::string_view(l.rest).substr(4)));
           if (path.empty()) return p.fail(l.where, "'log_dest file' needs a path");
           if (!p.log_file_where.empty()) {
             return p.fail(l.where, "only one 'log_dest file' may be given (first at " +
                                        p.log_file_where + ")");
           }
           p.log_file_where = l.where;
           p.cfg.log_dest.push_back("file " + path);
           return true;
         }
         if (dest != "stderr" && dest != "stdout" && dest != "none") {
           return p.fail(l.where,
                         "'log_dest' must be stderr, stdout, file PATH, none, syslog, "
                         "topic or dlt, not " +
                             quote(dest));
         }
         if (!p.one_value(l)) return false;
         if (dest == "none") {
           p.cfg.log_dest.clear();
         } else if (std::find(p.cfg.log_dest.begin(), p.cfg.log_dest.end(), dest) ==
                    p.cfg.log_dest.end()) {
           p.cfg.log_dest.push_back(dest);
         }
         return true;
       }},
      {"log_type", Scope::global,
       "`error` `warning` `notice` `information` `subscribe` `unsubscribe` `websockets` "
       "`debug` `all` `none`",
       "error, warning, notice, information",
       "Which messages are logged; lines add up. `debug` or `all` turn on debug logging (like "
       "`-v`); otherwise Wisp logs errors, warnings, notices and information.",
       [](Parser& p, const Line& l) {
         if (l.args.empty()) return p.fail(l.where, "'log_type' needs a value");
         static constexpr std::string_view kTypes[] = {
             "debug",     "error",       "warning",    "notice", "information",
             "subscribe", "unsubscribe", "websockets", "none",   "all"};
         for (const auto& t : l.args) {
           if (std::find(std::begin(kTypes), std::end(kTypes), t) == std::end(kTypes)) {
             return p.fail(l.where, "unknown 'log_type' " + quote(t) +
                                        " (debug, error, warning, notice, information, "
                                        "subscribe, unsubscribe, websockets, none, all)");
           }
           p.cfg.log_type.push_back(t);
         }
         return true;
       }},
      // --- files ---
      {"include_dir", Scope::global, "`DIRECTORY`", "-",
       "Reads every `*.conf` file of DIRECTORY, in Mosquitto's order (case-insensitive, "
       "upper case first), at this point. Main file only.",
       [](Parser& p, const Line& l) { return p.include_dir(l); }},
  };
  return table;
}

// Mosquitto keys Wisp knows but does not implement yet: a warning, never an error.
constexpr std::string_view kKnownUnsupported[] = {"accept_protocol_versions",
                                                  "address",
                                                  "addresses",
                                                  "allow_duplicate_messages",
                                                  "auth_plugin",
                                                  "auth_plugin_deny_special_chars",
                                                  "autosave_on_changes",
                                                  "bind_interface",
                                                  "check_retain_source",
                                                  "ciphers_tls1.3",
                                                  "cleansession",
                                                  "clientid_prefixes",
                                                  "connection",
                                                  "connection_messages",
                                                  "dhparamfile",
                                                  "enable_control_api",
                                                  "global_plugin",
                                                  "idle_timeout",
                                                  "keepalive_interval",
                                                  "local_cleansession",
                                                  "local_clientid",
                                                  "local_password",
                                                  "local_username",
                                                  "log_facility",
                                                  "log_timestamp",
                                                  "log_timestamp_format",
                                                  "max_inflight_bytes",
                                                  "memory_limit",
                                                  "notification_topic",
                                                  "notifications",
                                                  "notifications_local_only",
                                                  "pid_file",
                                                  "plugin",
                                                  "psk_file",
                                                  "psk_hint",
                                                  "remote_clientid",
                                                  "remote_password",
                                                  "remote_username",
                                                  "restart_timeout",
                                                  "retry_interval",
                                                  "round_robin",
                                                  "start_type",
                                                  "store_clean_interval",
                                                  "threshold",
                                                  "tls_engine",
                                                  "tls_engine_kpass_sha1",
                                                  "tls_keyform",
                                                  "topic",
                                                  "try_private",
                                                  "upgrade_outgoing_qos",
                                                  "use_username_as_clientid",
                                                  "user",
                                                  "websockets_headers_size",
                                                  "websockets_log_level"};
constexpr std::string_view kKnownUnsupportedPrefixes[] = {"bridge_", "auth_opt_", "plugin_opt_",
                                                          "global_plugin_opt_"};

const KeySpec* find_key(std::string_view key) {
  for (const auto& k : key_table()) {
    if (k.name == key) return &k;
  }
  return nullptr;
}

bool known_unsupported(std::string_view key) {
  if (std::find(std::begin(kKnownUnsupported), std::end(kKnownUnsupported), key) !=
      std::end(kKnownUnsupported)) {
    return true;
  }
  return std::any_of(std::begin(kKnownUnsupportedPrefixes), std::end(kKnownUnsupportedPrefixes),
                     [&](std::string_view pre) { return key.starts_with(pre); });
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diag = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

// Control and non-ASCII bytes as \xHH, so an invisible character in a key shows.
std::string escaped(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (const char c : s) {
    const auto b = static_cast<unsigned char>(c);
    if (b < 0x20 || b >= 0x7f) {
      out += "\\x";
      out += kHex[b >> 4];
      out += kHex[b & 0xf];
    } else {
      out += c;
    }
  }
  return out;
}

std::string unknown_key_message(std::string_view key) {
  std::string msg = "unknown key " + quote(escaped(key));
  std::string_view best;
  std::size_t best_d = 3;  // suggest only close matches
  auto consider = [&](std::string_view name) {
    const std::size_t d = edit_distance(key, name);
    if (d < best_d) {
      best_d = d;
      best = name;
    }
  };
  for (const auto& k : key_table()) consider(k.name);
  for (auto k : kKnownUnsupported) consider(k);
  if (!best.empty()) msg += " (did you mean " + quote(best) + "?)";
  return msg;
}

// Mosquitto's include_dir order: compare case-insensitively, and where only the case differs,
// upper case first (00.conf 01.conf A.conf a.conf B.conf b.conf).
bool mosquitto_order(const std::string& a, const std::string& b) {
  std::size_t i = 0;
  for (; i < a.size() && i < b.size(); ++i) {
    const auto ca = static_cast<unsigned char>(a[i]);
    const auto cb = static_cast<unsigned char>(b[i]);
    const int upper = std::toupper(ca) - std::toupper(cb);
    if (upper != 0) return upper < 0;
    if (ca != cb) return ca < cb;
  }
  return a.size() < b.size();
}

// ---------------------------------------------------------------------------------------------
// Parser: files, lines, include_dir, final checks.

bool Parser::read_file(const fs::path& path, const std::string& display) {
  std::error_code ec;
  if (fs::is_directory(path, ec)) return fail(display, "is a directory, not a config file");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(display, std::string("cannot open: ") + std::strerror(errno));
  const auto saved = current;  // each file starts at global scope
  current.reset();
  // Byte by byte with bounds, so /dev/zero or a binary file ends in an error, never a hang or
  // an unbounded allocation.
  std::string raw;
  int lineno = 1;
  std::streambuf* buf = in.rdbuf();
  for (auto c = buf->sbumpc(); c != std::char_traits<char>::eof(); c = buf->sbumpc()) {
    const char ch = std::char_traits<char>::to_char_type(c);
    if (ch == '\n') {
      if (!handle_line(display, lineno, raw)) return false;
      raw.clear();
      ++lineno;
      continue;
    }
    if (ch == '\0' || raw.size() >= kMaxLineBytes) {
      const std::string where = display + ":" + std::to_string(lineno);
      if (ch == '\0') return fail(where, "the line holds a NUL byte (is this a text file?)");
      return fail(where, "the line is longer than " + std::to_string(kMaxLineBytes) + " bytes");
    }
    raw.push_back(ch);
  }
  if (!raw.empty() && !handle_line(display, lineno, raw)) return false;
  current = saved;
  return true;
}

bool Parser::handle_line(const std::string& display, int lineno, std::string_view raw) {
  std::string where = display + ":" + std::to_string(lineno);
  if (lineno == 1 && raw.starts_with("\xEF\xBB\xBF")) raw.remove_prefix(3);  // editors' BOM
  std::string_view text = trim(raw);
  if (text.empty() || text.front() == '#') return true;
  Line l;
  l.where = std::move(where);
  std::size_t key_end = 0;
  while (key_end < text.size() && !is_blank(text[key_end])) ++key_end;
  l.key = std::string(text.substr(0, key_end));
  l.rest = std::string(trim(text.substr(key_end)));
  l.args = split_blanks(l.rest);
  if (const KeySpec* spec = find_key(l.key)) return spec->handle(*this, l);
  if (known_unsupported(l.key)) {
    warn(l.where, quote(l.key) + " is not supported by Wisp yet; ignored");
    return true;
  }
  return fail(l.where, unknown_key_message(l.key));
}

bool Parser::include_dir(const Line& l) {
  if (depth > 0) {
    return fail(l.where, "'include_dir' is only allowed in the main configuration file");
  }
  if (l.rest.empty()) return fail(l.where, "'include_dir' needs a directory");
  const fs::path dir(l.rest);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return fail(l.where, "'include_dir' " + quote(l.rest) + " is not a readable directory");
  }
  std::vector<std::string> names;
  fs::directory_iterator it(dir, ec);
  if (ec) return fail(l.where, "cannot read 'include_dir' " + quote(l.rest) + ": " + ec.message());
  for (const auto& entry : it) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= 5 || !name.ends_with(".conf")) continue;
    std::error_code type_ec;
    if (!entry.is_regular_file(type_ec)) continue;  // also follows symlinks
    if (fs::equivalent(entry.path(), main_path, type_ec)) {
      return fail(l.where,
                  "'include_dir' " + quote(l.rest) + " contains the main configuration file");
    }
    names.push_back(name);
  }
  std::sort(names.begin(), names.end(), mosquitto_order);
  ++depth;
  for (const auto& name : names) {
    if (!read_file(dir / name, (dir / name).string())) return false;
  }
  --depth;
  return true;
}

// TLS keys that only restate defaults (`require_certificate false`, copied from Mosquitto's
// example file) do not turn TLS on.
bool is_default_tls(const TlsConfig& t) {
  return t.certfile.empty() && t.keyfile.empty() && t.cafile.empty() && t.capath.empty() &&
         t.crlfile.empty() && t.ciphers.empty() &&
         (t.tls_version.empty() || t.tls_version == "tlsv1.2") && !t.require_certificate &&
         !t.use_identity_as_username && !t.use_subject_as_username;
}

bool is_default_listener(const ListenerConfig& lc) {
  const ListenerConfig d;
  return lc.protocol == d.protocol && lc.socket_domain == d.socket_domain &&
         lc.one_port == d.one_port && lc.ws_paths == d.ws_paths &&
         lc.websockets_strict == d.websockets_strict && lc.allowed_origins == d.allowed_origins &&
         lc.ws_ping_interval_s == d.ws_ping_interval_s && lc.http_dir == d.http_dir &&
         (!lc.tls || is_default_tls(*lc.tls)) && !lc.policy.mount_point &&
         lc.policy.max_connections == d.policy.max_connections;
}

std::string listener_name(const ListenerConfig& lc) {
  const bool tls = lc.tls.has_value();
  const char* kind =
      lc.protocol == ListenerProtocol::mqtt ? (tls ? "tls" : "tcp") : (tls ? "wss" : "ws");
  return std::string(kind) + ":" + std::to_string(lc.port);
}

bool Parser::finish_listener(ListenerConfig& lc, ListenerState& st) {
  if (lc.tls && is_default_tls(*lc.tls)) lc.tls.reset();
  if (lc.tls) {
    TlsConfig& t = *lc.tls;
    if (t.certfile.empty() || t.keyfile.empty()) {
      return fail(st.tls_where, "listener " + std::to_string(lc.port) + " has TLS settings (" +
                                    quote(st.tls_key) +
                                    ") but needs both 'certfile' and 'keyfile'");
    }
    if (t.require_certificate && t.cafile.empty() && t.capath.empty()) {
      return fail(st.require_certificate_where,
                  "'require_certificate true' needs 'cafile' or 'capath' to verify client "
                  "certificates");
    }
    if (t.use_identity_as_username && t.use_subject_as_username) {
      return fail(st.identity_where,
                  "'use_identity_as_username' and 'use_subject_as_username' cannot both be "
                  "true");
    }
    if ((t.use_identity_as_username || t.use_subject_as_username) && !t.require_certificate) {
      warn(st.identity_where,
           "the username comes from the client certificate only with 'require_certificate "
           "true'");
    }
    if (t.tls_version.empty()) t.tls_version = "tlsv1.2";
  }
  if (lc.protocol == ListenerProtocol::mqtt) {
    for (const auto& [key, where] : st.ws_keys) {
      warn(where, quote(key) + " has no effect on a 'protocol mqtt' listener");
    }
  }
  lc.file = st.where;
  lc.policy.name = listener_name(lc);
  lc.policy.loopback_only = false;
  lc.policy.allow_anonymous = cfg.per_listener_settings ? st.allow_anonymous.value_or(false)
                                                        : allow_anonymous.value_or(false);
  return true;
}

bool Parser::finish() {
  if (!default_where.empty()) {
    if (dflt.port == 0) dflt.port = 1883;
    dflt_state.where = default_where;
    cfg.listeners.insert(cfg.listeners.begin(), std::move(dflt));
    states.insert(states.begin(), std::move(dflt_state));
  } else if (!global_listener_keys.empty()) {
    // Mosquitto creates its default listener only for non-default settings, so files derived
    // from its example may restate defaults at global scope (`protocol mqtt`,
    // `require_certificate false`): those are ignored with a warning. Anything else would be
    // silently lost, so it is an error.
    if (!is_default_listener(dflt)) {
      const auto& [key, where] = global_listener_keys.front();
      return fail(where, quote(key) +
                             " must follow a 'listener' line (before any listener it configures "
                             "Mosquitto's default listener, which needs 'port' or "
                             "'bind_address')");
    }
    for (const auto& [key, where] : global_listener_keys) {
      warn(where, quote(key) +
                      " before any 'listener' line restates a default of Mosquitto's default "
                      "listener, which is not configured; ignored");
    }
  }

  if (cfg.listeners.empty()) {
    // No listener in the files: Wisp's loopback defaults (Mosquitto 2's local-only mode).
    // Global-scope auth settings apply to them in either per_listener_settings mode.
    const bool anonymous = dflt_state.allow_anonymous.value_or(allow_anonymous.value_or(true));
    cfg.listeners = default_config().listeners;
    for (auto& lc : cfg.listeners) {
      lc.policy.allow_anonymous = anonymous;
      if (cfg.per_listener_settings) {
        lc.password_file = dflt.password_file;
        lc.acl_file = dflt.acl_file;
      }
    }
  } else {
    if (cfg.per_listener_settings && default_where.empty() && !dflt_state.auth_where.empty()) {
      warn(dflt_state.auth_where,
           "with 'per_listener_settings true', auth keys before the first 'listener' apply "
           "only to Mosquitto's default listener ('port'/'bind_address'), which is not "
           "configured; set them inside each listener");
    }
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
      if (!finish_listener(cfg.listeners[i], states[i])) return false;
    }
    for (std::size_t i = 0; i < cfg.listeners.size(); ++i) {
      for (std::size_t j = 0; j < i; ++j) {
        const ListenerConfig& a = cfg.listeners[j];
        const ListenerConfig& b = cfg.listeners[i];
        if (a.port != b.port) continue;
        const bool same_address =
            a.bind_address == b.bind_address || a.bind_address.empty() || b.bind_address.empty();
        const bool split_domains = a.socket_domain != b.socket_domain &&
                                   a.socket_domain != SocketDomain::any &&
                                   b.socket_domain != SocketDomain::any;
        if (same_address && !split_domains) {
          return fail(states[i].where, "port " + std::to_string(b.port) +
                                           " is already used by the listener at " +
                                           states[j].where);
        }
      }
    }
  }

  if (cfg.tickets) {
    const TicketSettings& t = *cfg.tickets;
    if (t.algorithm == "HS256" && t.secret_file.empty()) {
      return fail(ticket_where, "tickets with 'ticket_algorithm HS256' need 'ticket_secret_file'");
    }
    if (t.algorithm != "HS256" && t.public_key_file.empty()) {
      return fail(ticket_where, "tickets with 'ticket_algorithm " + t.algorithm +
                                    "' need 'ticket_public_key_file'");
    }
    if (t.algorithm == "HS256" && !t.public_key_file.empty()) {
      return fail(ticket_where,
                  "'ticket_public_key_file' needs 'ticket_algorithm RS256' or 'ES256'");
    }
    if (t.algorithm != "HS256" && !t.secret_file.empty()) {
      return fail(ticket_where, "'ticket_secret_file' is for 'ticket_algorithm HS256'");
    }
  }

  const auto& b = cfg.broker;
  if (!(b.output_low_water_bytes < b.output_high_water_bytes &&
        b.output_high_water_bytes < b.output_hard_limit_bytes)) {
    return fail(output_where.empty() ? std::string(kBuiltIn) : output_where,
                "output limits must satisfy output_low_water_bytes (" +
                    std::to_string(b.output_low_water_bytes) + ") < output_high_water_bytes (" +
                    std::to_string(b.output_high_water_bytes) + ") < output_hard_limit_bytes (" +
                    std::to_string(b.output_hard_limit_bytes) + ")");
  }
  return true;
}

ListenerConfig loopback_listener(std::uint16_t port, ListenerProtocol protocol) {
  ListenerConfig lc;
  lc.port = port;
  lc.bind_address = "127.0.0.1";
  lc.protocol = protocol;
  lc.file = std::string(kBuiltIn);
  lc.policy.name = listener_name(lc);
  lc.policy.allow_anonymous = true;
  lc.policy.loopback_only = true;
  return lc;
}

std::string_view scope_text(Scope s) {
  switch (s) {
    case Scope::global: return "global";
    case Scope::listener: return "listener";
    case Scope::auth: return "global (listener if `per_listener_settings true`)";
    case Scope::both: return "global or listener";
  }
  return "";
}

}  // namespace

Config default_config() {
  Config c;
  c.listeners.push_back(loopback_listener(1883, ListenerProtocol::mqtt));
  c.listeners.push_back(loopback_listener(8080, ListenerProtocol::websockets));
  return c;
}

Result<Config, Error> load_config(const std::string& path) {
  Parser p;
  p.main_path = fs::path(path);
  if (!p.read_file(p.main_path, path) || !p.finish()) return protocol::fail(p.error);
  return std::move(p.cfg);
}

std::string describe_supported_keys() {
  std::string out =
      "| Key | Scope | Values | Default | Meaning |\n"
      "|---|---|---|---|---|\n";
  for (const auto& k : key_table()) {
    out += "| `" + std::string(k.name) + "`" + (k.wisp_only ? " (Wisp)" : "") + " | " +
           std::string(scope_text(k.scope)) + " | " + std::string(k.values) + " | " +
           std::string(k.fallback) + " | " + std::string(k.meaning) + " |\n";
  }
  out += "\nMosquitto keys accepted with a warning (\"not supported by Wisp yet; ignored\"): ";
  bool first = true;
  for (auto k : kKnownUnsupported) {
    out += (first ? "`" : ", `") + std::string(k) + "`";
    first = false;
  }
  for (auto k : kKnownUnsupportedPrefixes) out += ", `" + std::string(k) + "*`";
  out += ".\n";
  return out;
}

}  // namespace broker::app
