// Hooks for authentication and authorization. The engine asks; the security module (password
// files, tickets, ACLs) answers. With no hooks installed the listener's allow_anonymous decides
// and everything is authorized.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "broker/core/message.h"
#include "protocol/reason_code.h"
#include "protocol/types.h"

namespace broker::core {

struct ListenerPolicy;

struct AuthRequest {
  std::string_view client_id;
  std::optional<std::string_view> username;
  std::optional<protocol::ByteSpan> password;
  std::string_view remote_address;
  const ListenerPolicy* listener = nullptr;
  std::optional<std::string_view> ticket;         // from ?ticket= or cookie on a WS upgrade
  std::optional<std::string_view> cert_identity;  // TLS client cert CN/subject, if mapped
  // MQTT 5 enhanced authentication (CONNECT properties), only for supported methods.
  std::optional<std::string_view> auth_method;
  std::optional<protocol::ByteSpan> auth_data;
};

// Opaque per-client authorization data (e.g. a ticket's topic lists), handed back to the
// Authorizer on every check.
class Grants {
 public:
  virtual ~Grants() = default;
};

struct AuthDecision {
  protocol::ReasonCode reason = protocol::ReasonCode::success;  // not_authorized, bad_user...
  std::optional<std::string> username;  // effective username (may differ from the CONNECT's)
  std::optional<TimePoint> expires;     // credentials end: the client is disconnected then
  std::shared_ptr<const Grants> grants;
  std::string log_detail;  // why it failed, for the log line
};

enum class Access { subscribe, read, write };

struct ClientIdentity {
  std::string_view client_id;
  std::optional<std::string_view> username;
  const Grants* grants = nullptr;
};

// Per-connection state of one enhanced authentication exchange (e.g. a SCRAM server).
class AuthExchange {
 public:
  virtual ~AuthExchange() = default;
};

// One step of MQTT 5 enhanced authentication [MQTT-4.12]. decision.reason is
//   continue_authentication: the engine sends AUTH 0x18 with auth_data, waits for the client;
//   success: CONNACK (or AUTH 0x00 after re-authentication) carrying auth_data, if any;
//   an error: CONNACK (or DISCONNECT after re-authentication) with that reason.
// On success the decision's username, grants and expiry apply as for authenticate().
struct AuthStep {
  AuthDecision decision;
  std::vector<std::uint8_t> auth_data;
};

class Authenticator {
 public:
  virtual ~Authenticator() = default;
  virtual AuthDecision authenticate(const AuthRequest& req) = 0;
  // MQTT 5 enhanced authentication (AUTH packets). Default: no method supported -> 0x8C.
  virtual bool supports_method(std::string_view /*method*/) const { return false; }
  // First step, for CONNECT (or AUTH 0x19 re-authentication) naming a supported method;
  // req.auth_method / req.auth_data are set. May store state in `exchange` for continue_auth().
  virtual AuthStep start_auth(const AuthRequest& /*req*/,
                              std::unique_ptr<AuthExchange>& /*exchange*/) {
    AuthStep s;
    s.decision.reason = protocol::ReasonCode::bad_authentication_method;
    return s;
  }
  // Next step, with the Authentication Data of the client's AUTH 0x18.
  virtual AuthStep continue_auth(AuthExchange& /*exchange*/, protocol::ByteSpan /*data*/) {
    AuthStep s;
    s.decision.reason = protocol::ReasonCode::bad_authentication_method;
    return s;
  }
};

class Authorizer {
 public:
  virtual ~Authorizer() = default;
  // `topic` is a topic name for read/write and a topic filter for subscribe.
  virtual bool allowed(const ClientIdentity& who, std::string_view topic, Access access) = 0;
};

}  // namespace broker::core
