// AuthRouter: with `per_listener_settings true`, each listener has its own Security (its own
// password_file / acl_file / allow_anonymous); the router sends every engine call to the
// Security of the client's listener. Authorization finds it again through the Grants the
// router attaches at authentication (the engine hands them back on every check).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "broker/core/auth.h"
#include "broker/core/broker_config.h"
#include "broker/security/security.h"
#include "protocol/result.h"

namespace broker::app {

class AuthRouter final : public core::Authenticator, public core::Authorizer {
 public:
  // `listener` must outlive the router; `security` serves its clients.
  void add(const core::ListenerPolicy* listener, std::unique_ptr<security::Security> security);
  // Reloads every listener's files; the first error (each Security keeps its previous state).
  protocol::Status reload();

  core::AuthDecision authenticate(const core::AuthRequest& req) override;
  bool allowed(const core::ClientIdentity& who, std::string_view topic,
               core::Access access) override;
  bool supports_method(std::string_view method) const override;
  core::AuthStep start_auth(const core::AuthRequest& req,
                            std::unique_ptr<core::AuthExchange>& exchange) override;
  core::AuthStep continue_auth(core::AuthExchange& exchange, protocol::ByteSpan data) override;

 private:
  security::Security* of(const core::ListenerPolicy* listener) const;
  void route(core::AuthDecision& d, security::Security* owner) const;

  std::map<const core::ListenerPolicy*, std::unique_ptr<security::Security>> by_listener_;
};

}  // namespace broker::app
